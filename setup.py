"""Builds featx._core from csrc/.

Every C file under csrc/ is compiled with the portable baseline flags, except
ISA-specific kernel files (``*_avx2.c``, ``*_avx512.c``), which are compiled
with their own instruction-set flags only and picked at run time
(csrc/featx.h, fx_op_kernel). Never -march=native or -ffast-math.
"""
from __future__ import annotations

import glob
import os
import platform

import numpy as np
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

HERE = os.path.dirname(os.path.abspath(__file__))
X86 = platform.machine().lower() in ("x86_64", "amd64", "i686", "x86")

ISA_FLAGS = {
    "_avx2.c": ["-mavx2", "-mfma", "-mf16c"],
    "_avx512.c": ["-mavx512f", "-mavx512bw", "-mavx512dq", "-mavx512vl",
                  "-mfma"],
}
BASE_FLAGS = ["-std=c11", "-O3", "-Wall", "-Wextra", "-Wshadow",
              "-Wstrict-prototypes", "-Wmissing-prototypes",
              "-Wno-unused-parameter", "-Werror=implicit-function-declaration",
              "-fno-strict-aliasing", "-DNDEBUG"]


def _isa_of(path: str) -> str | None:
    for suffix in ISA_FLAGS:
        if path.endswith(suffix):
            return suffix
    return None


ALL_SOURCES = sorted(
    os.path.relpath(p, HERE)
    for p in glob.glob(os.path.join(HERE, "csrc", "**", "*.c"), recursive=True))
BASE_SOURCES = [p for p in ALL_SOURCES if _isa_of(p) is None]
ISA_SOURCES = [p for p in ALL_SOURCES if _isa_of(p) is not None]


class BuildExt(build_ext):
    """Compiles ISA kernel files with their own flags, then links them."""

    def build_extension(self, ext: Extension) -> None:
        objects = []
        if X86:
            for suffix, flags in ISA_FLAGS.items():
                sources = [s for s in ISA_SOURCES if s.endswith(suffix)]
                if not sources:
                    continue
                objects += self.compiler.compile(
                    sources, output_dir=self.build_temp,
                    include_dirs=ext.include_dirs,
                    macros=ext.define_macros,
                    extra_postargs=BASE_FLAGS + flags,
                    depends=ext.depends + sources)
        ext.extra_objects = list(ext.extra_objects or []) + objects
        super().build_extension(ext)


isa_macros = [("FX_HAVE_X86_KERNELS", "1")] if X86 else []

setup(
    ext_modules=[Extension(
        "featx._core",
        sources=BASE_SOURCES,
        include_dirs=[os.path.join(HERE, "csrc"), np.get_include()],
        define_macros=isa_macros,
        # the ISA kernel files too: they are linked in as extra objects,
        # and a change to one alone must still relink the module
        depends=sorted(glob.glob(os.path.join("csrc", "**", "*.h"),
                                 recursive=True)
                       + glob.glob(os.path.join("csrc", "**", "*.def"),
                                   recursive=True)) + ISA_SOURCES,
        extra_compile_args=BASE_FLAGS,
        extra_link_args=["-pthread"],
    )],
    cmdclass={"build_ext": BuildExt},
)
