"""``featx.nn.ReLU`` (``torch.nn.ReLU``)."""
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
