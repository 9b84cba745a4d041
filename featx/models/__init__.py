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

from .alexnet import AlexNet, alexnet  # noqa: E402
from .densenet import (DenseNet, densenet121, densenet161,  # noqa: E402
                       densenet169, densenet201)
from .googlenet import GoogLeNet, GoogLeNetOutputs, googlenet  # noqa: E402
from .inception import Inception3, InceptionOutputs, inception_v3  # noqa: E402
from .squeezenet import SqueezeNet, squeezenet1_0, squeezenet1_1  # noqa: E402
from .vgg import (VGG, vgg11, vgg11_bn, vgg13, vgg13_bn, vgg16,  # noqa: E402
                  vgg16_bn, vgg19, vgg19_bn)

__all__ += ["AlexNet", "alexnet", "DenseNet", "densenet121", "densenet161",
            "densenet169", "densenet201", "GoogLeNet", "GoogLeNetOutputs",
            "googlenet", "Inception3", "InceptionOutputs", "inception_v3",
            "SqueezeNet", "squeezenet1_0", "squeezenet1_1", "VGG", "vgg11",
            "vgg11_bn", "vgg13", "vgg13_bn", "vgg16", "vgg16_bn", "vgg19",
            "vgg19_bn"]

# Pretrained weights (issue 3): torchvision's weights enums and lookups.
from ._weights import Weights, WeightsEnum, get_model_weights, get_weight  # noqa: E402
from .resnet import (ResNet18_Weights, ResNet34_Weights,  # noqa: E402
                     ResNet50_Weights, ResNet101_Weights, ResNet152_Weights,
                     ResNeXt50_32X4D_Weights, ResNeXt101_32X8D_Weights,
                     ResNeXt101_64X4D_Weights, Wide_ResNet50_2_Weights,
                     Wide_ResNet101_2_Weights)

__all__ += ["Weights", "WeightsEnum", "get_model_weights", "get_weight",
            "ResNet18_Weights", "ResNet34_Weights", "ResNet50_Weights",
            "ResNet101_Weights", "ResNet152_Weights", "ResNeXt50_32X4D_Weights",
            "ResNeXt101_32X8D_Weights", "ResNeXt101_64X4D_Weights",
            "Wide_ResNet50_2_Weights", "Wide_ResNet101_2_Weights"]

# Mobile families (issue 4): MobileNetV2/V3, MNASNet, ShuffleNetV2.
from .mnasnet import (MNASNet, MNASNet0_5_Weights,  # noqa: E402
                      MNASNet0_75_Weights, MNASNet1_0_Weights,
                      MNASNet1_3_Weights, mnasnet0_5, mnasnet0_75,
                      mnasnet1_0, mnasnet1_3)
from .mobilenetv2 import (MobileNet_V2_Weights, MobileNetV2,  # noqa: E402
                          mobilenet_v2)
from .mobilenetv3 import (MobileNet_V3_Large_Weights,  # noqa: E402
                          MobileNet_V3_Small_Weights, MobileNetV3,
                          mobilenet_v3_large, mobilenet_v3_small)
from .shufflenetv2 import (ShuffleNet_V2_X0_5_Weights,  # noqa: E402
                           ShuffleNet_V2_X1_0_Weights,
                           ShuffleNet_V2_X1_5_Weights,
                           ShuffleNet_V2_X2_0_Weights, ShuffleNetV2,
                           shufflenet_v2_x0_5, shufflenet_v2_x1_0,
                           shufflenet_v2_x1_5, shufflenet_v2_x2_0)

__all__ += ["MNASNet", "MNASNet0_5_Weights", "MNASNet0_75_Weights",
            "MNASNet1_0_Weights", "MNASNet1_3_Weights", "mnasnet0_5",
            "mnasnet0_75", "mnasnet1_0", "mnasnet1_3", "MobileNetV2",
            "MobileNet_V2_Weights", "mobilenet_v2", "MobileNetV3",
            "MobileNet_V3_Large_Weights", "MobileNet_V3_Small_Weights",
            "mobilenet_v3_large", "mobilenet_v3_small", "ShuffleNetV2",
            "ShuffleNet_V2_X0_5_Weights", "ShuffleNet_V2_X1_0_Weights",
            "ShuffleNet_V2_X1_5_Weights", "ShuffleNet_V2_X2_0_Weights",
            "shufflenet_v2_x0_5", "shufflenet_v2_x1_0", "shufflenet_v2_x1_5",
            "shufflenet_v2_x2_0"]

# EfficientNet, RegNet, ConvNeXt (issue 4).
from .convnext import *  # noqa: E402,F401,F403
from .convnext import __all__ as _convnext_all  # noqa: E402
from .efficientnet import *  # noqa: E402,F401,F403
from .efficientnet import __all__ as _efficientnet_all  # noqa: E402
from .regnet import *  # noqa: E402,F401,F403
from .regnet import __all__ as _regnet_all  # noqa: E402

__all__ += [*_convnext_all, *_efficientnet_all, *_regnet_all]

# Pretrained weights of the classic families: AlexNet, VGG, SqueezeNet,
# DenseNet, GoogLeNet, Inception v3.
from .alexnet import AlexNet_Weights  # noqa: E402
from .densenet import (DenseNet121_Weights, DenseNet161_Weights,  # noqa: E402
                       DenseNet169_Weights, DenseNet201_Weights)
from .googlenet import GoogLeNet_Weights  # noqa: E402
from .inception import Inception_V3_Weights  # noqa: E402
from .squeezenet import (SqueezeNet1_0_Weights,  # noqa: E402
                         SqueezeNet1_1_Weights)
from .vgg import (VGG11_BN_Weights, VGG11_Weights,  # noqa: E402
                  VGG13_BN_Weights, VGG13_Weights, VGG16_BN_Weights,
                  VGG16_Weights, VGG19_BN_Weights, VGG19_Weights)

__all__ += ["AlexNet_Weights", "DenseNet121_Weights", "DenseNet161_Weights",
            "DenseNet169_Weights", "DenseNet201_Weights", "GoogLeNet_Weights",
            "Inception_V3_Weights", "SqueezeNet1_0_Weights",
            "SqueezeNet1_1_Weights", "VGG11_Weights", "VGG11_BN_Weights",
            "VGG13_Weights", "VGG13_BN_Weights", "VGG16_Weights",
            "VGG16_BN_Weights", "VGG19_Weights", "VGG19_BN_Weights"]
