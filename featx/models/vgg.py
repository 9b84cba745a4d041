"""VGG 11/13/16/19, with and without BatchNorm (``torchvision.models.vgg``).

Same module tree, ``state_dict`` keys, forward order and initialisation as
torchvision 0.29: ``features`` is one flat Sequential built from a
configuration list (numbers are 3x3 conv widths, ``"M"`` a 2x2 max pool).
"""
from __future__ import annotations

from typing import Any, Union

from .. import _functions, nn
from ._api import register_model
from ._weights import (ResolvedWeights, WeightsEnum, get_model_weights,
                       resolve_weights)

__all__ = ["VGG", "VGG11_Weights", "VGG11_BN_Weights", "VGG13_Weights",
           "VGG13_BN_Weights", "VGG16_Weights", "VGG16_BN_Weights",
           "VGG19_Weights", "VGG19_BN_Weights", "vgg11", "vgg11_bn", "vgg13",
           "vgg13_bn", "vgg16", "vgg16_bn", "vgg19", "vgg19_bn"]

# torchvision's weights enums (``torchvision.models.VGG16_Weights``, ...),
# built from featx/models/weights.json by featx.models._weights.
VGG11_Weights: type[WeightsEnum] = get_model_weights("vgg11")
VGG11_BN_Weights: type[WeightsEnum] = get_model_weights("vgg11_bn")
VGG13_Weights: type[WeightsEnum] = get_model_weights("vgg13")
VGG13_BN_Weights: type[WeightsEnum] = get_model_weights("vgg13_bn")
VGG16_Weights: type[WeightsEnum] = get_model_weights("vgg16")
VGG16_BN_Weights: type[WeightsEnum] = get_model_weights("vgg16_bn")
VGG19_Weights: type[WeightsEnum] = get_model_weights("vgg19")
VGG19_BN_Weights: type[WeightsEnum] = get_model_weights("vgg19_bn")


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


def _vgg(cfg: str, batch_norm: bool, weights: Any,
         enum: type[WeightsEnum], progress: bool, **kwargs: Any) -> VGG:
    """Builds a VGG and loads ``weights`` (resolved against ``enum``)."""
    w: ResolvedWeights = resolve_weights(weights, enum, kwargs)
    if w:
        # Every parameter is about to be overwritten: skip the (slow)
        # initialisation, as torchvision does when given weights.
        kwargs["init_weights"] = False
    model = VGG(make_layers(cfgs[cfg], batch_norm=batch_norm), **kwargs)
    return w.load_into(model, progress)


@register_model()
def vgg11(*, weights: Any = None, progress: bool = True,
          **kwargs: Any) -> VGG:
    """VGG-11 (configuration "A"), ``torchvision.models.vgg11``.

    Args:
        weights: None (random initialisation); a ``VGG11_Weights`` member
            (``VGG11_Weights.DEFAULT``); its name (``"IMAGENET1K_V1"``,
            ``"VGG11_Weights.IMAGENET1K_V1"``, ``"DEFAULT"``); or the path
            of a local checkpoint (.pth/.pt, .safetensors, .npz) with the
            model's ``state_dict()`` keys. Enum weights are read from
            torch's cache (``$TORCH_HOME/hub/checkpoints``, default
            ``~/.cache/torch/hub/checkpoints``) or downloaded into it. The
            other builders take their own enum (``VGG16_BN_Weights``, ...);
            ``VGG16_Weights.IMAGENET1K_FEATURES`` has no categories, so
            ``num_classes`` is left to the caller; only its ``features``
            hold valid values (use it for feature extraction).
        progress: show a download progress bar on stderr.
        **kwargs: passed to :class:`VGG` (``num_classes``,
            ``init_weights`` (forced to False with weights), ``dropout``).
            The deprecated ``pretrained=True`` means
            ``weights="IMAGENET1K_V1"`` and warns (``UserWarning``), as in
            torchvision.

    Returns:
        A :class:`VGG` in training mode, with the weights loaded if given,
        else randomly initialised.

    Shape:
        (N, 3, H, W) -> (N, num_classes).

    Raises:
        ValueError: unknown weights name, or ``num_classes`` that differs
            from the weights' number of categories (1000).
        FileNotFoundError: a weights path that does not exist.
        RuntimeError: a checkpoint that does not fit the model
            (``load_state_dict``'s message).
        featx.hub.download.DownloadError: the file is neither cached nor
            downloadable; the message says where to put it (an OSError).
    """
    return _vgg("A", False, weights, VGG11_Weights, progress, **kwargs)


@register_model()
def vgg11_bn(*, weights: Any = None, progress: bool = True,
             **kwargs: Any) -> VGG:
    """VGG-11 with BatchNorm; arguments as :func:`vgg11`
    (weights: the model's own enum)."""
    return _vgg("A", True, weights, VGG11_BN_Weights, progress,
                **kwargs)


@register_model()
def vgg13(*, weights: Any = None, progress: bool = True,
          **kwargs: Any) -> VGG:
    """VGG-13 (configuration "B"); arguments as :func:`vgg11`
    (weights: the model's own enum)."""
    return _vgg("B", False, weights, VGG13_Weights, progress,
                **kwargs)


@register_model()
def vgg13_bn(*, weights: Any = None, progress: bool = True,
             **kwargs: Any) -> VGG:
    """VGG-13 with BatchNorm; arguments as :func:`vgg11`
    (weights: the model's own enum)."""
    return _vgg("B", True, weights, VGG13_BN_Weights, progress,
                **kwargs)


@register_model()
def vgg16(*, weights: Any = None, progress: bool = True,
          **kwargs: Any) -> VGG:
    """VGG-16 (configuration "D"); arguments as :func:`vgg11`
    (weights: the model's own enum)."""
    return _vgg("D", False, weights, VGG16_Weights, progress,
                **kwargs)


@register_model()
def vgg16_bn(*, weights: Any = None, progress: bool = True,
             **kwargs: Any) -> VGG:
    """VGG-16 with BatchNorm; arguments as :func:`vgg11`
    (weights: the model's own enum)."""
    return _vgg("D", True, weights, VGG16_BN_Weights, progress,
                **kwargs)


@register_model()
def vgg19(*, weights: Any = None, progress: bool = True,
          **kwargs: Any) -> VGG:
    """VGG-19 (configuration "E"); arguments as :func:`vgg11`
    (weights: the model's own enum)."""
    return _vgg("E", False, weights, VGG19_Weights, progress,
                **kwargs)


@register_model()
def vgg19_bn(*, weights: Any = None, progress: bool = True,
             **kwargs: Any) -> VGG:
    """VGG-19 with BatchNorm; arguments as :func:`vgg11`
    (weights: the model's own enum)."""
    return _vgg("E", True, weights, VGG19_BN_Weights, progress,
                **kwargs)
