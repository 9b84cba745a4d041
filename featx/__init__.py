"""featx: torchvision's feature extraction without PyTorch.

A torch-like module system on float32 NumPy arrays (``featx.nn``), the
torchvision model zoo (``featx.models``) and FX-style feature extraction
(``featx.feature_extraction``), backed by a C core (``featx._core``).
``import featx`` loads only the C core: submodules (``featx.nn``,
``featx.models``, ...) and functions (``featx.relu``, ``featx.manual_seed``,
...) are imported on first use.

Environment:
    FEATX_ISA: ``scalar``, ``avx2`` or ``avx512`` caps the instruction sets
        the kernels may use; read once, at import.
    FEATX_NUM_THREADS: threads per kernel (see ``featx.set_num_threads``);
        read once, at import.
"""

import importlib as _importlib
import os as _os
from typing import Any as _Any

from . import _core  # noqa: F401  (the C core; loads the kernels)

__version__ = "0.1.0"

# ISA names -> mask of FX_ISA_BIT(...) bits (csrc/featx.h): each level
# includes the ones below it.
_ISA_MASKS = {"scalar": 0b001, "avx2": 0b011, "avx512": 0b111}


def _read_isa_env() -> str | None:
    name = _os.environ.get("FEATX_ISA", "").strip().lower()
    if not name:
        return None
    if name not in _ISA_MASKS:
        from ._env import warn_env

        warn_env("FEATX_ISA", name, f"one of {sorted(_ISA_MASKS)}", "ignored")
        return None
    if hasattr(_core, "_set_isa_mask"):
        _core._set_isa_mask(_ISA_MASKS[name])
    return name


#: The ISA cap from ``FEATX_ISA`` at import (``None``: no cap).
_DEFAULT_ISA = _read_isa_env()

# After the ISA cap: nothing below may run a kernel before it is applied.
from ._errors import OpError  # noqa: E402
from ._threads import get_num_threads, set_num_threads  # noqa: E402

#: Submodules imported on first use as ``featx.<name>``, so that ``import
#: featx`` loads only the C core (and NumPy).
_SUBMODULES = ("models", "nn", "ops", "feature_extraction", "transforms", "fx",
               "extract", "utils", "cli", "hub")

#: Public functions -> the submodule defining them, imported on first use.
_FUNCTIONS = {
    **dict.fromkeys(("add", "cat", "chunk", "concat", "contiguous", "div",
                     "flatten", "mean", "mul", "permute", "relu", "reshape",
                     "sigmoid", "size", "sub", "transpose", "unsqueeze",
                     "view"), "_functions"),
    **dict.fromkeys(("initial_seed", "manual_seed", "seed"), "_rng"),
}

__all__ = ["OpError", "__version__", "get_num_threads", "models", "nn",
           "set_num_threads", *_FUNCTIONS]


def __getattr__(name: str) -> _Any:
    # PEP 562: submodules and functions on first use.
    if name in _SUBMODULES:
        return _importlib.import_module(f"{__name__}.{name}")
    if name in _FUNCTIONS:
        module = _importlib.import_module(f"{__name__}.{_FUNCTIONS[name]}")
        value = globals()[name] = getattr(module, name)
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_SUBMODULES, *_FUNCTIONS})
