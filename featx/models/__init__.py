"""featx.models: torchvision's model zoo on featx.nn.

Importing ``featx.models`` is cheap: a model family module (``resnet``,
``vgg``, ...) is imported on first access to one of its names
(``featx.models.resnet50``, ``from featx.models import ResNet50_Weights``,
``featx.models.resnet``), and by the registry functions that need it
(``get_model("resnet50")`` imports ``resnet``; ``list_models()`` imports
every family). :data:`_FAMILIES` is the one list of the families and of the
names featx.models takes from each.
"""
from __future__ import annotations

import importlib
import sys
import types
from typing import Any

from ._api import get_model, get_model_builder, list_models, register_model
from ._weights import (UnknownWeightsError, Weights, WeightsEnum,
                       get_model_weights, get_weight)

#: Model family module -> its public names (its ``__all__``), all of which
#: featx.models exports. tests/test_import.py checks this against the modules.
_FAMILIES: dict[str, tuple[str, ...]] = {
    "resnet": (
        "ResNet", "BasicBlock", "Bottleneck", "resnet18", "resnet34",
        "resnet50", "resnet101", "resnet152", "resnext50_32x4d",
        "resnext101_32x8d", "resnext101_64x4d", "wide_resnet50_2",
        "wide_resnet101_2", "ResNet18_Weights", "ResNet34_Weights",
        "ResNet50_Weights", "ResNet101_Weights", "ResNet152_Weights",
        "ResNeXt50_32X4D_Weights", "ResNeXt101_32X8D_Weights",
        "ResNeXt101_64X4D_Weights", "Wide_ResNet50_2_Weights",
        "Wide_ResNet101_2_Weights"),
    "alexnet": ("AlexNet", "AlexNet_Weights", "alexnet"),
    "densenet": (
        "DenseNet", "DenseNet121_Weights", "DenseNet161_Weights",
        "DenseNet169_Weights", "DenseNet201_Weights", "densenet121",
        "densenet161", "densenet169", "densenet201"),
    "googlenet": (
        "GoogLeNet", "GoogLeNetOutputs", "_GoogLeNetOutputs",
        "GoogLeNet_Weights", "googlenet"),
    "inception": (
        "Inception3", "InceptionOutputs", "_InceptionOutputs",
        "Inception_V3_Weights", "inception_v3"),
    "squeezenet": (
        "SqueezeNet", "SqueezeNet1_0_Weights", "SqueezeNet1_1_Weights",
        "squeezenet1_0", "squeezenet1_1"),
    "vgg": (
        "VGG", "VGG11_Weights", "VGG11_BN_Weights", "VGG13_Weights",
        "VGG13_BN_Weights", "VGG16_Weights", "VGG16_BN_Weights",
        "VGG19_Weights", "VGG19_BN_Weights", "vgg11", "vgg11_bn", "vgg13",
        "vgg13_bn", "vgg16", "vgg16_bn", "vgg19", "vgg19_bn"),
    "mnasnet": (
        "MNASNet", "MNASNet0_5_Weights", "MNASNet0_75_Weights",
        "MNASNet1_0_Weights", "MNASNet1_3_Weights", "mnasnet0_5",
        "mnasnet0_75", "mnasnet1_0", "mnasnet1_3"),
    "mobilenetv2": ("MobileNetV2", "MobileNet_V2_Weights", "mobilenet_v2"),
    "mobilenetv3": (
        "MobileNetV3", "MobileNet_V3_Large_Weights",
        "MobileNet_V3_Small_Weights", "mobilenet_v3_large",
        "mobilenet_v3_small"),
    "shufflenetv2": (
        "ShuffleNetV2", "ShuffleNet_V2_X0_5_Weights",
        "ShuffleNet_V2_X1_0_Weights", "ShuffleNet_V2_X1_5_Weights",
        "ShuffleNet_V2_X2_0_Weights", "shufflenet_v2_x0_5",
        "shufflenet_v2_x1_0", "shufflenet_v2_x1_5", "shufflenet_v2_x2_0"),
    "convnext": (
        "ConvNeXt", "ConvNeXt_Tiny_Weights", "ConvNeXt_Small_Weights",
        "ConvNeXt_Base_Weights", "ConvNeXt_Large_Weights", "convnext_tiny",
        "convnext_small", "convnext_base", "convnext_large"),
    "efficientnet": (
        "EfficientNet", "EfficientNet_B0_Weights", "EfficientNet_B1_Weights",
        "EfficientNet_B2_Weights", "EfficientNet_B3_Weights",
        "EfficientNet_B4_Weights", "EfficientNet_B5_Weights",
        "EfficientNet_B6_Weights", "EfficientNet_B7_Weights",
        "EfficientNet_V2_S_Weights", "EfficientNet_V2_M_Weights",
        "EfficientNet_V2_L_Weights", "efficientnet_b0", "efficientnet_b1",
        "efficientnet_b2", "efficientnet_b3", "efficientnet_b4",
        "efficientnet_b5", "efficientnet_b6", "efficientnet_b7",
        "efficientnet_v2_s", "efficientnet_v2_m", "efficientnet_v2_l"),
    "regnet": (
        "RegNet", "RegNet_Y_400MF_Weights", "RegNet_Y_800MF_Weights",
        "RegNet_Y_1_6GF_Weights", "RegNet_Y_3_2GF_Weights",
        "RegNet_Y_8GF_Weights", "RegNet_Y_16GF_Weights",
        "RegNet_Y_32GF_Weights", "RegNet_Y_128GF_Weights",
        "RegNet_X_400MF_Weights", "RegNet_X_800MF_Weights",
        "RegNet_X_1_6GF_Weights", "RegNet_X_3_2GF_Weights",
        "RegNet_X_8GF_Weights", "RegNet_X_16GF_Weights",
        "RegNet_X_32GF_Weights", "regnet_y_400mf", "regnet_y_800mf",
        "regnet_y_1_6gf", "regnet_y_3_2gf", "regnet_y_8gf", "regnet_y_16gf",
        "regnet_y_32gf", "regnet_y_128gf", "regnet_x_400mf",
        "regnet_x_800mf", "regnet_x_1_6gf", "regnet_x_3_2gf", "regnet_x_8gf",
        "regnet_x_16gf", "regnet_x_32gf"),
}

#: Public name -> the family module that defines it.
_FAMILY_OF = {name: family for family, names in _FAMILIES.items()
              for name in names}

__all__ = ["get_model", "get_model_builder", "list_models", "register_model",
           "UnknownWeightsError", "Weights", "WeightsEnum", "get_model_weights",
           "get_weight",
           *_FAMILY_OF]


def _import_family(family: str) -> None:
    """Imports ``featx.models.<family>`` and binds its names here."""
    module = importlib.import_module(f"{__name__}.{family}")
    globals().update({name: getattr(module, name)
                      for name in _FAMILIES[family]})


def _import_families(name: str | None = None) -> None:
    """Imports the family that defines ``name``, or every family (``name``
    None or not one of their names), so that their builders are registered."""
    for family in ([_FAMILY_OF[name]] if name in _FAMILY_OF else _FAMILIES):
        _import_family(family)


def __getattr__(name: str) -> Any:
    # PEP 562: a family's names, and the family module itself, on first use.
    family = _FAMILY_OF.get(name, name if name in _FAMILIES else None)
    if family is None:
        from ._weights import _facts

        hint = (f" ({name} is a torchvision model that featx does not build "
                f"yet; list_models() names the ones it builds)"
                if not name.startswith("_") and name in _facts()["models"]
                else "")
        raise AttributeError(
            f"module {__name__!r} has no attribute {name!r}{hint}")
    _import_family(family)
    return globals()[name]


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__, *_FAMILIES})


class _ModelsModule(types.ModuleType):
    """The type of ``featx.models``: keeps ``alexnet`` and ``googlenet`` the
    builders.

    Importing a family module (by anyone: another family, pickle, ``import
    featx.models.alexnet``) binds it on this package under its own name; where
    that name is also one of the family's names, the name wins, as in
    torchvision.
    """

    def __setattr__(self, name: str, value: Any) -> None:
        if isinstance(value, types.ModuleType) and name in _FAMILY_OF:
            value = getattr(value, name)
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _ModelsModule
