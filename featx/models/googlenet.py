"""GoogLeNet / Inception v1 (``torchvision.models.googlenet``) on featx.nn.

Same module tree, ``state_dict`` keys, forward order and initialisation as
torchvision 0.29. The two auxiliary heads (``aux1``, ``aux2``) run only in
training mode, so the train and eval graphs differ: ``aux1.*`` and
``aux2.*`` nodes exist only in train mode (use ``train_return_nodes`` /
``eval_return_nodes``), and in train mode the model returns a
:data:`GoogLeNetOutputs` namedtuple instead of an array.
"""
from __future__ import annotations

import warnings
from collections import namedtuple
from collections.abc import Callable
from typing import Any, ClassVar, Optional

from .. import _functions, nn
from ..nn import functional as F
from ._api import register_model
from ._weights import WeightsEnum, _override, get_model_weights, resolve_weights

__all__ = ["GoogLeNet", "GoogLeNetOutputs", "_GoogLeNetOutputs",
           "GoogLeNet_Weights", "googlenet"]

# torchvision's weights enum (``torchvision.models.GoogLeNet_Weights``),
# built from featx/models/weights.json by featx.models._weights.
GoogLeNet_Weights: type[WeightsEnum] = get_model_weights("googlenet")

#: Train-mode output of :class:`GoogLeNet` with ``aux_logits=True``.
GoogLeNetOutputs = namedtuple("GoogLeNetOutputs",
                              ["logits", "aux_logits2", "aux_logits1"])
_GoogLeNetOutputs = GoogLeNetOutputs  # torchvision's older name


def _transform_input(x: Any) -> Any:
    """Re-normalises an input normalised with ImageNet's mean/std to the
    (x - 0.5) / 0.5 normalisation the ported Inception weights expect.

    Records torchvision's nodes: per channel ``getitem``, ``unsqueeze``,
    ``mul``, ``add``; then ``cat``.

    Shape:
        (N, 3, H, W) -> (N, 3, H, W).
    """
    x_ch0 = _functions.unsqueeze(x[:, 0], 1) * (0.229 / 0.5) \
        + (0.485 - 0.5) / 0.5
    x_ch1 = _functions.unsqueeze(x[:, 1], 1) * (0.224 / 0.5) \
        + (0.456 - 0.5) / 0.5
    x_ch2 = _functions.unsqueeze(x[:, 2], 1) * (0.225 / 0.5) \
        + (0.406 - 0.5) / 0.5
    return _functions.cat((x_ch0, x_ch1, x_ch2), 1)


class BasicConv2d(nn.Module):
    """Conv (no bias), BatchNorm (eps 1e-3), ReLU
    (``torchvision.models.googlenet.BasicConv2d``).

    Args:
        in_channels: input channels.
        out_channels: output channels.
        **kwargs: passed to :class:`featx.nn.Conv2d` (``kernel_size``,
            ``stride``, ``padding``, ...).

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


class Inception(nn.Module):
    """Four parallel branches joined on channels: 1x1; 1x1-3x3; 1x1-3x3
    (torchvision uses 3x3 where the paper has 5x5); 3x3 max pool-1x1
    (``torchvision.models.googlenet.Inception``).

    Args:
        in_channels: input channels.
        ch1x1: channels of branch 1.
        ch3x3red: reduce channels of branch 2.
        ch3x3: output channels of branch 2.
        ch5x5red: reduce channels of branch 3.
        ch5x5: output channels of branch 3.
        pool_proj: output channels of branch 4.
        conv_block: conv module class; :class:`BasicConv2d` by default.

    Shape:
        (N, in_channels, H, W) -> (N, ch1x1 + ch3x3 + ch5x5 + pool_proj,
        H, W).
    """

    def __init__(self, in_channels: int, ch1x1: int, ch3x3red: int,
                 ch3x3: int, ch5x5red: int, ch5x5: int, pool_proj: int,
                 conv_block: Optional[Callable[..., nn.Module]] = None
                 ) -> None:
        super().__init__()
        if conv_block is None:
            conv_block = BasicConv2d
        self.branch1 = conv_block(in_channels, ch1x1, kernel_size=1)
        self.branch2 = nn.Sequential(
            conv_block(in_channels, ch3x3red, kernel_size=1),
            conv_block(ch3x3red, ch3x3, kernel_size=3, padding=1))
        self.branch3 = nn.Sequential(
            conv_block(in_channels, ch5x5red, kernel_size=1),
            conv_block(ch5x5red, ch5x5, kernel_size=3, padding=1))
        self.branch4 = nn.Sequential(
            nn.MaxPool2d(kernel_size=3, stride=1, padding=1, ceil_mode=True),
            conv_block(in_channels, pool_proj, kernel_size=1))

    def _forward(self, x: Any) -> list[Any]:
        return [self.branch1(x), self.branch2(x), self.branch3(x),
                self.branch4(x)]

    def forward(self, x: Any) -> Any:
        return _functions.cat(self._forward(x), 1)


class InceptionAux(nn.Module):
    """Auxiliary classifier: 4x4 adaptive average pool, 1x1 conv to 128,
    two linear layers with ReLU and dropout
    (``torchvision.models.googlenet.InceptionAux``).

    Args:
        in_channels: input channels.
        num_classes: outputs.
        conv_block: conv module class; :class:`BasicConv2d` by default.
        dropout: drop probability before ``fc2``.

    Shape:
        (N, in_channels, H, W) -> (N, num_classes).
    """

    def __init__(self, in_channels: int, num_classes: int,
                 conv_block: Optional[Callable[..., nn.Module]] = None,
                 dropout: float = 0.7) -> None:
        super().__init__()
        if conv_block is None:
            conv_block = BasicConv2d
        self.conv = conv_block(in_channels, 128, kernel_size=1)
        self.fc1 = nn.Linear(2048, 1024)
        self.fc2 = nn.Linear(1024, num_classes)
        self.dropout = nn.Dropout(p=dropout)

    def forward(self, x: Any) -> Any:
        x = F.adaptive_avg_pool2d(x, (4, 4))
        x = self.conv(x)
        x = _functions.flatten(x, 1)
        x = F.relu(self.fc1(x), inplace=True)
        x = self.dropout(x)
        return self.fc2(x)


class GoogLeNet(nn.Module):
    """GoogLeNet (``torchvision.models.GoogLeNet``).

    Args:
        num_classes: outputs of ``fc`` (and of the aux heads).
        aux_logits: build ``aux1``/``aux2``; they run in train mode only.
        transform_input: re-normalise the input first (see
            :func:`_transform_input`); meant for the ported weights.
        init_weights: truncated-normal (std 0.01) conv/linear weights and
            unit BN weights, as torchvision. ``None`` means ``True`` and
            issues torchvision's FutureWarning about the default changing.
        blocks: three classes ``[conv_block, inception_block,
            inception_aux_block]``; defaults to :class:`BasicConv2d`,
            :class:`Inception`, :class:`InceptionAux`.
        dropout: drop probability before ``fc``.
        dropout_aux: drop probability inside the aux heads.

    Returns (forward):
        eval mode, or ``aux_logits=False``: the (N, num_classes) logits;
        train mode with aux heads: ``GoogLeNetOutputs(logits, aux_logits2,
        aux_logits1)``.

    Shape:
        (N, 3, H, W) -> (N, num_classes); H, W >= 15.

    Raises:
        ValueError: ``blocks`` not of length 3.
    """

    __constants__: ClassVar[list[str]] = ["aux_logits", "transform_input"]

    def __init__(self, num_classes: int = 1000, aux_logits: bool = True,
                 transform_input: bool = False,
                 init_weights: Optional[bool] = None,
                 blocks: Optional[list[Callable[..., nn.Module]]] = None,
                 dropout: float = 0.2, dropout_aux: float = 0.7) -> None:
        super().__init__()
        if blocks is None:
            blocks = [BasicConv2d, Inception, InceptionAux]
        if init_weights is None:
            warnings.warn(
                "GoogLeNet: init_weights=None currently means True (slow "
                "truncated-normal initialisation), as in torchvision, whose "
                "default will change in a future release; pass "
                "init_weights=True to keep this behaviour.", FutureWarning,
                stacklevel=2)
            init_weights = True
        if len(blocks) != 3:
            raise ValueError(
                f"GoogLeNet blocks: expected 3 block classes (conv, "
                f"inception, aux), got {len(blocks)}")
        conv_block, inception_block, inception_aux_block = blocks

        self.aux_logits = aux_logits
        self.transform_input = transform_input

        self.conv1 = conv_block(3, 64, kernel_size=7, stride=2, padding=3)
        self.maxpool1 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.conv2 = conv_block(64, 64, kernel_size=1)
        self.conv3 = conv_block(64, 192, kernel_size=3, padding=1)
        self.maxpool2 = nn.MaxPool2d(3, stride=2, ceil_mode=True)

        self.inception3a = inception_block(192, 64, 96, 128, 16, 32, 32)
        self.inception3b = inception_block(256, 128, 128, 192, 32, 96, 64)
        self.maxpool3 = nn.MaxPool2d(3, stride=2, ceil_mode=True)

        self.inception4a = inception_block(480, 192, 96, 208, 16, 48, 64)
        self.inception4b = inception_block(512, 160, 112, 224, 24, 64, 64)
        self.inception4c = inception_block(512, 128, 128, 256, 24, 64, 64)
        self.inception4d = inception_block(512, 112, 144, 288, 32, 64, 64)
        self.inception4e = inception_block(528, 256, 160, 320, 32, 128,
                                           128)
        self.maxpool4 = nn.MaxPool2d(2, stride=2, ceil_mode=True)

        self.inception5a = inception_block(832, 256, 160, 320, 32, 128,
                                           128)
        self.inception5b = inception_block(832, 384, 192, 384, 48, 128,
                                           128)

        self.aux1: Optional[nn.Module]
        self.aux2: Optional[nn.Module]
        if aux_logits:
            self.aux1 = inception_aux_block(512, num_classes,
                                            dropout=dropout_aux)
            self.aux2 = inception_aux_block(528, num_classes,
                                            dropout=dropout_aux)
        else:
            self.aux1 = None
            self.aux2 = None

        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.dropout = nn.Dropout(p=dropout)
        self.fc = nn.Linear(1024, num_classes)

        if init_weights:
            for m in self.modules():
                if isinstance(m, (nn.Conv2d, nn.Linear)):
                    nn.init.trunc_normal_(m.weight, mean=0.0, std=0.01,
                                          a=-2, b=2)
                elif isinstance(m, nn.BatchNorm2d):
                    nn.init.constant_(m.weight, 1)
                    nn.init.constant_(m.bias, 0)

    def _transform_input(self, x: Any) -> Any:
        if self.transform_input:
            x = _transform_input(x)
        return x

    def _forward(self, x: Any) -> tuple[Any, Any, Any]:
        x = self.conv1(x)
        x = self.maxpool1(x)
        x = self.conv2(x)
        x = self.conv3(x)
        x = self.maxpool2(x)

        x = self.inception3a(x)
        x = self.inception3b(x)
        x = self.maxpool3(x)
        x = self.inception4a(x)
        aux1 = None
        if self.aux1 is not None and self.training:
            aux1 = self.aux1(x)

        x = self.inception4b(x)
        x = self.inception4c(x)
        x = self.inception4d(x)
        aux2 = None
        if self.aux2 is not None and self.training:
            aux2 = self.aux2(x)

        x = self.inception4e(x)
        x = self.maxpool4(x)
        x = self.inception5a(x)
        x = self.inception5b(x)

        x = self.avgpool(x)
        x = _functions.flatten(x, 1)
        x = self.dropout(x)
        x = self.fc(x)
        return x, aux2, aux1

    def eager_outputs(self, x: Any, aux2: Any, aux1: Any) -> Any:
        """The namedtuple in train mode with aux heads, else the logits."""
        if self.training and self.aux_logits:
            return GoogLeNetOutputs(x, aux2, aux1)
        return x

    def forward(self, x: Any) -> Any:
        x = self._transform_input(x)
        x, aux2, aux1 = self._forward(x)
        return self.eager_outputs(x, aux2, aux1)


def _pretrained_kwargs(kwargs: dict) -> None:
    """torchvision's argument rule for pretrained GoogLeNet/Inception v3:
    ``transform_input`` defaults to True, ``aux_logits`` must be True (the
    heads are dropped again after loading unless the caller asked for
    them), ``init_weights`` False."""
    if "transform_input" not in kwargs:
        kwargs["transform_input"] = True
    _override(kwargs, "aux_logits", True)
    _override(kwargs, "init_weights", False)


@register_model()
def googlenet(*, weights: Any = None, progress: bool = True,
              **kwargs: Any) -> GoogLeNet:
    """GoogLeNet (Inception v1), ``torchvision.models.googlenet``.

    With a ``GoogLeNet_Weights`` member (or its name), torchvision's rules
    apply: ``transform_input`` defaults to True (the ported weights expect
    (x - 0.5) / 0.5 inputs; pass ``transform_input=False`` to opt out),
    the model is built with its aux heads and ``init_weights=False``, and
    after loading the aux heads are removed (``aux_logits`` False, ``aux1``
    and ``aux2`` None) unless ``aux_logits=True`` was passed, which keeps
    them and warns that they are untrained. A local checkpoint path is
    loaded into the model the caller's arguments describe (defaults as
    without weights, except ``init_weights`` False), so pass
    ``transform_input``/``aux_logits`` to match the checkpoint.

    Args:
        weights: None (random initialisation); a ``GoogLeNet_Weights``
            member (``GoogLeNet_Weights.DEFAULT``); its name
            (``"IMAGENET1K_V1"``, ``"GoogLeNet_Weights.IMAGENET1K_V1"``,
            ``"DEFAULT"``); or the path of a local checkpoint (.pth/.pt,
            .safetensors, .npz) with the model's ``state_dict()`` keys.
            Enum weights are read from torch's cache
            (``$TORCH_HOME/hub/checkpoints``, default
            ``~/.cache/torch/hub/checkpoints``) or downloaded into it.
        progress: show a download progress bar on stderr.
        **kwargs: passed to :class:`GoogLeNet` (``num_classes``,
            ``aux_logits``, ``transform_input``, ``init_weights``,
            ``blocks``, ``dropout``, ``dropout_aux``). The deprecated
            ``pretrained=True`` means ``weights="IMAGENET1K_V1"`` and warns
            (``UserWarning``), as in torchvision.

    Returns:
        A :class:`GoogLeNet` in training mode, with the weights loaded if
        given, else randomly initialised.

    Shape:
        (N, 3, H, W) -> (N, num_classes).

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
    w = resolve_weights(weights, GoogLeNet_Weights, kwargs)
    keep_aux = kwargs.get("aux_logits", False)
    if w.enum is not None:
        _pretrained_kwargs(kwargs)
    elif w:
        kwargs.setdefault("init_weights", False)
    model = w.load_into(GoogLeNet(**kwargs), progress)
    if w.enum is not None:
        if keep_aux:
            warnings.warn(
                "googlenet: the auxiliary heads (aux1, aux2) were not "
                "trained with these pretrained weights; train them before "
                "using their outputs", UserWarning, stacklevel=2)
        else:
            model.aux_logits = False
            model.aux1 = None
            model.aux2 = None
    return model
