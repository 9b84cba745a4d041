"""``featx.nn.Parameter``: a float32 array that a Module registers as a weight.

Counterpart of ``torch.nn.Parameter``. There is no autograd in featx, so a
parameter is only a marker: assigning one to a module attribute registers it
in ``module._parameters`` (and therefore in ``state_dict()``).
"""
from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["Parameter"]


def _plain(a: Any) -> Any:
    """``a`` as a base-class ndarray view if it is a Parameter, else ``a``."""
    return a.view(np.ndarray) if isinstance(a, Parameter) else a


class Parameter(np.ndarray):
    """A float32, C-contiguous ndarray that modules register as a parameter.

    ``Parameter(data)`` shares memory with ``data`` when ``data`` already is a
    float32 C-contiguous array (like torch, which wraps the same storage);
    otherwise it holds a converted copy. Results of arithmetic, indexing and
    reductions are plain ``np.ndarray`` objects, as torch returns plain
    tensors; in-place operators (``p += 1``, ``p[...] = v``) modify the
    parameter and keep its type.

    Args:
        data: initial values, anything ``np.asarray`` accepts; ``None`` gives
            an empty 1-D parameter (torch's ``Parameter()``).
        requires_grad: accepted for torch compatibility and stored; featx
            has no autograd.

    Shape:
        Same as ``data``.

    Raises:
        TypeError: ``data`` is complex, a string or an object array.

    Example:
        >>> p = Parameter(np.ones((2, 3)))
        >>> p.dtype, p.shape, type(p * 2).__name__
        (dtype('float32'), (2, 3), 'ndarray')
    """

    requires_grad: bool

    def __new__(cls, data: Any = None, requires_grad: bool = True
                ) -> "Parameter":
        if data is None:
            data = np.empty((0,), np.float32)
        src = np.asarray(data)
        if src.dtype.kind not in "biuf":
            raise TypeError(
                f"Parameter: expected real numeric data, got dtype "
                f"{src.dtype}")
        arr = np.ascontiguousarray(src, dtype=np.float32)
        obj = arr.view(cls)
        obj.requires_grad = bool(requires_grad)
        return obj

    def __array_finalize__(self, obj: Any) -> None:
        self.requires_grad = getattr(obj, "requires_grad", True)

    def __array_ufunc__(self, ufunc: Any, method: str, *inputs: Any,
                        **kwargs: Any) -> Any:
        args = tuple(_plain(a) for a in inputs)
        out = kwargs.get("out")
        if out is not None:
            kwargs["out"] = tuple(_plain(o) for o in out)
        result = getattr(ufunc, method)(*args, **kwargs)
        if out is not None:
            # In-place: hand back the caller's objects so ``p += 1`` keeps
            # ``p`` a Parameter.
            return out[0] if len(out) == 1 else out
        return result

    def __getitem__(self, index: Any) -> Any:
        return self.view(np.ndarray)[index]

    def __reduce__(self) -> tuple:
        return (_rebuild_parameter,
                (self.view(np.ndarray).copy(), self.requires_grad))

    def __reduce_ex__(self, protocol: Any) -> tuple:
        return self.__reduce__()

    def __deepcopy__(self, memo: Any = None, /) -> "Parameter":
        new = Parameter(self.view(np.ndarray).copy(), self.requires_grad)
        if memo is not None:
            memo[id(self)] = new
        return new

    def __copy__(self) -> "Parameter":
        return Parameter(self.view(np.ndarray).copy(), self.requires_grad)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + repr(self.view(np.ndarray))


def _rebuild_parameter(data: np.ndarray, requires_grad: bool) -> Parameter:
    return Parameter(data, requires_grad)
