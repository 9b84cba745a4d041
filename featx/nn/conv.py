"""``featx.nn.Conv2d`` (``torch.nn.Conv2d``)."""
from __future__ import annotations

import math
from typing import Any, Union

import numpy as np

from . import functional as F
from . import init
from .module import Module, _size_arg
from .parameter import Parameter

__all__ = ["Conv2d"]


def _pair(fn: str, name: str, value: Any) -> tuple:
    if isinstance(value, bool):
        raise TypeError(f"{fn}: {name} must be an int or a pair of ints, "
                        f"got {value!r}")
    if isinstance(value, (int, np.integer)):
        return (int(value), int(value))
    if not isinstance(value, (tuple, list)):
        raise TypeError(f"{fn}: {name} must be an int or a pair of ints, "
                        f"got {value!r} ({type(value).__name__})")
    value = tuple(value)
    if len(value) != 2 or not all(isinstance(v, (int, np.integer))
                                  for v in value):
        raise TypeError(f"{fn}: {name} must be an int or a pair of ints, "
                        f"got {value!r}")
    return tuple(int(v) for v in value)


class Conv2d(Module):
    """2-D convolution layer (``torch.nn.Conv2d``).

    Args:
        in_channels: input channels C.
        out_channels: output channels OC.
        kernel_size: (KH, KW) in pixels; an int means (k, k).
        stride: step in pixels.
        padding: zero border in pixels, or ``"valid"`` / ``"same"``
            (``"same"``: stride 1 and an even total padding only).
        dilation: spacing between kernel taps, in pixels.
        groups: channel groups; C and OC must be divisible by it.
        bias: add a learnable per-channel offset.
        padding_mode: only ``"zeros"``.

    Attributes:
        weight: Parameter (OC, C/groups, KH, KW), kaiming_uniform_(a=sqrt(5)).
        bias: Parameter (OC,), U(-1/sqrt(fan_in), 1/sqrt(fan_in)), or None.

    Shape:
        (N, C, H, W) -> (N, OC, OH, OW),
        OH = floor((H + 2*PH - DH*(KH-1) - 1) / SH) + 1; OW likewise.

    Numerics: in eval mode 3x3 stride-1 layers may use Winograd's
    algorithm (see the README); in train mode always the direct formula.

    Raises:
        ValueError: non-positive groups, channels not divisible by groups,
            bad padding string, ``"same"`` with stride > 1, unknown
            padding_mode.
        NotImplementedError: padding modes other than ``"zeros"``, or
            ``"same"`` that needs asymmetric padding.
    """

    def __init__(self, in_channels: int, out_channels: int,
                 kernel_size: Union[int, tuple], stride: Union[int, tuple] = 1,
                 padding: Union[int, tuple, str] = 0,
                 dilation: Union[int, tuple] = 1, groups: int = 1,
                 bias: bool = True, padding_mode: str = "zeros",
                 device: Any = None, dtype: Any = None) -> None:
        super().__init__()
        in_channels = _size_arg("Conv2d", "in_channels", in_channels)
        out_channels = _size_arg("Conv2d", "out_channels", out_channels)
        if isinstance(groups, bool) or not isinstance(groups,
                                                      (int, np.integer)):
            raise TypeError(f"Conv2d groups: expected an int >= 1, got "
                            f"{groups!r} ({type(groups).__name__})")
        if groups <= 0:
            raise ValueError(f"Conv2d groups: expected an int >= 1, got "
                             f"{groups!r}")
        groups = int(groups)
        for arg, n in (("in_channels", in_channels),
                       ("out_channels", out_channels)):
            if n % groups != 0:
                raise ValueError(
                    f"Conv2d {arg}: expected a multiple of groups={groups} "
                    f"(each group takes an equal share), got {n}")
        valid_modes = ("zeros", "reflect", "replicate", "circular")
        if padding_mode not in valid_modes:
            raise ValueError(
                f"Conv2d padding_mode: expected one of "
                f"{', '.join(repr(m) for m in valid_modes)}, got "
                f"{padding_mode!r}")
        if padding_mode != "zeros":
            raise NotImplementedError(
                f"Conv2d: padding_mode={padding_mode!r} is not supported "
                f"yet; only 'zeros'")
        kernel_size_ = tuple(
            _size_arg("Conv2d", "kernel_size", k)
            for k in _pair("Conv2d", "kernel_size", kernel_size))
        stride_ = _pair("Conv2d", "stride", stride)
        dilation_ = _pair("Conv2d", "dilation", dilation)
        if isinstance(padding, str):
            F._string_padding("Conv2d", padding, kernel_size_, stride_,
                              dilation_)  # checks only; the string is kept
            padding_: Union[tuple, str] = padding
        else:
            padding_ = _pair("Conv2d", "padding", padding)
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = kernel_size_
        self.stride = stride_
        self.padding = padding_
        self.dilation = dilation_
        self.transposed = False
        self.output_padding = (0, 0)
        self.groups = groups
        self.padding_mode = padding_mode
        self.weight = Parameter(np.empty(
            (out_channels, in_channels // groups, *kernel_size_), np.float32))
        if bias:
            self.bias = Parameter(np.empty((out_channels,), np.float32))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """torch's default init: kaiming_uniform_(a=sqrt(5)), fan-in bias."""
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in = self.weight.shape[1] * self.weight.shape[2] * \
                self.weight.shape[3]
            if fan_in != 0:
                bound = 1 / math.sqrt(fan_in)
                init.uniform_(self.bias, -bound, bound)

    # its train mode only picks another algorithm (values equal to
    # rounding), so an extractor need not warn about its flag
    _mode_dependent = False

    def forward(self, input: Any) -> Any:
        # train mode: no Winograd (see F._conv2d_direct)
        conv = F._conv2d_direct if self.training else F.conv2d
        return conv(input, self.weight, self.bias, self.stride,
                    self.padding, self.dilation, self.groups)

    def extra_repr(self) -> str:
        s = (f"{self.in_channels}, {self.out_channels}, "
             f"kernel_size={self.kernel_size}, stride={self.stride}")
        if self.padding != (0, 0):
            s += f", padding={self.padding}"
        if self.dilation != (1, 1):
            s += f", dilation={self.dilation}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        if self.padding_mode != "zeros":
            s += f", padding_mode={self.padding_mode}"
        return s
