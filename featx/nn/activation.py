"""Activation modules (``torch.nn.modules.activation``): ``ReLU``,
``Hardswish``, ``Hardsigmoid``, ``ReLU6``, ``SiLU``, ``Sigmoid``, ``GELU``."""
from __future__ import annotations

from typing import Any

from . import functional as F
from .module import Module

__all__ = ["ReLU"]


class ReLU(Module):
    """max(x, 0) elementwise (``torch.nn.ReLU``).

    Args:
        inplace: accepted and shown in ``repr`` like torch; featx always
            returns a new array.

    Shape:
        Output = input shape.
    """

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = inplace

    def forward(self, input: Any) -> Any:
        return F.relu(input, inplace=self.inplace)

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""


__all__ += ["Hardswish", "Hardsigmoid", "ReLU6", "SiLU", "Sigmoid", "GELU"]


class _InplaceActivation(Module):
    """An elementwise activation with torch's ``inplace`` flag (accepted
    and shown in ``repr``; featx always returns a new array)."""

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = inplace

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""


class Hardswish(_InplaceActivation):
    """``x * min(max(x + 3, 0), 6) / 6`` elementwise (``torch.nn.Hardswish``).

    Args:
        inplace: accepted for torch compatibility; featx always returns a
            new array.

    Shape:
        Output = input shape.
    """

    def forward(self, input: Any) -> Any:
        return F.hardswish(input, self.inplace)

    def extra_repr(self) -> str:
        return ""  # torch shows no inplace flag for this module


class Hardsigmoid(_InplaceActivation):
    """``min(max(x + 3, 0), 6) / 6`` elementwise (``torch.nn.Hardsigmoid``).

    Args:
        inplace: accepted for torch compatibility; featx always returns a
            new array.

    Shape:
        Output = input shape.
    """

    def forward(self, input: Any) -> Any:
        return F.hardsigmoid(input, self.inplace)

    def extra_repr(self) -> str:
        return ""  # torch shows no inplace flag for this module


class ReLU6(_InplaceActivation):
    """``min(max(x, 0), 6)`` elementwise (``torch.nn.ReLU6``).

    Args:
        inplace: accepted for torch compatibility; featx always returns a
            new array.

    Shape:
        Output = input shape.
    """

    def forward(self, input: Any) -> Any:
        return F.relu6(input, self.inplace)


class SiLU(_InplaceActivation):
    """``x * sigmoid(x)`` elementwise (``torch.nn.SiLU``).

    Args:
        inplace: accepted for torch compatibility; featx always returns a
            new array.

    Shape:
        Output = input shape.
    """

    def forward(self, input: Any) -> Any:
        return F.silu(input, self.inplace)


class Sigmoid(Module):
    """``1 / (1 + exp(-x))`` elementwise (``torch.nn.Sigmoid``).

    Shape:
        Output = input shape.
    """

    def forward(self, input: Any) -> Any:
        return F.sigmoid(input)


class GELU(Module):
    """Gaussian error linear unit elementwise (``torch.nn.GELU``).

    Args:
        approximate: ``"none"`` (exact, with erf) or ``"tanh"``.

    Shape:
        Output = input shape.

    Raises:
        ValueError: (at call) ``approximate`` not ``"none"`` or ``"tanh"``.
    """

    def __init__(self, approximate: str = "none") -> None:
        super().__init__()
        self.approximate = approximate

    def forward(self, input: Any) -> Any:
        return F.gelu(input, approximate=self.approximate)

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"
