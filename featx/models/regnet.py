"""RegNetX and RegNetY (``torchvision.models.regnet``).

Same constructor arguments, attribute names, module tree, forward op order,
initialisation and ``state_dict`` keys/shapes as torchvision 0.29.1, so
torchvision checkpoints load with ``load_state_dict`` and feature-extraction
node names match (``stem``, ``trunk_output.block1.block1-0.f.a``,
``trunk_output.block1.block1-0.add``, ``flatten``, ``fc``, ...).
"""
from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any, Optional

import numpy as np

from .. import _functions, nn
from ..ops import Conv2dNormActivation, SqueezeExcitation
from ._api import register_model
from ._weights import (ResolvedWeights, WeightsEnum, get_model_weights,
                       resolve_weights)
from .efficientnet import _make_divisible

# torchvision's __all__ (BlockParams and the blocks are importable from this
# module, as in torchvision).
__all__ = ["RegNet", "RegNet_Y_400MF_Weights",
           "RegNet_Y_800MF_Weights", "RegNet_Y_1_6GF_Weights",
           "RegNet_Y_3_2GF_Weights", "RegNet_Y_8GF_Weights",
           "RegNet_Y_16GF_Weights", "RegNet_Y_32GF_Weights",
           "RegNet_Y_128GF_Weights", "RegNet_X_400MF_Weights",
           "RegNet_X_800MF_Weights", "RegNet_X_1_6GF_Weights",
           "RegNet_X_3_2GF_Weights", "RegNet_X_8GF_Weights",
           "RegNet_X_16GF_Weights", "RegNet_X_32GF_Weights",
           "regnet_y_400mf",
           "regnet_y_800mf", "regnet_y_1_6gf", "regnet_y_3_2gf",
           "regnet_y_8gf", "regnet_y_16gf", "regnet_y_32gf",
           "regnet_y_128gf", "regnet_x_400mf", "regnet_x_800mf",
           "regnet_x_1_6gf", "regnet_x_3_2gf", "regnet_x_8gf",
           "regnet_x_16gf", "regnet_x_32gf"]

ModuleFactory = Callable[..., nn.Module]

# torchvision's weights enums, built from featx/models/weights.json.
RegNet_Y_400MF_Weights: type[WeightsEnum] = get_model_weights(
    "regnet_y_400mf")
RegNet_Y_800MF_Weights: type[WeightsEnum] = get_model_weights(
    "regnet_y_800mf")
RegNet_Y_1_6GF_Weights: type[WeightsEnum] = get_model_weights(
    "regnet_y_1_6gf")
RegNet_Y_3_2GF_Weights: type[WeightsEnum] = get_model_weights(
    "regnet_y_3_2gf")
RegNet_Y_8GF_Weights: type[WeightsEnum] = get_model_weights(
    "regnet_y_8gf")
RegNet_Y_16GF_Weights: type[WeightsEnum] = get_model_weights(
    "regnet_y_16gf")
RegNet_Y_32GF_Weights: type[WeightsEnum] = get_model_weights(
    "regnet_y_32gf")
RegNet_Y_128GF_Weights: type[WeightsEnum] = get_model_weights(
    "regnet_y_128gf")
RegNet_X_400MF_Weights: type[WeightsEnum] = get_model_weights(
    "regnet_x_400mf")
RegNet_X_800MF_Weights: type[WeightsEnum] = get_model_weights(
    "regnet_x_800mf")
RegNet_X_1_6GF_Weights: type[WeightsEnum] = get_model_weights(
    "regnet_x_1_6gf")
RegNet_X_3_2GF_Weights: type[WeightsEnum] = get_model_weights(
    "regnet_x_3_2gf")
RegNet_X_8GF_Weights: type[WeightsEnum] = get_model_weights(
    "regnet_x_8gf")
RegNet_X_16GF_Weights: type[WeightsEnum] = get_model_weights(
    "regnet_x_16gf")
RegNet_X_32GF_Weights: type[WeightsEnum] = get_model_weights(
    "regnet_x_32gf")


class SimpleStemIN(Conv2dNormActivation):
    """ImageNet stem: 3x3 stride-2 convolution, norm, activation.

    Args:
        width_in: input channels.
        width_out: output channels.
        norm_layer: normalisation class.
        activation_layer: activation class.

    Shape:
        (N, width_in, H, W) -> (N, width_out, ceil(H/2), ceil(W/2)).
    """

    def __init__(self, width_in: int, width_out: int,
                 norm_layer: ModuleFactory,
                 activation_layer: ModuleFactory) -> None:
        super().__init__(width_in, width_out, kernel_size=3, stride=2,
                         norm_layer=norm_layer,
                         activation_layer=activation_layer)


class BottleneckTransform(nn.Sequential):
    """The residual branch: 1x1 ``a``, grouped 3x3 ``b`` (strided),
    optional squeeze-and-excitation ``se``, 1x1 ``c`` without activation.

    Args:
        width_in: input channels.
        width_out: output channels.
        stride: stride of ``b`` in pixels.
        norm_layer: normalisation class.
        activation_layer: activation class.
        group_width: channels per group of ``b``.
        bottleneck_multiplier: bottleneck width / ``width_out``.
        se_ratio: SE width / ``width_in``; ``None`` or 0 for no SE
            (RegNetX).

    Shape:
        (N, width_in, H, W) -> (N, width_out, H/stride, W/stride).
    """

    def __init__(self, width_in: int, width_out: int, stride: int,
                 norm_layer: ModuleFactory, activation_layer: ModuleFactory,
                 group_width: int, bottleneck_multiplier: float,
                 se_ratio: Optional[float]) -> None:
        layers: OrderedDict[str, nn.Module] = OrderedDict()
        w_b = int(round(width_out * bottleneck_multiplier))
        groups = w_b // group_width
        layers["a"] = Conv2dNormActivation(
            width_in, w_b, kernel_size=1, stride=1, norm_layer=norm_layer,
            activation_layer=activation_layer)
        layers["b"] = Conv2dNormActivation(
            w_b, w_b, kernel_size=3, stride=stride, groups=groups,
            norm_layer=norm_layer, activation_layer=activation_layer)
        if se_ratio:
            layers["se"] = SqueezeExcitation(
                input_channels=w_b,
                squeeze_channels=int(round(se_ratio * width_in)),
                activation=activation_layer)
        layers["c"] = Conv2dNormActivation(
            w_b, width_out, kernel_size=1, stride=1, norm_layer=norm_layer,
            activation_layer=None)
        super().__init__(layers)


class ResBottleneckBlock(nn.Module):
    """``activation(shortcut(x) + f(x))``; the shortcut is a 1x1 projection
    ``proj`` when the width or resolution changes, else the identity.

    Args:
        width_in: input channels.
        width_out: output channels.
        stride: stride in pixels.
        norm_layer: normalisation class.
        activation_layer: activation class (called with ``inplace=True``).
        group_width: channels per group of the 3x3 convolution.
        bottleneck_multiplier: bottleneck width / ``width_out``.
        se_ratio: SE width / ``width_in``, or ``None``.

    Shape:
        (N, width_in, H, W) -> (N, width_out, H/stride, W/stride).
    """

    def __init__(self, width_in: int, width_out: int, stride: int,
                 norm_layer: ModuleFactory, activation_layer: ModuleFactory,
                 group_width: int = 1, bottleneck_multiplier: float = 1.0,
                 se_ratio: Optional[float] = None) -> None:
        super().__init__()
        self.proj = None
        if width_in != width_out or stride != 1:
            self.proj = Conv2dNormActivation(
                width_in, width_out, kernel_size=1, stride=stride,
                norm_layer=norm_layer, activation_layer=None)
        self.f = BottleneckTransform(
            width_in, width_out, stride, norm_layer, activation_layer,
            group_width, bottleneck_multiplier, se_ratio)
        self.activation = activation_layer(inplace=True)

    def forward(self, x: Any) -> Any:
        if self.proj is not None:
            x = self.proj(x) + self.f(x)
        else:
            x = x + self.f(x)
        return self.activation(x)


class AnyStage(nn.Sequential):
    """``depth`` blocks of equal output width; only the first one strides.

    Children are named ``block<stage_index>-<i>`` as in torchvision.

    Args:
        width_in: input channels of the first block.
        width_out: output channels of every block.
        stride: stride of the first block.
        depth: number of blocks.
        block_constructor: block class (:class:`ResBottleneckBlock`).
        norm_layer, activation_layer, group_width, bottleneck_multiplier,
        se_ratio: passed to each block.
        stage_index: number used in the children's names.

    Shape:
        (N, width_in, H, W) -> (N, width_out, H/stride, W/stride).
    """

    def __init__(self, width_in: int, width_out: int, stride: int,
                 depth: int, block_constructor: ModuleFactory,
                 norm_layer: ModuleFactory, activation_layer: ModuleFactory,
                 group_width: int, bottleneck_multiplier: float,
                 se_ratio: Optional[float] = None,
                 stage_index: int = 0) -> None:
        super().__init__()
        for i in range(depth):
            block = block_constructor(
                width_in if i == 0 else width_out, width_out,
                stride if i == 0 else 1, norm_layer, activation_layer,
                group_width, bottleneck_multiplier, se_ratio)
            self.add_module(f"block{stage_index}-{i}", block)


class BlockParams:
    """Per-stage settings of a RegNet: ``depths``, ``widths``,
    ``group_widths``, ``bottleneck_multipliers``, ``strides`` (lists with
    one entry per stage) and ``se_ratio``."""

    def __init__(self, depths: list[int], widths: list[int],
                 group_widths: list[int],
                 bottleneck_multipliers: list[float], strides: list[int],
                 se_ratio: Optional[float] = None) -> None:
        self.depths = depths
        self.widths = widths
        self.group_widths = group_widths
        self.bottleneck_multipliers = bottleneck_multipliers
        self.strides = strides
        self.se_ratio = se_ratio

    @classmethod
    def from_init_params(cls, depth: int, w_0: int, w_a: float, w_m: float,
                         group_width: int, bottleneck_multiplier: float = 1.0,
                         se_ratio: Optional[float] = None,
                         **kwargs: Any) -> "BlockParams":
        """Stage settings from the RegNet design-space parameters.

        Block ``j`` gets the continuous width ``w_0 + w_a * j``; its
        exponent ``round(log_{w_m}(width / w_0))`` is quantised, giving the
        width ``w_0 * w_m ** exponent`` rounded to a multiple of 8. Runs
        of equal width form the stages (stride 2 each), whose widths are
        then made compatible with the group width. Computed in float32 as
        torchvision does (it uses torch tensors), so the rounding agrees.

        Args:
            depth: total number of blocks.
            w_0: initial width, a positive multiple of 8.
            w_a: width slope, >= 0.
            w_m: width multiplier between stages, > 1.
            group_width: channels per group.
            bottleneck_multiplier: bottleneck width / block width.
            se_ratio: SE width / block input width, or ``None``.
            **kwargs: ignored (the builders pass the model's keyword
                arguments here too).

        Raises:
            ValueError: invalid ``w_a``, ``w_0`` or ``w_m``.
        """
        quant, stride = 8, 2
        if w_a < 0 or w_0 <= 0 or w_m <= 1 or w_0 % 8 != 0:
            raise ValueError(
                f"RegNet block widths: expected w_a >= 0, w_0 a positive "
                f"multiple of 8 and w_m > 1, got w_a={w_a}, w_0={w_0}, "
                f"w_m={w_m}")
        f32 = np.float32
        widths_cont = (np.arange(depth).astype(f32) * f32(w_a) + f32(w_0))
        capacity = np.round(np.log(widths_cont / f32(w_0))
                            / f32(math.log(w_m))).astype(f32)
        block_widths = (np.round(f32(w_0) * np.power(f32(w_m), capacity)
                                 / f32(quant)) * f32(quant))
        block_widths_l = [int(w) for w in block_widths.astype(np.int32)]
        num_stages = len(set(block_widths_l))

        # A stage starts wherever the width changes (the trailing 0 closes
        # the last stage).
        padded = block_widths_l + [0]
        shifted = [0] + block_widths_l
        splits = [w != wp for w, wp in zip(padded, shifted)]
        stage_widths = [w for w, t in zip(block_widths_l, splits[:-1]) if t]
        starts = [d for d, t in enumerate(splits) if t]
        stage_depths = [b - a for a, b in zip(starts, starts[1:])]

        strides = [stride] * num_stages
        multipliers = [bottleneck_multiplier] * num_stages
        group_widths = [group_width] * num_stages
        stage_widths, group_widths = cls._adjust_widths_groups_compatibilty(
            stage_widths, multipliers, group_widths)
        return cls(depths=stage_depths, widths=stage_widths,
                   group_widths=group_widths,
                   bottleneck_multipliers=multipliers, strides=strides,
                   se_ratio=se_ratio)

    def _get_expanded_params(self) -> Iterator[tuple]:
        return zip(self.widths, self.strides, self.depths, self.group_widths,
                   self.bottleneck_multipliers)

    @staticmethod
    def _adjust_widths_groups_compatibilty(
            stage_widths: list[int], bottleneck_ratios: list[float],
            group_widths: list[int]) -> tuple[list[int], list[int]]:
        """Makes each stage's bottleneck width a multiple of its group width
        (the group width capped at the bottleneck width); returns the new
        stage widths and group widths. (torchvision's spelling.)"""
        widths = [int(w * b) for w, b in zip(stage_widths, bottleneck_ratios)]
        groups_min = [min(g, w_bot) for g, w_bot in zip(group_widths, widths)]
        ws_bot = [_make_divisible(w_bot, g)
                  for w_bot, g in zip(widths, groups_min)]
        stage_widths = [int(w_bot / b)
                        for w_bot, b in zip(ws_bot, bottleneck_ratios)]
        return stage_widths, groups_min

    def __repr__(self) -> str:
        return (f"BlockParams(depths={self.depths}, widths={self.widths}, "
                f"group_widths={self.group_widths}, "
                f"bottleneck_multipliers={self.bottleneck_multipliers}, "
                f"strides={self.strides}, se_ratio={self.se_ratio})")


class RegNet(nn.Module):
    """RegNet trunk and classifier (``torchvision.models.RegNet``).

    ``stem``, then ``trunk_output`` (stages ``block1``, ``block2``, ...),
    global average pooling, flatten and ``fc``.

    Args:
        block_params: the per-stage settings (:class:`BlockParams`).
        num_classes: outputs of ``fc``.
        stem_width: output channels of the stem.
        stem_type: stem class; :class:`SimpleStemIN` by default.
        block_type: block class; :class:`ResBottleneckBlock` by default.
        norm_layer: normalisation class; ``nn.BatchNorm2d`` by default.
        activation: activation class; ``nn.ReLU`` by default.

    Shape:
        (N, 3, H, W) -> (N, num_classes).
    """

    def __init__(self, block_params: BlockParams, num_classes: int = 1000,
                 stem_width: int = 32,
                 stem_type: Optional[ModuleFactory] = None,
                 block_type: Optional[ModuleFactory] = None,
                 norm_layer: Optional[ModuleFactory] = None,
                 activation: Optional[ModuleFactory] = None) -> None:
        super().__init__()
        if stem_type is None:
            stem_type = SimpleStemIN
        if norm_layer is None:
            norm_layer = nn.BatchNorm2d
        if block_type is None:
            block_type = ResBottleneckBlock
        if activation is None:
            activation = nn.ReLU

        self.stem = stem_type(3, stem_width, norm_layer, activation)

        width = stem_width
        stages = []
        for i, (width_out, stride, depth, group_width,
                multiplier) in enumerate(block_params._get_expanded_params()):
            stages.append((f"block{i + 1}", AnyStage(
                width, width_out, stride, depth, block_type, norm_layer,
                activation, group_width, multiplier, block_params.se_ratio,
                stage_index=i + 1)))
            width = width_out
        self.trunk_output = nn.Sequential(OrderedDict(stages))

        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(in_features=width, out_features=num_classes)

        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                fan_out = m.kernel_size[0] * m.kernel_size[1] * m.out_channels
                nn.init.normal_(m.weight, mean=0.0,
                                std=math.sqrt(2.0 / fan_out))
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, mean=0.0, std=0.01)
                nn.init.zeros_(m.bias)

    def forward(self, x: Any) -> Any:
        x = self.stem(x)
        x = self.trunk_output(x)
        x = self.avgpool(x)
        # torchvision calls x.flatten(start_dim=1): same node name.
        x = _functions.flatten(x, start_dim=1)
        x = self.fc(x)
        return x


def _regnet(block_params: BlockParams, weights: ResolvedWeights,
            progress: bool, **kwargs: Any) -> RegNet:
    """Builds the model and loads ``weights`` (from resolve_weights)."""
    norm_layer = kwargs.pop("norm_layer",
                            partial(nn.BatchNorm2d, eps=1e-05, momentum=0.1))
    model = RegNet(block_params, norm_layer=norm_layer, **kwargs)
    return weights.load_into(model, progress)


def _build(weights: Any, enum: type[WeightsEnum], progress: bool,
           kwargs: dict, **design: Any) -> RegNet:
    resolved = resolve_weights(weights, enum, kwargs)
    # As torchvision: the caller's kwargs go to both BlockParams (which
    # ignores what it does not know) and RegNet.
    params = BlockParams.from_init_params(**design, **kwargs)
    return _regnet(params, resolved, progress, **kwargs)


_DOC = """RegNet{kind}_{size} (depth {depth}, w_0 {w_0}, w_a {w_a}, w_m {w_m},
    group width {group_width}{se}), ``torchvision.models.regnet_{lower}``.

    Args:
        weights: None (random initialisation); a
            ``RegNet_{kind}_{enum}_Weights`` member or its name
            (``"IMAGENET1K_V1"``, ``"DEFAULT"``, ...); or
            the path of a local checkpoint with the model's keys (see
            :func:`featx.models.resnet18`).
        progress: show a download progress bar on stderr.
        **kwargs: passed to :meth:`BlockParams.from_init_params`
            (``bottleneck_multiplier``, ``se_ratio``...) and to
            :class:`RegNet` (``num_classes``, ``stem_width``,
            ``norm_layer``, ...), as in torchvision; a key only one of them
            accepts is a TypeError from the other.

    Returns:
        A :class:`RegNet` in training mode, with the weights loaded if
        given.

    Shape:
        (N, 3, H, W) -> (N, num_classes).

    Raises:
        ValueError: unknown weights name or a ``num_classes`` that differs
            from the weights' categories.
        FileNotFoundError: a weights path that does not exist.
    """


def _documented(kind: str, size: str, **design: Any
                ) -> Callable[[Callable[..., RegNet]], Callable[..., RegNet]]:
    def deco(fn: Callable[..., RegNet]) -> Callable[..., RegNet]:
        se = (f", SE ratio {design['se_ratio']}"
              if design.get("se_ratio") else "")
        fn.__doc__ = _DOC.format(kind=kind, size=size, lower=fn.__name__[7:],
                                 enum=size.replace(".", "_"),
                                 se=se, **{k: v for k, v in design.items()
                                           if k != "se_ratio"})
        return fn

    return deco


_Y400MF = dict(depth=16, w_0=48, w_a=27.89, w_m=2.09, group_width=8,
               se_ratio=0.25)
_Y800MF = dict(depth=14, w_0=56, w_a=38.84, w_m=2.4, group_width=16,
               se_ratio=0.25)
_Y1_6GF = dict(depth=27, w_0=48, w_a=20.71, w_m=2.65, group_width=24,
               se_ratio=0.25)
_Y3_2GF = dict(depth=21, w_0=80, w_a=42.63, w_m=2.66, group_width=24,
               se_ratio=0.25)
_Y8GF = dict(depth=17, w_0=192, w_a=76.82, w_m=2.19, group_width=56,
             se_ratio=0.25)
_Y16GF = dict(depth=18, w_0=200, w_a=106.23, w_m=2.48, group_width=112,
              se_ratio=0.25)
_Y32GF = dict(depth=20, w_0=232, w_a=115.89, w_m=2.53, group_width=232,
              se_ratio=0.25)
_Y128GF = dict(depth=27, w_0=456, w_a=160.83, w_m=2.52, group_width=264,
               se_ratio=0.25)
_X400MF = dict(depth=22, w_0=24, w_a=24.48, w_m=2.54, group_width=16)
_X800MF = dict(depth=16, w_0=56, w_a=35.73, w_m=2.28, group_width=16)
_X1_6GF = dict(depth=18, w_0=80, w_a=34.01, w_m=2.25, group_width=24)
_X3_2GF = dict(depth=25, w_0=88, w_a=26.31, w_m=2.25, group_width=48)
_X8GF = dict(depth=23, w_0=80, w_a=49.56, w_m=2.88, group_width=120)
_X16GF = dict(depth=22, w_0=216, w_a=55.59, w_m=2.1, group_width=128)
_X32GF = dict(depth=23, w_0=320, w_a=69.86, w_m=2.0, group_width=168)


@register_model()
@_documented("Y", "400MF", **_Y400MF)
def regnet_y_400mf(*, weights: Any = None, progress: bool = True,
                   **kwargs: Any) -> RegNet:
    return _build(weights, RegNet_Y_400MF_Weights, progress, kwargs,
                  **_Y400MF)


@register_model()
@_documented("Y", "800MF", **_Y800MF)
def regnet_y_800mf(*, weights: Any = None, progress: bool = True,
                   **kwargs: Any) -> RegNet:
    return _build(weights, RegNet_Y_800MF_Weights, progress, kwargs,
                  **_Y800MF)


@register_model()
@_documented("Y", "1.6GF", **_Y1_6GF)
def regnet_y_1_6gf(*, weights: Any = None, progress: bool = True,
                   **kwargs: Any) -> RegNet:
    return _build(weights, RegNet_Y_1_6GF_Weights, progress, kwargs,
                  **_Y1_6GF)


@register_model()
@_documented("Y", "3.2GF", **_Y3_2GF)
def regnet_y_3_2gf(*, weights: Any = None, progress: bool = True,
                   **kwargs: Any) -> RegNet:
    return _build(weights, RegNet_Y_3_2GF_Weights, progress, kwargs,
                  **_Y3_2GF)


@register_model()
@_documented("Y", "8GF", **_Y8GF)
def regnet_y_8gf(*, weights: Any = None, progress: bool = True,
                 **kwargs: Any) -> RegNet:
    return _build(weights, RegNet_Y_8GF_Weights, progress, kwargs,
                  **_Y8GF)


@register_model()
@_documented("Y", "16GF", **_Y16GF)
def regnet_y_16gf(*, weights: Any = None, progress: bool = True,
                  **kwargs: Any) -> RegNet:
    return _build(weights, RegNet_Y_16GF_Weights, progress, kwargs,
                  **_Y16GF)


@register_model()
@_documented("Y", "32GF", **_Y32GF)
def regnet_y_32gf(*, weights: Any = None, progress: bool = True,
                  **kwargs: Any) -> RegNet:
    return _build(weights, RegNet_Y_32GF_Weights, progress, kwargs,
                  **_Y32GF)


@register_model()
@_documented("Y", "128GF", **_Y128GF)
def regnet_y_128gf(*, weights: Any = None, progress: bool = True,
                   **kwargs: Any) -> RegNet:
    return _build(weights, RegNet_Y_128GF_Weights, progress, kwargs,
                  **_Y128GF)


@register_model()
@_documented("X", "400MF", **_X400MF)
def regnet_x_400mf(*, weights: Any = None, progress: bool = True,
                   **kwargs: Any) -> RegNet:
    return _build(weights, RegNet_X_400MF_Weights, progress, kwargs,
                  **_X400MF)


@register_model()
@_documented("X", "800MF", **_X800MF)
def regnet_x_800mf(*, weights: Any = None, progress: bool = True,
                   **kwargs: Any) -> RegNet:
    return _build(weights, RegNet_X_800MF_Weights, progress, kwargs,
                  **_X800MF)


@register_model()
@_documented("X", "1.6GF", **_X1_6GF)
def regnet_x_1_6gf(*, weights: Any = None, progress: bool = True,
                   **kwargs: Any) -> RegNet:
    return _build(weights, RegNet_X_1_6GF_Weights, progress, kwargs,
                  **_X1_6GF)


@register_model()
@_documented("X", "3.2GF", **_X3_2GF)
def regnet_x_3_2gf(*, weights: Any = None, progress: bool = True,
                   **kwargs: Any) -> RegNet:
    return _build(weights, RegNet_X_3_2GF_Weights, progress, kwargs,
                  **_X3_2GF)


@register_model()
@_documented("X", "8GF", **_X8GF)
def regnet_x_8gf(*, weights: Any = None, progress: bool = True,
                 **kwargs: Any) -> RegNet:
    return _build(weights, RegNet_X_8GF_Weights, progress, kwargs,
                  **_X8GF)


@register_model()
@_documented("X", "16GF", **_X16GF)
def regnet_x_16gf(*, weights: Any = None, progress: bool = True,
                  **kwargs: Any) -> RegNet:
    return _build(weights, RegNet_X_16GF_Weights, progress, kwargs,
                  **_X16GF)


@register_model()
@_documented("X", "32GF", **_X32GF)
def regnet_x_32gf(*, weights: Any = None, progress: bool = True,
                  **kwargs: Any) -> RegNet:
    return _build(weights, RegNet_X_32GF_Weights, progress, kwargs,
                  **_X32GF)
