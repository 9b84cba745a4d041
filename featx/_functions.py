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
        rounding_mode: only ``None`` (true division) is supported.

    Returns:
        float32 ndarray of the broadcast shape.

    Shape:
        NumPy broadcasting of the two shapes.

    Raises:
        ValueError: shapes that do not broadcast.
        NotImplementedError: ``rounding_mode`` other than ``None``.
    """
    if rounding_mode is not None:
        raise NotImplementedError(
            f"div: rounding_mode={rounding_mode!r} is not supported")
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
