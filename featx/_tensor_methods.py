"""Torch ``Tensor`` methods with torch semantics, for traced graphs.

When traced code calls a method on a traced value (``x.flatten(1)``,
``x.view(n, -1)``, ``x.size(0)``), the graph records a ``call_method`` node;
running that node calls ``METHODS[name](array, *args, **kwargs)``. Methods
with a kernel go through the featx op; the rest are NumPy written to give
torch's results (``std`` is unbiased, ``max(dim)`` returns ``(values,
indices)``, ...). A method not in ``METHODS`` is refused when the extractor
is created (see :func:`unsupported_method_message`), never run with NumPy's
meaning. In-place methods (``add_``) run out of place; the extractor refuses
them where the difference could be seen.
"""
from __future__ import annotations

import warnings
from collections import namedtuple
from collections.abc import Callable, Sequence
from typing import Any, Optional, Union

import numpy as np

from . import _functions

__all__ = ["METHODS", "unsupported_method_message"]


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


def reshape(self: Any, *args: Any, shape: Any = None) -> Any:
    if shape is not None:
        args = (shape,)
    return _functions.reshape(self, _shape_args("reshape", args))


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
    """Floating inputs sum to float32 (in float64 first), integer and
    bool ones to int64, as in torch."""
    x = np.asarray(self)
    if dtype is None and x.dtype.kind in "biu":
        return np.asarray(x.sum(axis=_dims(dim), keepdims=keepdim,
                                dtype=np.int64))
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


def permute(self: Any, *args: Any, dims: Any = None) -> np.ndarray:
    if dims is not None:
        args = (dims,)
    return np.ascontiguousarray(
        np.transpose(np.asarray(self), _shape_args("permute", args)))


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


def div(self: Any, other: Any, *, rounding_mode: Optional[str] = None
        ) -> Any:
    """torch's division: true division (integer operands give float32),
    or with ``rounding_mode`` "trunc" / "floor" the quotient rounded that
    way (in the operands' type: int64 for integers)."""
    x, y = np.asarray(self), np.asarray(other)
    exact = x.dtype.kind in "biu" or y.dtype.kind in "biu"
    if rounding_mode is None and not exact:
        return _functions.div(self, other)
    if rounding_mode not in (None, "trunc", "floor"):
        raise ValueError(f"div: rounding_mode must be None, 'trunc' or "
                         f"'floor', got {rounding_mode!r}")
    if not exact:
        y = y.astype(x.dtype)  # a Python float divides in float32, as in torch
    with np.errstate(all="ignore"):
        q = np.true_divide(x, y, dtype=np.float64 if exact else None)
        if rounding_mode is None:
            return q.astype(np.float32)
        q = np.trunc(q) if rounding_mode == "trunc" else np.floor(q)
    if x.dtype.kind in "biu" and y.dtype.kind in "biu":
        return q.astype(np.int64)
    return q.astype(np.float32)


# -- reductions and elementwise math with torch's meaning ------------------

#: ``x.max(dim)`` / ``x.min(dim)`` / ``x.sort()``: torch's named pairs.
ValuesIndices = namedtuple("ValuesIndices", ["values", "indices"])


def _out(x: np.ndarray, value: Any) -> np.ndarray:
    """``value`` as an array of ``x``'s floating dtype (float32 here)."""
    dtype = x.dtype if np.issubdtype(x.dtype, np.floating) else np.float32
    return np.asarray(value, dtype=dtype)


def _var(fn: str, self: Any, dim: Any, unbiased: Any, keepdim: bool,
         correction: Any) -> np.ndarray:
    x = np.asarray(self)
    if isinstance(dim, bool):       # x.std(False): the (unbiased) overload
        dim, unbiased = None, dim
    if correction is None:
        correction = 1 if unbiased is None or unbiased else 0
    elif unbiased is not None:
        raise TypeError(f"{fn}: give unbiased or correction, not both "
                        f"(got unbiased={unbiased!r}, "
                        f"correction={correction!r})")
    axes = _dims(dim)
    with np.errstate(divide="ignore", invalid="ignore"), \
            warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        x64 = x.astype(np.float64)
        n = x64.size if axes is None else int(np.prod(
            [x64.shape[d] for d in axes]))
        dev = x64 - x64.mean(axis=axes, keepdims=True)
        ss = (dev * dev).sum(axis=axes, keepdims=keepdim)
        # n - correction <= 0 gives inf (or nan for 0/0), as torch does
        out = ss / np.float64(max(n - correction, 0))
    return _out(x, np.sqrt(out) if fn == "std" else out)


def std(self: Any, dim: Any = None, unbiased: Any = None,
        keepdim: bool = False, *, correction: Any = None) -> np.ndarray:
    """Standard deviation; divisor ``n - correction`` (default 1, as torch:
    ``unbiased=False`` or ``correction=0`` divide by ``n``)."""
    return _var("std", self, dim, unbiased, keepdim, correction)


def var(self: Any, dim: Any = None, unbiased: Any = None,
        keepdim: bool = False, *, correction: Any = None) -> np.ndarray:
    """Variance; divisor ``n - correction`` (default 1, as torch)."""
    return _var("var", self, dim, unbiased, keepdim, correction)


def _extreme(fn: str, self: Any, dim: Any, keepdim: bool) -> Any:
    x = np.asarray(self)
    if dim is None:
        return np.asarray(x.max() if fn == "max" else x.min())
    if not isinstance(dim, (int, np.integer)) or isinstance(dim, bool):
        other = np.asarray(dim)     # x.max(other): elementwise
        return (np.maximum if fn == "max" else np.minimum)(x, other)
    d = int(dim)
    arg = np.argmax if fn == "max" else np.argmin
    # argmax/argmin return the first NaN when there is one, as torch does
    idx = np.expand_dims(arg(x, axis=d), d)
    values = np.take_along_axis(x, idx, axis=d)
    if not keepdim:
        values, idx = np.squeeze(values, d), np.squeeze(idx, d)
    return ValuesIndices(values, idx.astype(np.int64))


def max_(self: Any, dim: Any = None, keepdim: bool = False, *,
         other: Any = None) -> Any:
    """``x.max()`` a 0-d array; ``x.max(dim)`` ``(values, indices)``;
    ``x.max(other)`` the elementwise maximum."""
    return _extreme("max", self, dim if other is None else other, keepdim)


def min_(self: Any, dim: Any = None, keepdim: bool = False, *,
         other: Any = None) -> Any:
    """As :func:`max_`, for the minimum."""
    return _extreme("min", self, dim if other is None else other, keepdim)


def _arg_extreme(fn: Any, self: Any, dim: Any, keepdim: bool) -> np.ndarray:
    """torch's argmax / argmin (``fn``: np.argmax / np.argmin): int64
    indices, over the flattened array when ``dim`` is None."""
    x = np.asarray(self)
    if dim is None:
        return np.asarray(fn(x), np.int64).reshape((1,) * x.ndim
                                                   if keepdim else ())
    return fn(x, axis=int(dim), keepdims=keepdim).astype(np.int64)


def argmax(self: Any, dim: Any = None, keepdim: bool = False) -> np.ndarray:
    return _arg_extreme(np.argmax, self, dim, keepdim)


def argmin(self: Any, dim: Any = None, keepdim: bool = False) -> np.ndarray:
    return _arg_extreme(np.argmin, self, dim, keepdim)


def sort(self: Any, dim: int = -1, descending: bool = False,
         stable: bool = False) -> Any:
    """``(values, indices)``; NaN sorts as the largest value, as in torch.
    Equal values keep their order (torch's ``stable=True``)."""
    x = np.asarray(self)
    floating = np.issubdtype(x.dtype, np.floating)
    if not descending:
        idx = np.argsort(x, axis=dim, kind="stable")     # NaN last
    else:
        neg = -x if floating else -x.astype(np.int64)
        idx = np.argsort(neg, axis=dim, kind="stable")   # NaN last
        if floating:                                     # NaN first
            nan = np.take_along_axis(np.isnan(x), idx, axis=dim)
            idx = np.take_along_axis(
                idx, np.argsort(~nan, axis=dim, kind="stable"), axis=dim)
    return ValuesIndices(np.take_along_axis(x, idx, axis=dim),
                         idx.astype(np.int64))


def softmax(self: Any, dim: int, dtype: Any = None) -> np.ndarray:
    return _out(np.asarray(self),
                _functions.softmax_rows(np.asarray(self), dim, log=False))


def log_softmax(self: Any, dim: int, dtype: Any = None) -> np.ndarray:
    return _out(np.asarray(self),
                _functions.softmax_rows(np.asarray(self), dim, log=True))


def clamp(self: Any, min: Any = None, max: Any = None) -> np.ndarray:
    """torch's order: ``min`` first, then ``max`` (so ``min > max`` gives
    ``max`` everywhere); NaN stays NaN."""
    x = np.asarray(self)
    if min is None and max is None:
        raise TypeError("clamp: at least one of min and max must be given, "
                        "got min=None, max=None")
    out = x
    if min is not None:
        out = np.where(np.isnan(out), out, np.maximum(out, min))
    if max is not None:
        out = np.where(np.isnan(out), out, np.minimum(out, max))
    return out.astype(x.dtype, copy=False)


def _unary(ufunc: Callable[..., Any]) -> Callable[..., Any]:
    def method(self: Any) -> np.ndarray:
        x = np.asarray(self)
        with np.errstate(all="ignore"):
            return _out(x, ufunc(x)) if np.issubdtype(
                x.dtype, np.floating) else ufunc(x)
    method.__name__ = ufunc.__name__
    return method


def pow_(self: Any, exponent: Any) -> np.ndarray:
    x = np.asarray(self)
    with np.errstate(all="ignore"):
        return _out(x, np.power(x.astype(np.float64), exponent))


def flip(self: Any, *args: Any, dims: Any = None) -> np.ndarray:
    if dims is not None:
        args = (dims,)
    return np.ascontiguousarray(
        np.flip(np.asarray(self), _shape_args("flip", args)))


def roll(self: Any, shifts: Any, dims: Any = None) -> np.ndarray:
    return np.roll(np.asarray(self), shifts, axis=dims)


def _sizes_per_dim(fn: str, what: str, self: Any, sizes: tuple
                   ) -> tuple[np.ndarray, tuple]:
    """``self`` as an array and ``sizes`` as ints, at least one per dim
    (new leading dims allowed), for expand and repeat."""
    x = np.asarray(self)
    sizes = _shape_args(fn, sizes)
    if len(sizes) < x.ndim:
        raise ValueError(
            f"{fn}: the number of {what} ({len(sizes)}) must be at least "
            f"the number of dims ({x.ndim}), got {sizes}")
    return x, sizes


def expand(self: Any, *sizes: Any) -> np.ndarray:
    """New leading dims may be added; ``-1`` keeps a size; only size-1 dims
    grow (torch's rule)."""
    x, sizes = _sizes_per_dim("expand", "sizes", self, sizes)
    lead = len(sizes) - x.ndim
    shape = []
    for i, s in enumerate(sizes):
        old = x.shape[i - lead] if i >= lead else None
        if s == -1:
            if old is None:
                raise ValueError(f"expand: -1 is not allowed for a new "
                                 f"leading dim (dim {i} of {sizes})")
            s = old
        if old is not None and old != 1 and old != s:
            raise ValueError(
                f"expand: dim {i} has size {old}, which can only be kept or "
                f"grown from 1, got size {s}")
        shape.append(s)
    return np.ascontiguousarray(np.broadcast_to(x, tuple(shape)))


def expand_as(self: Any, other: Any) -> np.ndarray:
    return expand(self, tuple(np.shape(other)))


def repeat(self: Any, *sizes: Any) -> np.ndarray:
    x, sizes = _sizes_per_dim("repeat", "repeats", self, sizes)
    x = x.reshape((1,) * (len(sizes) - x.ndim) + x.shape)
    return np.tile(x, sizes)


def split(self: Any, split_size: Any, dim: int = 0) -> tuple:
    """torch's Tensor.split: pieces of ``split_size`` (the last may be
    shorter), or of the sizes in a list."""
    x = np.asarray(self)
    n = x.shape[dim]
    if isinstance(split_size, (int, np.integer)):
        step = int(split_size)
        if step <= 0:
            raise ValueError(f"split: split_size must be positive, got "
                             f"{step}")
        bounds = list(range(step, n, step))
    else:
        sections = [int(s) for s in split_size]
        if sum(sections) != n:
            raise ValueError(
                f"split: sections {sections} sum to {sum(sections)}, "
                f"expected the size of dim {dim}, {n}")
        bounds = list(np.cumsum(sections)[:-1])
    return tuple(np.split(x, bounds, axis=dim)) if n else (x,)


def narrow(self: Any, dim: int, start: int, length: int) -> np.ndarray:
    x = np.asarray(self)
    n = x.shape[dim]
    if start < 0:
        start += n
    if not (0 <= start <= n and 0 <= length <= n - start):
        raise IndexError(
            f"narrow: start {start} and length {length} do not fit in dim "
            f"{dim} of size {n}")
    return np.take(x, range(start, start + length), axis=dim)


def select(self: Any, dim: int, index: int) -> np.ndarray:
    x = np.asarray(self)
    n = x.shape[dim]
    if not -n <= index < n:
        raise IndexError(f"select: index {index} out of range for dim {dim} "
                         f"of size {n} (expected in [{-n}, {n - 1}])")
    return np.take(x, index, axis=dim)


def unflatten(self: Any, dim: int, sizes: Sequence[int]) -> np.ndarray:
    x = np.asarray(self)
    d = dim + x.ndim if dim < 0 else dim
    sizes = list(_shape_args("unflatten", (tuple(sizes),)))
    if sizes.count(-1) == 1:
        known = int(np.prod([s for s in sizes if s != -1]))
        sizes[sizes.index(-1)] = x.shape[d] // known if known else 0
    if int(np.prod(sizes)) != x.shape[d]:
        raise ValueError(
            f"unflatten: sizes {tuple(sizes)} multiply to "
            f"{int(np.prod(sizes))}, expected the size of dim {dim}, "
            f"{x.shape[d]}")
    return x.reshape(x.shape[:d] + tuple(sizes) + x.shape[d + 1:])


def movedim(self: Any, source: Any, destination: Any) -> np.ndarray:
    return np.ascontiguousarray(np.moveaxis(np.asarray(self), source,
                                            destination))


def masked_fill(self: Any, mask: Any, value: Any) -> np.ndarray:
    x = np.asarray(self)
    return np.where(np.asarray(mask, dtype=bool), np.asarray(value, x.dtype),
                    x).astype(x.dtype, copy=False)


def matmul(self: Any, other: Any) -> np.ndarray:
    x = np.asarray(self)
    return _out(x, np.matmul(x.astype(np.float64),
                             np.asarray(other, np.float64)))


def type_as(self: Any, other: Any) -> np.ndarray:
    return np.asarray(self).astype(np.asarray(other).dtype)


def _astype(dtype: Any) -> Callable[..., Any]:
    def method(self: Any, memory_format: Any = None) -> np.ndarray:
        return np.asarray(self).astype(dtype)
    return method


def fill_(self: Any, value: Any) -> np.ndarray:
    x = np.asarray(self)
    return np.full_like(x, value)


def _reduce(fn: str) -> Callable[..., Any]:
    def method(self: Any, dim: Any = None, keepdim: bool = False, *,
               dtype: Any = None) -> np.ndarray:
        x = np.asarray(self)
        if fn in ("any", "all"):
            f = np.any if fn == "any" else np.all
            return np.asarray(f(x, axis=dim, keepdims=keepdim))
        out = np.prod(x.astype(np.float64), axis=dim, keepdims=keepdim)
        return _out(x, out)
    method.__name__ = fn
    return method


def _cumulative(fn: str) -> Callable[..., Any]:
    def method(self: Any, dim: int, *, dtype: Any = None) -> np.ndarray:
        x = np.asarray(self)
        f = np.cumsum if fn == "cumsum" else np.cumprod
        return _out(x, f(x.astype(np.float64), axis=dim))
    method.__name__ = fn
    return method


def round_(self: Any, *, decimals: int = 0) -> np.ndarray:
    """Half to even, as torch (and NumPy) round."""
    x = np.asarray(self)
    return np.round(x, decimals)


def nonzero(self: Any, *, as_tuple: bool = False) -> Any:
    x = np.asarray(self)
    if as_tuple:
        return tuple(i.astype(np.int64) for i in np.nonzero(x))
    return np.argwhere(x).astype(np.int64)


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
    "std": std,
    "var": var,
    "max": max_,
    "min": min_,
    "argmax": argmax,
    "argmin": argmin,
    "sort": sort,
    "softmax": softmax,
    "log_softmax": log_softmax,
    "clamp": clamp,
    "clip": clamp,
    "pow": pow_,
    "sqrt": _unary(np.sqrt),
    "abs": _unary(np.abs),
    "exp": _unary(np.exp),
    "log": _unary(np.log),
    "tanh": _unary(np.tanh),
    "neg": _unary(np.negative),
    "flip": flip,
    "roll": roll,
    "expand": expand,
    "expand_as": expand_as,
    "repeat": repeat,
    "split": split,
    "narrow": narrow,
    "select": select,
    "unflatten": unflatten,
    "movedim": movedim,
    "masked_fill": masked_fill,
    "matmul": matmul,
    "type_as": type_as,
    "bool": _astype(np.bool_),
    "int": _astype(np.int32),
    "long": _astype(np.int64),
    "half": _astype(np.float16),
    "double": _astype(np.float64),
    "prod": _reduce("prod"),
    "any": _reduce("any"),
    "all": _reduce("all"),
    "cumsum": _cumulative("cumsum"),
    "cumprod": _cumulative("cumprod"),
    "round": round_,
    "nonzero": nonzero,
    "add_": add,
    "sub_": sub,
    "mul_": mul,
    "div_": div,
    "clamp_": clamp,
    "fill_": fill_,
}

#: What to use instead of a tensor method featx does not run.
_INSTEAD = {
    "to": "drop the call (featx computes float32 on the CPU) or use "
          "x.float() / x.double()",
    "cuda": "drop the call (featx runs on the CPU)",
    "cpu": "drop the call (featx runs on the CPU)",
    "numpy": "drop the call (values are already NumPy arrays)",
    "tolist": "make the module a leaf (tracer_kwargs={'leaf_modules': "
              "[...]})",
    "item": "make the module a leaf (tracer_kwargs={'leaf_modules': "
            "[...]})",
    "masked_fill_": "x.masked_fill(mask, value) and use its result",
    "copy_": "use the source value directly",
}


def is_inplace(name: str) -> bool:
    """``add_``, ``relu_``, ...: torch's in-place naming."""
    return name.endswith("_") and not name.startswith("_")


def unsupported_method_message(node: str, name: str) -> str:
    """Why a traced ``x.<name>(...)`` call cannot run, and what to use."""
    hint = _INSTEAD.get(name)
    if hint is None:
        hint = ("call a featx function on the array instead (featx.nn."
                "functional, featx.flatten, featx.cat, ...), or make the "
                "module a leaf (tracer_kwargs={'leaf_modules': [...]}) or "
                "wrap the code in a function (@featx.fx.wrap) so it runs "
                "on NumPy arrays")
    return (f"node {node!r}: tensor method '{name}' (x.{name}(...)) is not "
            f"supported inside a feature extractor (featx has no "
            f"implementation of it with torch's meaning); {hint}. "
            f"Supported methods: "
            f"{', '.join(sorted(METHODS))}")
