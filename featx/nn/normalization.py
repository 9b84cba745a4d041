"""``featx.nn.LayerNorm`` (``torch.nn.LayerNorm``)."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Union

import numpy as np

from . import functional as F
from . import init
from .module import Module, _size_arg
from .parameter import Parameter

__all__ = ["LayerNorm"]


class LayerNorm(Module):
    """Layer normalisation over the last dims (``torch.nn.LayerNorm``).

    ``y = (x - mean) / sqrt(var + eps) * weight + bias`` with mean and
    (biased) variance over the last ``len(normalized_shape)`` dims.

    Args:
        normalized_shape: sizes of the last dims to normalise over; an int
            means one dim.
        eps: added to the variance, unitless.
        elementwise_affine: learnable ``weight`` (1) and ``bias`` (0) of
            shape ``normalized_shape``.
        bias: with ``elementwise_affine``, whether there is a ``bias``.

    Shape:
        (*, *normalized_shape) -> same shape.

    Raises:
        TypeError: ``normalized_shape`` not an int or a sequence of ints.
        ValueError: (at call) an input whose last dims differ from
            ``normalized_shape``.
    """

    def __init__(self, normalized_shape: Union[int, Sequence[int]],
                 eps: float = 1e-5, elementwise_affine: bool = True,
                 bias: bool = True, device: Any = None,
                 dtype: Any = None) -> None:
        super().__init__()
        if isinstance(normalized_shape, (int, np.integer)):
            normalized_shape = (normalized_shape,)
        if not isinstance(normalized_shape, Sequence):
            raise TypeError(
                f"LayerNorm: normalized_shape must be an int or a sequence "
                f"of ints, got {normalized_shape!r}")
        shape = tuple(_size_arg("LayerNorm", "normalized_shape", s)
                      for s in normalized_shape)
        self.normalized_shape = shape
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        if elementwise_affine:
            self.weight = Parameter(np.empty(shape, np.float32))
            if bias:
                self.bias = Parameter(np.empty(shape, np.float32))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Weight 1, bias 0."""
        if self.elementwise_affine:
            init.ones_(self.weight)
            if self.bias is not None:
                init.zeros_(self.bias)

    def forward(self, input: Any) -> Any:
        return F.layer_norm(input, self.normalized_shape, self.weight,
                            self.bias, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.normalized_shape}, eps={self.eps}, "
                f"elementwise_affine={self.elementwise_affine}, "
                f"bias={self.bias is not None}")
