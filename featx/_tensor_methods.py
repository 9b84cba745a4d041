"""Torch ``Tensor`` methods with torch semantics, for traced graphs.

When traced code calls a method on a traced value (``x.flatten(1)``,
``x.view(n, -1)``, ``x.size(0)``), the graph records a ``call_method`` node;
running that node calls ``METHODS[name](array, *args, **kwargs)``. Methods
with a kernel go through the featx op; the rest are plain NumPy.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Optional, Union

import numpy as np

from . import _functions

__all__ = ["METHODS"]


def _shape_args(fn: str, shape: tuple) -> tuple:
    """``view(2, 3)`` and ``view((2, 3))`` both give ``(2, 3)``."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    for s in shape:
        if isinstance(s, bool) or not isinstance(s, (int, np.integer)):
            raise TypeError(f"{fn}: sizes must be ints, got {shape!r}")
    return tuple(int(s) for s in shape)


def _dims(dim: Union[None, int, Sequence[int]]) -> Optional[tuple]:
    if dim is None:
        return None
    if isinstance(dim, (int, np.integer)):
        return (int(dim),)
    return tuple(int(d) for d in dim)


def flatten(self: Any, start_dim: int = 0, end_dim: int = -1) -> Any:
    return _functions.flatten(self, start_dim, end_dim)


def view(self: Any, *shape: Any) -> Any:
    if len(shape) == 1 and not isinstance(shape[0], (tuple, list, int,
                                                     np.integer)):
        raise NotImplementedError("view(dtype) is not supported")
    return _functions.reshape(self, _shape_args("view", shape))


def reshape(self: Any, *shape: Any) -> Any:
    return _functions.reshape(self, _shape_args("reshape", shape))


def size(self: Any, dim: Optional[int] = None) -> Union[tuple, int]:
    shape = tuple(int(s) for s in np.shape(self))
    if dim is None:
        return shape
    n = len(shape)
    if not -n <= dim < n:
        raise IndexError(
            f"size: dim {dim} out of range for a {n}-d array "
            f"(expected in [{-n}, {n - 1}])")
    return shape[dim]


def dim(self: Any) -> int:
    return int(np.ndim(self))


def numel(self: Any) -> int:
    return int(np.size(self))


def mean(self: Any, dim: Union[None, int, Sequence[int]] = None,
         keepdim: bool = False, *, dtype: Any = None) -> np.ndarray:
    x = np.asarray(self)
    out = x.mean(axis=_dims(dim), keepdims=keepdim, dtype=np.float64)
    return np.asarray(out, dtype=dtype or np.float32)


def sum(self: Any, dim: Union[None, int, Sequence[int]] = None,
        keepdim: bool = False, *, dtype: Any = None) -> np.ndarray:
    x = np.asarray(self)
    out = x.sum(axis=_dims(dim), keepdims=keepdim, dtype=np.float64)
    return np.asarray(out, dtype=dtype or np.float32)


def relu(self: Any) -> Any:
    return _functions.relu(self)


def sigmoid(self: Any) -> Any:
    return _functions.sigmoid(self)


def contiguous(self: Any, memory_format: Any = None) -> np.ndarray:
    x = np.asarray(self)
    return x if x.flags.c_contiguous else np.ascontiguousarray(x)


def float_(self: Any) -> np.ndarray:
    return np.asarray(self, dtype=np.float32)


def clone(self: Any, memory_format: Any = None) -> np.ndarray:
    return np.array(self, dtype=np.asarray(self).dtype, copy=True)


def detach(self: Any) -> Any:
    return self


def permute(self: Any, *dims: Any) -> np.ndarray:
    return np.ascontiguousarray(
        np.transpose(np.asarray(self), _shape_args("permute", dims)))


def transpose(self: Any, dim0: int, dim1: int) -> np.ndarray:
    return np.ascontiguousarray(np.swapaxes(np.asarray(self), dim0, dim1))


def unsqueeze(self: Any, dim: int) -> np.ndarray:
    x = np.asarray(self)
    if dim < 0:
        dim += x.ndim + 1
    return np.expand_dims(x, dim)


def squeeze(self: Any, dim: Union[None, int, Sequence[int]] = None
            ) -> np.ndarray:
    x = np.asarray(self)
    if dim is None:
        return np.squeeze(x)
    dims = tuple(d for d in _dims(dim) or () if x.shape[d] == 1)
    return np.squeeze(x, axis=dims) if dims else x


def chunk(self: Any, chunks: int, dim: int = 0) -> tuple:
    x = np.asarray(self)
    n = x.shape[dim]
    step = -(-n // chunks) if n else 1
    return tuple(np.take(x, range(i, min(i + step, n)), axis=dim)
                 for i in range(0, n, step))


def add(self: Any, other: Any, alpha: float = 1) -> Any:
    return _functions.add(self, other, alpha)


def sub(self: Any, other: Any, alpha: float = 1) -> Any:
    return _functions.sub(self, other, alpha)


def mul(self: Any, other: Any) -> Any:
    return _functions.mul(self, other)


def div(self: Any, other: Any) -> Any:
    return _functions.div(self, other)


METHODS: dict[str, Callable[..., Any]] = {
    "flatten": flatten,
    "view": view,
    "reshape": reshape,
    "size": size,
    "dim": dim,
    "numel": numel,
    "mean": mean,
    "sum": sum,
    "relu": relu,
    "relu_": relu,
    "sigmoid": sigmoid,
    "sigmoid_": sigmoid,
    "contiguous": contiguous,
    "float": float_,
    "clone": clone,
    "detach": detach,
    "permute": permute,
    "transpose": transpose,
    "unsqueeze": unsqueeze,
    "squeeze": squeeze,
    "chunk": chunk,
    "add": add,
    "sub": sub,
    "mul": mul,
    "div": div,
}
