"""SqueezeNet 1.0 and 1.1 (``torchvision.models.squeezenet``) on featx.nn.

Same module tree, ``state_dict`` keys, forward order and initialisation as
torchvision 0.29. Each Fire module records one ``cat`` node
(``features.3.cat``); the max pools use ``ceil_mode=True``.
"""
from __future__ import annotations

from typing import Any

from .. import _functions, nn
from ._api import register_model
from ._weights import WeightsEnum, get_model_weights, resolve_weights

__all__ = ["SqueezeNet", "SqueezeNet1_0_Weights",
           "SqueezeNet1_1_Weights", "squeezenet1_0", "squeezenet1_1"]

# torchvision's weights enums (``torchvision.models.SqueezeNet1_0_Weights``,
# ...), built from featx/models/weights.json by featx.models._weights.
SqueezeNet1_0_Weights: type[WeightsEnum] = get_model_weights("squeezenet1_0")
SqueezeNet1_1_Weights: type[WeightsEnum] = get_model_weights("squeezenet1_1")


class Fire(nn.Module):
    """1x1 squeeze conv, then 1x1 and 3x3 expand convs side by side,
    joined on channels (``torchvision.models.squeezenet.Fire``).

    Args:
        inplanes: input channels.
        squeeze_planes: channels after the squeeze conv.
        expand1x1_planes: channels of the 1x1 expand branch.
        expand3x3_planes: channels of the 3x3 expand branch.

    Shape:
        (N, inplanes, H, W) -> (N, expand1x1_planes + expand3x3_planes, H, W).
    """

    def __init__(self, inplanes: int, squeeze_planes: int,
                 expand1x1_planes: int, expand3x3_planes: int) -> None:
        super().__init__()
        self.inplanes = inplanes
        self.squeeze = nn.Conv2d(inplanes, squeeze_planes, kernel_size=1)
        self.squeeze_activation = nn.ReLU(inplace=True)
        self.expand1x1 = nn.Conv2d(squeeze_planes, expand1x1_planes,
                                   kernel_size=1)
        self.expand1x1_activation = nn.ReLU(inplace=True)
        self.expand3x3 = nn.Conv2d(squeeze_planes, expand3x3_planes,
                                   kernel_size=3, padding=1)
        self.expand3x3_activation = nn.ReLU(inplace=True)

    def forward(self, x: Any) -> Any:
        x = self.squeeze_activation(self.squeeze(x))
        left = self.expand1x1_activation(self.expand1x1(x))
        right = self.expand3x3_activation(self.expand3x3(x))
        return _functions.cat([left, right], 1)


class SqueezeNet(nn.Module):
    """SqueezeNet trunk and conv classifier
    (``torchvision.models.SqueezeNet``).

    Convs are Kaiming-uniform initialised, except the final 1x1 conv
    (N(0, 0.01)); all conv biases start at 0.

    Args:
        version: ``"1_0"`` or ``"1_1"``.
        num_classes: channels of the final conv = outputs.
        dropout: drop probability before the final conv.

    Shape:
        (N, 3, H, W) -> (N, num_classes); H, W >= 21 (1_0) / 17 (1_1).

    Raises:
        ValueError: unknown ``version``.
    """

    def __init__(self, version: str = "1_0", num_classes: int = 1000,
                 dropout: float = 0.5) -> None:
        super().__init__()
        self.num_classes = num_classes
        if version == "1_0":
            self.features = nn.Sequential(
                nn.Conv2d(3, 96, kernel_size=7, stride=2),
                nn.ReLU(inplace=True),
                nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True),
                Fire(96, 16, 64, 64),
                Fire(128, 16, 64, 64),
                Fire(128, 32, 128, 128),
                nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True),
                Fire(256, 32, 128, 128),
                Fire(256, 48, 192, 192),
                Fire(384, 48, 192, 192),
                Fire(384, 64, 256, 256),
                nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True),
                Fire(512, 64, 256, 256),
            )
        elif version == "1_1":
            self.features = nn.Sequential(
                nn.Conv2d(3, 64, kernel_size=3, stride=2),
                nn.ReLU(inplace=True),
                nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True),
                Fire(64, 16, 64, 64),
                Fire(128, 16, 64, 64),
                nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True),
                Fire(128, 32, 128, 128),
                Fire(256, 32, 128, 128),
                nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True),
                Fire(256, 48, 192, 192),
                Fire(384, 48, 192, 192),
                Fire(384, 64, 256, 256),
                Fire(512, 64, 256, 256),
            )
        else:
            raise ValueError(f"SqueezeNet version: expected '1_0' or '1_1', "
                             f"got {version!r}")
        final_conv = nn.Conv2d(512, self.num_classes, kernel_size=1)
        self.classifier = nn.Sequential(
            nn.Dropout(p=dropout), final_conv, nn.ReLU(inplace=True),
            nn.AdaptiveAvgPool2d((1, 1)))
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                if m is final_conv:
                    nn.init.normal_(m.weight, mean=0.0, std=0.01)
                else:
                    nn.init.kaiming_uniform_(m.weight)
                if m.bias is not None:
                    nn.init.constant_(m.bias, 0)

    def forward(self, x: Any) -> Any:
        x = self.features(x)
        x = self.classifier(x)
        return _functions.flatten(x, 1)


def _squeezenet(version: str, weights: Any, enum: type[WeightsEnum],
                progress: bool, **kwargs: Any) -> SqueezeNet:
    """Builds a SqueezeNet and loads ``weights`` (resolved against
    ``enum``)."""
    w = resolve_weights(weights, enum, kwargs)
    return w.load_into(SqueezeNet(version, **kwargs), progress)


@register_model()
def squeezenet1_0(*, weights: Any = None, progress: bool = True,
                  **kwargs: Any) -> SqueezeNet:
    """SqueezeNet 1.0, ``torchvision.models.squeezenet1_0``.

    Args:
        weights: None (random initialisation); a ``SqueezeNet1_0_Weights``
            member (``SqueezeNet1_0_Weights.DEFAULT``); its name
            (``"IMAGENET1K_V1"``, ``"SqueezeNet1_0_Weights.IMAGENET1K_V1"``,
            ``"DEFAULT"``); or the path of a local checkpoint (.pth/.pt,
            .safetensors, .npz) with the model's ``state_dict()`` keys.
            Enum weights are read from torch's cache
            (``$TORCH_HOME/hub/checkpoints``, default
            ``~/.cache/torch/hub/checkpoints``) or downloaded into it.
        progress: show a download progress bar on stderr.
        **kwargs: passed to :class:`SqueezeNet` (``num_classes``,
            ``dropout``). The deprecated ``pretrained=True`` means
            ``weights="IMAGENET1K_V1"`` and warns (``UserWarning``), as in
            torchvision.

    Returns:
        A :class:`SqueezeNet` in training mode, with the weights loaded if
        given, else randomly initialised.

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
    return _squeezenet("1_0", weights, SqueezeNet1_0_Weights, progress,
                       **kwargs)


@register_model()
def squeezenet1_1(*, weights: Any = None, progress: bool = True,
                  **kwargs: Any) -> SqueezeNet:
    """SqueezeNet 1.1 (about 2.4x less computation than 1.0, same
    accuracy); arguments as :func:`squeezenet1_0` (weights:
    ``SqueezeNet1_1_Weights``)."""
    return _squeezenet("1_1", weights, SqueezeNet1_1_Weights, progress,
                       **kwargs)
