"""Inception v3 (``torchvision.models.inception_v3``) on featx.nn.

Same module tree, ``state_dict`` keys, forward order and initialisation as
torchvision 0.29. The auxiliary head ``AuxLogits`` runs only in training
mode, so its nodes (``AuxLogits.*``) exist only in the train graph (use
``train_return_nodes`` / ``eval_return_nodes``), and in train mode the
model returns an :data:`InceptionOutputs` namedtuple instead of an array.
The network is meant for 299x299 inputs: eval mode accepts 75x75 and up,
train mode with the aux head needs at least 299x299 (its 5x5 conv runs on
the 17x17 grid after a 5x5/3 pool).
"""
from __future__ import annotations

import warnings
from collections import namedtuple
from collections.abc import Callable
from typing import Any, Optional

from .. import _functions, nn
from ..nn import functional as F
from ._api import register_model
from ._weights import WeightsEnum, get_model_weights, resolve_weights
from .googlenet import _pretrained_kwargs
from .googlenet import _transform_input as _renormalise

__all__ = ["Inception3", "InceptionOutputs", "_InceptionOutputs",
           "Inception_V3_Weights", "inception_v3"]

# torchvision's weights enum (``torchvision.models.Inception_V3_Weights``),
# built from featx/models/weights.json by featx.models._weights.
Inception_V3_Weights: type[WeightsEnum] = get_model_weights("inception_v3")

#: Train-mode output of :class:`Inception3` with ``aux_logits=True``.
InceptionOutputs = namedtuple("InceptionOutputs", ["logits", "aux_logits"])
_InceptionOutputs = InceptionOutputs  # torchvision's older name

ConvBlock = Callable[..., nn.Module]


class BasicConv2d(nn.Module):
    """Conv (no bias), BatchNorm (eps 1e-3), ReLU
    (``torchvision.models.inception.BasicConv2d``).

    Args:
        in_channels: input channels.
        out_channels: output channels.
        **kwargs: passed to :class:`featx.nn.Conv2d`.

    Shape:
        As the conv.
    """

    def __init__(self, in_channels: int, out_channels: int,
                 **kwargs: Any) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, bias=False,
                              **kwargs)
        self.bn = nn.BatchNorm2d(out_channels, eps=0.001)

    def forward(self, x: Any) -> Any:
        x = self.conv(x)
        x = self.bn(x)
        return F.relu(x, inplace=True)


class InceptionA(nn.Module):
    """35x35 block: 1x1 | 1x1-5x5 | 1x1-3x3-3x3 | 3x3 avg pool-1x1.

    Shape:
        (N, in_channels, H, W) -> (N, 224 + pool_features, H, W).
    """

    def __init__(self, in_channels: int, pool_features: int,
                 conv_block: Optional[ConvBlock] = None) -> None:
        super().__init__()
        if conv_block is None:
            conv_block = BasicConv2d
        self.branch1x1 = conv_block(in_channels, 64, kernel_size=1)
        self.branch5x5_1 = conv_block(in_channels, 48, kernel_size=1)
        self.branch5x5_2 = conv_block(48, 64, kernel_size=5, padding=2)
        self.branch3x3dbl_1 = conv_block(in_channels, 64, kernel_size=1)
        self.branch3x3dbl_2 = conv_block(64, 96, kernel_size=3, padding=1)
        self.branch3x3dbl_3 = conv_block(96, 96, kernel_size=3, padding=1)
        self.branch_pool = conv_block(in_channels, pool_features,
                                      kernel_size=1)

    def _forward(self, x: Any) -> list[Any]:
        branch1x1 = self.branch1x1(x)
        branch5x5 = self.branch5x5_2(self.branch5x5_1(x))
        branch3x3dbl = self.branch3x3dbl_1(x)
        branch3x3dbl = self.branch3x3dbl_2(branch3x3dbl)
        branch3x3dbl = self.branch3x3dbl_3(branch3x3dbl)
        branch_pool = F.avg_pool2d(x, kernel_size=3, stride=1, padding=1)
        branch_pool = self.branch_pool(branch_pool)
        return [branch1x1, branch5x5, branch3x3dbl, branch_pool]

    def forward(self, x: Any) -> Any:
        return _functions.cat(self._forward(x), 1)


class InceptionB(nn.Module):
    """Grid reduction 35 -> 17: 3x3/2 | 1x1-3x3-3x3/2 | 3x3/2 max pool.

    Shape:
        (N, in_channels, H, W) -> (N, 480 + in_channels, (H-3)/2+1,
        (W-3)/2+1).
    """

    def __init__(self, in_channels: int,
                 conv_block: Optional[ConvBlock] = None) -> None:
        super().__init__()
        if conv_block is None:
            conv_block = BasicConv2d
        self.branch3x3 = conv_block(in_channels, 384, kernel_size=3,
                                    stride=2)
        self.branch3x3dbl_1 = conv_block(in_channels, 64, kernel_size=1)
        self.branch3x3dbl_2 = conv_block(64, 96, kernel_size=3, padding=1)
        self.branch3x3dbl_3 = conv_block(96, 96, kernel_size=3, stride=2)

    def _forward(self, x: Any) -> list[Any]:
        branch3x3 = self.branch3x3(x)
        branch3x3dbl = self.branch3x3dbl_1(x)
        branch3x3dbl = self.branch3x3dbl_2(branch3x3dbl)
        branch3x3dbl = self.branch3x3dbl_3(branch3x3dbl)
        branch_pool = F.max_pool2d(x, kernel_size=3, stride=2)
        return [branch3x3, branch3x3dbl, branch_pool]

    def forward(self, x: Any) -> Any:
        return _functions.cat(self._forward(x), 1)


class InceptionC(nn.Module):
    """17x17 block with factorised 7x7 convs (1x7 and 7x1):
    1x1 | 1x1-1x7-7x1 | 1x1-7x1-1x7-7x1-1x7 | 3x3 avg pool-1x1.

    Shape:
        (N, in_channels, H, W) -> (N, 768, H, W).
    """

    def __init__(self, in_channels: int, channels_7x7: int,
                 conv_block: Optional[ConvBlock] = None) -> None:
        super().__init__()
        if conv_block is None:
            conv_block = BasicConv2d
        c7 = channels_7x7
        self.branch1x1 = conv_block(in_channels, 192, kernel_size=1)
        self.branch7x7_1 = conv_block(in_channels, c7, kernel_size=1)
        self.branch7x7_2 = conv_block(c7, c7, kernel_size=(1, 7),
                                      padding=(0, 3))
        self.branch7x7_3 = conv_block(c7, 192, kernel_size=(7, 1),
                                      padding=(3, 0))
        self.branch7x7dbl_1 = conv_block(in_channels, c7, kernel_size=1)
        self.branch7x7dbl_2 = conv_block(c7, c7, kernel_size=(7, 1),
                                         padding=(3, 0))
        self.branch7x7dbl_3 = conv_block(c7, c7, kernel_size=(1, 7),
                                         padding=(0, 3))
        self.branch7x7dbl_4 = conv_block(c7, c7, kernel_size=(7, 1),
                                         padding=(3, 0))
        self.branch7x7dbl_5 = conv_block(c7, 192, kernel_size=(1, 7),
                                         padding=(0, 3))
        self.branch_pool = conv_block(in_channels, 192, kernel_size=1)

    def _forward(self, x: Any) -> list[Any]:
        branch1x1 = self.branch1x1(x)
        branch7x7 = self.branch7x7_1(x)
        branch7x7 = self.branch7x7_2(branch7x7)
        branch7x7 = self.branch7x7_3(branch7x7)
        branch7x7dbl = self.branch7x7dbl_1(x)
        branch7x7dbl = self.branch7x7dbl_2(branch7x7dbl)
        branch7x7dbl = self.branch7x7dbl_3(branch7x7dbl)
        branch7x7dbl = self.branch7x7dbl_4(branch7x7dbl)
        branch7x7dbl = self.branch7x7dbl_5(branch7x7dbl)
        branch_pool = F.avg_pool2d(x, kernel_size=3, stride=1, padding=1)
        branch_pool = self.branch_pool(branch_pool)
        return [branch1x1, branch7x7, branch7x7dbl, branch_pool]

    def forward(self, x: Any) -> Any:
        return _functions.cat(self._forward(x), 1)


class InceptionD(nn.Module):
    """Grid reduction 17 -> 8: 1x1-3x3/2 | 1x1-1x7-7x1-3x3/2 | 3x3/2 max
    pool.

    Shape:
        (N, in_channels, H, W) -> (N, 512 + in_channels, (H-3)/2+1,
        (W-3)/2+1).
    """

    def __init__(self, in_channels: int,
                 conv_block: Optional[ConvBlock] = None) -> None:
        super().__init__()
        if conv_block is None:
            conv_block = BasicConv2d
        self.branch3x3_1 = conv_block(in_channels, 192, kernel_size=1)
        self.branch3x3_2 = conv_block(192, 320, kernel_size=3, stride=2)
        self.branch7x7x3_1 = conv_block(in_channels, 192, kernel_size=1)
        self.branch7x7x3_2 = conv_block(192, 192, kernel_size=(1, 7),
                                        padding=(0, 3))
        self.branch7x7x3_3 = conv_block(192, 192, kernel_size=(7, 1),
                                        padding=(3, 0))
        self.branch7x7x3_4 = conv_block(192, 192, kernel_size=3, stride=2)

    def _forward(self, x: Any) -> list[Any]:
        branch3x3 = self.branch3x3_2(self.branch3x3_1(x))
        branch7x7x3 = self.branch7x7x3_1(x)
        branch7x7x3 = self.branch7x7x3_2(branch7x7x3)
        branch7x7x3 = self.branch7x7x3_3(branch7x7x3)
        branch7x7x3 = self.branch7x7x3_4(branch7x7x3)
        branch_pool = F.max_pool2d(x, kernel_size=3, stride=2)
        return [branch3x3, branch7x7x3, branch_pool]

    def forward(self, x: Any) -> Any:
        return _functions.cat(self._forward(x), 1)


class InceptionE(nn.Module):
    """8x8 block with split 1x3/3x1 outputs:
    1x1 | 1x1-(1x3, 3x1) | 1x1-3x3-(1x3, 3x1) | 3x3 avg pool-1x1.
    Records three ``cat`` nodes: ``cat``, ``cat_1`` (inner), ``cat_2``.

    Shape:
        (N, in_channels, H, W) -> (N, 2048, H, W).
    """

    def __init__(self, in_channels: int,
                 conv_block: Optional[ConvBlock] = None) -> None:
        super().__init__()
        if conv_block is None:
            conv_block = BasicConv2d
        self.branch1x1 = conv_block(in_channels, 320, kernel_size=1)
        self.branch3x3_1 = conv_block(in_channels, 384, kernel_size=1)
        self.branch3x3_2a = conv_block(384, 384, kernel_size=(1, 3),
                                       padding=(0, 1))
        self.branch3x3_2b = conv_block(384, 384, kernel_size=(3, 1),
                                       padding=(1, 0))
        self.branch3x3dbl_1 = conv_block(in_channels, 448, kernel_size=1)
        self.branch3x3dbl_2 = conv_block(448, 384, kernel_size=3,
                                         padding=1)
        self.branch3x3dbl_3a = conv_block(384, 384, kernel_size=(1, 3),
                                          padding=(0, 1))
        self.branch3x3dbl_3b = conv_block(384, 384, kernel_size=(3, 1),
                                          padding=(1, 0))
        self.branch_pool = conv_block(in_channels, 192, kernel_size=1)

    def _forward(self, x: Any) -> list[Any]:
        branch1x1 = self.branch1x1(x)

        branch3x3 = self.branch3x3_1(x)
        branch3x3 = _functions.cat([self.branch3x3_2a(branch3x3),
                                    self.branch3x3_2b(branch3x3)], 1)

        branch3x3dbl = self.branch3x3dbl_1(x)
        branch3x3dbl = self.branch3x3dbl_2(branch3x3dbl)
        branch3x3dbl = _functions.cat([self.branch3x3dbl_3a(branch3x3dbl),
                                       self.branch3x3dbl_3b(branch3x3dbl)],
                                      1)

        branch_pool = F.avg_pool2d(x, kernel_size=3, stride=1, padding=1)
        branch_pool = self.branch_pool(branch_pool)
        return [branch1x1, branch3x3, branch3x3dbl, branch_pool]

    def forward(self, x: Any) -> Any:
        return _functions.cat(self._forward(x), 1)


class InceptionAux(nn.Module):
    """Auxiliary classifier on the 17x17 grid: 5x5/3 avg pool, 1x1 conv,
    5x5 conv, global average, linear.

    ``conv1.stddev = 0.01`` and ``fc.stddev = 0.001`` are set as in
    torchvision; :class:`Inception3`'s initialisation reads ``stddev`` only
    from the Conv2d/Linear module itself, so only ``fc``'s is used.

    Shape:
        (N, in_channels, H, W) -> (N, num_classes); H, W >= 17.
    """

    def __init__(self, in_channels: int, num_classes: int,
                 conv_block: Optional[ConvBlock] = None) -> None:
        super().__init__()
        if conv_block is None:
            conv_block = BasicConv2d
        self.conv0 = conv_block(in_channels, 128, kernel_size=1)
        self.conv1 = conv_block(128, 768, kernel_size=5)
        self.conv1.stddev = 0.01
        self.fc = nn.Linear(768, num_classes)
        self.fc.stddev = 0.001

    def forward(self, x: Any) -> Any:
        x = F.avg_pool2d(x, kernel_size=5, stride=3)
        x = self.conv0(x)
        x = self.conv1(x)
        x = F.adaptive_avg_pool2d(x, (1, 1))
        x = _functions.flatten(x, 1)
        return self.fc(x)


class Inception3(nn.Module):
    """Inception v3 (``torchvision.models.Inception3``).

    Args:
        num_classes: outputs of ``fc`` (and of the aux head).
        aux_logits: build ``AuxLogits``; it runs in train mode only.
        transform_input: re-normalise the input first (ImageNet mean/std
            -> (x - 0.5) / 0.5); meant for the ported weights.
        inception_blocks: seven classes ``[conv, A, B, C, D, E, aux]``;
            defaults to this module's.
        init_weights: truncated-normal conv/linear weights (std 0.1, or a
            module's ``stddev``) and unit BN weights, as torchvision.
            ``None`` means ``True`` and issues torchvision's FutureWarning.
        dropout: drop probability before ``fc``.

    Returns (forward):
        eval mode, or ``aux_logits=False``: the (N, num_classes) logits;
        train mode with the aux head: ``InceptionOutputs(logits,
        aux_logits)``.

    Shape:
        (N, 3, H, W) -> (N, num_classes); H, W >= 75 (>= 299 in train
        mode with the aux head).

    Raises:
        ValueError: ``inception_blocks`` not of length 7.
    """

    def __init__(self, num_classes: int = 1000, aux_logits: bool = True,
                 transform_input: bool = False,
                 inception_blocks: Optional[list[ConvBlock]] = None,
                 init_weights: Optional[bool] = None,
                 dropout: float = 0.5) -> None:
        super().__init__()
        if inception_blocks is None:
            inception_blocks = [BasicConv2d, InceptionA, InceptionB,
                                InceptionC, InceptionD, InceptionE,
                                InceptionAux]
        if init_weights is None:
            warnings.warn(
                "inception_v3: init_weights=None currently means True "
                "(slow truncated-normal initialisation), as in torchvision, "
                "whose default will change in a future release; pass "
                "init_weights=True to keep this behaviour.", FutureWarning,
                stacklevel=2)
            init_weights = True
        if len(inception_blocks) != 7:
            raise ValueError(
                f"Inception3 inception_blocks: expected 7 block classes "
                f"(conv, A, B, C, D, E, aux), got {len(inception_blocks)}")
        (conv_block, inception_a, inception_b, inception_c, inception_d,
         inception_e, inception_aux) = inception_blocks

        self.aux_logits = aux_logits
        self.transform_input = transform_input
        self.Conv2d_1a_3x3 = conv_block(3, 32, kernel_size=3, stride=2)
        self.Conv2d_2a_3x3 = conv_block(32, 32, kernel_size=3)
        self.Conv2d_2b_3x3 = conv_block(32, 64, kernel_size=3, padding=1)
        self.maxpool1 = nn.MaxPool2d(kernel_size=3, stride=2)
        self.Conv2d_3b_1x1 = conv_block(64, 80, kernel_size=1)
        self.Conv2d_4a_3x3 = conv_block(80, 192, kernel_size=3)
        self.maxpool2 = nn.MaxPool2d(kernel_size=3, stride=2)
        self.Mixed_5b = inception_a(192, pool_features=32)
        self.Mixed_5c = inception_a(256, pool_features=64)
        self.Mixed_5d = inception_a(288, pool_features=64)
        self.Mixed_6a = inception_b(288)
        self.Mixed_6b = inception_c(768, channels_7x7=128)
        self.Mixed_6c = inception_c(768, channels_7x7=160)
        self.Mixed_6d = inception_c(768, channels_7x7=160)
        self.Mixed_6e = inception_c(768, channels_7x7=192)
        self.AuxLogits: Optional[nn.Module] = None
        if aux_logits:
            self.AuxLogits = inception_aux(768, num_classes)
        self.Mixed_7a = inception_d(768)
        self.Mixed_7b = inception_e(1280)
        self.Mixed_7c = inception_e(2048)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.dropout = nn.Dropout(p=dropout)
        self.fc = nn.Linear(2048, num_classes)
        if init_weights:
            for m in self.modules():
                if isinstance(m, (nn.Conv2d, nn.Linear)):
                    stddev = float(getattr(m, "stddev", 0.1))
                    nn.init.trunc_normal_(m.weight, mean=0.0, std=stddev,
                                          a=-2, b=2)
                elif isinstance(m, nn.BatchNorm2d):
                    nn.init.constant_(m.weight, 1)
                    nn.init.constant_(m.bias, 0)

    def _transform_input(self, x: Any) -> Any:
        if self.transform_input:
            x = _renormalise(x)
        return x

    def _forward(self, x: Any) -> tuple[Any, Any]:
        x = self.Conv2d_1a_3x3(x)
        x = self.Conv2d_2a_3x3(x)
        x = self.Conv2d_2b_3x3(x)
        x = self.maxpool1(x)
        x = self.Conv2d_3b_1x1(x)
        x = self.Conv2d_4a_3x3(x)
        x = self.maxpool2(x)
        x = self.Mixed_5b(x)
        x = self.Mixed_5c(x)
        x = self.Mixed_5d(x)
        x = self.Mixed_6a(x)
        x = self.Mixed_6b(x)
        x = self.Mixed_6c(x)
        x = self.Mixed_6d(x)
        x = self.Mixed_6e(x)
        aux = None
        if self.AuxLogits is not None and self.training:
            aux = self.AuxLogits(x)
        x = self.Mixed_7a(x)
        x = self.Mixed_7b(x)
        x = self.Mixed_7c(x)
        x = self.avgpool(x)
        x = self.dropout(x)
        x = _functions.flatten(x, 1)
        x = self.fc(x)
        return x, aux

    def eager_outputs(self, x: Any, aux: Any) -> Any:
        """The namedtuple in train mode with the aux head, else the
        logits."""
        if self.training and self.aux_logits:
            return InceptionOutputs(x, aux)
        return x

    def forward(self, x: Any) -> Any:
        x = self._transform_input(x)
        x, aux = self._forward(x)
        return self.eager_outputs(x, aux)


@register_model()
def inception_v3(*, weights: Any = None, progress: bool = True,
                 **kwargs: Any) -> Inception3:
    """Inception v3, ``torchvision.models.inception_v3``.

    With an ``Inception_V3_Weights`` member (or its name), torchvision's
    rules apply: ``transform_input`` defaults to True (the ported weights
    expect (x - 0.5) / 0.5 inputs; pass ``transform_input=False`` to opt
    out), and the model is built with its aux head (``aux_logits`` must be
    True, it is kept after loading) and ``init_weights=False``. A local
    checkpoint path is loaded into the model the caller's arguments
    describe (defaults as without weights, except ``init_weights`` False),
    so pass ``transform_input``/``aux_logits`` to match the checkpoint.

    Args:
        weights: None (random initialisation); an ``Inception_V3_Weights``
            member (``Inception_V3_Weights.DEFAULT``); its name
            (``"IMAGENET1K_V1"``, ``"Inception_V3_Weights.IMAGENET1K_V1"``,
            ``"DEFAULT"``); or the path of a local checkpoint (.pth/.pt,
            .safetensors, .npz) with the model's ``state_dict()`` keys.
            Enum weights are read from torch's cache
            (``$TORCH_HOME/hub/checkpoints``, default
            ``~/.cache/torch/hub/checkpoints``) or downloaded into it.
        progress: show a download progress bar on stderr.
        **kwargs: passed to :class:`Inception3` (``num_classes``,
            ``aux_logits``, ``transform_input``, ``init_weights``,
            ``inception_blocks``, ``dropout``). The deprecated
            ``pretrained=True`` means ``weights="IMAGENET1K_V1"`` and warns
            (``UserWarning``), as in torchvision.

    Returns:
        An :class:`Inception3` in training mode, with the weights loaded if
        given, else randomly initialised.

    Shape:
        (N, 3, H, W) -> (N, num_classes); 299x299 is the intended size.

    Raises:
        ValueError: unknown weights name; with enum weights,
            ``num_classes`` other than 1000, ``aux_logits=False`` or
            ``init_weights=True``.
        FileNotFoundError: a weights path that does not exist.
        RuntimeError: a checkpoint that does not fit the model
            (``load_state_dict``'s message).
        featx.hub.download.DownloadError: the file is neither cached nor
            downloadable; the message says where to put it (an OSError).
    """
    w = resolve_weights(weights, Inception_V3_Weights, kwargs)
    keep_aux = kwargs.get("aux_logits", True)
    if w.enum is not None:
        _pretrained_kwargs(kwargs)  # aux_logits=False is a ValueError here
    elif w:
        kwargs.setdefault("init_weights", False)
    model = w.load_into(Inception3(**kwargs), progress)
    if w.enum is not None and not keep_aux:
        model.aux_logits = False
        model.AuxLogits = None
    return model
