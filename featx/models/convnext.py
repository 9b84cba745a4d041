"""ConvNeXt Tiny/Small/Base/Large (``torchvision.models.convnext``).

Same constructor arguments, attribute names, module tree, forward op order,
initialisation and ``state_dict`` keys/shapes as torchvision 0.29.1, so
torchvision checkpoints load with ``load_state_dict`` and feature-extraction
node names match. :class:`LayerNorm2d` and :class:`CNBlock` are defined
here, outside ``featx.nn``, so they are traced through like in torchvision:
``features.2.0.permute``, ``features.2.0.features_2_0_weight`` (a parameter
read), ``features.2.0.layer_norm``, ``features.1.0.features_1_0_layer_scale``,
``features.1.0.mul``, ``features.1.0.stochastic_depth``,
``features.1.0.add``, ...
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import Any, Optional

import numpy as np

from .. import _functions, nn
from ..nn import functional as F
from ..ops import Conv2dNormActivation, Permute, StochasticDepth
from ._api import register_model
from ._config import check_block_configs
from ._weights import (ResolvedWeights, WeightsEnum, get_model_weights,
                       resolve_weights)

# torchvision's __all__ (CNBlock, CNBlockConfig and LayerNorm2d are
# importable from this module, as in torchvision).
__all__ = ["ConvNeXt", "ConvNeXt_Tiny_Weights", "ConvNeXt_Small_Weights",
           "ConvNeXt_Base_Weights", "ConvNeXt_Large_Weights",
           "convnext_tiny", "convnext_small", "convnext_base",
           "convnext_large"]

ModuleFactory = Callable[..., nn.Module]

# torchvision's weights enums, built from featx/models/weights.json.
ConvNeXt_Tiny_Weights: type[WeightsEnum] = get_model_weights("convnext_tiny")
ConvNeXt_Small_Weights: type[WeightsEnum] = get_model_weights(
    "convnext_small")
ConvNeXt_Base_Weights: type[WeightsEnum] = get_model_weights("convnext_base")
ConvNeXt_Large_Weights: type[WeightsEnum] = get_model_weights(
    "convnext_large")


class LayerNorm2d(nn.LayerNorm):
    """LayerNorm over the channel dim of an NCHW array.

    Moves channels last, normalises over them (``F.layer_norm`` with this
    module's ``normalized_shape``, ``weight``, ``bias`` and ``eps``) and
    moves them back. Arguments as ``featx.nn.LayerNorm``.

    Shape:
        (N, C, H, W) -> (N, C, H, W), with ``normalized_shape == (C,)``.
    """

    def forward(self, x: Any) -> Any:
        x = _functions.permute(x, (0, 2, 3, 1))
        x = F.layer_norm(x, self.normalized_shape, self.weight, self.bias,
                         self.eps)
        x = _functions.permute(x, (0, 3, 1, 2))
        return x


class CNBlock(nn.Module):
    """ConvNeXt block: depthwise 7x7, channels-last LayerNorm, Linear to
    4*dim, GELU, Linear back, scaled by ``layer_scale`` (a learnable
    per-channel parameter), stochastic depth, plus the input.

    Args:
        dim: channels.
        layer_scale: initial value of every ``layer_scale`` entry.
        stochastic_depth_prob: row drop probability of the branch in
            training mode, a fraction.
        norm_layer: channels-last normalisation class;
            ``nn.LayerNorm`` with eps 1e-6 by default.

    Shape:
        (N, dim, H, W) -> (N, dim, H, W).
    """

    def __init__(self, dim: int, layer_scale: float,
                 stochastic_depth_prob: float,
                 norm_layer: Optional[ModuleFactory] = None) -> None:
        super().__init__()
        if norm_layer is None:
            norm_layer = partial(nn.LayerNorm, eps=1e-6)
        self.block = nn.Sequential(
            nn.Conv2d(dim, dim, kernel_size=7, padding=3, groups=dim,
                      bias=True),
            Permute([0, 2, 3, 1]),
            norm_layer(dim),
            nn.Linear(in_features=dim, out_features=4 * dim, bias=True),
            nn.GELU(),
            nn.Linear(in_features=4 * dim, out_features=dim, bias=True),
            Permute([0, 3, 1, 2]),
        )
        self.layer_scale = nn.Parameter(
            np.full((dim, 1, 1), layer_scale, dtype=np.float32))
        self.stochastic_depth = StochasticDepth(stochastic_depth_prob, "row")

    def forward(self, input: Any) -> Any:
        result = self.layer_scale * self.block(input)
        result = self.stochastic_depth(result)
        result += input
        return result


class CNBlockConfig:
    """One ConvNeXt stage: ``num_layers`` blocks of ``input_channels``,
    followed by a downsampling layer to ``out_channels`` unless that is
    ``None`` (the last stage)."""

    def __init__(self, input_channels: int, out_channels: Optional[int],
                 num_layers: int) -> None:
        self.input_channels = input_channels
        self.out_channels = out_channels
        self.num_layers = num_layers

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(input_channels="
                f"{self.input_channels}, out_channels={self.out_channels}, "
                f"num_layers={self.num_layers})")


class ConvNeXt(nn.Module):
    """ConvNeXt trunk and classifier (``torchvision.models.ConvNeXt``).

    ``features``: a 4x4 stride-4 patchify stem with LayerNorm2d, then per
    stage a ``Sequential`` of blocks and (except after the last stage) a
    ``Sequential(LayerNorm2d, 2x2 stride-2 Conv2d)`` downsampler.
    ``classifier``: LayerNorm2d, Flatten, Linear. The stochastic-depth
    probability grows linearly from 0 (first block) to
    ``stochastic_depth_prob`` (last block).

    Args:
        block_setting: the stages (:class:`CNBlockConfig`).
        stochastic_depth_prob: the last block's drop probability.
        layer_scale: initial value of the blocks' ``layer_scale``.
        num_classes: outputs of the classifier.
        block: block class, called as ``block(dim, layer_scale, sd_prob)``;
            :class:`CNBlock` by default.
        norm_layer: normalisation of the stem, downsamplers and classifier;
            :class:`LayerNorm2d` with eps 1e-6 by default.
        **kwargs: accepted and ignored, as in torchvision.

    Shape:
        (N, 3, H, W) -> (N, num_classes); H and W of at least 32.

    Raises:
        ValueError: empty ``block_setting``.
        TypeError: ``block_setting`` is not a sequence of CNBlockConfig.
    """

    def __init__(self, block_setting: Sequence[CNBlockConfig],
                 stochastic_depth_prob: float = 0.0,
                 layer_scale: float = 1e-6, num_classes: int = 1000,
                 block: Optional[ModuleFactory] = None,
                 norm_layer: Optional[ModuleFactory] = None,
                 **kwargs: Any) -> None:
        super().__init__()
        check_block_configs("block_setting", block_setting, (CNBlockConfig,))
        if block is None:
            block = CNBlock
        if norm_layer is None:
            norm_layer = partial(LayerNorm2d, eps=1e-6)

        layers: list[nn.Module] = [Conv2dNormActivation(
            3, block_setting[0].input_channels, kernel_size=4, stride=4,
            padding=0, norm_layer=norm_layer, activation_layer=None,
            bias=True)]

        total_blocks = sum(c.num_layers for c in block_setting)
        block_id = 0
        for cnf in block_setting:
            stage: list[nn.Module] = []
            for _ in range(cnf.num_layers):
                # total_blocks == 1 divides by zero, as in torchvision.
                sd_prob = (stochastic_depth_prob * block_id
                           / (total_blocks - 1.0))
                stage.append(block(cnf.input_channels, layer_scale, sd_prob))
                block_id += 1
            layers.append(nn.Sequential(*stage))
            if cnf.out_channels is not None:
                layers.append(nn.Sequential(
                    norm_layer(cnf.input_channels),
                    nn.Conv2d(cnf.input_channels, cnf.out_channels,
                              kernel_size=2, stride=2),
                ))

        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(1)

        last = block_setting[-1]
        last_channels = (last.out_channels if last.out_channels is not None
                         else last.input_channels)
        self.classifier = nn.Sequential(
            norm_layer(last_channels), nn.Flatten(1),
            nn.Linear(last_channels, num_classes))

        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.trunc_normal_(m.weight, std=0.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def _forward_impl(self, x: Any) -> Any:
        x = self.features(x)
        x = self.avgpool(x)
        x = self.classifier(x)
        return x

    def forward(self, x: Any) -> Any:
        return self._forward_impl(x)


def _convnext(block_setting: list[CNBlockConfig],
              stochastic_depth_prob: float, weights: ResolvedWeights,
              progress: bool, **kwargs: Any) -> ConvNeXt:
    """Builds the model and loads ``weights`` (from resolve_weights)."""
    model = ConvNeXt(block_setting,
                     stochastic_depth_prob=stochastic_depth_prob, **kwargs)
    return weights.load_into(model, progress)


@register_model()
def convnext_tiny(*, weights: Any = None, progress: bool = True,
                  **kwargs: Any) -> ConvNeXt:
    """ConvNeXt-T (channels 96-768, depths 3-3-9-3, stochastic depth 0.1),
    ``torchvision.models.convnext_tiny``.

    Args:
        weights: None (random initialisation); a ``ConvNeXt_Tiny_Weights``
            member or its name (``"IMAGENET1K_V1"``, ``"DEFAULT"``); or the
            path of a local checkpoint with the model's keys (see
            :func:`featx.models.resnet18`).
        progress: show a download progress bar on stderr.
        **kwargs: passed to :class:`ConvNeXt` (``num_classes``,
            ``stochastic_depth_prob``, ``layer_scale``, ``block``,
            ``norm_layer``).

    Returns:
        A :class:`ConvNeXt` in training mode, with the weights loaded if
        given.

    Shape:
        (N, 3, H, W) -> (N, num_classes).

    Raises:
        ValueError: unknown weights name or a ``num_classes`` that differs
            from the weights' categories.
        FileNotFoundError: a weights path that does not exist.
    """
    w = resolve_weights(weights, ConvNeXt_Tiny_Weights, kwargs)
    setting = [CNBlockConfig(96, 192, 3), CNBlockConfig(192, 384, 3),
               CNBlockConfig(384, 768, 9), CNBlockConfig(768, None, 3)]
    return _convnext(setting, kwargs.pop("stochastic_depth_prob", 0.1),
                     w, progress, **kwargs)


@register_model()
def convnext_small(*, weights: Any = None, progress: bool = True,
                   **kwargs: Any) -> ConvNeXt:
    """ConvNeXt-S (channels 96-768, depths 3-3-27-3, stochastic depth
    0.4); arguments as :func:`convnext_tiny` (weights: the model's own
    enum)."""
    w = resolve_weights(weights, ConvNeXt_Small_Weights, kwargs)
    setting = [CNBlockConfig(96, 192, 3), CNBlockConfig(192, 384, 3),
               CNBlockConfig(384, 768, 27), CNBlockConfig(768, None, 3)]
    return _convnext(setting, kwargs.pop("stochastic_depth_prob", 0.4),
                     w, progress, **kwargs)


@register_model()
def convnext_base(*, weights: Any = None, progress: bool = True,
                  **kwargs: Any) -> ConvNeXt:
    """ConvNeXt-B (channels 128-1024, depths 3-3-27-3, stochastic depth
    0.5); arguments as :func:`convnext_tiny` (weights: the model's own
    enum)."""
    w = resolve_weights(weights, ConvNeXt_Base_Weights, kwargs)
    setting = [CNBlockConfig(128, 256, 3), CNBlockConfig(256, 512, 3),
               CNBlockConfig(512, 1024, 27), CNBlockConfig(1024, None, 3)]
    return _convnext(setting, kwargs.pop("stochastic_depth_prob", 0.5),
                     w, progress, **kwargs)


@register_model()
def convnext_large(*, weights: Any = None, progress: bool = True,
                   **kwargs: Any) -> ConvNeXt:
    """ConvNeXt-L (channels 192-1536, depths 3-3-27-3, stochastic depth
    0.5); arguments as :func:`convnext_tiny` (weights: the model's own
    enum)."""
    w = resolve_weights(weights, ConvNeXt_Large_Weights, kwargs)
    setting = [CNBlockConfig(192, 384, 3), CNBlockConfig(384, 768, 3),
               CNBlockConfig(768, 1536, 27), CNBlockConfig(1536, None, 3)]
    return _convnext(setting, kwargs.pop("stochastic_depth_prob", 0.5),
                     w, progress, **kwargs)
