"""MobileNetV2 (``torchvision.models.mobilenetv2``).

Same constructor arguments, attribute names, module tree, forward op order,
initialisation and ``state_dict`` keys/shapes as torchvision 0.29.1, so
torchvision checkpoints load with ``load_state_dict`` and feature-extraction
node names match (``features.0``, ``features.1.conv.0``, ``features.3.add``,
``adaptive_avg_pool2d``, ``flatten``, ``classifier.1``).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Optional

from .. import _functions, nn
from ..nn import functional as F
from ..ops.misc import Conv2dNormActivation
from ._api import register_model
from ._config import check_stride
from ._weights import WeightsEnum, get_model_weights, resolve_weights

__all__ = ["MobileNetV2", "MobileNet_V2_Weights", "mobilenet_v2"]

# torchvision's weights enum, built from featx/models/weights.json.
MobileNet_V2_Weights: type[WeightsEnum] = get_model_weights("mobilenet_v2")


def _make_divisible(v: float, divisor: int,
                    min_value: Optional[int] = None) -> int:
    """``v`` rounded to the nearest multiple of ``divisor`` (at least
    ``min_value``, default ``divisor``), bumped up by one ``divisor`` when
    rounding lost more than 10% (the TF MobileNet channel rule)."""
    if min_value is None:
        min_value = divisor
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v


class InvertedResidual(nn.Module):
    """MobileNetV2 block: 1x1 expansion (ReLU6, skipped when
    ``expand_ratio == 1``), 3x3 depthwise (ReLU6), linear 1x1 projection;
    plus the input when ``stride == 1`` and ``inp == oup``.

    Children: ``conv`` (a Sequential of two or three
    ``Conv2dNormActivation`` / ``Conv2d`` / norm layers, as torchvision).

    Args:
        inp: input channels.
        oup: output channels.
        stride: 1 or 2.
        expand_ratio: hidden channels = ``round(inp * expand_ratio)``.
        norm_layer: normalisation factory (``nn.BatchNorm2d``).

    Shape:
        (N, inp, H, W) -> (N, oup, H / stride, W / stride) (rounded up).

    Raises:
        ValueError: stride not 1 or 2.
    """

    def __init__(self, inp: int, oup: int, stride: int, expand_ratio: int,
                 norm_layer: Optional[Callable[..., nn.Module]] = None
                 ) -> None:
        super().__init__()
        self.stride = stride
        check_stride("MobileNetV2 InvertedResidual", stride)
        if norm_layer is None:
            norm_layer = nn.BatchNorm2d
        hidden_dim = round(inp * expand_ratio)
        self.use_res_connect = self.stride == 1 and inp == oup
        layers: list[nn.Module] = []
        if expand_ratio != 1:
            layers.append(Conv2dNormActivation(
                inp, hidden_dim, kernel_size=1, norm_layer=norm_layer,
                activation_layer=nn.ReLU6))
        layers += [
            Conv2dNormActivation(hidden_dim, hidden_dim, stride=stride,
                                 groups=hidden_dim, norm_layer=norm_layer,
                                 activation_layer=nn.ReLU6),
            nn.Conv2d(hidden_dim, oup, 1, 1, 0, bias=False),
            norm_layer(oup),
        ]
        self.conv = nn.Sequential(*layers)
        self.out_channels = oup
        self._is_cn = stride > 1

    def forward(self, x: Any) -> Any:
        if self.use_res_connect:
            return x + self.conv(x)
        return self.conv(x)


class MobileNetV2(nn.Module):
    """MobileNetV2 (``torchvision.models.MobileNetV2``).

    Children: ``features`` (stem ``Conv2dNormActivation``, the inverted
    residual blocks, last 1x1 ``Conv2dNormActivation``) and ``classifier``
    (``Dropout``, ``Linear``). Forward: features, ``adaptive_avg_pool2d``
    to 1x1, ``flatten``, classifier.

    Args:
        num_classes: output logits.
        width_mult: multiplier of every channel count.
        inverted_residual_setting: rows ``[t, c, n, s]`` (expansion,
            channels, repeats, first stride); torchvision's ImageNet setting
            by default.
        round_nearest: channel counts are rounded to multiples of this (1
            turns rounding off).
        block: block factory (``InvertedResidual``).
        norm_layer: normalisation factory (``nn.BatchNorm2d``).
        dropout: dropout probability before the last ``Linear``.

    Shape:
        (N, 3, H, W) -> (N, num_classes).

    Raises:
        ValueError: an empty setting or rows that are not 4 long.
    """

    def __init__(self, num_classes: int = 1000, width_mult: float = 1.0,
                 inverted_residual_setting: Optional[
                     Sequence[Sequence[int]]] = None,
                 round_nearest: int = 8,
                 block: Optional[Callable[..., nn.Module]] = None,
                 norm_layer: Optional[Callable[..., nn.Module]] = None,
                 dropout: float = 0.2) -> None:
        super().__init__()
        if block is None:
            block = InvertedResidual
        if norm_layer is None:
            norm_layer = nn.BatchNorm2d
        input_channel = 32
        last_channel = 1280
        if inverted_residual_setting is None:
            inverted_residual_setting = [
                # t, c, n, s
                [1, 16, 1, 1],
                [6, 24, 2, 2],
                [6, 32, 3, 2],
                [6, 64, 4, 2],
                [6, 96, 3, 1],
                [6, 160, 3, 2],
                [6, 320, 1, 1],
            ]
        if (len(inverted_residual_setting) == 0
                or len(inverted_residual_setting[0]) != 4):
            raise ValueError(
                f"MobileNetV2 inverted_residual_setting: expected a non-empty "
                f"list of [t, c, n, s] rows (4 values each), got "
                f"{inverted_residual_setting!r}")
        input_channel = _make_divisible(input_channel * width_mult,
                                        round_nearest)
        self.last_channel = _make_divisible(
            last_channel * max(1.0, width_mult), round_nearest)
        features: list[nn.Module] = [Conv2dNormActivation(
            3, input_channel, stride=2, norm_layer=norm_layer,
            activation_layer=nn.ReLU6)]
        for t, c, n, s in inverted_residual_setting:
            output_channel = _make_divisible(c * width_mult, round_nearest)
            for i in range(n):
                features.append(block(input_channel, output_channel,
                                      s if i == 0 else 1, expand_ratio=t,
                                      norm_layer=norm_layer))
                input_channel = output_channel
        features.append(Conv2dNormActivation(
            input_channel, self.last_channel, kernel_size=1,
            norm_layer=norm_layer, activation_layer=nn.ReLU6))
        self.features = nn.Sequential(*features)
        self.classifier = nn.Sequential(
            nn.Dropout(p=dropout),
            nn.Linear(self.last_channel, num_classes),
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
        x = F.adaptive_avg_pool2d(x, (1, 1))
        x = _functions.flatten(x, 1)
        return self.classifier(x)

    def forward(self, x: Any) -> Any:
        return self._forward_impl(x)


@register_model()
def mobilenet_v2(*, weights: Any = None, progress: bool = True,
                 **kwargs: Any) -> MobileNetV2:
    """MobileNetV2 (``torchvision.models.mobilenet_v2``).

    Args:
        weights: None (random initialisation); a ``MobileNet_V2_Weights``
            member or its name (``"IMAGENET1K_V1"``, ``"DEFAULT"``, ...); or
            the path of a local checkpoint with the model's keys (see
            :func:`featx.models.resnet18`).
        progress: show a download progress bar on stderr.
        **kwargs: passed to :class:`MobileNetV2` (``num_classes``,
            ``width_mult``, ``round_nearest``, ``dropout``, ...).

    Returns:
        A :class:`MobileNetV2` in training mode.

    Shape:
        (N, 3, H, W) -> (N, num_classes).

    Raises:
        ValueError: unknown weights name or a ``num_classes`` that differs
            from the weights' categories.
        FileNotFoundError: a weights path that does not exist.
    """
    w = resolve_weights(weights, MobileNet_V2_Weights, kwargs)
    model = MobileNetV2(**kwargs)
    return w.load_into(model, progress)
