"""Deterministic synthetic weights and inputs shared by featx's tests and tools.

The golden outputs under ``tests/golden/outputs`` were produced by torchvision with
the weights this module generates, and the tests regenerate the same weights for featx,
so the values must depend only on ``(key, shape, seed)`` and never on dict order,
platform or NumPy version. Only ``numpy.random.Generator.random`` (uniform doubles from
PCG64) is used; normal variates are made from it with the Box-Muller transform, because
NumPy does not promise that ``Generator.normal`` keeps its stream across releases.

The distributions keep eval-mode activations O(1)-O(100) through ResNet-152. The BatchNorm
scale is deliberately below 1: BN in eval mode does not renormalise, so each residual block adds
a branch proportional to its input, and with U(0.5, 1.0) the 36 blocks of ResNet-152's layer3
grow the activations ~100x (logits ~3000). With U(0.35, 0.85), at 2x3x64x64 input, the largest
|activation| of any layer output is ~8 for resnet18/50 and ~24 for resnet152:

============================================  ==========================================
state_dict entry                              values
============================================  ==========================================
``*.num_batches_tracked``                     int64 zeros
BatchNorm ``weight`` (a sibling               U(0.35, 0.85)
``<prefix>.running_mean`` exists)
BatchNorm ``bias``                            N(0, 0.1)
BatchNorm ``running_mean``                    N(0, 0.1)
BatchNorm ``running_var``                     U(0.5, 1.5)
``*weight`` with ndim >= 2 (conv, linear,     N(0, sqrt(2 / fan_in)),
attention projections)                        fan_in = prod(shape[1:])
other ``*weight`` with ndim 1 (LayerNorm...)  U(0.5, 1.0)
``*bias`` (not BatchNorm)                     N(0, 0.01)
anything else (class tokens, position         N(0, 0.02)
embeddings, tables ...)
============================================  ==========================================

Usable from the featx tests (``from synthetic import synthetic_state_dict``; conftest puts
``tests/`` on ``sys.path``) and from ``tools/make_golden.py`` (which adds ``tests/`` to
``sys.path`` itself). Depends on NumPy only.
"""
from __future__ import annotations

import math
import zlib
from typing import Iterable, Mapping

import numpy as np

__all__ = [
    "synthetic_state_dict",
    "synthetic_input",
    "state_dict_shapes",
    "fingerprint",
    "assert_close",
    "REL_TOL",
]


def _rng(name: str, seed: int) -> np.random.Generator:
    # SeedSequence mixes both words, so (key, seed) pairs never alias the way
    # crc32(key) ^ seed could.
    entropy = [zlib.crc32(name.encode("utf-8")) & 0xFFFFFFFF, int(seed) & 0xFFFFFFFF]
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(entropy)))


def _uniform(rng: np.random.Generator, shape: tuple[int, ...], low: float,
             high: float) -> np.ndarray:
    u = rng.random(shape)  # float64 in [0, 1)
    return (low + (high - low) * u).astype(np.float32)


def _normal(rng: np.random.Generator, shape: tuple[int, ...], std: float) -> np.ndarray:
    n = int(np.prod(shape, dtype=np.int64))
    m = (n + 1) // 2
    u1 = rng.random(m)
    u2 = rng.random(m)
    r = np.sqrt(-2.0 * np.log1p(-u1))  # 1 - u1 is in (0, 1]
    t = 2.0 * math.pi * u2
    z = np.concatenate([r * np.cos(t), r * np.sin(t)])[:n]
    return (std * z).reshape(shape).astype(np.float32)


def _shape_of(v) -> tuple[int, ...]:
    shape = getattr(v, "shape", v)
    return tuple(int(d) for d in shape)


def synthetic_state_dict(shapes: Mapping[str, Iterable[int]],
                         seed: int = 0) -> dict[str, np.ndarray]:
    """Deterministic weights for a state_dict with the given ``{key: shape}``.

    ``shapes`` values may be shape tuples or anything with a ``.shape`` (an array,
    a tensor), so ``synthetic_state_dict(model.state_dict())`` works. Each value
    depends only on its key, its shape and ``seed``. Returns float32 arrays, except
    int64 zeros for ``num_batches_tracked``; the result keeps the order of ``shapes``.
    """
    keys = list(shapes)
    keyset = set(keys)
    out: dict[str, np.ndarray] = {}
    for key in keys:
        shape = _shape_of(shapes[key])
        prefix, _, leaf = key.rpartition(".")
        sibling = (prefix + "." if prefix else "") + "running_mean"
        is_bn = sibling in keyset
        rng = _rng(key, seed)
        if leaf == "num_batches_tracked":
            arr = np.zeros(shape, dtype=np.int64)
        elif is_bn and leaf == "weight":
            arr = _uniform(rng, shape, 0.35, 0.85)
        elif is_bn and leaf in ("bias", "running_mean"):
            arr = _normal(rng, shape, 0.1)
        elif is_bn and leaf == "running_var":
            arr = _uniform(rng, shape, 0.5, 1.5)
        elif leaf.endswith("weight") and len(shape) >= 2:
            fan_in = int(np.prod(shape[1:], dtype=np.int64)) or 1
            arr = _normal(rng, shape, math.sqrt(2.0 / fan_in))
        elif leaf.endswith("weight"):
            arr = _uniform(rng, shape, 0.5, 1.0)
        elif leaf.endswith("bias"):
            arr = _normal(rng, shape, 0.01)
        else:
            arr = _normal(rng, shape, 0.02)
        out[key] = arr
    return out


def synthetic_input(shape: Iterable[int], seed: int = 0) -> np.ndarray:
    """A float32 N(0, 1) array of ``shape``, deterministic in ``(shape, seed)``."""
    shape = _shape_of(shape)
    return _normal(_rng("input", seed), shape, 1.0)


def state_dict_shapes(state_dict: Mapping) -> dict[str, tuple[int, ...]]:
    """``{key: shape}`` of any state_dict (NumPy arrays or torch tensors)."""
    return {k: _shape_of(v) for k, v in state_dict.items()}


def fingerprint(arrays: Mapping[str, np.ndarray]) -> float:
    """A float64 checksum of a state_dict: sum over keys of sum(|v|) times a
    key-dependent weight. Stored with the golden outputs so a test can tell
    "the synthetic weights changed" apart from "featx computes differently"."""
    total = 0.0
    for k, v in arrays.items():
        w = 1.0 + (zlib.crc32(k.encode("utf-8")) % 1000) / 1000.0
        total += w * float(np.abs(np.asarray(v, dtype=np.float64)).sum())
    return total


#: SPEC section 7: featx matches torchvision within this fraction of the output's max |value|.
REL_TOL = 1e-4


def assert_close(actual, expected, what: str = "output", rel_tol: float = REL_TOL) -> None:
    """Assert ``max|actual - expected| <= rel_tol * max|expected|`` (SPEC section 7), with
    equal shapes; the message names ``what`` and gives the error and where it is largest."""
    actual = np.asarray(actual)
    expected = np.asarray(expected)
    assert actual.shape == expected.shape, (
        f"{what}: shape {actual.shape} != expected {expected.shape}")
    if expected.size == 0:
        return
    a = actual.astype(np.float64)
    e = expected.astype(np.float64)
    assert np.all(np.isfinite(a)), f"{what}: non-finite values in featx output"
    scale = float(np.abs(e).max())
    err = np.abs(a - e)
    worst = float(err.max())
    bound = rel_tol * scale if scale > 0 else 1e-7
    if worst > bound:
        idx = np.unravel_index(int(err.argmax()), err.shape)
        raise AssertionError(
            f"{what}: max abs diff {worst:.3g} > {bound:.3g} ({rel_tol:g} * max|expected| "
            f"{scale:.4g}); worst at index {tuple(int(i) for i in idx)}: got {a[idx]:.6g}, "
            f"expected {e[idx]:.6g}; {int((err > bound).sum())} of {err.size} elements off")
