"""Stochastic depth (``torchvision.ops.stochastic_depth``)."""
from __future__ import annotations

from typing import Any

import numpy as np

from .. import _rng, nn
from .._functions import _float_input
from .._op import SlotRef, op

__all__ = ["stochastic_depth", "StochasticDepth"]


@op
def stochastic_depth(input: Any, p: float, mode: str,
                     training: bool = True) -> Any:
    """Randomly zeroes whole rows or the whole batch of a residual branch
    (``torchvision.ops.stochastic_depth``).

    In training with ``p > 0``: a keep mask is drawn from featx's generator
    (``featx.manual_seed``) with keep probability ``1 - p``, one value per
    sample (``mode="row"``) or one for the whole input
    (``mode="batch"``); kept values are scaled by ``1 / (1 - p)``. The
    random stream differs from torch's. Computed with NumPy; a plan runs it
    as a Python step, so every run draws a new mask.

    Args:
        input: float32 array or traced value, shape (N, ...).
        p: drop probability, a fraction in [0, 1].
        mode: ``"row"`` or ``"batch"``.
        training: if ``False`` (or ``p == 0``) the input is returned
            unchanged (the same object).

    Returns:
        float32 ndarray of the input's shape.

    Shape:
        Output = input shape.

    Raises:
        ValueError: ``p`` outside [0, 1] or an unknown ``mode``.
        TypeError: integer/bool/complex input.

    Example:
        >>> x = np.ones((2, 3), np.float32)
        >>> stochastic_depth(x, 0.5, "row", training=False) is x
        True
    """
    if p < 0.0 or p > 1.0:
        raise ValueError(
            f"stochastic_depth: p is the probability of dropping a row or "
            f"the batch, expected a value in [0, 1], got {p}")
    if mode not in ("batch", "row"):
        raise ValueError(
            f"stochastic_depth: mode must be 'batch' or 'row', got {mode!r}")
    if not training or p == 0.0:
        return input
    if isinstance(input, SlotRef):
        return NotImplemented
    x = _float_input("stochastic_depth", "input", np.asarray(input))
    survival = 1.0 - p
    if mode == "row":
        shape = (x.shape[0],) + (1,) * (x.ndim - 1) if x.ndim else ()
    else:
        shape = (1,) * x.ndim
    keep = _rng.default_generator().random(shape) < survival
    noise = keep.astype(np.float32)
    if survival > 0.0:
        noise /= np.float32(survival)
    return (x * noise).astype(np.float32, copy=False)


class StochasticDepth(nn.Module):
    """Module form of :func:`stochastic_depth`
    (``torchvision.ops.StochasticDepth``); drops only in train mode.

    Args:
        p: drop probability, a fraction in [0, 1].
        mode: ``"row"`` or ``"batch"``.

    Shape:
        Output = input shape.
    """

    def __init__(self, p: float, mode: str) -> None:
        super().__init__()
        self.p = p
        self.mode = mode

    def forward(self, input: Any) -> Any:
        return stochastic_depth(input, self.p, self.mode, self.training)

    def _plan_steps(self, input: SlotRef, new_slot: Any) -> list | None:
        """For the plan compiler: [] (no step, the value is the input)
        when forward returns its input (eval mode, or p == 0), else None
        (a Python step, drawing a new mask every run)."""
        if type(self).forward is not StochasticDepth.forward:
            return None
        try:
            return [] if self.forward(input) is input else None
        except ValueError:
            return None

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(p={self.p}, mode={self.mode})"
