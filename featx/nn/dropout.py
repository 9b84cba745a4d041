"""``featx.nn.Dropout`` (``torch.nn.Dropout``)."""
from __future__ import annotations

from typing import Any

from . import functional as F
from .module import Module

__all__ = ["Dropout"]


class Dropout(Module):
    """Zeroes elements with probability ``p`` in train mode (``nn.Dropout``).

    Survivors are scaled by 1/(1-p); in eval mode the input is returned
    unchanged (the same object). Masks come from featx's generator
    (``featx.manual_seed``).

    Args:
        p: drop probability, a fraction in [0, 1].
        inplace: accepted for torch compatibility; featx returns a new array.

    Shape:
        Output = input shape.

    Raises:
        ValueError: ``p`` outside [0, 1].
    """

    def __init__(self, p: float = 0.5, inplace: bool = False) -> None:
        super().__init__()
        F._check_dropout_p(p)
        self.p = p
        self.inplace = inplace

    def forward(self, input: Any) -> Any:
        return F.dropout(input, self.p, self.training, self.inplace)

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"
