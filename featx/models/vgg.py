"""VGG 11/13/16/19, with and without BatchNorm (``torchvision.models.vgg``).

Same module tree, ``state_dict`` keys, forward order and initialisation as
torchvision 0.29: ``features`` is one flat Sequential built from a
configuration list (numbers are 3x3 conv widths, ``"M"`` a 2x2 max pool).
"""
from __future__ import annotations

from typing import Any, Union

from .. import _functions, nn
from ._api import register_model

__all__ = ["VGG", "make_layers", "cfgs", "vgg11", "vgg11_bn", "vgg13",
           "vgg13_bn", "vgg16", "vgg16_bn", "vgg19", "vgg19_bn"]


class VGG(nn.Module):
    """VGG classifier on a given convolutional trunk
    (``torchvision.models.VGG``).

    Args:
        features: the convolutional trunk, e.g. from :func:`make_layers`;
            it must output 512 channels.
        num_classes: outputs of the last linear layer.
        init_weights: initialise as torchvision does (Kaiming-normal
            fan-out convs, N(0, 0.01) linears, zero biases, unit BN
            weights); ``False`` keeps the layers' default initialisation.
        dropout: drop probability of the two classifier Dropout layers.

    Shape:
        (N, 3, H, W) -> (N, num_classes); H, W >= 32 for the standard
        trunks (five 2x2 pools).
    """

    def __init__(self, features: nn.Module, num_classes: int = 1000,
                 init_weights: bool = True, dropout: float = 0.5) -> None:
        super().__init__()
        self.features = features
        self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
        self.classifier = nn.Sequential(
            nn.Linear(512 * 7 * 7, 4096),
            nn.ReLU(True),
            nn.Dropout(p=dropout),
            nn.Linear(4096, 4096),
            nn.ReLU(True),
            nn.Dropout(p=dropout),
            nn.Linear(4096, num_classes),
        )
        if init_weights:
            for m in self.modules():
                if isinstance(m, nn.Conv2d):
                    nn.init.kaiming_normal_(m.weight, mode="fan_out",
                                            nonlinearity="relu")
                    if m.bias is not None:
                        nn.init.constant_(m.bias, 0)
                elif isinstance(m, nn.BatchNorm2d):
                    nn.init.constant_(m.weight, 1)
                    nn.init.constant_(m.bias, 0)
                elif isinstance(m, nn.Linear):
                    nn.init.normal_(m.weight, 0, 0.01)
                    nn.init.constant_(m.bias, 0)

    def forward(self, x: Any) -> Any:
        x = self.features(x)
        x = self.avgpool(x)
        x = _functions.flatten(x, 1)
        return self.classifier(x)


def make_layers(cfg: list[Union[str, int]],
                batch_norm: bool = False) -> nn.Sequential:
    """The VGG trunk for a configuration (``torchvision.models.vgg``).

    Args:
        cfg: entries in order; an int is a 3x3 conv (padding 1) with that
            many output channels followed by [BatchNorm2d,] ReLU, ``"M"``
            a 2x2 stride-2 max pool. Input channels start at 3.
        batch_norm: insert a BatchNorm2d after every conv.

    Returns:
        A flat :class:`featx.nn.Sequential`.
    """
    layers: list[nn.Module] = []
    in_channels = 3
    for v in cfg:
        if v == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            continue
        width = int(v)
        layers.append(nn.Conv2d(in_channels, width, kernel_size=3,
                                padding=1))
        if batch_norm:
            layers.append(nn.BatchNorm2d(width))
        layers.append(nn.ReLU(inplace=True))
        in_channels = width
    return nn.Sequential(*layers)


#: The four configurations of the VGG paper (A = 11, B = 13, D = 16,
#: E = 19 weight layers).
cfgs: dict[str, list[Union[str, int]]] = {
    "A": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "B": [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512,
          512, "M"],
    "D": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512,
          "M", 512, 512, 512, "M"],
    "E": [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512,
          512, 512, "M", 512, 512, 512, 512, "M"],
}


def _vgg(cfg: str, batch_norm: bool, weights: Any, progress: bool,
         **kwargs: Any) -> VGG:
    if weights is not None:
        raise NotImplementedError(
            "pretrained weights are not supported yet; load a state_dict "
            "with load_state_dict")
    return VGG(make_layers(cfgs[cfg], batch_norm=batch_norm), **kwargs)


@register_model()
def vgg11(*, weights: Any = None, progress: bool = True,
          **kwargs: Any) -> VGG:
    """VGG-11 (configuration "A"), ``torchvision.models.vgg11``.

    Args:
        weights: must be ``None`` for now.
        progress: accepted for torchvision compatibility.
        **kwargs: passed to :class:`VGG` (``num_classes``,
            ``init_weights``, ``dropout``).

    Returns:
        A randomly initialised :class:`VGG` in training mode.

    Shape:
        (N, 3, H, W) -> (N, num_classes).

    Raises:
        NotImplementedError: ``weights`` is not None.
    """
    return _vgg("A", False, weights, progress, **kwargs)


@register_model()
def vgg11_bn(*, weights: Any = None, progress: bool = True,
             **kwargs: Any) -> VGG:
    """VGG-11 with BatchNorm; arguments as :func:`vgg11`."""
    return _vgg("A", True, weights, progress, **kwargs)


@register_model()
def vgg13(*, weights: Any = None, progress: bool = True,
          **kwargs: Any) -> VGG:
    """VGG-13 (configuration "B"); arguments as :func:`vgg11`."""
    return _vgg("B", False, weights, progress, **kwargs)


@register_model()
def vgg13_bn(*, weights: Any = None, progress: bool = True,
             **kwargs: Any) -> VGG:
    """VGG-13 with BatchNorm; arguments as :func:`vgg11`."""
    return _vgg("B", True, weights, progress, **kwargs)


@register_model()
def vgg16(*, weights: Any = None, progress: bool = True,
          **kwargs: Any) -> VGG:
    """VGG-16 (configuration "D"); arguments as :func:`vgg11`."""
    return _vgg("D", False, weights, progress, **kwargs)


@register_model()
def vgg16_bn(*, weights: Any = None, progress: bool = True,
             **kwargs: Any) -> VGG:
    """VGG-16 with BatchNorm; arguments as :func:`vgg11`."""
    return _vgg("D", True, weights, progress, **kwargs)


@register_model()
def vgg19(*, weights: Any = None, progress: bool = True,
          **kwargs: Any) -> VGG:
    """VGG-19 (configuration "E"); arguments as :func:`vgg11`."""
    return _vgg("E", False, weights, progress, **kwargs)


@register_model()
def vgg19_bn(*, weights: Any = None, progress: bool = True,
             **kwargs: Any) -> VGG:
    """VGG-19 with BatchNorm; arguments as :func:`vgg11`."""
    return _vgg("E", True, weights, progress, **kwargs)
