"""featx: torchvision's feature extraction without PyTorch.

A torch-like module system on float32 NumPy arrays (``featx.nn``), the
torchvision model zoo (``featx.models``) and FX-style feature extraction
(``featx.feature_extraction``), backed by a C core (``featx._core``).

Environment:
    FEATX_ISA: ``scalar``, ``avx2`` or ``avx512`` caps the instruction sets
        the kernels may use; read once, at import.
    FEATX_NUM_THREADS: threads per kernel (see ``featx.set_num_threads``);
        read once, at import.
"""
from __future__ import annotations

import importlib
import os
import warnings
from typing import Any

from . import _core  # noqa: F401  (the C core; loads the kernels)

__version__ = "0.1.0"

# ISA names -> mask of FX_ISA_BIT(...) bits (csrc/featx.h): each level
# includes the ones below it.
_ISA_MASKS = {"scalar": 0b001, "avx2": 0b011, "avx512": 0b111}


def _read_isa_env() -> Any:
    name = os.environ.get("FEATX_ISA", "").strip().lower()
    if not name:
        return None
    if name not in _ISA_MASKS:
        warnings.warn(
            f"FEATX_ISA={name!r} is not one of {sorted(_ISA_MASKS)}; "
            f"ignored", RuntimeWarning, stacklevel=2)
        return None
    if hasattr(_core, "_set_isa_mask"):
        _core._set_isa_mask(_ISA_MASKS[name])
    return name


#: The ISA cap from ``FEATX_ISA`` at import (``None``: no cap).
_DEFAULT_ISA = _read_isa_env()

# After the ISA cap: nothing below may run a kernel before it is applied.
from . import models, nn  # noqa: E402
from ._functions import (add, cat, concat, div, flatten, mul,  # noqa: E402
                         relu, reshape, sub)
from ._rng import initial_seed, manual_seed, seed  # noqa: E402
from ._threads import get_num_threads, set_num_threads  # noqa: E402

_LAZY = ("feature_extraction", "transforms", "fx", "cli", "hub")


def __getattr__(name: str) -> Any:
    # Submodules owned elsewhere are imported on first use, so importing
    # featx stays cheap and free of cycles.
    if name in _LAZY:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module 'featx' has no attribute '{name}'")


__all__ = ["__version__", "add", "cat", "concat", "div", "flatten",
           "get_num_threads", "initial_seed", "manual_seed", "models", "mul",
           "nn", "relu", "reshape", "seed", "set_num_threads", "sub"]

from ._functions import unsqueeze  # noqa: E402

__all__ += ["unsqueeze"]

from ._functions import (chunk, contiguous, mean, permute,  # noqa: E402
                         sigmoid, size, transpose, view)

__all__ += ["chunk", "contiguous", "mean", "permute", "sigmoid", "size",
            "transpose", "view"]
