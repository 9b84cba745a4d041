"""Pooling layers: ``MaxPool2d``, ``AvgPool2d``, ``AdaptiveAvgPool2d``."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Optional, Union

from . import functional as F
from .module import Module

__all__ = ["MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d"]

_IntOrPair = Union[int, Sequence[int]]


class MaxPool2d(Module):
    """Max over sliding windows (``torch.nn.MaxPool2d``).

    Args:
        kernel_size: window (KH, KW) in pixels; an int means (k, k).
        stride: step in pixels; defaults to ``kernel_size``.
        padding: implicit -inf border in pixels, <= half the window.
        dilation: spacing between window taps, in pixels.
        return_indices: not supported (NotImplementedError).
        ceil_mode: ceil instead of floor for the output size.

    Shape:
        (N, C, H, W) -> (N, C, OH, OW),
        OH = floor((H + 2*PH - DH*(KH-1) - 1) / SH) + 1 (ceil if ceil_mode).

    Raises:
        NotImplementedError: ``return_indices=True``.
    """

    def __init__(self, kernel_size: _IntOrPair,
                 stride: Optional[_IntOrPair] = None,
                 padding: _IntOrPair = 0, dilation: _IntOrPair = 1,
                 return_indices: bool = False,
                 ceil_mode: bool = False) -> None:
        super().__init__()
        if return_indices:
            raise NotImplementedError(
                "MaxPool2d: return_indices=True is not supported")
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding = padding
        self.dilation = dilation
        self.return_indices = return_indices
        self.ceil_mode = ceil_mode

    def forward(self, input: Any) -> Any:
        return F.max_pool2d(input, self.kernel_size, self.stride,
                            self.padding, self.dilation,
                            ceil_mode=self.ceil_mode,
                            return_indices=self.return_indices)

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, "
                f"padding={self.padding}, dilation={self.dilation}, "
                f"ceil_mode={self.ceil_mode}")


class AvgPool2d(Module):
    """Mean over sliding windows (``torch.nn.AvgPool2d``).

    Args:
        kernel_size: window (KH, KW) in pixels; an int means (k, k).
        stride: step in pixels; defaults to ``kernel_size``.
        padding: implicit zero border in pixels, <= half the window.
        ceil_mode: ceil instead of floor for the output size.
        count_include_pad: count padded zeros in the divisor.
        divisor_override: divide every window sum by this count instead.

    Shape:
        (N, C, H, W) -> (N, C, OH, OW), OH = floor((H + 2*PH - KH) / SH) + 1.
    """

    def __init__(self, kernel_size: _IntOrPair,
                 stride: Optional[_IntOrPair] = None,
                 padding: _IntOrPair = 0, ceil_mode: bool = False,
                 count_include_pad: bool = True,
                 divisor_override: Optional[int] = None) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding = padding
        self.ceil_mode = ceil_mode
        self.count_include_pad = count_include_pad
        self.divisor_override = divisor_override

    def forward(self, input: Any) -> Any:
        return F.avg_pool2d(input, self.kernel_size, self.stride,
                            self.padding, self.ceil_mode,
                            self.count_include_pad, self.divisor_override)

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, "
                f"padding={self.padding}")


class AdaptiveAvgPool2d(Module):
    """Mean over torch's adaptive bins (``torch.nn.AdaptiveAvgPool2d``).

    Args:
        output_size: (OH, OW) in pixels; an int means (s, s); a ``None``
            entry keeps that input size.

    Shape:
        (N, C, H, W) -> (N, C, OH, OW).
    """

    def __init__(self, output_size: Union[int, None,
                                          Sequence[Optional[int]]]) -> None:
        super().__init__()
        self.output_size = output_size

    def forward(self, input: Any) -> Any:
        return F.adaptive_avg_pool2d(input, self.output_size)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"
