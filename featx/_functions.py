"""Torch-namespace array functions: ``featx.flatten``, ``featx.cat``, ...

Counterparts of ``torch.flatten``, ``torch.cat``, ``torch.add`` and friends,
re-exported at the top of the package. Like ``featx.nn.functional`` they are
``@op`` spec builders, so model code calling ``featx.flatten(x, 1)`` runs
eagerly on arrays and records a ``flatten`` node when traced.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Optional

import numpy as np

from ._op import OpSpec, SlotRef, op

__all__ = ["flatten", "reshape", "cat", "concat", "add", "sub", "mul", "div",
           "relu"]


def _float_input(fn: str, name: str, x: Any) -> Any:
    """``x`` ready for a kernel: float arrays become float32, Python
    numbers 0-d float32 arrays; integer, bool and complex arrays are a
    TypeError. Anything else (traced values, placeholders) passes through.
    """
    if isinstance(x, np.ndarray):
        if x.dtype == np.float32:
            return x
        if x.dtype.kind == "f":
            return x.astype(np.float32)
        raise TypeError(
            f"{fn}: expected a float array for '{name}', got dtype "
            f"{x.dtype}; featx computes in float32 - use featx.transforms "
            f"(or x.astype(np.float32) / 255) to convert images")
    if isinstance(x, (bool, np.bool_)):
        raise TypeError(f"{fn}: '{name}' must be an array or a number, "
                        f"got bool {x!r}")
    if isinstance(x, (int, float, np.integer, np.floating)):
        return np.asarray(x, dtype=np.float32)
    return x


def _check_int(fn: str, name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{fn}: {name} must be an int, got {value!r}")
    return int(value)


@op
def flatten(input: Any, start_dim: int = 0, end_dim: int = -1) -> Any:
    """Merges dims ``start_dim..end_dim`` into one (``torch.flatten``).

    Args:
        input: float32 array or traced value.
        start_dim: first dim to merge (negative counts from the end).
        end_dim: last dim to merge (inclusive).

    Returns:
        float32 ndarray with the same elements (a copy).

    Shape:
        (d0, .., ds, .., de, ..) -> (d0, .., ds*...*de, ..); a 0-d input
        gives shape (1,).

    Raises:
        ValueError: dims out of range or start after end.

    Example:
        >>> flatten(np.zeros((2, 3, 4, 5), np.float32), 1).shape
        (2, 60)
    """
    input = _float_input("flatten", "input", input)
    return OpSpec("flatten", (input,), {
        "start_dim": _check_int("flatten", "start_dim", start_dim),
        "end_dim": _check_int("flatten", "end_dim", end_dim)})


@op
def reshape(input: Any, shape: Sequence[int]) -> Any:
    """Same elements in a new shape (``torch.reshape``).

    Args:
        input: float32 array or traced value.
        shape: new sizes; one entry may be -1 (inferred).

    Returns:
        float32 ndarray of the new shape.

    Shape:
        prod(shape) == input.size.

    Raises:
        ValueError: sizes that do not match the number of elements.

    Example:
        >>> reshape(np.zeros((2, 6), np.float32), (3, -1)).shape
        (3, 4)
    """
    input = _float_input("reshape", "input", input)
    sizes = (shape,) if isinstance(shape, (int, np.integer)) else shape
    return OpSpec("reshape", (input,), {
        "shape": tuple(_check_int("reshape", "shape", s) for s in sizes)})


@op
def cat(tensors: Sequence[Any], dim: int = 0) -> Any:
    """Joins arrays along an existing dim (``torch.cat``).

    Args:
        tensors: non-empty list/tuple of float32 arrays or traced values
            with equal shapes except along ``dim``.
        dim: joining dim (negative counts from the end).

    Returns:
        float32 ndarray.

    Shape:
        Sizes along ``dim`` add up; the others are unchanged.

    Raises:
        ValueError: an empty list or mismatched shapes.
        TypeError: ``tensors`` not a list/tuple.

    Example:
        >>> a = np.zeros((1, 2), np.float32)
        >>> cat([a, a], 1).shape
        (1, 4)
    """
    if not isinstance(tensors, (list, tuple)):
        raise TypeError(
            f"cat: expected a list or tuple of arrays, got "
            f"{type(tensors).__name__}")
    if len(tensors) == 0:
        raise ValueError("cat: expected a non-empty list of arrays")
    tensors = tuple(_float_input("cat", f"tensors[{i}]", t)
                    for i, t in enumerate(tensors))
    return OpSpec("cat", tensors,
                  {"dim": _check_int("cat", "dim", dim)})


concat = cat


def _scaled(fn: str, other: Any, alpha: Any) -> Any:
    if alpha == 1:
        return other
    if isinstance(other, SlotRef):
        return NotImplemented
    return np.asarray(other, dtype=np.float32) * np.float32(alpha)


@op
def add(input: Any, other: Any, alpha: float = 1) -> Any:
    """``input + alpha * other``, broadcasting (``torch.add``).

    Args:
        input: float32 array, traced value or Python number.
        other: float32 array, traced value or Python number.
        alpha: multiplier of ``other``, unitless.

    Returns:
        float32 ndarray of the broadcast shape.

    Shape:
        NumPy broadcasting of the two shapes.

    Raises:
        ValueError: shapes that do not broadcast.

    Example:
        >>> add(np.ones(2, np.float32), 2)
        array([3., 3.], dtype=float32)
    """
    other = _scaled("add", other, alpha)
    if other is NotImplemented:
        return NotImplemented
    return OpSpec("add", (_float_input("add", "input", input),
                          _float_input("add", "other", other)), {})


@op
def sub(input: Any, other: Any, alpha: float = 1) -> Any:
    """``input - alpha * other``, broadcasting (``torch.sub``).

    Args: as :func:`add`.

    Returns:
        float32 ndarray of the broadcast shape.

    Shape:
        NumPy broadcasting of the two shapes.

    Raises:
        ValueError: shapes that do not broadcast.
    """
    other = _scaled("sub", other, alpha)
    if other is NotImplemented:
        return NotImplemented
    return OpSpec("sub", (_float_input("sub", "input", input),
                          _float_input("sub", "other", other)), {})


@op
def mul(input: Any, other: Any) -> Any:
    """Elementwise product, broadcasting (``torch.mul``).

    Returns:
        float32 ndarray of the broadcast shape.

    Shape:
        NumPy broadcasting of the two shapes.

    Raises:
        ValueError: shapes that do not broadcast.
    """
    return OpSpec("mul", (_float_input("mul", "input", input),
                          _float_input("mul", "other", other)), {})


@op
def div(input: Any, other: Any, *, rounding_mode: Optional[str] = None
        ) -> Any:
    """Elementwise true division, broadcasting (``torch.div``).

    Args:
        input: dividend.
        other: divisor.
        rounding_mode: ``None`` (true division), ``"trunc"`` or ``"floor"``
            (the quotient rounded that way).

    Returns:
        float32 ndarray of the broadcast shape.

    Shape:
        NumPy broadcasting of the two shapes.

    Raises:
        ValueError: shapes that do not broadcast, or a ``rounding_mode``
            other than those three.
    """
    if rounding_mode is not None:
        if isinstance(input, SlotRef) or isinstance(other, SlotRef):
            return NotImplemented  # runs in Python, as the tensor method
        from ._tensor_methods import div as rounded_div

        return rounded_div(input, other, rounding_mode=rounding_mode)
    return OpSpec("div", (_float_input("div", "input", input),
                          _float_input("div", "other", other)), {})


@op
def relu(input: Any) -> Any:
    """max(x, 0) elementwise (``torch.relu``).

    Returns:
        float32 ndarray of the input's shape.

    Shape:
        Output = input shape.

    Raises:
        TypeError: integer/bool/complex input.
    """
    input = _float_input("relu", "input", input)
    return OpSpec("relu", (input,), {})


@op
def unsqueeze(input: Any, dim: int) -> Any:
    """Inserts a dim of size 1 at ``dim`` (``torch.unsqueeze``).

    Computed with NumPy (no kernel): a traced call records an
    ``unsqueeze`` node that runs as a Python step.

    Args:
        input: float32 array or traced value.
        dim: position of the new dim in the output, in
            ``[-input.ndim - 1, input.ndim]`` (negative counts from the end).

    Returns:
        float32 ndarray with the same elements (a contiguous copy, where
        torch returns a view).

    Shape:
        (d0, .., dn) -> (d0, .., 1, .., dn) with the 1 at ``dim``.

    Raises:
        IndexError: ``dim`` out of range.
        TypeError: ``dim`` not an int, or an integer/bool/complex input.

    Example:
        >>> unsqueeze(np.zeros((2, 3), np.float32), 1).shape
        (2, 1, 3)
    """
    dim = _check_int("unsqueeze", "dim", dim)
    if isinstance(input, SlotRef):
        return NotImplemented
    x = _float_input("unsqueeze", "input", np.asarray(input))
    if not -x.ndim - 1 <= dim <= x.ndim:
        raise IndexError(
            f"unsqueeze: dim {dim} is out of range for a {x.ndim}-d input "
            f"(expected [{-x.ndim - 1}, {x.ndim}])")
    if dim < 0:
        dim += x.ndim + 1
    return np.ascontiguousarray(np.expand_dims(x, dim))


__all__ += ["unsqueeze"]


# ---- sigmoid, layout and reduction functions (mobile / efficient zoo) ---

def _wrap_dim(fn: str, dim: Any, ndim: int) -> int:
    dim = _check_int(fn, "dim", dim)
    n = max(ndim, 1)
    if not -n <= dim < n:
        raise IndexError(
            f"{fn}: dim {dim} is out of range for a {ndim}-d input "
            f"(expected in [{-n}, {n - 1}])")
    return dim % n


def softmax_rows(x: np.ndarray, dim: int, log: bool) -> np.ndarray:
    """softmax (or log_softmax) of ``x`` along ``dim``, in float64: shifted
    by the row's maximum, so large logits do not overflow; a row holding
    NaN or +inf gives NaN, as in torch. The one implementation behind
    ``F.softmax`` and the ``x.softmax`` tensor method."""
    v = np.asarray(x, dtype=np.float64)
    if v.size == 0:
        return v
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        shifted = v - v.max(axis=dim, keepdims=True)
        total = np.exp(shifted).sum(axis=dim, keepdims=True)
        return shifted - np.log(total) if log else np.exp(shifted) / total


def _size_args(fn: str, shape: tuple) -> tuple:
    """``f(x, 2, 3)`` and ``f(x, (2, 3))`` both give ``(2, 3)``; sizes may
    be traced values or SlotRefs (checked later)."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    for s in shape:
        if isinstance(s, bool) or not isinstance(
                s, (int, np.integer, SlotRef)):
            raise TypeError(f"{fn}: sizes must be ints, got {shape!r}")
    return tuple(s if isinstance(s, SlotRef) else int(s) for s in shape)


@op
def sigmoid(input: Any) -> Any:
    """``1 / (1 + exp(-x))`` elementwise (``torch.sigmoid``).

    Args:
        input: float32 array or traced value, any shape.

    Returns:
        float32 ndarray of the input's shape, values in [0, 1].

    Shape:
        Output = input shape.

    Raises:
        TypeError: integer/bool/complex input.

    Example:
        >>> sigmoid(np.zeros(2, np.float32))
        array([0.5, 0.5], dtype=float32)
    """
    input = _float_input("sigmoid", "input", input)
    return OpSpec("sigmoid", (input,), {})


@op
def permute(input: Any, dims: Sequence[int]) -> Any:
    """Reorders the dims: output dim i is input dim ``dims[i]``
    (``torch.permute``).

    Args:
        input: float32 array or traced value.
        dims: a permutation of ``range(input.ndim)``; negative entries count
            from the end.

    Returns:
        float32 ndarray: a contiguous copy (torch returns a view).

    Shape:
        (d0, .., dn) -> (d[dims[0]], .., d[dims[n]]).

    Raises:
        ValueError: ``dims`` of the wrong length, out of range or repeated.
        TypeError: ``dims`` not ints.

    Example:
        >>> permute(np.zeros((2, 3, 4), np.float32), (2, 0, 1)).shape
        (4, 2, 3)
    """
    input = _float_input("permute", "input", input)
    order = (dims,) if isinstance(dims, (int, np.integer)) else dims
    return OpSpec("permute", (input,), {
        "dims": tuple(_check_int("permute", "dims", d) for d in order)})


@op
def transpose(input: Any, dim0: int, dim1: int) -> Any:
    """Swaps dims ``dim0`` and ``dim1`` (``torch.transpose``).

    Runs the ``permute`` kernel on arrays; a plan runs it as a Python step
    (the permutation depends on the input's rank).

    Args:
        input: float32 array or traced value.
        dim0: first dim (negative counts from the end).
        dim1: second dim.

    Returns:
        float32 ndarray: a contiguous copy (torch returns a view).

    Shape:
        Sizes of ``dim0`` and ``dim1`` exchanged.

    Raises:
        IndexError: a dim out of range.
        TypeError: dims not ints, or an integer/bool/complex input.

    Example:
        >>> transpose(np.zeros((2, 3, 4), np.float32), 1, 2).shape
        (2, 4, 3)
    """
    if isinstance(input, SlotRef):
        return NotImplemented
    x = _float_input("transpose", "input", np.asarray(input))
    d0 = _wrap_dim("transpose", dim0, x.ndim)
    d1 = _wrap_dim("transpose", dim1, x.ndim)
    if x.ndim == 0:
        return x.copy()
    dims = list(range(x.ndim))
    dims[d0], dims[d1] = dims[d1], dims[d0]
    return OpSpec("permute", (x,), {"dims": tuple(dims)})


@op
def chunk(input: Any, chunks: int, dim: int = 0) -> Any:
    """Splits into ``chunks`` pieces along ``dim`` (``torch.chunk``).

    Every piece has ``ceil(size / chunks)`` entries along ``dim`` except
    possibly the last, so there may be fewer than ``chunks`` pieces.
    Computed with NumPy; a plan runs it as a Python step.

    Args:
        input: float32 array or traced value.
        chunks: number of pieces requested, >= 1.
        dim: the dim to split (negative counts from the end).

    Returns:
        tuple of float32 ndarrays (contiguous copies; torch returns views).

    Shape:
        Each piece: the input shape with ``dim`` shortened.

    Raises:
        ValueError: ``chunks`` < 1.
        IndexError: ``dim`` out of range.
        TypeError: ``chunks``/``dim`` not ints, or a 0-d input.

    Example:
        >>> [p.shape for p in chunk(np.zeros((1, 5), np.float32), 2, 1)]
        [(1, 3), (1, 2)]
    """
    chunks = _check_int("chunk", "chunks", chunks)
    if chunks < 1:
        raise ValueError(
            f"chunk: chunks must be greater than 0, got {chunks}")
    if isinstance(input, SlotRef):
        return NotImplemented
    x = _float_input("chunk", "input", np.asarray(input))
    if x.ndim == 0:
        raise TypeError("chunk: expects at least a 1-dimensional array")
    d = _wrap_dim("chunk", dim, x.ndim)
    n = x.shape[d]
    step = -(-n // chunks)
    if step == 0:  # empty dim: torch gives `chunks` empty pieces
        return tuple(x.copy() for _ in range(chunks))
    index = [slice(None)] * x.ndim
    pieces = []
    for start in range(0, n, step):
        index[d] = slice(start, start + step)
        pieces.append(np.ascontiguousarray(x[tuple(index)]))
    return tuple(pieces)


@op
def view(input: Any, *shape: Any) -> Any:
    """Same elements in a new shape: ``Tensor.view`` as a function.

    Identical to :func:`reshape` (one kernel call) except for its name,
    so a traced call gives torchvision's ``view`` node stem.

    Args:
        input: float32 array or traced value.
        *shape: new sizes as separate ints or one sequence; one may be -1.
            Sizes may be traced values (e.g. from :func:`size`).

    Returns:
        float32 ndarray of the new shape (a copy; torch returns a view).

    Shape:
        prod(shape) == input.size.

    Raises:
        ValueError: sizes that do not match the number of elements.
        TypeError: sizes not ints.

    Example:
        >>> view(np.zeros((2, 6), np.float32), 3, -1).shape
        (3, 4)
    """
    sizes = _size_args("view", shape)
    if any(isinstance(s, SlotRef) for s in sizes):
        return NotImplemented
    input = _float_input("view", "input", input)
    return OpSpec("reshape", (input,), {"shape": sizes})


@op
def contiguous(input: Any) -> Any:
    """A C-contiguous copy: ``Tensor.contiguous`` as a function.

    featx's arrays are always contiguous, so this only copies; a traced
    call gives torchvision's ``contiguous`` node stem.

    Args:
        input: float32 array or traced value.

    Returns:
        float32 ndarray equal to the input (a new array).

    Shape:
        Output = input shape.

    Raises:
        TypeError: integer/bool/complex input.

    Example:
        >>> contiguous(np.zeros((2, 3), np.float32).T).flags.c_contiguous
        True
    """
    if isinstance(input, SlotRef):
        return NotImplemented
    x = _float_input("contiguous", "input", np.asarray(input))
    return np.array(x, dtype=np.float32, order="C", copy=True)


@op
def mean(input: Any, dim: Any = None, keepdim: bool = False) -> Any:
    """Arithmetic mean over ``dim`` (``torch.mean``).

    Accumulated in float64, returned as float32. Computed with NumPy; a
    plan runs it as a Python step.

    Args:
        input: float32 array or traced value.
        dim: a dim or a sequence of dims to reduce (negative counts from the
            end); ``None`` reduces all dims.
        keepdim: keep the reduced dims with size 1.

    Returns:
        float32 ndarray (0-d when every dim is reduced without keepdim).

    Shape:
        The input shape without (or with size 1 at) the reduced dims.

    Raises:
        IndexError: a dim out of range.
        TypeError: integer/bool/complex input or non-int dims.

    Example:
        >>> mean(np.ones((2, 3, 4, 4), np.float32), [2, 3]).shape
        (2, 3)
    """
    if isinstance(input, SlotRef):
        return NotImplemented
    x = _float_input("mean", "input", np.asarray(input))
    if dim is None:
        axes = None
    else:
        dims = (dim,) if isinstance(dim, (int, np.integer)) else tuple(dim)
        axes = tuple(sorted({_wrap_dim("mean", d, x.ndim) for d in dims}))
    with np.errstate(invalid="ignore", over="ignore"):  # inf/nan spread as in torch
        out = x.mean(axis=axes, keepdims=bool(keepdim), dtype=np.float64)
        return np.asarray(out, dtype=np.float32)


@op
def size(input: Any, dim: Optional[int] = None) -> Any:
    """The shape, or one size: ``Tensor.size`` as a function.

    A traced call gives torchvision's ``size`` node stem; unpacking its
    result (``n, c, h, w = featx.size(x)``) gives ``getitem`` nodes.

    Args:
        input: array or traced value.
        dim: if given, only that dim's size (negative counts from the end).

    Returns:
        tuple of Python ints, or one int.

    Raises:
        IndexError: ``dim`` out of range.

    Example:
        >>> size(np.zeros((2, 3), np.float32))
        (2, 3)
    """
    if isinstance(input, SlotRef):
        return NotImplemented
    shape = tuple(int(s) for s in np.shape(input))
    if dim is None:
        return shape
    return shape[_wrap_dim("size", dim, len(shape))]


__all__ += ["sigmoid", "permute", "transpose", "chunk", "view",
            "contiguous", "mean", "size"]
