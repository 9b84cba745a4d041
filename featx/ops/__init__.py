"""featx.ops: the counterparts of torchvision.ops' building blocks.

``Conv2dNormActivation``, ``SqueezeExcitation``, ``MLP``, ``Permute``,
``FrozenBatchNorm2d`` (torchvision.ops.misc) and ``stochastic_depth`` /
``StochasticDepth`` (torchvision.ops.stochastic_depth), with torchvision's
constructor arguments, child names and ``state_dict`` keys.

Every class defined in ``featx.ops`` is a leaf module for the tracer (one
``call_module`` node), also the ``Sequential`` subclasses, as torchvision's
feature extraction treats torchvision.ops modules.
"""
from __future__ import annotations

from .misc import (
                   MLP,
                   Conv2dNormActivation,
                   FrozenBatchNorm2d,
                   Permute,
                   SqueezeExcitation,
)
from .stochastic_depth import StochasticDepth, stochastic_depth

__all__ = ["Conv2dNormActivation", "FrozenBatchNorm2d", "MLP", "Permute",
           "SqueezeExcitation", "StochasticDepth", "stochastic_depth"]
