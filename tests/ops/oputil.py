"""Helpers shared by the op tests (kept out of conftest.py so that
``import`` never confuses it with tests/conftest.py)."""
from __future__ import annotations

import math

import numpy as np
import reference as ref

from featx import _core

# The fused ops' "act" attribute (fx_act in csrc/ops/ops.h) -> the
# activation op it stands for, as (name, attributes); 0 is no activation.
ACTS = {0: None, 1: ("relu", {}), 2: ("relu6", {}), 3: ("hardswish", {}),
        4: ("silu", {}), 5: ("gelu", {"approximate": 0})}


def act_ref(act: int, y: np.ndarray) -> np.ndarray:
    """The float64 reference of activation ``act`` (see ACTS) of y."""
    return y if ACTS[act] is None else getattr(ref, ACTS[act][0])(y)


def act_call(act: int, y: np.ndarray, isa: str) -> np.ndarray:
    """Activation op ``act`` (see ACTS) of y on ``isa``; y itself for 0."""
    if ACTS[act] is None:
        return y
    name, attrs = ACTS[act]
    return call(name, [y], attrs, isa)


def call(name: str, inputs, attrs: dict, isa: str) -> np.ndarray:
    out = _core.call(name, list(inputs), attrs, isa=isa)
    assert isinstance(out, np.ndarray) and out.dtype == np.float32
    assert out.flags.c_contiguous
    return out


def assert_close(got: np.ndarray, ref: np.ndarray, k: int = 1,
                 rtol: float = 1e-5) -> None:
    """|got - ref| <= rtol * max|ref| (scaled by sqrt(k / 16) for sums of
    k float32 products), with matching shapes."""
    assert got.shape == ref.shape, (got.shape, ref.shape)
    if ref.size == 0:
        return
    scale = max(float(np.abs(ref).max()), 1e-30)
    tol = rtol * max(1.0, math.sqrt(k / 16.0)) * scale
    err = float(np.abs(got.astype(np.float64) - ref).max())
    assert err <= tol, f"max error {err:.3g} > {tol:.3g} (max |ref| {scale:.3g})"


def rand(rng: np.random.Generator, *shape: int) -> np.ndarray:
    return rng.standard_normal(shape).astype(np.float32)


def layouts(x: np.ndarray):
    """(label, array) variants with the same values as x: non-contiguous,
    Fortran order, negative strides, read-only, float64, float16-safe."""
    yield "fortran", np.asfortranarray(x)
    big = np.zeros(x.shape[:-1] + (2 * x.shape[-1],), np.float32) if x.ndim \
        else None
    if big is not None:
        big[..., ::2] = x
        yield "strided", big[..., ::2]
        rev = np.ascontiguousarray(x[..., ::-1])
        yield "negative", rev[..., ::-1]
    ro = x.copy()
    ro.setflags(write=False)
    yield "readonly", ro
    yield "float64", x.astype(np.float64)
