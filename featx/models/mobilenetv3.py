"""MobileNetV3 small and large (``torchvision.models.mobilenetv3``).

Same constructor arguments, attribute names, module tree, forward op order,
initialisation and ``state_dict`` keys/shapes as torchvision 0.29.1
(``features.0``, ``features.1.block.0``, ``features.3.add``, ``avgpool``,
``flatten``, ``classifier.3``).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import Any, Optional

from .. import _functions, nn
from ..ops.misc import Conv2dNormActivation
from ..ops.misc import SqueezeExcitation as SElayer
from ._api import register_model
from ._config import check_block_configs, check_stride
from ._weights import WeightsEnum, get_model_weights, resolve_weights
from .mobilenetv2 import _make_divisible

__all__ = ["MobileNetV3", "MobileNet_V3_Large_Weights",
           "MobileNet_V3_Small_Weights", "mobilenet_v3_large",
           "mobilenet_v3_small"]

# torchvision's weights enums, built from featx/models/weights.json.
MobileNet_V3_Large_Weights: type[WeightsEnum] = get_model_weights(
    "mobilenet_v3_large")
MobileNet_V3_Small_Weights: type[WeightsEnum] = get_model_weights(
    "mobilenet_v3_small")


class InvertedResidualConfig:
    """One MobileNetV3 block's settings; channel counts are scaled by
    ``width_mult`` and rounded to multiples of 8.

    Args:
        input_channels: input channels (before scaling).
        kernel: depthwise kernel size.
        expanded_channels: hidden channels (before scaling).
        out_channels: output channels (before scaling).
        use_se: insert a squeeze-excitation layer.
        activation: ``"HS"`` (Hardswish) or ``"RE"`` (ReLU).
        stride: depthwise stride (1 or 2).
        dilation: depthwise dilation; > 1 forces stride 1.
        width_mult: channel multiplier.
    """

    def __init__(self, input_channels: int, kernel: int,
                 expanded_channels: int, out_channels: int, use_se: bool,
                 activation: str, stride: int, dilation: int,
                 width_mult: float) -> None:
        self.input_channels = self.adjust_channels(input_channels,
                                                   width_mult)
        self.kernel = kernel
        self.expanded_channels = self.adjust_channels(expanded_channels,
                                                      width_mult)
        self.out_channels = self.adjust_channels(out_channels, width_mult)
        self.use_se = use_se
        self.use_hs = activation == "HS"
        self.stride = stride
        self.dilation = dilation

    @staticmethod
    def adjust_channels(channels: int, width_mult: float) -> int:
        """``channels * width_mult`` rounded to a multiple of 8."""
        return _make_divisible(channels * width_mult, 8)


class InvertedResidual(nn.Module):
    """MobileNetV3 block: optional 1x1 expansion, depthwise conv, optional
    squeeze-excitation (Hardsigmoid gate), linear 1x1 projection; plus the
    input when stride is 1 and channels are unchanged.

    Children: ``block`` (a Sequential of ``Conv2dNormActivation`` and
    ``SqueezeExcitation`` layers, numbered as torchvision).

    Args:
        cnf: the block's :class:`InvertedResidualConfig`.
        norm_layer: normalisation factory.
        se_layer: squeeze-excitation factory, called as
            ``se_layer(channels, squeeze_channels)``.

    Shape:
        (N, C_in, H, W) -> (N, C_out, H / stride, W / stride) (rounded up).

    Raises:
        ValueError: stride not 1 or 2.
    """

    def __init__(self, cnf: InvertedResidualConfig,
                 norm_layer: Callable[..., nn.Module],
                 se_layer: Callable[..., nn.Module] = partial(  # noqa: B008
                     SElayer, scale_activation=nn.Hardsigmoid)) -> None:
        super().__init__()
        check_stride("InvertedResidual", cnf.stride)
        self.use_res_connect = (cnf.stride == 1
                                and cnf.input_channels == cnf.out_channels)
        layers: list[nn.Module] = []
        activation_layer = nn.Hardswish if cnf.use_hs else nn.ReLU
        if cnf.expanded_channels != cnf.input_channels:
            layers.append(Conv2dNormActivation(
                cnf.input_channels, cnf.expanded_channels, kernel_size=1,
                norm_layer=norm_layer, activation_layer=activation_layer))
        stride = 1 if cnf.dilation > 1 else cnf.stride
        layers.append(Conv2dNormActivation(
            cnf.expanded_channels, cnf.expanded_channels,
            kernel_size=cnf.kernel, stride=stride, dilation=cnf.dilation,
            groups=cnf.expanded_channels, norm_layer=norm_layer,
            activation_layer=activation_layer))
        if cnf.use_se:
            squeeze_channels = _make_divisible(cnf.expanded_channels // 4, 8)
            layers.append(se_layer(cnf.expanded_channels, squeeze_channels))
        layers.append(Conv2dNormActivation(
            cnf.expanded_channels, cnf.out_channels, kernel_size=1,
            norm_layer=norm_layer, activation_layer=None))
        self.block = nn.Sequential(*layers)
        self.out_channels = cnf.out_channels
        self._is_cn = cnf.stride > 1

    def forward(self, input: Any) -> Any:
        result = self.block(input)
        if self.use_res_connect:
            result = _functions.add(result, input)
        return result


class MobileNetV3(nn.Module):
    """MobileNetV3 (``torchvision.models.mobilenetv3.MobileNetV3``).

    Children: ``features`` (stem ``Conv2dNormActivation`` with Hardswish,
    the blocks, last 1x1 ``Conv2dNormActivation`` to 6x the last block's
    channels), ``avgpool`` and ``classifier`` (``Linear``, ``Hardswish``,
    ``Dropout``, ``Linear``).

    Args:
        inverted_residual_setting: the blocks' configs.
        last_channel: features of the penultimate ``Linear``.
        num_classes: output logits.
        block: block factory (``InvertedResidual``).
        norm_layer: normalisation factory; default ``BatchNorm2d`` with
            ``eps=0.001, momentum=0.01``.
        dropout: dropout probability in the classifier.
        **kwargs: ignored (torchvision accepts and ignores them too).

    Shape:
        (N, 3, H, W) -> (N, num_classes).

    Raises:
        ValueError: an empty setting.
        TypeError: a setting that is not a sequence of
            :class:`InvertedResidualConfig`.
    """

    def __init__(self,
                 inverted_residual_setting: Sequence[InvertedResidualConfig],
                 last_channel: int, num_classes: int = 1000,
                 block: Optional[Callable[..., nn.Module]] = None,
                 norm_layer: Optional[Callable[..., nn.Module]] = None,
                 dropout: float = 0.2, **kwargs: Any) -> None:
        super().__init__()
        check_block_configs("inverted_residual_setting",
                            inverted_residual_setting,
                            (InvertedResidualConfig,))
        if block is None:
            block = InvertedResidual
        if norm_layer is None:
            norm_layer = partial(nn.BatchNorm2d, eps=0.001, momentum=0.01)

        first_channels = inverted_residual_setting[0].input_channels
        layers: list[nn.Module] = [Conv2dNormActivation(
            3, first_channels, kernel_size=3, stride=2,
            norm_layer=norm_layer, activation_layer=nn.Hardswish)]
        for cnf in inverted_residual_setting:
            layers.append(block(cnf, norm_layer))
        last_in = inverted_residual_setting[-1].out_channels
        last_out = 6 * last_in
        layers.append(Conv2dNormActivation(
            last_in, last_out, kernel_size=1, norm_layer=norm_layer,
            activation_layer=nn.Hardswish))
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(
            nn.Linear(last_out, last_channel),
            nn.Hardswish(inplace=True),
            nn.Dropout(p=dropout, inplace=True),
            nn.Linear(last_channel, num_classes),
        )

        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01)
                nn.init.zeros_(m.bias)

    def _forward_impl(self, x: Any) -> Any:
        x = self.features(x)
        x = self.avgpool(x)
        x = _functions.flatten(x, 1)
        return self.classifier(x)

    def forward(self, x: Any) -> Any:
        return self._forward_impl(x)


def _mobilenet_v3_conf(arch: str, width_mult: float = 1.0,
                       reduced_tail: bool = False, dilated: bool = False,
                       **kwargs: Any) -> tuple[list, int]:
    """torchvision's block settings and last channel for ``arch``
    (``"mobilenet_v3_large"`` or ``"mobilenet_v3_small"``).

    ``reduced_tail`` halves the channels of the last stage; ``dilated``
    uses dilation 2 instead of stride 2 there.
    """
    div = 2 if reduced_tail else 1
    dil = 2 if dilated else 1
    conf = partial(InvertedResidualConfig, width_mult=width_mult)
    adjust = partial(InvertedResidualConfig.adjust_channels,
                     width_mult=width_mult)
    if arch == "mobilenet_v3_large":
        setting = [
            conf(16, 3, 16, 16, False, "RE", 1, 1),
            conf(16, 3, 64, 24, False, "RE", 2, 1),
            conf(24, 3, 72, 24, False, "RE", 1, 1),
            conf(24, 5, 72, 40, True, "RE", 2, 1),
            conf(40, 5, 120, 40, True, "RE", 1, 1),
            conf(40, 5, 120, 40, True, "RE", 1, 1),
            conf(40, 3, 240, 80, False, "HS", 2, 1),
            conf(80, 3, 200, 80, False, "HS", 1, 1),
            conf(80, 3, 184, 80, False, "HS", 1, 1),
            conf(80, 3, 184, 80, False, "HS", 1, 1),
            conf(80, 3, 480, 112, True, "HS", 1, 1),
            conf(112, 3, 672, 112, True, "HS", 1, 1),
            conf(112, 5, 672, 160 // div, True, "HS", 2, dil),
            conf(160 // div, 5, 960 // div, 160 // div, True, "HS", 1, dil),
            conf(160 // div, 5, 960 // div, 160 // div, True, "HS", 1, dil),
        ]
        last_channel = adjust(1280 // div)
    elif arch == "mobilenet_v3_small":
        setting = [
            conf(16, 3, 16, 16, True, "RE", 2, 1),
            conf(16, 3, 72, 24, False, "RE", 2, 1),
            conf(24, 3, 88, 24, False, "RE", 1, 1),
            conf(24, 5, 96, 40, True, "HS", 2, 1),
            conf(40, 5, 240, 40, True, "HS", 1, 1),
            conf(40, 5, 240, 40, True, "HS", 1, 1),
            conf(40, 5, 120, 48, True, "HS", 1, 1),
            conf(48, 5, 144, 48, True, "HS", 1, 1),
            conf(48, 5, 288, 96 // div, True, "HS", 2, dil),
            conf(96 // div, 5, 576 // div, 96 // div, True, "HS", 1, dil),
            conf(96 // div, 5, 576 // div, 96 // div, True, "HS", 1, dil),
        ]
        last_channel = adjust(1024 // div)
    else:
        raise ValueError(f"no MobileNetV3 configuration named {arch!r}; "
                         f"expected mobilenet_v3_large or mobilenet_v3_small")
    return setting, last_channel


def _mobilenet_v3(arch: str, weights: Any, weights_enum: type[WeightsEnum],
                  progress: bool, kwargs: dict) -> MobileNetV3:
    w = resolve_weights(weights, weights_enum, kwargs)
    setting, last_channel = _mobilenet_v3_conf(arch, **kwargs)
    model = MobileNetV3(setting, last_channel, **kwargs)
    return w.load_into(model, progress)


@register_model()
def mobilenet_v3_large(*, weights: Any = None, progress: bool = True,
                       **kwargs: Any) -> MobileNetV3:
    """MobileNetV3-Large (``torchvision.models.mobilenet_v3_large``).

    Args:
        weights: None (random initialisation); a
            ``MobileNet_V3_Large_Weights`` member or its name; or the path of
            a local checkpoint (see :func:`featx.models.resnet18`).
        progress: show a download progress bar on stderr.
        **kwargs: ``width_mult``, ``reduced_tail``, ``dilated`` (block
            settings) and the arguments of :class:`MobileNetV3`
            (``num_classes``, ``norm_layer``, ``dropout``, ...).

    Returns:
        A :class:`MobileNetV3` in training mode.

    Shape:
        (N, 3, H, W) -> (N, num_classes).

    Raises:
        ValueError: unknown weights name or a ``num_classes`` that differs
            from the weights' categories.
        FileNotFoundError: a weights path that does not exist.
    """
    return _mobilenet_v3("mobilenet_v3_large", weights,
                         MobileNet_V3_Large_Weights, progress, kwargs)


@register_model()
def mobilenet_v3_small(*, weights: Any = None, progress: bool = True,
                       **kwargs: Any) -> MobileNetV3:
    """MobileNetV3-Small (``torchvision.models.mobilenet_v3_small``);
    arguments as :func:`mobilenet_v3_large`."""
    return _mobilenet_v3("mobilenet_v3_small", weights,
                         MobileNet_V3_Small_Weights, progress, kwargs)
