"""ShuffleNet V2 (``torchvision.models.shufflenetv2``).

Same constructor arguments, attribute names, module tree, forward op order
and ``state_dict`` keys/shapes as torchvision 0.29.1. The channel shuffle
gives torchvision's nodes inside each block (``size``, ``getitem`` x4,
``floordiv``, ``view``, ``transpose``, ``contiguous``, ``view_1``; stride-1
blocks start with ``chunk`` and two ``getitem``).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from .. import _functions, nn
from ._api import register_model
from ._config import check_stride
from ._weights import WeightsEnum, get_model_weights, resolve_weights

__all__ = ["ShuffleNetV2", "ShuffleNet_V2_X0_5_Weights",
           "ShuffleNet_V2_X1_0_Weights", "ShuffleNet_V2_X1_5_Weights",
           "ShuffleNet_V2_X2_0_Weights", "shufflenet_v2_x0_5",
           "shufflenet_v2_x1_0", "shufflenet_v2_x1_5", "shufflenet_v2_x2_0"]

# torchvision's weights enums, built from featx/models/weights.json.
ShuffleNet_V2_X0_5_Weights: type[WeightsEnum] = get_model_weights(
    "shufflenet_v2_x0_5")
ShuffleNet_V2_X1_0_Weights: type[WeightsEnum] = get_model_weights(
    "shufflenet_v2_x1_0")
ShuffleNet_V2_X1_5_Weights: type[WeightsEnum] = get_model_weights(
    "shufflenet_v2_x1_5")
ShuffleNet_V2_X2_0_Weights: type[WeightsEnum] = get_model_weights(
    "shufflenet_v2_x2_0")


def channel_shuffle(x: Any, groups: int) -> Any:
    """Interleaves the channels of ``groups`` equal groups: channel
    ``g * (C / groups) + i`` moves to ``i * groups + g``.

    Args:
        x: array or traced value, shape (N, C, H, W), C divisible by groups.
        groups: number of channel groups.

    Returns:
        An array of the same shape.

    Shape:
        (N, C, H, W) -> (N, C, H, W).
    """
    batchsize, num_channels, height, width = _functions.size(x)
    channels_per_group = num_channels // groups
    x = _functions.view(x, batchsize, groups, channels_per_group, height,
                        width)
    x = _functions.contiguous(_functions.transpose(x, 1, 2))
    return _functions.view(x, batchsize, num_channels, height, width)


class InvertedResidual(nn.Module):
    """ShuffleNetV2 unit.

    Stride 1: the channels are split in two halves; the second goes through
    ``branch2`` (1x1, depthwise 3x3, 1x1) and is concatenated back to the
    first. Stride > 1: ``branch1`` (depthwise 3x3, 1x1) and ``branch2`` both
    see the whole input and are concatenated. Then a channel shuffle with 2
    groups.

    Args:
        inp: input channels.
        oup: output channels (even).
        stride: 1, 2 or 3.

    Shape:
        (N, inp, H, W) -> (N, oup, H / stride, W / stride) (rounded up).

    Raises:
        ValueError: stride outside [1, 3], or stride 1 with
            ``inp != 2 * (oup // 2)``.
    """

    def __init__(self, inp: int, oup: int, stride: int) -> None:
        super().__init__()
        check_stride("ShuffleNetV2 InvertedResidual", stride, (1, 2, 3))
        self.stride = stride
        branch_features = oup // 2
        if self.stride == 1 and inp != branch_features << 1:
            raise ValueError(
                f"ShuffleNetV2 InvertedResidual with stride 1: expected "
                f"inp == 2 * (oup // 2) = {branch_features << 1} (the input "
                f"splits into two halves), got inp={inp}, oup={oup}")
        if self.stride > 1:
            self.branch1 = nn.Sequential(
                self.depthwise_conv(inp, inp, kernel_size=3,
                                    stride=self.stride, padding=1),
                nn.BatchNorm2d(inp),
                nn.Conv2d(inp, branch_features, kernel_size=1, stride=1,
                          padding=0, bias=False),
                nn.BatchNorm2d(branch_features),
                nn.ReLU(inplace=True),
            )
        else:
            self.branch1 = nn.Sequential()
        self.branch2 = nn.Sequential(
            nn.Conv2d(inp if self.stride > 1 else branch_features,
                      branch_features, kernel_size=1, stride=1, padding=0,
                      bias=False),
            nn.BatchNorm2d(branch_features),
            nn.ReLU(inplace=True),
            self.depthwise_conv(branch_features, branch_features,
                                kernel_size=3, stride=self.stride,
                                padding=1),
            nn.BatchNorm2d(branch_features),
            nn.Conv2d(branch_features, branch_features, kernel_size=1,
                      stride=1, padding=0, bias=False),
            nn.BatchNorm2d(branch_features),
            nn.ReLU(inplace=True),
        )

    @staticmethod
    def depthwise_conv(i: int, o: int, kernel_size: int, stride: int = 1,
                       padding: int = 0, bias: bool = False) -> nn.Conv2d:
        """A depthwise ``Conv2d`` (``groups=i``)."""
        return nn.Conv2d(i, o, kernel_size, stride, padding, bias=bias,
                         groups=i)

    def forward(self, x: Any) -> Any:
        if self.stride == 1:
            x1, x2 = _functions.chunk(x, 2, dim=1)
            out = _functions.cat((x1, self.branch2(x2)), dim=1)
        else:
            out = _functions.cat((self.branch1(x), self.branch2(x)), dim=1)
        return channel_shuffle(out, 2)


class ShuffleNetV2(nn.Module):
    """ShuffleNet V2 (``torchvision.models.ShuffleNetV2``).

    Children: ``conv1`` (3x3/2 conv, BN, ReLU), ``maxpool`` (3x3/2),
    ``stage2``-``stage4`` (a stride-2 unit then stride-1 units),
    ``conv5`` (1x1 conv, BN, ReLU) and ``fc``. Forward ends with the mean
    over H and W, then ``fc``.

    Args:
        stages_repeats: units in stage2..stage4 (3 ints).
        stages_out_channels: output channels of conv1, the three stages and
            conv5 (5 ints).
        num_classes: output logits.
        inverted_residual: unit factory ``(inp, oup, stride)``.

    Shape:
        (N, 3, H, W) -> (N, num_classes).

    Raises:
        ValueError: lists of the wrong length.
    """

    def __init__(self, stages_repeats: Sequence[int],
                 stages_out_channels: Sequence[int],
                 num_classes: int = 1000,
                 inverted_residual: Callable[..., nn.Module] = InvertedResidual
                 ) -> None:
        super().__init__()
        if len(stages_repeats) != 3:
            raise ValueError(
                f"ShuffleNetV2 stages_repeats: expected 3 block counts (one "
                f"per stage), got {len(stages_repeats)}: "
                f"{list(stages_repeats)!r}")
        if len(stages_out_channels) != 5:
            raise ValueError(
                f"ShuffleNetV2 stages_out_channels: expected 5 channel counts "
                f"(stem, 3 stages, last conv), got {len(stages_out_channels)}: "
                f"{list(stages_out_channels)!r}")
        self._stage_out_channels = stages_out_channels

        input_channels = 3
        output_channels = self._stage_out_channels[0]
        self.conv1 = nn.Sequential(
            nn.Conv2d(input_channels, output_channels, 3, 2, 1, bias=False),
            nn.BatchNorm2d(output_channels),
            nn.ReLU(inplace=True),
        )
        input_channels = output_channels
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)

        for name, repeats, output_channels in zip(
                ("stage2", "stage3", "stage4"), stages_repeats,
                self._stage_out_channels[1:], strict=False):
            units = [inverted_residual(input_channels, output_channels, 2)]
            for _ in range(repeats - 1):
                units.append(inverted_residual(output_channels,
                                               output_channels, 1))
            setattr(self, name, nn.Sequential(*units))
            input_channels = output_channels

        output_channels = self._stage_out_channels[-1]
        self.conv5 = nn.Sequential(
            nn.Conv2d(input_channels, output_channels, 1, 1, 0, bias=False),
            nn.BatchNorm2d(output_channels),
            nn.ReLU(inplace=True),
        )
        self.fc = nn.Linear(output_channels, num_classes)

    def _forward_impl(self, x: Any) -> Any:
        x = self.conv1(x)
        x = self.maxpool(x)
        x = self.stage2(x)
        x = self.stage3(x)
        x = self.stage4(x)
        x = self.conv5(x)
        x = _functions.mean(x, [2, 3])
        return self.fc(x)

    def forward(self, x: Any) -> Any:
        return self._forward_impl(x)


def _shufflenetv2(weights: Any, weights_enum: type[WeightsEnum],
                  progress: bool, repeats: list, channels: list,
                  kwargs: dict) -> ShuffleNetV2:
    w = resolve_weights(weights, weights_enum, kwargs)
    model = ShuffleNetV2(repeats, channels, **kwargs)
    return w.load_into(model, progress)


@register_model()
def shufflenet_v2_x0_5(*, weights: Any = None, progress: bool = True,
                       **kwargs: Any) -> ShuffleNetV2:
    """ShuffleNet V2 with 0.5x output channels
    (``torchvision.models.shufflenet_v2_x0_5``).

    Args:
        weights: None (random initialisation); a
            ``ShuffleNet_V2_X0_5_Weights`` member or its name; or the path
            of a local checkpoint (see :func:`featx.models.resnet18`).
        progress: show a download progress bar on stderr.
        **kwargs: passed to :class:`ShuffleNetV2` (``num_classes``,
            ``inverted_residual``).

    Returns:
        A :class:`ShuffleNetV2` in training mode.

    Shape:
        (N, 3, H, W) -> (N, num_classes).

    Raises:
        ValueError: unknown weights name or a ``num_classes`` that differs
            from the weights' categories.
        FileNotFoundError: a weights path that does not exist.
    """
    return _shufflenetv2(weights, ShuffleNet_V2_X0_5_Weights, progress,
                         [4, 8, 4], [24, 48, 96, 192, 1024], kwargs)


@register_model()
def shufflenet_v2_x1_0(*, weights: Any = None, progress: bool = True,
                       **kwargs: Any) -> ShuffleNetV2:
    """ShuffleNet V2 with 1.0x output channels; arguments as
    :func:`shufflenet_v2_x0_5`."""
    return _shufflenetv2(weights, ShuffleNet_V2_X1_0_Weights, progress,
                         [4, 8, 4], [24, 116, 232, 464, 1024], kwargs)


@register_model()
def shufflenet_v2_x1_5(*, weights: Any = None, progress: bool = True,
                       **kwargs: Any) -> ShuffleNetV2:
    """ShuffleNet V2 with 1.5x output channels; arguments as
    :func:`shufflenet_v2_x0_5`."""
    return _shufflenetv2(weights, ShuffleNet_V2_X1_5_Weights, progress,
                         [4, 8, 4], [24, 176, 352, 704, 1024], kwargs)


@register_model()
def shufflenet_v2_x2_0(*, weights: Any = None, progress: bool = True,
                       **kwargs: Any) -> ShuffleNetV2:
    """ShuffleNet V2 with 2.0x output channels; arguments as
    :func:`shufflenet_v2_x0_5`."""
    return _shufflenetv2(weights, ShuffleNet_V2_X2_0_Weights, progress,
                         [4, 8, 4], [24, 244, 488, 976, 2048], kwargs)
