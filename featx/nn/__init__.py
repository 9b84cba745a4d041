"""featx.nn: torch.nn's module system on float32 NumPy arrays."""
from __future__ import annotations

from . import functional, init
from .activation import ReLU
from .batchnorm import BatchNorm2d
from .container import ModuleDict, ModuleList, Sequential
from .conv import Conv2d
from .dropout import Dropout
from .flatten import Flatten
from .linear import Identity, Linear
from .module import Module
from .parameter import Parameter
from .pooling import AdaptiveAvgPool2d, AvgPool2d, MaxPool2d

__all__ = ["AdaptiveAvgPool2d", "AvgPool2d", "BatchNorm2d", "Conv2d",
           "Dropout", "Flatten", "Identity", "Linear", "MaxPool2d", "Module",
           "ModuleDict", "ModuleList", "Parameter", "ReLU", "Sequential",
           "functional", "init"]

from .activation import (GELU, Hardsigmoid, Hardswish, ReLU6,  # noqa: E402
                         Sigmoid, SiLU)
from .normalization import LayerNorm  # noqa: E402

__all__ += ["GELU", "Hardsigmoid", "Hardswish", "LayerNorm", "ReLU6",
            "SiLU", "Sigmoid"]
