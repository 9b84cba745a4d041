"""ResNet, ResNeXt and Wide ResNet (``torchvision.models.resnet``).

Same constructor arguments, attribute names, module tree, forward op order
and ``state_dict`` keys/shapes as torchvision 0.29.1, so torchvision
checkpoints load with ``load_state_dict`` and feature-extraction node names
match (``layer1.0.relu``, ``layer1.0.relu_1``, ``add``, ``flatten``, ...).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Optional, Union

from .. import _functions, nn
from ._api import register_model
from ._weights import (ResolvedWeights, WeightsEnum, _override, get_model_weights,
                       resolve_weights)

__all__ = ["ResNet", "BasicBlock", "Bottleneck", "resnet18", "resnet34",
           "resnet50", "resnet101", "resnet152", "resnext50_32x4d",
           "resnext101_32x8d", "resnext101_64x4d", "wide_resnet50_2",
           "wide_resnet101_2", "ResNet18_Weights", "ResNet34_Weights",
           "ResNet50_Weights", "ResNet101_Weights", "ResNet152_Weights",
           "ResNeXt50_32X4D_Weights", "ResNeXt101_32X8D_Weights",
           "ResNeXt101_64X4D_Weights", "Wide_ResNet50_2_Weights",
           "Wide_ResNet101_2_Weights"]

NormLayer = Callable[[int], nn.Module]

# torchvision's weights enums (``torchvision.models.ResNet50_Weights``, ...), built
# from featx/models/weights.json by featx.models._weights.
ResNet18_Weights: type[WeightsEnum] = get_model_weights("resnet18")
ResNet34_Weights: type[WeightsEnum] = get_model_weights("resnet34")
ResNet50_Weights: type[WeightsEnum] = get_model_weights("resnet50")
ResNet101_Weights: type[WeightsEnum] = get_model_weights("resnet101")
ResNet152_Weights: type[WeightsEnum] = get_model_weights("resnet152")
ResNeXt50_32X4D_Weights: type[WeightsEnum] = get_model_weights(
    "resnext50_32x4d")
ResNeXt101_32X8D_Weights: type[WeightsEnum] = get_model_weights(
    "resnext101_32x8d")
ResNeXt101_64X4D_Weights: type[WeightsEnum] = get_model_weights(
    "resnext101_64x4d")
Wide_ResNet50_2_Weights: type[WeightsEnum] = get_model_weights(
    "wide_resnet50_2")
Wide_ResNet101_2_Weights: type[WeightsEnum] = get_model_weights(
    "wide_resnet101_2")


def conv3x3(in_planes: int, out_planes: int, stride: int = 1,
            groups: int = 1, dilation: int = 1) -> nn.Conv2d:
    """3x3 convolution without bias whose padding equals its dilation."""
    return nn.Conv2d(in_planes, out_planes, kernel_size=3, stride=stride,
                     padding=dilation, groups=groups, bias=False,
                     dilation=dilation)


def conv1x1(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv2d:
    """1x1 convolution without bias."""
    return nn.Conv2d(in_planes, out_planes, kernel_size=1, stride=stride,
                     bias=False)


class BasicBlock(nn.Module):
    """Two 3x3 convolutions plus a shortcut (ResNet-18/34).

    Args:
        inplanes: input channels.
        planes: output channels (``expansion`` = 1).
        stride: stride of ``conv1`` in pixels.
        downsample: module applied to the input for the shortcut, or None.
        groups: must be 1.
        base_width: must be 64.
        dilation: must be 1.
        norm_layer: normalisation class; ``nn.BatchNorm2d`` by default.

    Shape:
        (N, inplanes, H, W) -> (N, planes, H/stride, W/stride).

    Raises:
        ValueError: ``groups != 1`` or ``base_width != 64``.
        NotImplementedError: ``dilation > 1``.
    """

    expansion: int = 1

    def __init__(self, inplanes: int, planes: int, stride: int = 1,
                 downsample: Optional[nn.Module] = None, groups: int = 1,
                 base_width: int = 64, dilation: int = 1,
                 norm_layer: Optional[NormLayer] = None) -> None:
        super().__init__()
        if norm_layer is None:
            norm_layer = nn.BatchNorm2d
        if groups != 1 or base_width != 64:
            raise ValueError(
                f"BasicBlock (resnet18/34): expected groups=1 and "
                f"base_width=64 (grouped or wider blocks are Bottleneck's), "
                f"got groups={groups}, base_width={base_width}")
        if dilation > 1:
            raise NotImplementedError(
                f"BasicBlock (resnet18/34) dilation: expected 1 (dilated "
                f"stages need Bottleneck blocks), got {dilation}")
        self.conv1 = conv3x3(inplanes, planes, stride)
        self.bn1 = norm_layer(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = norm_layer(planes)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x: Any) -> Any:
        identity = x

        out = self.conv1(x)
        out = self.bn1(out)
        out = self.relu(out)

        out = self.conv2(out)
        out = self.bn2(out)

        if self.downsample is not None:
            identity = self.downsample(x)

        out += identity
        out = self.relu(out)
        return out


class Bottleneck(nn.Module):
    """1x1 reduce, 3x3 (strided, grouped), 1x1 expand, plus a shortcut.

    The stride sits on the 3x3 convolution (ResNet v1.5), as in
    torchvision.

    Args:
        inplanes: input channels.
        planes: bottleneck planes; output channels = planes * 4.
        stride: stride of ``conv2`` in pixels.
        downsample: module applied to the input for the shortcut, or None.
        groups: groups of ``conv2`` (ResNeXt cardinality).
        base_width: width per group; inner width =
            int(planes * base_width / 64) * groups.
        dilation: dilation of ``conv2`` in pixels.
        norm_layer: normalisation class; ``nn.BatchNorm2d`` by default.

    Shape:
        (N, inplanes, H, W) -> (N, planes * 4, H/stride, W/stride).
    """

    expansion: int = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1,
                 downsample: Optional[nn.Module] = None, groups: int = 1,
                 base_width: int = 64, dilation: int = 1,
                 norm_layer: Optional[NormLayer] = None) -> None:
        super().__init__()
        if norm_layer is None:
            norm_layer = nn.BatchNorm2d
        width = int(planes * (base_width / 64.0)) * groups
        self.conv1 = conv1x1(inplanes, width)
        self.bn1 = norm_layer(width)
        self.conv2 = conv3x3(width, width, stride, groups, dilation)
        self.bn2 = norm_layer(width)
        self.conv3 = conv1x1(width, planes * self.expansion)
        self.bn3 = norm_layer(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x: Any) -> Any:
        identity = x

        out = self.conv1(x)
        out = self.bn1(out)
        out = self.relu(out)

        out = self.conv2(out)
        out = self.bn2(out)
        out = self.relu(out)

        out = self.conv3(out)
        out = self.bn3(out)

        if self.downsample is not None:
            identity = self.downsample(x)

        out += identity
        out = self.relu(out)
        return out


class ResNet(nn.Module):
    """The ResNet trunk and classifier (``torchvision.models.ResNet``).

    Args:
        block: ``BasicBlock`` or ``Bottleneck``.
        layers: number of blocks in ``layer1``..``layer4``.
        num_classes: outputs of ``fc``.
        zero_init_residual: start the last BN weight of every block at 0.
        groups: ``conv2`` groups in each Bottleneck.
        width_per_group: base width per group of each Bottleneck.
        replace_stride_with_dilation: three bools; each replaces the stride
            2 of ``layer2``/``3``/``4`` by dilation.
        norm_layer: normalisation class; ``nn.BatchNorm2d`` by default.

    Shape:
        (N, 3, H, W) -> (N, num_classes).

    Raises:
        ValueError: ``replace_stride_with_dilation`` is not None or of
            length 3.
    """

    def __init__(self, block: type[Union[BasicBlock, Bottleneck]],
                 layers: Sequence[int], num_classes: int = 1000,
                 zero_init_residual: bool = False, groups: int = 1,
                 width_per_group: int = 64,
                 replace_stride_with_dilation: Optional[Sequence[bool]] = None,
                 norm_layer: Optional[NormLayer] = None) -> None:
        super().__init__()
        if norm_layer is None:
            norm_layer = nn.BatchNorm2d
        self._norm_layer = norm_layer

        self.inplanes = 64
        self.dilation = 1
        if replace_stride_with_dilation is None:
            replace_stride_with_dilation = [False, False, False]
        if len(replace_stride_with_dilation) != 3:
            raise ValueError(
                f"ResNet replace_stride_with_dilation: expected None or 3 "
                f"bools (one per stage 2-4), got "
                f"{replace_stride_with_dilation!r}")
        self.groups = groups
        self.base_width = width_per_group
        self.conv1 = nn.Conv2d(3, self.inplanes, kernel_size=7, stride=2,
                               padding=3, bias=False)
        self.bn1 = norm_layer(self.inplanes)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(block, 64, layers[0])
        self.layer2 = self._make_layer(
            block, 128, layers[1], stride=2,
            dilate=replace_stride_with_dilation[0])
        self.layer3 = self._make_layer(
            block, 256, layers[2], stride=2,
            dilate=replace_stride_with_dilation[1])
        self.layer4 = self._make_layer(
            block, 512, layers[3], stride=2,
            dilate=replace_stride_with_dilation[2])
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512 * block.expansion, num_classes)

        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out",
                                        nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                if m.weight is not None:
                    nn.init.constant_(m.weight, 1)
                if m.bias is not None:
                    nn.init.constant_(m.bias, 0)

        if zero_init_residual:
            for m in self.modules():
                if isinstance(m, Bottleneck) and m.bn3.weight is not None:
                    nn.init.constant_(m.bn3.weight, 0)
                elif isinstance(m, BasicBlock) and m.bn2.weight is not None:
                    nn.init.constant_(m.bn2.weight, 0)

    def _make_layer(self, block: type[Union[BasicBlock, Bottleneck]],
                    planes: int, blocks: int, stride: int = 1,
                    dilate: bool = False) -> nn.Sequential:
        norm_layer = self._norm_layer
        downsample = None
        previous_dilation = self.dilation
        if dilate:
            self.dilation *= stride
            stride = 1
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = nn.Sequential(
                conv1x1(self.inplanes, planes * block.expansion, stride),
                norm_layer(planes * block.expansion),
            )

        layers = [block(self.inplanes, planes, stride, downsample,
                        self.groups, self.base_width, previous_dilation,
                        norm_layer)]
        self.inplanes = planes * block.expansion
        for _ in range(1, blocks):
            layers.append(block(self.inplanes, planes, groups=self.groups,
                                base_width=self.base_width,
                                dilation=self.dilation,
                                norm_layer=norm_layer))
        return nn.Sequential(*layers)

    def _forward_impl(self, x: Any) -> Any:
        x = self.conv1(x)
        x = self.bn1(x)
        x = self.relu(x)
        x = self.maxpool(x)

        x = self.layer1(x)
        x = self.layer2(x)
        x = self.layer3(x)
        x = self.layer4(x)

        x = self.avgpool(x)
        x = _functions.flatten(x, 1)
        x = self.fc(x)
        return x

    def forward(self, x: Any) -> Any:
        return self._forward_impl(x)


def _resnet(block: type[Union[BasicBlock, Bottleneck]], layers: list[int],
            weights: ResolvedWeights, progress: bool,
            **kwargs: Any) -> ResNet:
    """Builds a ResNet and loads ``weights`` (from resolve_weights) into it."""
    model = ResNet(block, layers, **kwargs)
    return weights.load_into(model, progress)


@register_model()
def resnet18(*, weights: Any = None, progress: bool = True,
             **kwargs: Any) -> ResNet:
    """ResNet-18 (BasicBlock, [2, 2, 2, 2]), ``torchvision.models.resnet18``.

    Args:
        weights: None (random initialisation); a ``ResNet18_Weights``
            member (``ResNet18_Weights.DEFAULT``); its name
            (``"IMAGENET1K_V1"``, ``"ResNet18_Weights.IMAGENET1K_V1"``,
            ``"DEFAULT"``); or the path of a local checkpoint (.pth/.pt,
            .safetensors, .npz) with the model's ``state_dict()`` keys.
            Enum weights are read from torch's cache
            (``$TORCH_HOME/hub/checkpoints``, default
            ``~/.cache/torch/hub/checkpoints``) or downloaded into it.
        progress: show a download progress bar on stderr.
        **kwargs: passed to :class:`ResNet` (``num_classes``,
            ``zero_init_residual``, ``norm_layer``, ...). The deprecated
            ``pretrained=True`` means ``weights="IMAGENET1K_V1"`` and warns
            (``UserWarning``), as in torchvision.

    Returns:
        A :class:`ResNet` in training mode, with the weights loaded if
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
    w = resolve_weights(weights, ResNet18_Weights, kwargs)
    return _resnet(BasicBlock, [2, 2, 2, 2], w, progress, **kwargs)


@register_model()
def resnet34(*, weights: Any = None, progress: bool = True,
             **kwargs: Any) -> ResNet:
    """ResNet-34 (BasicBlock, [3, 4, 6, 3]); arguments as :func:`resnet18`."""
    w = resolve_weights(weights, ResNet34_Weights, kwargs)
    return _resnet(BasicBlock, [3, 4, 6, 3], w, progress, **kwargs)


@register_model()
def resnet50(*, weights: Any = None, progress: bool = True,
             **kwargs: Any) -> ResNet:
    """ResNet-50 (Bottleneck, [3, 4, 6, 3]); arguments as :func:`resnet18`."""
    w = resolve_weights(weights, ResNet50_Weights, kwargs)
    return _resnet(Bottleneck, [3, 4, 6, 3], w, progress, **kwargs)


@register_model()
def resnet101(*, weights: Any = None, progress: bool = True,
              **kwargs: Any) -> ResNet:
    """ResNet-101 (Bottleneck, [3, 4, 23, 3]); arguments as :func:`resnet18`."""
    w = resolve_weights(weights, ResNet101_Weights, kwargs)
    return _resnet(Bottleneck, [3, 4, 23, 3], w, progress, **kwargs)


@register_model()
def resnet152(*, weights: Any = None, progress: bool = True,
              **kwargs: Any) -> ResNet:
    """ResNet-152 (Bottleneck, [3, 8, 36, 3]); arguments as :func:`resnet18`."""
    w = resolve_weights(weights, ResNet152_Weights, kwargs)
    return _resnet(Bottleneck, [3, 8, 36, 3], w, progress, **kwargs)


@register_model()
def resnext50_32x4d(*, weights: Any = None, progress: bool = True,
                    **kwargs: Any) -> ResNet:
    """ResNeXt-50 32x4d (groups 32, width 4); arguments as :func:`resnet18`.

    Raises:
        ValueError: ``groups``/``width_per_group`` given with other values.
    """
    w = resolve_weights(weights, ResNeXt50_32X4D_Weights, kwargs)
    _override(kwargs, "groups", 32)
    _override(kwargs, "width_per_group", 4)
    return _resnet(Bottleneck, [3, 4, 6, 3], w, progress, **kwargs)


@register_model()
def resnext101_32x8d(*, weights: Any = None, progress: bool = True,
                     **kwargs: Any) -> ResNet:
    """ResNeXt-101 32x8d (groups 32, width 8); arguments as :func:`resnet18`.

    Raises:
        ValueError: ``groups``/``width_per_group`` given with other values.
    """
    w = resolve_weights(weights, ResNeXt101_32X8D_Weights, kwargs)
    _override(kwargs, "groups", 32)
    _override(kwargs, "width_per_group", 8)
    return _resnet(Bottleneck, [3, 4, 23, 3], w, progress, **kwargs)


@register_model()
def resnext101_64x4d(*, weights: Any = None, progress: bool = True,
                     **kwargs: Any) -> ResNet:
    """ResNeXt-101 64x4d (groups 64, width 4); arguments as :func:`resnet18`.

    Raises:
        ValueError: ``groups``/``width_per_group`` given with other values.
    """
    w = resolve_weights(weights, ResNeXt101_64X4D_Weights, kwargs)
    _override(kwargs, "groups", 64)
    _override(kwargs, "width_per_group", 4)
    return _resnet(Bottleneck, [3, 4, 23, 3], w, progress, **kwargs)


@register_model()
def wide_resnet50_2(*, weights: Any = None, progress: bool = True,
                    **kwargs: Any) -> ResNet:
    """Wide ResNet-50-2 (bottleneck width x2); arguments as :func:`resnet18`.

    Raises:
        ValueError: ``width_per_group`` given with another value.
    """
    w = resolve_weights(weights, Wide_ResNet50_2_Weights, kwargs)
    _override(kwargs, "width_per_group", 64 * 2)
    return _resnet(Bottleneck, [3, 4, 6, 3], w, progress, **kwargs)


@register_model()
def wide_resnet101_2(*, weights: Any = None, progress: bool = True,
                     **kwargs: Any) -> ResNet:
    """Wide ResNet-101-2 (bottleneck width x2); arguments as :func:`resnet18`.

    Raises:
        ValueError: ``width_per_group`` given with another value.
    """
    w = resolve_weights(weights, Wide_ResNet101_2_Weights, kwargs)
    _override(kwargs, "width_per_group", 64 * 2)
    return _resnet(Bottleneck, [3, 4, 23, 3], w, progress, **kwargs)
