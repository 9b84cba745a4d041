"""DenseNet-121/161/169/201 (``torchvision.models.densenet``) on featx.nn.

Same module tree, ``state_dict`` keys, forward order and initialisation as
torchvision 0.29. Every dense layer concatenates all earlier feature maps of
its block (node ``features.denseblockB.denselayerL.cat``) and every block
concatenates them once more at its end (``features.denseblockB.cat``),
which is what torchvision's FX trace records.

``memory_efficient`` is accepted for compatibility and has no effect: it
selects gradient checkpointing in torch, and featx computes no gradients.
"""
from __future__ import annotations

import re
from collections import OrderedDict
from typing import Any

from .. import _functions, nn
from ..nn import functional as F
from ._api import register_model
from ._weights import (ResolvedWeights, WeightsEnum, get_model_weights,
                       resolve_weights)

__all__ = ["DenseNet", "DenseNet121_Weights", "DenseNet161_Weights",
           "DenseNet169_Weights", "DenseNet201_Weights", "densenet121",
           "densenet161", "densenet169", "densenet201"]

# torchvision's weights enums (``torchvision.models.DenseNet121_Weights``,
# ...), built from featx/models/weights.json by featx.models._weights.
DenseNet121_Weights: type[WeightsEnum] = get_model_weights("densenet121")
DenseNet161_Weights: type[WeightsEnum] = get_model_weights("densenet161")
DenseNet169_Weights: type[WeightsEnum] = get_model_weights("densenet169")
DenseNet201_Weights: type[WeightsEnum] = get_model_weights("densenet201")


class _DenseLayer(nn.Module):
    """BN-ReLU-1x1 conv (to ``bn_size * growth_rate`` channels), then
    BN-ReLU-3x3 conv (to ``growth_rate``), on the concatenation of the
    inputs (``torchvision.models.densenet._DenseLayer``).

    Args:
        num_input_features: channels of the concatenated inputs.
        growth_rate: output channels.
        bn_size: bottleneck width factor.
        drop_rate: dropout probability after the 3x3 conv (0: none).
        memory_efficient: accepted; no effect in featx.

    Shape:
        list of (N, C_i, H, W) with sum(C_i) = num_input_features (or one
        array) -> (N, growth_rate, H, W).
    """

    def __init__(self, num_input_features: int, growth_rate: int,
                 bn_size: int, drop_rate: float,
                 memory_efficient: bool = False) -> None:
        super().__init__()
        self.norm1 = nn.BatchNorm2d(num_input_features)
        self.relu1 = nn.ReLU(inplace=True)
        self.conv1 = nn.Conv2d(num_input_features, bn_size * growth_rate,
                               kernel_size=1, stride=1, bias=False)
        self.norm2 = nn.BatchNorm2d(bn_size * growth_rate)
        self.relu2 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(bn_size * growth_rate, growth_rate,
                               kernel_size=3, stride=1, padding=1,
                               bias=False)
        self.drop_rate = float(drop_rate)
        self.memory_efficient = memory_efficient

    def bn_function(self, inputs: list[Any]) -> Any:
        """The 1x1 bottleneck on the concatenated inputs."""
        concated_features = _functions.cat(inputs, 1)
        return self.conv1(self.relu1(self.norm1(concated_features)))

    def forward(self, input: Any) -> Any:
        # A block passes the list of all earlier features; a single array
        # is treated as a list of one (torch checks isinstance(Tensor)).
        if isinstance(input, (list, tuple)):
            prev_features = list(input)
        else:
            prev_features = [input]
        bottleneck_output = self.bn_function(prev_features)
        new_features = self.conv2(self.relu2(self.norm2(bottleneck_output)))
        if self.drop_rate > 0:
            new_features = F.dropout(new_features, p=self.drop_rate,
                                     training=self.training)
        return new_features


class _DenseBlock(nn.ModuleDict):
    """``num_layers`` dense layers, each fed all earlier outputs
    (``torchvision.models.densenet._DenseBlock``).

    Shape:
        (N, C, H, W) -> (N, C + num_layers * growth_rate, H, W).
    """

    def __init__(self, num_layers: int, num_input_features: int,
                 bn_size: int, growth_rate: int, drop_rate: float,
                 memory_efficient: bool = False) -> None:
        super().__init__()
        for i in range(num_layers):
            layer = _DenseLayer(
                num_input_features + i * growth_rate,
                growth_rate=growth_rate, bn_size=bn_size,
                drop_rate=drop_rate, memory_efficient=memory_efficient)
            self.add_module(f"denselayer{i + 1}", layer)

    def forward(self, init_features: Any) -> Any:
        features = [init_features]
        for layer in self.values():
            features.append(layer(features))
        return _functions.cat(features, 1)


class _Transition(nn.Sequential):
    """BN-ReLU-1x1 conv then 2x2 average pool between dense blocks
    (``torchvision.models.densenet._Transition``).

    Shape:
        (N, num_input_features, H, W) -> (N, num_output_features, H/2, W/2).
    """

    def __init__(self, num_input_features: int,
                 num_output_features: int) -> None:
        super().__init__()
        self.norm = nn.BatchNorm2d(num_input_features)
        self.relu = nn.ReLU(inplace=True)
        self.conv = nn.Conv2d(num_input_features, num_output_features,
                              kernel_size=1, stride=1, bias=False)
        self.pool = nn.AvgPool2d(kernel_size=2, stride=2)


class DenseNet(nn.Module):
    """DenseNet-BC (``torchvision.models.DenseNet``).

    Convs are Kaiming-normal initialised (fan-in), BN weights 1 and biases
    0, the classifier bias 0 (its weight keeps Linear's default).

    Args:
        growth_rate: channels each dense layer adds (k in the paper).
        block_config: number of layers in each of the four blocks.
        num_init_features: channels of the stem conv.
        bn_size: bottleneck width = bn_size * growth_rate.
        drop_rate: dropout after every dense layer (0: none).
        num_classes: outputs of ``classifier``.
        memory_efficient: accepted for torchvision compatibility; no effect
            (torch uses it to checkpoint activations for the backward pass).

    Shape:
        (N, 3, H, W) -> (N, num_classes); H, W >= 29.
    """

    def __init__(self, growth_rate: int = 32,
                 block_config: tuple[int, int, int, int] = (6, 12, 24, 16),
                 num_init_features: int = 64, bn_size: int = 4,
                 drop_rate: float = 0, num_classes: int = 1000,
                 memory_efficient: bool = False) -> None:
        super().__init__()
        self.features = nn.Sequential(OrderedDict([
            ("conv0", nn.Conv2d(3, num_init_features, kernel_size=7,
                                stride=2, padding=3, bias=False)),
            ("norm0", nn.BatchNorm2d(num_init_features)),
            ("relu0", nn.ReLU(inplace=True)),
            ("pool0", nn.MaxPool2d(kernel_size=3, stride=2, padding=1)),
        ]))
        num_features = num_init_features
        for i, num_layers in enumerate(block_config):
            block = _DenseBlock(
                num_layers=num_layers, num_input_features=num_features,
                bn_size=bn_size, growth_rate=growth_rate,
                drop_rate=drop_rate, memory_efficient=memory_efficient)
            self.features.add_module(f"denseblock{i + 1}", block)
            num_features = num_features + num_layers * growth_rate
            if i != len(block_config) - 1:
                trans = _Transition(num_input_features=num_features,
                                    num_output_features=num_features // 2)
                self.features.add_module(f"transition{i + 1}", trans)
                num_features = num_features // 2
        self.features.add_module("norm5", nn.BatchNorm2d(num_features))
        self.classifier = nn.Linear(num_features, num_classes)

        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)
            elif isinstance(m, nn.Linear):
                nn.init.constant_(m.bias, 0)

    def forward(self, x: Any) -> Any:
        features = self.features(x)
        out = F.relu(features, inplace=True)
        out = F.adaptive_avg_pool2d(out, (1, 1))
        out = _functions.flatten(out, 1)
        return self.classifier(out)


# Keys of checkpoints saved before module names could not hold dots:
# "features.denseblock1.denselayer1.norm.1.weight" is today's
# "features.denseblock1.denselayer1.norm1.weight". torchvision's own DenseNet
# files still use them.
_OLD_LAYER_KEY = re.compile(
    r"^(.*denselayer\d+\.(?:norm|relu|conv))\."
    r"([12]\.(?:weight|bias|running_mean|running_var))$")


def _remap_old_keys(state_dict: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``state_dict`` with old-style dense-layer keys
    (``norm.1.weight``) renamed to the current ones (``norm1.weight``)."""
    out = dict(state_dict)
    for key in list(out):
        m = _OLD_LAYER_KEY.match(key)
        if m:
            out[m.group(1) + m.group(2)] = out.pop(key)
    return out


def _load_weights(model: DenseNet, weights: ResolvedWeights,
                  progress: bool) -> DenseNet:
    """Loads ``weights`` (an enum's file or a local checkpoint) into
    ``model``, accepting old-style dense-layer keys."""
    state_dict = weights.state_dict(progress)
    if state_dict is not None:
        model.load_state_dict(_remap_old_keys(state_dict))
    return model


def _densenet(growth_rate: int, block_config: tuple[int, int, int, int],
              num_init_features: int, weights: Any,
              enum: type[WeightsEnum], progress: bool,
              **kwargs: Any) -> DenseNet:
    """Builds a DenseNet and loads ``weights`` (resolved against ``enum``)."""
    w = resolve_weights(weights, enum, kwargs)
    model = DenseNet(growth_rate, block_config, num_init_features, **kwargs)
    return _load_weights(model, w, progress)


@register_model()
def densenet121(*, weights: Any = None, progress: bool = True,
                **kwargs: Any) -> DenseNet:
    """DenseNet-121 (k=32, blocks (6, 12, 24, 16), 64 stem channels),
    ``torchvision.models.densenet121``.

    Args:
        weights: None (random initialisation); a ``DenseNet121_Weights``
            member (``DenseNet121_Weights.DEFAULT``); its name
            (``"IMAGENET1K_V1"``, ``"DenseNet121_Weights.IMAGENET1K_V1"``,
            ``"DEFAULT"``); or the path of a local checkpoint (.pth/.pt,
            .safetensors, .npz) with the model's ``state_dict()`` keys.
            Old-style dense-layer keys (``denselayer1.norm.1.weight`` for
            ``denselayer1.norm1.weight``), which torchvision's DenseNet files
            use, are renamed before loading, as torchvision does. Enum
            weights are read from torch's cache
            (``$TORCH_HOME/hub/checkpoints``, default
            ``~/.cache/torch/hub/checkpoints``) or downloaded into it.
        progress: show a download progress bar on stderr.
        **kwargs: passed to :class:`DenseNet` (``num_classes``,
            ``bn_size``, ``drop_rate``, ``memory_efficient`` (no effect)).
            The deprecated ``pretrained=True`` means
            ``weights="IMAGENET1K_V1"`` and warns (``UserWarning``), as in
            torchvision.

    Returns:
        A :class:`DenseNet` in training mode, with the weights loaded if
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
    return _densenet(32, (6, 12, 24, 16), 64, weights, DenseNet121_Weights,
                     progress, **kwargs)


@register_model()
def densenet161(*, weights: Any = None, progress: bool = True,
                **kwargs: Any) -> DenseNet:
    """DenseNet-161 (k=48, blocks (6, 12, 36, 24), 96 stem channels);
    arguments as :func:`densenet121` (weights: the model's own enum)."""
    return _densenet(48, (6, 12, 36, 24), 96, weights,
                     DenseNet161_Weights, progress, **kwargs)


@register_model()
def densenet169(*, weights: Any = None, progress: bool = True,
                **kwargs: Any) -> DenseNet:
    """DenseNet-169 (k=32, blocks (6, 12, 32, 32), 64 stem channels);
    arguments as :func:`densenet121` (weights: the model's own enum)."""
    return _densenet(32, (6, 12, 32, 32), 64, weights,
                     DenseNet169_Weights, progress, **kwargs)


@register_model()
def densenet201(*, weights: Any = None, progress: bool = True,
                **kwargs: Any) -> DenseNet:
    """DenseNet-201 (k=32, blocks (6, 12, 48, 32), 64 stem channels);
    arguments as :func:`densenet121` (weights: the model's own enum)."""
    return _densenet(32, (6, 12, 48, 32), 64, weights,
                     DenseNet201_Weights, progress, **kwargs)
