"""AlexNet (``torchvision.models.alexnet``) on featx.nn.

Same module tree, ``state_dict`` keys and forward order as torchvision 0.29,
so node names (``features.0`` .. ``features.12``, ``avgpool``, ``flatten``,
``classifier.0`` .. ``classifier.6``) and weights are interchangeable.
"""
from __future__ import annotations

from typing import Any

from .. import _functions, nn
from ._api import register_model
from ._weights import WeightsEnum, get_model_weights, resolve_weights

__all__ = ["AlexNet", "AlexNet_Weights", "alexnet"]

# torchvision's weights enum (``torchvision.models.AlexNet_Weights``), built
# from featx/models/weights.json by featx.models._weights.
AlexNet_Weights: type[WeightsEnum] = get_model_weights("alexnet")


class AlexNet(nn.Module):
    """Five convolutions and three fully connected layers
    (``torchvision.models.AlexNet``).

    Weights keep the layers' default initialisation, as in torchvision.

    Args:
        num_classes: outputs of the last linear layer.
        dropout: drop probability of the two classifier Dropout layers.

    Shape:
        (N, 3, H, W) -> (N, num_classes); H, W >= 63.
    """

    def __init__(self, num_classes: int = 1000, dropout: float = 0.5) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 64, kernel_size=11, stride=4, padding=2),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(64, 192, kernel_size=5, padding=2),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(192, 384, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(384, 256, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(256, 256, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
        )
        self.avgpool = nn.AdaptiveAvgPool2d((6, 6))
        self.classifier = nn.Sequential(
            nn.Dropout(p=dropout),
            nn.Linear(256 * 6 * 6, 4096),
            nn.ReLU(inplace=True),
            nn.Dropout(p=dropout),
            nn.Linear(4096, 4096),
            nn.ReLU(inplace=True),
            nn.Linear(4096, num_classes),
        )

    def forward(self, x: Any) -> Any:
        x = self.features(x)
        x = self.avgpool(x)
        x = _functions.flatten(x, 1)
        return self.classifier(x)


@register_model()
def alexnet(*, weights: Any = None, progress: bool = True,
            **kwargs: Any) -> AlexNet:
    """AlexNet, ``torchvision.models.alexnet``.

    Args:
        weights: None (random initialisation); an ``AlexNet_Weights``
            member (``AlexNet_Weights.DEFAULT``); its name
            (``"IMAGENET1K_V1"``, ``"AlexNet_Weights.IMAGENET1K_V1"``,
            ``"DEFAULT"``); or the path of a local checkpoint (.pth/.pt,
            .safetensors, .npz) with the model's ``state_dict()`` keys.
            Enum weights are read from torch's cache
            (``$TORCH_HOME/hub/checkpoints``, default
            ``~/.cache/torch/hub/checkpoints``) or downloaded into it.
        progress: show a download progress bar on stderr.
        **kwargs: passed to :class:`AlexNet` (``num_classes``, ``dropout``).
            The deprecated ``pretrained=True`` means
            ``weights="IMAGENET1K_V1"`` and warns (``UserWarning``), as in
            torchvision.

    Returns:
        An :class:`AlexNet` in training mode, with the weights loaded if
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
    w = resolve_weights(weights, AlexNet_Weights, kwargs)
    return w.load_into(AlexNet(**kwargs), progress)
