"""Building blocks of torchvision.ops.misc, on featx modules.

``Conv2dNormActivation`` and ``MLP`` are ``Sequential`` subclasses with
torchvision's child indices (so ``state_dict`` keys are ``0.weight``,
``1.running_mean``, ...); ``SqueezeExcitation`` has torchvision's attribute
names (``avgpool``, ``fc1``, ``fc2``, ``activation``, ``scale_activation``).
All of them are leaves for the tracer.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Callable, Optional, Union

import numpy as np

from .. import _core, _functions, nn
from .._op import OpSpec, SlotRef, conv2d_bn_spec
from ..nn import functional as F

__all__ = ["Conv2dNormActivation", "SqueezeExcitation", "MLP", "Permute",
           "FrozenBatchNorm2d"]

_ModuleFactory = Callable[..., nn.Module]


def _same_padding(kernel_size: Union[int, Sequence[int]],
                  dilation: Union[int, Sequence[int]]) -> Any:
    """torchvision's default padding: ``(k - 1) // 2 * d`` per dim."""
    if isinstance(kernel_size, int) and isinstance(dilation, int):
        return (kernel_size - 1) // 2 * dilation
    n = (len(kernel_size) if isinstance(kernel_size, Sequence)
         else len(dilation))  # type: ignore[arg-type]
    ks = (tuple(kernel_size) if isinstance(kernel_size, Sequence)
          else (kernel_size,) * n)
    ds = tuple(dilation) if isinstance(dilation, Sequence) else (dilation,) * n
    return tuple((k - 1) // 2 * d for k, d in zip(ks, ds, strict=True))


class Conv2dNormActivation(nn.Sequential):
    """Conv2d, then an optional norm layer, then an optional activation
    (``torchvision.ops.Conv2dNormActivation``).

    Children: ``0`` the ``Conv2d``, then ``1`` the norm layer (if any), then
    the activation (if any), numbered consecutively.

    Args:
        in_channels: input channels C.
        out_channels: output channels OC (also stored as ``out_channels``).
        kernel_size: (KH, KW) in pixels; an int means (k, k).
        stride: (SH, SW) in pixels.
        padding: zero border in pixels; ``None`` means
            ``(kernel_size - 1) // 2 * dilation`` per dim ("same" for odd
            kernels at stride 1).
        groups: channel groups of the convolution.
        norm_layer: factory called as ``norm_layer(out_channels)``, or
            ``None`` for no norm layer.
        activation_layer: factory called as ``activation_layer(inplace=
            inplace)`` (without arguments when ``inplace`` is ``None``), or
            ``None`` for no activation.
        dilation: spacing between kernel taps, in pixels.
        inplace: passed to the activation; ``None`` uses its default.
        bias: convolution bias; ``None`` means "only without a norm layer".

    Shape:
        (N, C, H, W) -> (N, OC, OH, OW), OH/OW as for ``Conv2d``.
    """

    def __init__(self, in_channels: int, out_channels: int,
                 kernel_size: Union[int, tuple] = 3,
                 stride: Union[int, tuple] = 1,
                 padding: Optional[Union[int, tuple, str]] = None,
                 groups: int = 1,
                 norm_layer: Optional[_ModuleFactory] = nn.BatchNorm2d,
                 activation_layer: Optional[_ModuleFactory] = nn.ReLU,
                 dilation: Union[int, tuple] = 1,
                 inplace: Optional[bool] = True,
                 bias: Optional[bool] = None) -> None:
        if padding is None:
            padding = _same_padding(kernel_size, dilation)
        if bias is None:
            bias = norm_layer is None
        layers: list[nn.Module] = [nn.Conv2d(
            in_channels, out_channels, kernel_size, stride, padding,
            dilation=dilation, groups=groups, bias=bias)]
        if norm_layer is not None:
            layers.append(norm_layer(out_channels))
        if activation_layer is not None:
            kwargs = {} if inplace is None else {"inplace": inplace}
            layers.append(activation_layer(**kwargs))
        super().__init__(*layers)
        self.out_channels = out_channels

    def forward(self, input: Any) -> Any:
        spec = self._fused(input)
        if spec is None:
            return super().forward(input)
        return _core.call(spec.name, spec.inputs, spec.attrs)

    def _fused(self, input: Any) -> OpSpec | None:
        """On a float32 array (not a shape-only MetaArray), the one conv2d_bn call equal to conv ->
        eval-mode batch norm (-> relu, relu6, hardswish or silu), bit for
        bit; else None. Each featx.nn child says what it computes as the
        OpSpec its forward returns on a placeholder (as the plan compiler
        lowers layers); anything else, or training, is not fused (and
        errors are left to the unfused layers)."""
        if (type(input) is not np.ndarray or input.dtype != np.float32
                or not 2 <= len(self) <= 3):
            return None
        specs = []
        for i, m in enumerate(self):
            if m.training or not type(m).__module__.startswith("featx.nn"):
                return None
            ref = SlotRef(i)
            try:
                spec = m.forward(ref)
            except Exception:
                return None
            if not isinstance(spec, OpSpec) or spec.inputs[:1] != (ref,):
                return None
            specs.append(spec)
        fused = conv2d_bn_spec(*specs)
        if fused is None:
            return None
        return fused._replace(inputs=(input,) + fused.inputs[1:])


class SqueezeExcitation(nn.Module):
    """Squeeze-and-excitation channel gating
    (``torchvision.ops.SqueezeExcitation``).

    ``scale = scale_activation(fc2(activation(fc1(avgpool(x)))))``, output
    ``scale * x`` (scale broadcast over H, W); fc1/fc2 are 1x1 convolutions
    with bias.

    Args:
        input_channels: channels C of the input.
        squeeze_channels: channels S of the bottleneck.
        activation: factory of the bottleneck activation (``ReLU``).
        scale_activation: factory of the gate activation (``Sigmoid``).

    Shape:
        (N, C, H, W) -> (N, C, H, W).
    """

    def __init__(self, input_channels: int, squeeze_channels: int,
                 activation: _ModuleFactory = nn.ReLU,
                 scale_activation: _ModuleFactory = nn.Sigmoid) -> None:
        super().__init__()
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(input_channels, squeeze_channels, 1)
        self.fc2 = nn.Conv2d(squeeze_channels, input_channels, 1)
        self.activation = activation()
        self.scale_activation = scale_activation()

    def _scale(self, input: Any) -> Any:
        scale = self.avgpool(input)
        scale = self.fc1(scale)
        scale = self.activation(scale)
        scale = self.fc2(scale)
        return self.scale_activation(scale)

    def forward(self, input: Any) -> Any:
        scale = self._scale(input)
        return _functions.mul(scale, input)


class MLP(nn.Sequential):
    """Linear layers with norm, activation and dropout in between
    (``torchvision.ops.MLP``).

    For each hidden size but the last: ``Linear``, the norm layer (if any),
    the activation, ``Dropout``; then a final ``Linear`` to
    ``hidden_channels[-1]`` and a ``Dropout``. Children are numbered
    ``0, 1, ...`` in that order.

    Args:
        in_channels: input features.
        hidden_channels: output features of each ``Linear``.
        norm_layer: factory called with the hidden size, or ``None``.
        activation_layer: activation factory.
        inplace: passed to the activation and dropout; ``None`` uses their
            defaults.
        bias: bias of the ``Linear`` layers.
        dropout: drop probability, a fraction in [0, 1].

    Shape:
        (*, in_channels) -> (*, hidden_channels[-1]).
    """

    def __init__(self, in_channels: int, hidden_channels: list,
                 norm_layer: Optional[_ModuleFactory] = None,
                 activation_layer: Optional[_ModuleFactory] = nn.ReLU,
                 inplace: Optional[bool] = None, bias: bool = True,
                 dropout: float = 0.0) -> None:
        kwargs = {} if inplace is None else {"inplace": inplace}
        layers: list[nn.Module] = []
        in_dim = in_channels
        for hidden_dim in hidden_channels[:-1]:
            layers.append(nn.Linear(in_dim, hidden_dim, bias=bias))
            if norm_layer is not None:
                layers.append(norm_layer(hidden_dim))
            layers.append(activation_layer(**kwargs))  # type: ignore[misc]
            layers.append(nn.Dropout(dropout, **kwargs))
            in_dim = hidden_dim
        layers.append(nn.Linear(in_dim, hidden_channels[-1], bias=bias))
        layers.append(nn.Dropout(dropout, **kwargs))
        super().__init__(*layers)


class Permute(nn.Module):
    """Reorders the input's dims (``torchvision.ops.Permute``).

    Args:
        dims: output dim i is input dim ``dims[i]``.

    Shape:
        (d0, .., dn) -> (d[dims[0]], .., d[dims[n]]); the result is a
        contiguous copy (torch returns a view).
    """

    def __init__(self, dims: list) -> None:
        super().__init__()
        self.dims = dims

    def forward(self, x: Any) -> Any:
        return _functions.permute(x, self.dims)


class FrozenBatchNorm2d(nn.Module):
    """BatchNorm2d with fixed statistics and affine parameters
    (``torchvision.ops.FrozenBatchNorm2d``).

    ``y = (x - running_mean) / sqrt(running_var + eps) * weight + bias``
    per channel, in both modes. All four are buffers (weight 1, bias 0,
    mean 0, var 1); a ``num_batches_tracked`` entry in a loaded state dict
    is ignored.

    Args:
        num_features: channels C.
        eps: added to the variance, unitless.

    Shape:
        (N, C, H, W) -> (N, C, H, W).
    """

    def __init__(self, num_features: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.eps = eps
        self.register_buffer("weight", np.ones((num_features,), np.float32))
        self.register_buffer("bias", np.zeros((num_features,), np.float32))
        self.register_buffer("running_mean",
                             np.zeros((num_features,), np.float32))
        self.register_buffer("running_var",
                             np.ones((num_features,), np.float32))

    def _load_from_state_dict(self, state_dict: Mapping[str, Any],
                              prefix: str, missing_keys: list,
                              unexpected_keys: list,
                              error_msgs: list) -> None:
        key = prefix + "num_batches_tracked"
        if key in state_dict:
            state_dict = {k: v for k, v in state_dict.items() if k != key}
        super()._load_from_state_dict(state_dict, prefix, missing_keys,
                                      unexpected_keys, error_msgs)

    def forward(self, x: Any) -> Any:
        return F.batch_norm(x, self.running_mean, self.running_var,
                            self.weight, self.bias, False, 0.0, self.eps)

    def __repr__(self) -> str:
        return (f"{self.__class__.__name__}({self.weight.shape[0]}, "
                f"eps={self.eps})")
