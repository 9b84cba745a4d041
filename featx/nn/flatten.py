"""``featx.nn.Flatten`` (``torch.nn.Flatten``)."""
from __future__ import annotations

from typing import Any

from .. import _functions
from .module import Module

__all__ = ["Flatten"]


class Flatten(Module):
    """Merges dims ``start_dim..end_dim`` (``torch.nn.Flatten``).

    Args:
        start_dim: first dim to merge (default 1 keeps the batch dim).
        end_dim: last dim to merge, inclusive.

    Shape:
        (N, *dims) -> (N, prod(dims)) with the defaults.
    """

    def __init__(self, start_dim: int = 1, end_dim: int = -1) -> None:
        super().__init__()
        self.start_dim = start_dim
        self.end_dim = end_dim

    def forward(self, input: Any) -> Any:
        return _functions.flatten(input, self.start_dim, self.end_dim)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"
