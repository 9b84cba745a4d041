"""Helpers shared by the op tests (kept out of conftest.py so that
``import`` never confuses it with tests/conftest.py)."""
from __future__ import annotations

import math

import numpy as np

from featx import _core


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
