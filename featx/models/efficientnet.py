"""EfficientNet B0-B7 and V2 S/M/L (``torchvision.models.efficientnet``).

Same constructor arguments, attribute names, module tree, forward op order,
initialisation and ``state_dict`` keys/shapes as torchvision 0.29.1, so
torchvision checkpoints load with ``load_state_dict`` and feature-extraction
node names match (``features.0``, ``features.2.1.block.3``,
``features.2.1.stochastic_depth``, ``features.2.1.add``, ``flatten``,
``classifier.1``, ...).
"""
from __future__ import annotations

import copy
import math
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any, Optional, Union

from .. import _functions, nn
from ..ops import Conv2dNormActivation, SqueezeExcitation, StochasticDepth
from ._api import register_model
from ._config import check_block_configs, check_stride
from ._weights import (ResolvedWeights, WeightsEnum, get_model_weights,
                       resolve_weights)
from .mobilenetv2 import _make_divisible

# torchvision's __all__ (the block and config classes are importable from
# this module, as in torchvision).
__all__ = ["EfficientNet", "EfficientNet_B0_Weights",
           "EfficientNet_B1_Weights", "EfficientNet_B2_Weights",
           "EfficientNet_B3_Weights", "EfficientNet_B4_Weights",
           "EfficientNet_B5_Weights", "EfficientNet_B6_Weights",
           "EfficientNet_B7_Weights", "EfficientNet_V2_S_Weights",
           "EfficientNet_V2_M_Weights", "EfficientNet_V2_L_Weights",
           "efficientnet_b0", "efficientnet_b1",
           "efficientnet_b2", "efficientnet_b3", "efficientnet_b4",
           "efficientnet_b5", "efficientnet_b6", "efficientnet_b7",
           "efficientnet_v2_s", "efficientnet_v2_m", "efficientnet_v2_l"]

ModuleFactory = Callable[..., nn.Module]

# torchvision's weights enums, built from featx/models/weights.json.
EfficientNet_B0_Weights: type[WeightsEnum] = get_model_weights(
    "efficientnet_b0")
EfficientNet_B1_Weights: type[WeightsEnum] = get_model_weights(
    "efficientnet_b1")
EfficientNet_B2_Weights: type[WeightsEnum] = get_model_weights(
    "efficientnet_b2")
EfficientNet_B3_Weights: type[WeightsEnum] = get_model_weights(
    "efficientnet_b3")
EfficientNet_B4_Weights: type[WeightsEnum] = get_model_weights(
    "efficientnet_b4")
EfficientNet_B5_Weights: type[WeightsEnum] = get_model_weights(
    "efficientnet_b5")
EfficientNet_B6_Weights: type[WeightsEnum] = get_model_weights(
    "efficientnet_b6")
EfficientNet_B7_Weights: type[WeightsEnum] = get_model_weights(
    "efficientnet_b7")
EfficientNet_V2_S_Weights: type[WeightsEnum] = get_model_weights(
    "efficientnet_v2_s")
EfficientNet_V2_M_Weights: type[WeightsEnum] = get_model_weights(
    "efficientnet_v2_m")
EfficientNet_V2_L_Weights: type[WeightsEnum] = get_model_weights(
    "efficientnet_v2_l")


class _MBConvConfig:
    """Settings of one stage: ``num_layers`` blocks of type ``block``.

    Attributes:
        expand_ratio: expanded channels / input channels of each block.
        kernel: depthwise (or fused) kernel size in pixels.
        stride: stride of the stage's first block (1 or 2).
        input_channels: input channels of the stage's first block.
        out_channels: output channels of every block.
        num_layers: number of blocks.
        block: block class, called as ``block(cnf, sd_prob, norm_layer)``.
    """

    def __init__(self, expand_ratio: float, kernel: int, stride: int,
                 input_channels: int, out_channels: int, num_layers: int,
                 block: ModuleFactory) -> None:
        self.expand_ratio = expand_ratio
        self.kernel = kernel
        self.stride = stride
        self.input_channels = input_channels
        self.out_channels = out_channels
        self.num_layers = num_layers
        self.block = block

    @staticmethod
    def adjust_channels(channels: int, width_mult: float,
                        min_value: Optional[int] = None) -> int:
        """``channels * width_mult`` made divisible by 8."""
        return _make_divisible(channels * width_mult, 8, min_value)

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(expand_ratio={self.expand_ratio}, "
                f"kernel={self.kernel}, stride={self.stride}, "
                f"input_channels={self.input_channels}, "
                f"out_channels={self.out_channels}, "
                f"num_layers={self.num_layers}, "
                f"block={getattr(self.block, '__name__', self.block)})")


class MBConvConfig(_MBConvConfig):
    """A stage of inverted-residual (MBConv) blocks, EfficientNet B0-B7 and
    the later stages of V2.

    Args:
        expand_ratio: expanded channels / input channels.
        kernel: depthwise kernel size in pixels.
        stride: stride of the first block (1 or 2).
        input_channels: input channels before width scaling.
        out_channels: output channels before width scaling.
        num_layers: block count before depth scaling.
        width_mult: channel multiplier; channels are rounded to multiples
            of 8.
        depth_mult: block-count multiplier; counts are rounded up.
        block: block class; :class:`MBConv` by default.
    """

    def __init__(self, expand_ratio: float, kernel: int, stride: int,
                 input_channels: int, out_channels: int, num_layers: int,
                 width_mult: float = 1.0, depth_mult: float = 1.0,
                 block: Optional[ModuleFactory] = None) -> None:
        input_channels = self.adjust_channels(input_channels, width_mult)
        out_channels = self.adjust_channels(out_channels, width_mult)
        num_layers = self.adjust_depth(num_layers, depth_mult)
        super().__init__(expand_ratio, kernel, stride, input_channels,
                         out_channels, num_layers,
                         MBConv if block is None else block)

    @staticmethod
    def adjust_depth(num_layers: int, depth_mult: float) -> int:
        """``ceil(num_layers * depth_mult)``."""
        return int(math.ceil(num_layers * depth_mult))


class FusedMBConvConfig(_MBConvConfig):
    """A stage of fused inverted-residual blocks (the first EfficientNetV2
    stages); no width/depth scaling.

    Args:
        expand_ratio, kernel, stride, input_channels, out_channels,
        num_layers: as :class:`MBConvConfig`.
        block: block class; :class:`FusedMBConv` by default.
    """

    def __init__(self, expand_ratio: float, kernel: int, stride: int,
                 input_channels: int, out_channels: int, num_layers: int,
                 block: Optional[ModuleFactory] = None) -> None:
        super().__init__(expand_ratio, kernel, stride, input_channels,
                         out_channels, num_layers,
                         FusedMBConv if block is None else block)


class MBConv(nn.Module):
    """Inverted residual block: 1x1 expand, depthwise KxK, squeeze-and-
    excitation, 1x1 project, plus a stochastic-depth shortcut.

    Args:
        cnf: the block's :class:`MBConvConfig`.
        stochastic_depth_prob: row drop probability of the residual branch
            in training mode, a fraction.
        norm_layer: normalisation class, called with a channel count.
        se_layer: squeeze-and-excitation class
            (``featx.ops.SqueezeExcitation``).

    Shape:
        (N, input_channels, H, W) -> (N, out_channels, H/stride, W/stride).

    Raises:
        ValueError: stride not 1 or 2.
    """

    def __init__(self, cnf: _MBConvConfig, stochastic_depth_prob: float,
                 norm_layer: ModuleFactory,
                 se_layer: ModuleFactory = SqueezeExcitation) -> None:
        super().__init__()
        check_stride("MBConv block", cnf.stride)
        self.use_res_connect = (cnf.stride == 1
                                and cnf.input_channels == cnf.out_channels)

        layers: list[nn.Module] = []
        expanded = cnf.adjust_channels(cnf.input_channels, cnf.expand_ratio)
        if expanded != cnf.input_channels:
            layers.append(Conv2dNormActivation(
                cnf.input_channels, expanded, kernel_size=1,
                norm_layer=norm_layer, activation_layer=nn.SiLU))
        layers.append(Conv2dNormActivation(
            expanded, expanded, kernel_size=cnf.kernel, stride=cnf.stride,
            groups=expanded, norm_layer=norm_layer,
            activation_layer=nn.SiLU))
        squeeze = max(1, cnf.input_channels // 4)
        layers.append(se_layer(expanded, squeeze,
                               activation=partial(nn.SiLU, inplace=True)))
        layers.append(Conv2dNormActivation(
            expanded, cnf.out_channels, kernel_size=1,
            norm_layer=norm_layer, activation_layer=None))

        self.block = nn.Sequential(*layers)
        self.stochastic_depth = StochasticDepth(stochastic_depth_prob, "row")
        self.out_channels = cnf.out_channels

    def forward(self, input: Any) -> Any:
        result = self.block(input)
        if self.use_res_connect:
            result = self.stochastic_depth(result)
            result += input
        return result


class FusedMBConv(nn.Module):
    """Fused inverted residual block: one KxK expand convolution (or a
    single KxK convolution when ``expand_ratio`` is 1), 1x1 project, plus a
    stochastic-depth shortcut (EfficientNetV2).

    Args:
        cnf: the block's :class:`FusedMBConvConfig`.
        stochastic_depth_prob: row drop probability of the residual branch
            in training mode, a fraction.
        norm_layer: normalisation class, called with a channel count.

    Shape:
        (N, input_channels, H, W) -> (N, out_channels, H/stride, W/stride).

    Raises:
        ValueError: stride not 1 or 2.
    """

    def __init__(self, cnf: _MBConvConfig, stochastic_depth_prob: float,
                 norm_layer: ModuleFactory) -> None:
        super().__init__()
        check_stride("FusedMBConv block", cnf.stride)
        self.use_res_connect = (cnf.stride == 1
                                and cnf.input_channels == cnf.out_channels)

        layers: list[nn.Module] = []
        expanded = cnf.adjust_channels(cnf.input_channels, cnf.expand_ratio)
        if expanded != cnf.input_channels:
            layers.append(Conv2dNormActivation(
                cnf.input_channels, expanded, kernel_size=cnf.kernel,
                stride=cnf.stride, norm_layer=norm_layer,
                activation_layer=nn.SiLU))
            layers.append(Conv2dNormActivation(
                expanded, cnf.out_channels, kernel_size=1,
                norm_layer=norm_layer, activation_layer=None))
        else:
            layers.append(Conv2dNormActivation(
                cnf.input_channels, cnf.out_channels, kernel_size=cnf.kernel,
                stride=cnf.stride, norm_layer=norm_layer,
                activation_layer=nn.SiLU))

        self.block = nn.Sequential(*layers)
        self.stochastic_depth = StochasticDepth(stochastic_depth_prob, "row")
        self.out_channels = cnf.out_channels

    def forward(self, input: Any) -> Any:
        result = self.block(input)
        if self.use_res_connect:
            result = self.stochastic_depth(result)
            result += input
        return result


class EfficientNet(nn.Module):
    """EfficientNet V1/V2 trunk and classifier
    (``torchvision.models.EfficientNet``).

    ``features`` holds the 3x3 stride-2 stem, one ``Sequential`` per stage
    config and a 1x1 head convolution; then global average pooling,
    flatten, dropout and a linear classifier. The stochastic-depth
    probability grows linearly with the block index:
    ``stochastic_depth_prob * index / total_blocks``.

    Args:
        inverted_residual_setting: stage configs
            (:class:`MBConvConfig` / :class:`FusedMBConvConfig`).
        dropout: dropout probability before the classifier, a fraction.
        stochastic_depth_prob: the largest block drop probability.
        num_classes: outputs of the classifier.
        norm_layer: normalisation class; ``nn.BatchNorm2d`` by default.
        last_channel: output channels of the head convolution; ``None``
            means 4 x the last stage's channels.

    Shape:
        (N, 3, H, W) -> (N, num_classes).

    Raises:
        ValueError: empty ``inverted_residual_setting``; ``num_classes=0``
            (the classifier's initialisation divides by it, so torchvision
            cannot build this model either).
        TypeError: ``inverted_residual_setting`` is not a sequence of stage
            configs.
    """

    def __init__(self,
                 inverted_residual_setting: Sequence[
                     Union[MBConvConfig, FusedMBConvConfig]],
                 dropout: float, stochastic_depth_prob: float = 0.2,
                 num_classes: int = 1000,
                 norm_layer: Optional[ModuleFactory] = None,
                 last_channel: Optional[int] = None) -> None:
        super().__init__()
        check_block_configs("inverted_residual_setting",
                            inverted_residual_setting,
                            (MBConvConfig, FusedMBConvConfig))
        if num_classes == 0:
            raise ValueError(
                "EfficientNet: num_classes must be >= 1, got 0 (the "
                "classifier's initialisation divides by it, so torchvision "
                "cannot build this model either); for the pooled features, "
                "ask an extractor for 'avgpool'")
        if norm_layer is None:
            norm_layer = nn.BatchNorm2d

        layers: list[nn.Module] = [Conv2dNormActivation(
            3, inverted_residual_setting[0].input_channels, kernel_size=3,
            stride=2, norm_layer=norm_layer, activation_layer=nn.SiLU)]

        total_blocks = sum(c.num_layers for c in inverted_residual_setting)
        block_id = 0
        for cnf in inverted_residual_setting:
            stage: list[nn.Module] = []
            for _ in range(cnf.num_layers):
                block_cnf = copy.copy(cnf)
                if stage:
                    block_cnf.input_channels = block_cnf.out_channels
                    block_cnf.stride = 1
                sd_prob = (stochastic_depth_prob * float(block_id)
                           / total_blocks)
                stage.append(block_cnf.block(block_cnf, sd_prob, norm_layer))
                block_id += 1
            layers.append(nn.Sequential(*stage))

        head_in = inverted_residual_setting[-1].out_channels
        head_out = last_channel if last_channel is not None else 4 * head_in
        layers.append(Conv2dNormActivation(
            head_in, head_out, kernel_size=1, norm_layer=norm_layer,
            activation_layer=nn.SiLU))

        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(
            nn.Dropout(p=dropout, inplace=True),
            nn.Linear(head_out, num_classes),
        )

        # torchvision also resets GroupNorm here; featx.nn may not have it.
        norms: tuple[type, ...] = (nn.BatchNorm2d,)
        if hasattr(nn, "GroupNorm"):
            norms += (nn.GroupNorm,)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, norms):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                bound = 1.0 / math.sqrt(m.out_features)
                nn.init.uniform_(m.weight, -bound, bound)
                nn.init.zeros_(m.bias)

    def _forward_impl(self, x: Any) -> Any:
        x = self.features(x)
        x = self.avgpool(x)
        x = _functions.flatten(x, 1)
        x = self.classifier(x)
        return x

    def forward(self, x: Any) -> Any:
        return self._forward_impl(x)


def _efficientnet(inverted_residual_setting: Sequence[
                      Union[MBConvConfig, FusedMBConvConfig]],
                  dropout: float, last_channel: Optional[int],
                  weights: ResolvedWeights, progress: bool,
                  **kwargs: Any) -> EfficientNet:
    """Builds the model and loads ``weights`` (from resolve_weights)."""
    model = EfficientNet(inverted_residual_setting, dropout,
                         last_channel=last_channel, **kwargs)
    return weights.load_into(model, progress)


def _efficientnet_conf(arch: str, **kwargs: Any
                       ) -> tuple[list[Union[MBConvConfig, FusedMBConvConfig]], Optional[int]]:
    """Stage configs and head width of a named architecture (EfficientNet
    Table 1, EfficientNetV2 Table 4), as torchvision builds them."""
    setting: list[Union[MBConvConfig, FusedMBConvConfig]]
    if arch.startswith("efficientnet_b"):
        b = partial(MBConvConfig, width_mult=kwargs.pop("width_mult"),
                    depth_mult=kwargs.pop("depth_mult"))
        setting = [b(1, 3, 1, 32, 16, 1), b(6, 3, 2, 16, 24, 2),
                   b(6, 5, 2, 24, 40, 2), b(6, 3, 2, 40, 80, 3),
                   b(6, 5, 1, 80, 112, 3), b(6, 5, 2, 112, 192, 4),
                   b(6, 3, 1, 192, 320, 1)]
        return setting, None
    fused, mb = FusedMBConvConfig, MBConvConfig
    if arch.startswith("efficientnet_v2_s"):
        setting = [fused(1, 3, 1, 24, 24, 2), fused(4, 3, 2, 24, 48, 4),
                   fused(4, 3, 2, 48, 64, 4), mb(4, 3, 2, 64, 128, 6),
                   mb(6, 3, 1, 128, 160, 9), mb(6, 3, 2, 160, 256, 15)]
    elif arch.startswith("efficientnet_v2_m"):
        setting = [fused(1, 3, 1, 24, 24, 3), fused(4, 3, 2, 24, 48, 5),
                   fused(4, 3, 2, 48, 80, 5), mb(4, 3, 2, 80, 160, 7),
                   mb(6, 3, 1, 160, 176, 14), mb(6, 3, 2, 176, 304, 18),
                   mb(6, 3, 1, 304, 512, 5)]
    elif arch.startswith("efficientnet_v2_l"):
        setting = [fused(1, 3, 1, 32, 32, 4), fused(4, 3, 2, 32, 64, 7),
                   fused(4, 3, 2, 64, 96, 7), mb(4, 3, 2, 96, 192, 10),
                   mb(6, 3, 1, 192, 224, 19), mb(6, 3, 2, 224, 384, 25),
                   mb(6, 3, 1, 384, 640, 7)]
    else:
        raise ValueError(f"no EfficientNet configuration named {arch!r}; "
                         f"expected efficientnet_b0..b7 or "
                         f"efficientnet_v2_s/m/l")
    return setting, 1280


def _v1(arch: str, width_mult: float, depth_mult: float, dropout: float,
        weights: Any, enum: type[WeightsEnum], progress: bool, kwargs: dict,
        norm_layer: Optional[ModuleFactory] = None) -> EfficientNet:
    weights = resolve_weights(weights, enum, kwargs)
    setting, last_channel = _efficientnet_conf(
        arch, width_mult=width_mult, depth_mult=depth_mult)
    if norm_layer is not None:
        # torchvision passes norm_layer explicitly next to **kwargs here, so
        # a caller's norm_layer is a TypeError (duplicate keyword).
        return _efficientnet(setting, kwargs.pop("dropout", dropout),
                             last_channel, weights, progress,
                             norm_layer=norm_layer, **kwargs)
    return _efficientnet(setting, kwargs.pop("dropout", dropout),
                         last_channel, weights, progress, **kwargs)


def _v2(arch: str, dropout: float, weights: Any, enum: type[WeightsEnum],
        progress: bool, kwargs: dict) -> EfficientNet:
    weights = resolve_weights(weights, enum, kwargs)
    setting, last_channel = _efficientnet_conf(arch)
    return _efficientnet(setting, kwargs.pop("dropout", dropout),
                         last_channel, weights, progress,
                         norm_layer=partial(nn.BatchNorm2d, eps=1e-03),
                         **kwargs)


_BN_B5_B7 = partial(nn.BatchNorm2d, eps=0.001, momentum=0.01)


@register_model()
def efficientnet_b0(*, weights: Any = None, progress: bool = True,
                    **kwargs: Any) -> EfficientNet:
    """EfficientNet-B0 (width 1.0, depth 1.0, dropout 0.2),
    ``torchvision.models.efficientnet_b0``.

    Args:
        weights: None (random initialisation); an
            ``EfficientNet_B0_Weights`` member or its name
            (``"IMAGENET1K_V1"``, ``"DEFAULT"``); or the path of a local
            checkpoint with the model's keys (see
            :func:`featx.models.resnet18`).
        progress: show a download progress bar on stderr.
        **kwargs: passed to :class:`EfficientNet` (``num_classes``,
            ``dropout``, ``stochastic_depth_prob``, ``norm_layer``).

    Returns:
        An :class:`EfficientNet` in training mode, with the weights loaded
        if given.

    Shape:
        (N, 3, H, W) -> (N, num_classes).

    Raises:
        ValueError: unknown weights name or a ``num_classes`` that differs
            from the weights' categories.
        FileNotFoundError: a weights path that does not exist.
    """
    return _v1("efficientnet_b0", 1.0, 1.0, 0.2, weights,
               EfficientNet_B0_Weights, progress, kwargs)


@register_model()
def efficientnet_b1(*, weights: Any = None, progress: bool = True,
                    **kwargs: Any) -> EfficientNet:
    """EfficientNet-B1 (width 1.0, depth 1.1, dropout 0.2); arguments as
    :func:`efficientnet_b0` (weights: the model's own enum)."""
    return _v1("efficientnet_b1", 1.0, 1.1, 0.2, weights,
               EfficientNet_B1_Weights, progress, kwargs)


@register_model()
def efficientnet_b2(*, weights: Any = None, progress: bool = True,
                    **kwargs: Any) -> EfficientNet:
    """EfficientNet-B2 (width 1.1, depth 1.2, dropout 0.3); arguments as
    :func:`efficientnet_b0` (weights: the model's own enum)."""
    return _v1("efficientnet_b2", 1.1, 1.2, 0.3, weights,
               EfficientNet_B2_Weights, progress, kwargs)


@register_model()
def efficientnet_b3(*, weights: Any = None, progress: bool = True,
                    **kwargs: Any) -> EfficientNet:
    """EfficientNet-B3 (width 1.2, depth 1.4, dropout 0.3); arguments as
    :func:`efficientnet_b0` (weights: the model's own enum)."""
    return _v1("efficientnet_b3", 1.2, 1.4, 0.3, weights,
               EfficientNet_B3_Weights, progress, kwargs)


@register_model()
def efficientnet_b4(*, weights: Any = None, progress: bool = True,
                    **kwargs: Any) -> EfficientNet:
    """EfficientNet-B4 (width 1.4, depth 1.8, dropout 0.4); arguments as
    :func:`efficientnet_b0` (weights: the model's own enum)."""
    return _v1("efficientnet_b4", 1.4, 1.8, 0.4, weights,
               EfficientNet_B4_Weights, progress, kwargs)


@register_model()
def efficientnet_b5(*, weights: Any = None, progress: bool = True,
                    **kwargs: Any) -> EfficientNet:
    """EfficientNet-B5 (width 1.6, depth 2.2, dropout 0.4, BatchNorm eps
    1e-3 and momentum 0.01); arguments as :func:`efficientnet_b0`.

    Raises:
        TypeError: ``norm_layer`` given (fixed by the builder, as in
            torchvision).
    """
    return _v1("efficientnet_b5", 1.6, 2.2, 0.4, weights,
               EfficientNet_B5_Weights, progress, kwargs,
               _BN_B5_B7)


@register_model()
def efficientnet_b6(*, weights: Any = None, progress: bool = True,
                    **kwargs: Any) -> EfficientNet:
    """EfficientNet-B6 (width 1.8, depth 2.6, dropout 0.5, BatchNorm eps
    1e-3 and momentum 0.01); arguments as :func:`efficientnet_b5`."""
    return _v1("efficientnet_b6", 1.8, 2.6, 0.5, weights,
               EfficientNet_B6_Weights, progress, kwargs,
               _BN_B5_B7)


@register_model()
def efficientnet_b7(*, weights: Any = None, progress: bool = True,
                    **kwargs: Any) -> EfficientNet:
    """EfficientNet-B7 (width 2.0, depth 3.1, dropout 0.5, BatchNorm eps
    1e-3 and momentum 0.01); arguments as :func:`efficientnet_b5`."""
    return _v1("efficientnet_b7", 2.0, 3.1, 0.5, weights,
               EfficientNet_B7_Weights, progress, kwargs,
               _BN_B5_B7)


@register_model()
def efficientnet_v2_s(*, weights: Any = None, progress: bool = True,
                      **kwargs: Any) -> EfficientNet:
    """EfficientNetV2-S (dropout 0.2, BatchNorm eps 1e-3),
    ``torchvision.models.efficientnet_v2_s``; arguments as
    :func:`efficientnet_b0`.

    Raises:
        TypeError: ``norm_layer`` given (fixed by the builder, as in
            torchvision).
    """
    return _v2("efficientnet_v2_s", 0.2, weights,
               EfficientNet_V2_S_Weights, progress, kwargs)


@register_model()
def efficientnet_v2_m(*, weights: Any = None, progress: bool = True,
                      **kwargs: Any) -> EfficientNet:
    """EfficientNetV2-M (dropout 0.3, BatchNorm eps 1e-3); arguments as
    :func:`efficientnet_v2_s`."""
    return _v2("efficientnet_v2_m", 0.3, weights,
               EfficientNet_V2_M_Weights, progress, kwargs)


@register_model()
def efficientnet_v2_l(*, weights: Any = None, progress: bool = True,
                      **kwargs: Any) -> EfficientNet:
    """EfficientNetV2-L (dropout 0.4, BatchNorm eps 1e-3); arguments as
    :func:`efficientnet_v2_s`."""
    return _v2("efficientnet_v2_l", 0.4, weights,
               EfficientNet_V2_L_Weights, progress, kwargs)
