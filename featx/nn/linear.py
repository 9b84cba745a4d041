"""``featx.nn.Linear`` and ``featx.nn.Identity`` (their torch.nn namesakes)."""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from . import functional as F
from . import init
from .module import Module, _size_arg
from .parameter import Parameter

__all__ = ["Identity", "Linear"]


class Identity(Module):
    """Returns its input unchanged (``torch.nn.Identity``); any constructor
    arguments are ignored.

    Shape:
        Output = input.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__()

    def forward(self, input: Any) -> Any:
        return input


class Linear(Module):
    """``y = x @ weight.T + bias`` (``torch.nn.Linear``).

    Args:
        in_features: IN.
        out_features: OUT.
        bias: add a learnable offset.

    Attributes:
        weight: Parameter (OUT, IN), kaiming_uniform_(a=sqrt(5)).
        bias: Parameter (OUT,), U(-1/sqrt(IN), 1/sqrt(IN)), or None.

    Shape:
        (*, IN) -> (*, OUT).
    """

    def __init__(self, in_features: int, out_features: int,
                 bias: bool = True, device: Any = None,
                 dtype: Any = None) -> None:
        super().__init__()
        in_features = _size_arg("Linear", "in_features", in_features)
        out_features = _size_arg("Linear", "out_features", out_features)
        self.in_features = in_features
        self.out_features = out_features
        self.weight = Parameter(np.empty((out_features, in_features),
                                         np.float32))
        if bias:
            self.bias = Parameter(np.empty((out_features,), np.float32))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """torch's default init: kaiming_uniform_(a=sqrt(5)), fan-in bias."""
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in = self.weight.shape[1]
            bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input: Any) -> Any:
        return F.linear(input, self.weight, self.bias)

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, "
                f"out_features={self.out_features}, "
                f"bias={self.bias is not None}")
