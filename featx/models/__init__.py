"""featx.models: torchvision's model zoo on featx.nn."""
from __future__ import annotations

from ._api import get_model, get_model_builder, list_models, register_model
from .resnet import (BasicBlock, Bottleneck, ResNet, resnet18, resnet34,
                     resnet50, resnet101, resnet152, resnext50_32x4d,
                     resnext101_32x8d, resnext101_64x4d, wide_resnet50_2,
                     wide_resnet101_2)

__all__ = ["get_model", "get_model_builder", "list_models", "register_model",
           "BasicBlock", "Bottleneck", "ResNet", "resnet18", "resnet34",
           "resnet50", "resnet101", "resnet152", "resnext50_32x4d",
           "resnext101_32x8d", "resnext101_64x4d", "wide_resnet50_2",
           "wide_resnet101_2"]
