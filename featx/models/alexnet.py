"""AlexNet (``torchvision.models.alexnet``) on featx.nn.

Same module tree, ``state_dict`` keys and forward order as torchvision 0.29,
so node names (``features.0`` .. ``features.12``, ``avgpool``, ``flatten``,
``classifier.0`` .. ``classifier.6``) and weights are interchangeable.
"""
from __future__ import annotations

from typing import Any

from .. import _functions, nn
from ._api import register_model

__all__ = ["AlexNet", "alexnet"]


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


def _no_weights(weights: Any) -> None:
    if weights is not None:
        raise NotImplementedError(
            "pretrained weights are not supported yet; load a state_dict "
            "with load_state_dict")


@register_model()
def alexnet(*, weights: Any = None, progress: bool = True,
            **kwargs: Any) -> AlexNet:
    """AlexNet, ``torchvision.models.alexnet``.

    Args:
        weights: must be ``None`` for now.
        progress: accepted for torchvision compatibility.
        **kwargs: passed to :class:`AlexNet` (``num_classes``, ``dropout``).

    Returns:
        A randomly initialised :class:`AlexNet` in training mode.

    Shape:
        (N, 3, H, W) -> (N, num_classes).

    Raises:
        NotImplementedError: ``weights`` is not None.
    """
    _no_weights(weights)
    return AlexNet(**kwargs)
