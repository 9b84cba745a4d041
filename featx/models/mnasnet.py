"""MNASNet (B1 variant) (``torchvision.models.mnasnet``).

Same constructor arguments, attribute names, module tree, forward op order,
initialisation and ``state_dict`` keys/shapes as torchvision 0.29.1
(``layers.0`` ... ``layers.16``, ``layers.8.0.layers.3``, ``layers.9.1.add``,
``mean``, ``classifier.1``).
"""
from __future__ import annotations

from typing import Any

from .. import _functions, nn
from ._api import register_model
from ._config import check_stride
from ._weights import WeightsEnum, get_model_weights, resolve_weights

__all__ = ["MNASNet", "MNASNet0_5_Weights", "MNASNet0_75_Weights",
           "MNASNet1_0_Weights", "MNASNet1_3_Weights", "mnasnet0_5",
           "mnasnet0_75", "mnasnet1_0", "mnasnet1_3"]

# torchvision's weights enums, built from featx/models/weights.json.
MNASNet0_5_Weights: type[WeightsEnum] = get_model_weights("mnasnet0_5")
MNASNet0_75_Weights: type[WeightsEnum] = get_model_weights("mnasnet0_75")
MNASNet1_0_Weights: type[WeightsEnum] = get_model_weights("mnasnet1_0")
MNASNet1_3_Weights: type[WeightsEnum] = get_model_weights("mnasnet1_3")

# BatchNorm momentum of the TensorFlow reference (decay 0.9997).
_BN_MOMENTUM = 1 - 0.9997


class _InvertedResidual(nn.Module):
    """MNASNet block: 1x1 expansion, depthwise KxK, linear 1x1 projection
    (each with BatchNorm, ReLU after the first two); plus the input when
    the stride is 1 and channels are unchanged.

    Args:
        in_ch: input channels.
        out_ch: output channels.
        kernel_size: depthwise kernel, 3 or 5.
        stride: depthwise stride, 1 or 2.
        expansion_factor: hidden channels = ``in_ch * expansion_factor``.
        bn_momentum: BatchNorm momentum.

    Shape:
        (N, in_ch, H, W) -> (N, out_ch, H / stride, W / stride) (rounded
        up).

    Raises:
        ValueError: stride not 1/2 or kernel_size not 3/5.
    """

    def __init__(self, in_ch: int, out_ch: int, kernel_size: int,
                 stride: int, expansion_factor: int,
                 bn_momentum: float = 0.1) -> None:
        super().__init__()
        check_stride("MNASNet inverted residual", stride)
        if kernel_size not in (3, 5):
            raise ValueError(
                f"MNASNet inverted residual kernel_size: expected 3 or 5, "
                f"got {kernel_size}")
        mid_ch = in_ch * expansion_factor
        self.apply_residual = in_ch == out_ch and stride == 1
        self.layers = nn.Sequential(
            nn.Conv2d(in_ch, mid_ch, 1, bias=False),
            nn.BatchNorm2d(mid_ch, momentum=bn_momentum),
            nn.ReLU(inplace=True),
            nn.Conv2d(mid_ch, mid_ch, kernel_size, padding=kernel_size // 2,
                      stride=stride, groups=mid_ch, bias=False),
            nn.BatchNorm2d(mid_ch, momentum=bn_momentum),
            nn.ReLU(inplace=True),
            nn.Conv2d(mid_ch, out_ch, 1, bias=False),
            nn.BatchNorm2d(out_ch, momentum=bn_momentum),
        )

    def forward(self, input: Any) -> Any:
        if self.apply_residual:
            return self.layers(input) + input
        return self.layers(input)


def _stack(in_ch: int, out_ch: int, kernel_size: int, stride: int,
           exp_factor: int, repeats: int, bn_momentum: float
           ) -> nn.Sequential:
    """``repeats`` inverted residuals; only the first changes channels and
    applies ``stride``."""
    if repeats < 1:
        raise ValueError(
            f"MNASNet stack repeats: expected at least 1 block, got {repeats}")
    blocks = [_InvertedResidual(in_ch, out_ch, kernel_size, stride,
                                exp_factor, bn_momentum=bn_momentum)]
    for _ in range(1, repeats):
        blocks.append(_InvertedResidual(out_ch, out_ch, kernel_size, 1,
                                        exp_factor, bn_momentum=bn_momentum))
    return nn.Sequential(*blocks)


def _round_to_multiple_of(val: float, divisor: int,
                          round_up_bias: float = 0.9) -> int:
    """``val`` rounded to a multiple of ``divisor``, rounding up unless the
    lower multiple is within ``1 - round_up_bias`` of it ((83, 8) -> 80,
    (84, 8) -> 88)."""
    if not 0.0 < round_up_bias < 1.0:
        raise ValueError(
            f"MNASNet channel rounding round_up_bias: expected a value in "
            f"the open interval (0, 1), got {round_up_bias}")
    new_val = max(divisor, int(val + divisor / 2) // divisor * divisor)
    return new_val if new_val >= round_up_bias * val else new_val + divisor


def _get_depths(alpha: float) -> list[int]:
    """The eight stage depths scaled by ``alpha``, rounded to multiples of
    8."""
    depths = [32, 16, 24, 40, 80, 96, 192, 320]
    return [_round_to_multiple_of(d * alpha, 8) for d in depths]


class MNASNet(nn.Module):
    """MNASNet B1 (``torchvision.models.MNASNet``).

    Children: ``layers`` (stem convs 0-7, six inverted-residual stacks
    8-13, last 1x1 conv/BN/ReLU 14-16) and ``classifier`` (``Dropout``,
    ``Linear``). Forward: layers, mean over H and W, classifier.

    Args:
        alpha: depth multiplier, > 0.
        num_classes: output logits.
        dropout: dropout probability before the ``Linear``.

    Shape:
        (N, 3, H, W) -> (N, num_classes).

    Raises:
        ValueError: ``alpha <= 0``.
    """

    # torchvision's checkpoint format version (v1 checkpoints of alpha != 1
    # are not supported: featx state dicts carry no version metadata).
    _version = 2

    def __init__(self, alpha: float, num_classes: int = 1000,
                 dropout: float = 0.2) -> None:
        super().__init__()
        if alpha <= 0.0:
            raise ValueError(
                f"MNASNet alpha (depth multiplier): expected a value > 0, "
                f"got {alpha}")
        self.alpha = alpha
        self.num_classes = num_classes
        depths = _get_depths(alpha)
        m = _BN_MOMENTUM
        self.layers = nn.Sequential(
            nn.Conv2d(3, depths[0], 3, padding=1, stride=2, bias=False),
            nn.BatchNorm2d(depths[0], momentum=m),
            nn.ReLU(inplace=True),
            nn.Conv2d(depths[0], depths[0], 3, padding=1, stride=1,
                      groups=depths[0], bias=False),
            nn.BatchNorm2d(depths[0], momentum=m),
            nn.ReLU(inplace=True),
            nn.Conv2d(depths[0], depths[1], 1, padding=0, stride=1,
                      bias=False),
            nn.BatchNorm2d(depths[1], momentum=m),
            _stack(depths[1], depths[2], 3, 2, 3, 3, m),
            _stack(depths[2], depths[3], 5, 2, 3, 3, m),
            _stack(depths[3], depths[4], 5, 2, 6, 3, m),
            _stack(depths[4], depths[5], 3, 1, 6, 2, m),
            _stack(depths[5], depths[6], 5, 2, 6, 4, m),
            _stack(depths[6], depths[7], 3, 1, 6, 1, m),
            nn.Conv2d(depths[7], 1280, 1, padding=0, stride=1, bias=False),
            nn.BatchNorm2d(1280, momentum=m),
            nn.ReLU(inplace=True),
        )
        self.classifier = nn.Sequential(nn.Dropout(p=dropout, inplace=True),
                                        nn.Linear(1280, num_classes))

        for mod in self.modules():
            if isinstance(mod, nn.Conv2d):
                nn.init.kaiming_normal_(mod.weight, mode="fan_out",
                                        nonlinearity="relu")
                if mod.bias is not None:
                    nn.init.zeros_(mod.bias)
            elif isinstance(mod, nn.BatchNorm2d):
                nn.init.ones_(mod.weight)
                nn.init.zeros_(mod.bias)
            elif isinstance(mod, nn.Linear):
                nn.init.kaiming_uniform_(mod.weight, mode="fan_out",
                                         nonlinearity="sigmoid")
                nn.init.zeros_(mod.bias)

    def forward(self, x: Any) -> Any:
        x = self.layers(x)
        x = _functions.mean(x, [2, 3])
        return self.classifier(x)


def _mnasnet(alpha: float, weights: Any, weights_enum: type[WeightsEnum],
             progress: bool, kwargs: dict) -> MNASNet:
    w = resolve_weights(weights, weights_enum, kwargs)
    model = MNASNet(alpha, **kwargs)
    return w.load_into(model, progress)


@register_model()
def mnasnet0_5(*, weights: Any = None, progress: bool = True,
               **kwargs: Any) -> MNASNet:
    """MNASNet with depth multiplier 0.5 (``torchvision.models.mnasnet0_5``).

    Args:
        weights: None (random initialisation); a ``MNASNet0_5_Weights``
            member or its name; or the path of a local checkpoint (see
            :func:`featx.models.resnet18`).
        progress: show a download progress bar on stderr.
        **kwargs: passed to :class:`MNASNet` (``num_classes``, ``dropout``).

    Returns:
        An :class:`MNASNet` in training mode.

    Shape:
        (N, 3, H, W) -> (N, num_classes).

    Raises:
        ValueError: unknown weights name or a ``num_classes`` that differs
            from the weights' categories.
        FileNotFoundError: a weights path that does not exist.
    """
    return _mnasnet(0.5, weights, MNASNet0_5_Weights, progress, kwargs)


@register_model()
def mnasnet0_75(*, weights: Any = None, progress: bool = True,
                **kwargs: Any) -> MNASNet:
    """MNASNet with depth multiplier 0.75 (``torchvision.models.
    mnasnet0_75``); arguments as :func:`mnasnet0_5`."""
    return _mnasnet(0.75, weights, MNASNet0_75_Weights, progress, kwargs)


@register_model()
def mnasnet1_0(*, weights: Any = None, progress: bool = True,
               **kwargs: Any) -> MNASNet:
    """MNASNet with depth multiplier 1.0 (``torchvision.models.mnasnet1_0``);
    arguments as :func:`mnasnet0_5`."""
    return _mnasnet(1.0, weights, MNASNet1_0_Weights, progress, kwargs)


@register_model()
def mnasnet1_3(*, weights: Any = None, progress: bool = True,
               **kwargs: Any) -> MNASNet:
    """MNASNet with depth multiplier 1.3 (``torchvision.models.mnasnet1_3``);
    arguments as :func:`mnasnet0_5`."""
    return _mnasnet(1.3, weights, MNASNet1_3_Weights, progress, kwargs)
