"""Array functions of ``torch.nn.functional``, on float32 NumPy arrays.

Every function here is an ``@op`` spec builder (see ``featx/_op.py``): called
on arrays it runs the C kernel now; called on traced values it records a
node; called by the plan compiler (``SlotRef`` inputs) it returns the
``OpSpec`` to lower. Composite cases compute in Python instead and, given
``SlotRef`` inputs, return ``NotImplemented`` ("not lowerable, run through
Python"): ``batch_norm(training=True)``, ``adaptive_avg_pool2d`` with a
``None`` size, and ``dropout(training=True)`` (so that every run draws a new
seed rather than one frozen into a plan). ``dropout(training=False)`` returns
its input, placeholder or array, unchanged.

Layout is NCHW; weights are OIHW. float16/float64 arrays and Python numbers
are converted to float32 here; integer, bool and complex arrays are a
``TypeError``.
"""
from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any, Optional, Union

import numpy as np

from .. import _rng
from .._functions import _float_input, _wrap_dim, softmax_rows
from .._functions import sigmoid  # F.sigmoid is torch.sigmoid
from .._op import MetaArray, OpSpec, SlotRef, op

__all__ = ["conv2d", "batch_norm", "relu", "max_pool2d", "avg_pool2d",
           "adaptive_avg_pool2d", "linear", "dropout"]

_IntOrPair = Union[int, Sequence[int]]


def _is_symbolic(*values: Any) -> bool:
    return any(isinstance(v, SlotRef) for v in values)


def _ints(fn: str, name: str, value: Any, n: int = 2) -> Any:
    """An int or an ``n``-tuple of ints, validated; lists become tuples."""
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{fn}: {name} must be an int or a tuple of {n} "
                        f"ints, got {value!r}")
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (tuple, list)) and len(value) == 1:
        value = (value[0],) * n
    if (isinstance(value, (tuple, list)) and len(value) == n and all(
            isinstance(v, (int, np.integer)) and not isinstance(v, bool)
            for v in value)):
        return tuple(int(v) for v in value)
    raise TypeError(f"{fn}: {name} must be an int or a tuple of {n} ints, "
                    f"got {value!r}")


def _pair(value: Any) -> tuple:
    return (value, value) if isinstance(value, int) else tuple(value)


@op
def conv2d(input: Any, weight: Any, bias: Any = None,
           stride: _IntOrPair = 1, padding: Union[_IntOrPair, str] = 0,
           dilation: _IntOrPair = 1, groups: int = 1) -> Any:
    """2-D cross-correlation (``torch.nn.functional.conv2d``).

    Args:
        input: float32 array or traced value, shape (N, C, H, W).
        weight: filters, shape (OC, C/groups, KH, KW).
        bias: per-output-channel offset, shape (OC,), or ``None``.
        stride: step (SH, SW) in pixels; an int means (s, s).
        padding: implicit zero border (PH, PW) in pixels; or ``"valid"``
            (no padding) or ``"same"`` (stride 1 only; the total padding
            DH*(KH-1) must be even, else NotImplementedError).
        dilation: spacing (DH, DW) between kernel taps, in pixels.
        groups: number of channel groups; C and OC divisible by it.

    Returns:
        float32 ndarray (or traced value) of shape (N, OC, OH, OW).

    Shape:
        OH = floor((H + 2*PH - DH*(KH-1) - 1) / SH) + 1; OW likewise.

    Raises:
        TypeError: integer/bool/complex input.
        ValueError: wrong ranks, channel counts or sizes (from the kernel's
            shape check), or ``padding="same"`` with stride > 1.
        NotImplementedError: ``"same"`` padding that would be asymmetric.

    Example:
        >>> x = np.ones((1, 1, 4, 4), np.float32)
        >>> conv2d(x, np.ones((2, 1, 3, 3), np.float32), padding=1).shape
        (1, 2, 4, 4)
    """
    return _conv2d_spec(input, weight, bias, stride, padding, dilation,
                        groups, direct=False)


@op
def _conv2d_direct(input: Any, weight: Any, bias: Any, stride: _IntOrPair,
                   padding: Union[_IntOrPair, str], dilation: _IntOrPair,
                   groups: int) -> Any:
    """:func:`conv2d` by the direct formula only, never Winograd's F(4x4,
    3x3): ``nn.Conv2d`` in train mode, where batch-statistics BatchNorm
    divides by the batch's standard deviation and so can magnify
    Winograd's larger rounding error past torch's tolerance."""
    return _conv2d_spec(input, weight, bias, stride, padding, dilation,
                        groups, direct=True)


# A traced call is named after its function: a traced-through nn.Conv2d
# subclass records 'conv2d' in train mode too, as torchvision names it.
_conv2d_direct.__name__ = _conv2d_direct.__qualname__ = "conv2d"


def _conv2d_spec(input: Any, weight: Any, bias: Any, stride: _IntOrPair,
                 padding: Union[_IntOrPair, str], dilation: _IntOrPair,
                 groups: int, direct: bool) -> OpSpec:
    input = _float_input("conv2d", "input", input)
    weight = _float_input("conv2d", "weight", weight)
    bias = _float_input("conv2d", "bias", bias)
    stride = _ints("conv2d", "stride", stride)
    dilation = _ints("conv2d", "dilation", dilation)
    if isinstance(padding, str):
        padding = _string_padding(
            "conv2d", padding,
            tuple(weight.shape[-2:]) if hasattr(weight, "shape") else None,
            stride, dilation)
    else:
        padding = _ints("conv2d", "padding", padding)
    attrs = {"stride": stride, "padding": padding, "dilation": dilation,
             "groups": int(groups)}
    if direct:
        attrs["direct"] = True
    return OpSpec("conv2d", (input, weight, bias), attrs)


def _string_padding(fn: str, padding: str, kernel: Optional[tuple],
                    stride: Any, dilation: Any) -> tuple:
    """The (top/bottom, left/right) padding of ``padding='valid'/'same'``.

    The one check of a string padding, for ``conv2d`` and ``nn.Conv2d``
    (``fn`` names the caller in the messages); ``kernel`` is the kernel's
    (height, width), or None when not known yet.

    Raises:
        ValueError: another string, or ``'same'`` with a stride other than 1.
        NotImplementedError: ``'same'`` needing asymmetric padding, or an
            unknown kernel shape.
    """
    if padding not in ("valid", "same"):
        raise ValueError(
            f"{fn} padding: expected an int, a pair of ints, 'valid' or "
            f"'same', got {padding!r}")
    if padding == "valid":
        return (0, 0)
    if _pair(stride) != (1, 1):
        raise ValueError(
            f"{fn} padding='same' keeps the input size, so it needs stride "
            f"1; got stride={_pair(stride)}")
    if kernel is None:
        raise NotImplementedError(
            f"{fn}: padding='same' needs a weight array with a known shape")
    pads = []
    for d, k in zip(_pair(dilation), kernel, strict=True):
        total = d * (k - 1)
        if total % 2:
            raise NotImplementedError(
                f"{fn}: padding='same' with kernel {tuple(kernel)}"
                f" and dilation {dilation} needs asymmetric padding, which "
                f"featx does not support; pad explicitly")
        pads.append(total // 2)
    return tuple(pads)


@op
def batch_norm(input: Any, running_mean: Any, running_var: Any,
               weight: Any = None, bias: Any = None, training: bool = False,
               momentum: Optional[float] = 0.1, eps: float = 1e-5) -> Any:
    """Per-channel normalisation (``torch.nn.functional.batch_norm``).

    ``y = (x - mean) / sqrt(var + eps) * weight + bias`` per channel. With
    ``training=False`` mean/var are the running statistics (one C kernel).
    With ``training=True`` they are the batch statistics over (N, H, W),
    computed in float64 (biased variance); the running statistics, when
    given, are updated in place: ``r = (1 - momentum) * r + momentum * s``,
    with the unbiased variance for ``running_var``.

    Args:
        input: float32 array or traced value, shape (N, C) or (N, C, *).
        running_mean: shape (C,); required when ``training=False``.
        running_var: shape (C,); required when ``training=False``.
        weight: scale, shape (C,), or ``None`` (1).
        bias: offset, shape (C,), or ``None`` (0).
        training: use batch statistics and update the running ones.
        momentum: fraction (0..1) of the new statistic mixed into the
            running one; ``None`` is treated as 0.0 (no update).
        eps: added to the variance, unitless.

    Returns:
        float32 ndarray of the input's shape.

    Shape:
        Output = input shape.

    Raises:
        TypeError: integer/bool/complex input.
        ValueError: missing running statistics in eval, shape mismatches,
            or one value per channel when training.
    """
    input = _float_input("batch_norm", "input", input)
    if not training:
        if running_mean is None or running_var is None:
            raise ValueError(
                "batch_norm: running_mean and running_var must be given "
                "when training=False")
        return OpSpec("batch_norm", (
            input, _float_input("batch_norm", "running_mean", running_mean),
            _float_input("batch_norm", "running_var", running_var),
            _float_input("batch_norm", "weight", weight),
            _float_input("batch_norm", "bias", bias)),
                      {"eps": float(eps), "act": 0})
    if _is_symbolic(input, running_mean, running_var, weight, bias):
        return NotImplemented
    return _batch_norm_train(input, running_mean, running_var, weight, bias,
                             0.0 if momentum is None else float(momentum),
                             float(eps))


def _batch_norm_train(input: Any, running_mean: Any, running_var: Any,
                      weight: Any, bias: Any, momentum: float,
                      eps: float) -> OpSpec:
    """The kernel call that normalises with batch statistics, after
    updating the running ones in place (not for a shape-only run)."""
    x = np.asarray(input)
    if x.ndim < 2:
        raise ValueError(
            f"batch_norm: expected an input of shape (N, C, *), got shape "
            f"{tuple(x.shape)}")
    c = x.shape[1]
    axes = (0,) + tuple(range(2, x.ndim))
    per_channel = x.shape[0] * int(np.prod(x.shape[2:], dtype=np.int64))
    if per_channel == 1:
        raise ValueError(
            f"batch_norm in training mode: each channel needs at least 2 "
            f"values for its batch statistics, input of shape "
            f"{tuple(x.shape)} has 1 per channel")
    if per_channel == 0 or isinstance(input, MetaArray):  # no statistics
        mean = np.zeros((c,), np.float32)
        var = np.ones((c,), np.float32)
    else:
        x64 = x.astype(np.float64)
        with np.errstate(invalid="ignore", over="ignore"):  # inf/nan spread as in torch
            mean64 = x64.mean(axis=axes)
            var64 = x64.var(axis=axes)
        if running_mean is not None:
            running_mean[...] = ((1.0 - momentum) * running_mean
                                 + momentum * mean64)
        if running_var is not None:
            unbiased = var64 * (per_channel / (per_channel - 1))
            running_var[...] = ((1.0 - momentum) * running_var
                                + momentum * unbiased)
        mean = mean64.astype(np.float32)
        var = var64.astype(np.float32)
    weight = _float_input("batch_norm", "weight", weight)
    bias = _float_input("batch_norm", "bias", bias)
    return OpSpec("batch_norm", (x, mean, var, weight, bias),
                  {"eps": eps, "act": 0})


@op
def relu(input: Any, inplace: bool = False) -> Any:
    """max(x, 0) elementwise (``torch.nn.functional.relu``).

    Args:
        input: float32 array or traced value, any shape.
        inplace: accepted for torch compatibility; featx always returns a
            new array and never modifies the input.

    Returns:
        float32 ndarray of the input's shape.

    Shape:
        Output = input shape.

    Raises:
        TypeError: integer/bool/complex input.

    Example:
        >>> relu(np.array([-1.0, 2.0], np.float32))
        array([0., 2.], dtype=float32)
    """
    input = _float_input("relu", "input", input)
    return OpSpec("relu", (input,), {})


@op
def max_pool2d(input: Any, kernel_size: _IntOrPair,
               stride: Optional[_IntOrPair] = None, padding: _IntOrPair = 0,
               dilation: _IntOrPair = 1, ceil_mode: bool = False,
               return_indices: bool = False) -> Any:
    """Max over sliding windows of each channel plane (``F.max_pool2d``).

    Args:
        input: float32 array or traced value, shape (N, C, H, W).
        kernel_size: window (KH, KW) in pixels; an int means (k, k).
        stride: step (SH, SW) in pixels; defaults to kernel_size.
        padding: implicit -inf border (PH, PW) in pixels, each <= half of
            kernel_size (dilation not counted, as in torch).
        dilation: spacing between window taps, in pixels.
        ceil_mode: use ceil instead of floor for the output size (a window
            must still start inside the input or left padding).
        return_indices: not supported (NotImplementedError).

    Returns:
        float32 ndarray (or traced value) of shape (N, C, OH, OW).

    Shape:
        OH = floor((H + 2*PH - DH*(KH-1) - 1) / SH) + 1 (ceil if ceil_mode);
        OW likewise.

    Raises:
        TypeError: integer/bool/complex input.
        ValueError: non-4-D input, non-positive sizes, padding > half of
            kernel_size, or an empty output.
        NotImplementedError: ``return_indices=True``.

    Example:
        >>> max_pool2d(np.zeros((1, 3, 8, 8), np.float32), 2).shape
        (1, 3, 4, 4)
    """
    input = _float_input("max_pool2d", "input", input)
    if return_indices:
        raise NotImplementedError(
            "max_pool2d: return_indices=True is not supported")
    if stride is None or (isinstance(stride, (list, tuple))
                          and len(stride) == 0):
        stride = kernel_size
    return OpSpec("max_pool2d", (input,), {
        "kernel_size": _ints("max_pool2d", "kernel_size", kernel_size),
        "stride": _ints("max_pool2d", "stride", stride),
        "padding": _ints("max_pool2d", "padding", padding),
        "dilation": _ints("max_pool2d", "dilation", dilation),
        "ceil_mode": bool(ceil_mode)})


@op
def avg_pool2d(input: Any, kernel_size: _IntOrPair,
               stride: Optional[_IntOrPair] = None, padding: _IntOrPair = 0,
               ceil_mode: bool = False, count_include_pad: bool = True,
               divisor_override: Optional[int] = None) -> Any:
    """Mean over sliding windows of each channel plane (``F.avg_pool2d``).

    Args:
        input: float32 array or traced value, shape (N, C, H, W).
        kernel_size: window (KH, KW) in pixels; an int means (k, k).
        stride: step (SH, SW) in pixels; defaults to kernel_size.
        padding: implicit zero border (PH, PW) in pixels, each <= half of
            kernel_size.
        ceil_mode: use ceil instead of floor for the output size.
        count_include_pad: count padded zeros in the divisor.
        divisor_override: if given, divide every window sum by this
            (non-zero) count instead.

    Returns:
        float32 ndarray (or traced value) of shape (N, C, OH, OW).

    Shape:
        OH = floor((H + 2*PH - KH) / SH) + 1 (ceil if ceil_mode); OW likewise.

    Raises:
        TypeError: integer/bool/complex input.
        ValueError: non-4-D input, bad sizes, ``divisor_override=0``.

    Example:
        >>> avg_pool2d(np.ones((1, 1, 4, 4), np.float32), 2)[0, 0, 0, 0]
        np.float32(1.0)
    """
    input = _float_input("avg_pool2d", "input", input)
    if stride is None or (isinstance(stride, (list, tuple))
                          and len(stride) == 0):
        stride = kernel_size
    if divisor_override is not None and int(divisor_override) == 0:
        raise ValueError("avg_pool2d: divisor_override must be non-zero, "
                         "got 0")
    return OpSpec("avg_pool2d", (input,), {
        "kernel_size": _ints("avg_pool2d", "kernel_size", kernel_size),
        "stride": _ints("avg_pool2d", "stride", stride),
        "padding": _ints("avg_pool2d", "padding", padding),
        "ceil_mode": bool(ceil_mode),
        "count_include_pad": bool(count_include_pad),
        "divisor_override": (0 if divisor_override is None
                             else int(divisor_override))})


@op
def adaptive_avg_pool2d(input: Any,
                        output_size: Union[int, None,
                                           Sequence[Optional[int]]]) -> Any:
    """Mean over torch's adaptive bins (``F.adaptive_avg_pool2d``).

    Output cell i along H averages rows floor(i*H/OH) to ceil((i+1)*H/OH)-1;
    W likewise.

    Args:
        input: float32 array or traced value, shape (N, C, H, W).
        output_size: (OH, OW) in pixels; an int means (s, s); a ``None``
            entry keeps that input size (needs a concrete array).

    Returns:
        float32 ndarray (or traced value) of shape (N, C, OH, OW).

    Shape:
        (N, C, H, W) -> (N, C, OH, OW).

    Raises:
        TypeError: integer/bool/complex input, or a bad ``output_size``.
        ValueError: non-4-D input or a non-positive size.

    Example:
        >>> adaptive_avg_pool2d(np.ones((2, 3, 7, 5), np.float32), 1).shape
        (2, 3, 1, 1)
    """
    input = _float_input("adaptive_avg_pool2d", "input", input)
    if output_size is None or isinstance(output_size, (int, np.integer)):
        size = [output_size, output_size]
    else:
        size = list(output_size)
        if len(size) == 1:
            size = size * 2
    if len(size) != 2:
        raise TypeError(
            f"adaptive_avg_pool2d: output_size must be an int or a pair, "
            f"got {output_size!r}")
    if any(s is None for s in size):
        if _is_symbolic(input):
            return NotImplemented
        shape = np.shape(input)
        size = [shape[-2 + i] if s is None else s for i, s in enumerate(size)]
    return OpSpec("adaptive_avg_pool2d", (input,), {
        "output_size": _ints("adaptive_avg_pool2d", "output_size",
                             tuple(size))})


@op
def linear(input: Any, weight: Any, bias: Any = None) -> Any:
    """``y = x @ weight.T + bias`` (``torch.nn.functional.linear``).

    Args:
        input: float32 array or traced value, shape (*, IN).
        weight: shape (OUT, IN).
        bias: shape (OUT,) or ``None``.

    Returns:
        float32 ndarray of shape (*, OUT).

    Shape:
        (*, IN) -> (*, OUT).

    Raises:
        TypeError: integer/bool/complex input.
        ValueError: IN differs between input and weight.

    Example:
        >>> linear(np.ones((2, 3), np.float32), np.ones((4, 3), np.float32)).shape
        (2, 4)
    """
    input = _float_input("linear", "input", input)
    weight = _float_input("linear", "weight", weight)
    bias = _float_input("linear", "bias", bias)
    return OpSpec("linear", (input, weight, bias), {"act": 0})


def _check_dropout_p(p: float) -> None:
    """Raises TypeError unless p is a real number, ValueError unless 0 <= p <= 1."""
    if isinstance(p, (bool, np.bool_)) or not isinstance(p, (int, float, np.integer,
                                                             np.floating)):
        raise TypeError(
            f"dropout: p is the probability of zeroing an element, expected a "
            f"number in [0, 1], got {p!r} ({type(p).__name__})")
    if not (0.0 <= p <= 1.0):
        raise ValueError(
            f"dropout: p is the probability of zeroing an element, expected "
            f"a value in [0, 1], got {p}")


@op
def dropout(input: Any, p: float = 0.5, training: bool = True,
            inplace: bool = False) -> Any:
    """Zeroes elements with probability ``p``, scales the rest by 1/(1-p).

    ``torch.nn.functional.dropout``. The mask is drawn from a seed taken
    from featx's generator, so ``featx.manual_seed`` makes it reproducible
    (the stream differs from torch's).

    Args:
        input: float32 array or traced value, any shape.
        p: drop probability, a fraction in [0, 1].
        training: if ``False`` the input is returned unchanged (the same
            object).
        inplace: accepted for torch compatibility; featx returns a new
            array.

    Returns:
        float32 ndarray of the input's shape (the input itself when not
        training).

    Shape:
        Output = input shape.

    Raises:
        ValueError: ``p`` outside [0, 1].
        TypeError: integer/bool/complex input.
    """
    _check_dropout_p(p)
    input = _float_input("dropout", "input", input)
    if not training:
        return input
    if _is_symbolic(input):
        # Not lowered to a fixed kernel step: a plan would freeze the seed
        # drawn here, and every run would drop the same elements.
        return NotImplemented
    return OpSpec("dropout", (input,),
                  {"p": float(p), "seed": _rng.draw_seed()})




# ---- activations and layer norm (the mobile / efficient families) -------

__all__ += ["hardswish", "hardsigmoid", "relu6", "silu", "sigmoid", "gelu",
            "layer_norm"]


@op
def hardswish(input: Any, inplace: bool = False) -> Any:
    """``x * min(max(x + 3, 0), 6) / 6`` elementwise (``F.hardswish``).

    Args:
        input: float32 array or traced value, any shape.
        inplace: accepted for torch compatibility; featx always returns a
            new array and never modifies the input.

    Returns:
        float32 ndarray of the input's shape.

    Shape:
        Output = input shape.

    Raises:
        TypeError: integer/bool/complex input.

    Example:
        >>> hardswish(np.array([-4.0, 0.0, 1.0, 4.0], np.float32))
        array([-0.       ,  0.       ,  0.6666667,  4.       ], dtype=float32)
    """
    input = _float_input("hardswish", "input", input)
    return OpSpec("hardswish", (input,), {})


@op
def hardsigmoid(input: Any, inplace: bool = False) -> Any:
    """``min(max(x + 3, 0), 6) / 6`` elementwise (``F.hardsigmoid``).

    Args:
        input: float32 array or traced value, any shape.
        inplace: accepted for torch compatibility; featx always returns a
            new array and never modifies the input.

    Returns:
        float32 ndarray of the input's shape, values in [0, 1].

    Shape:
        Output = input shape.

    Raises:
        TypeError: integer/bool/complex input.

    Example:
        >>> hardsigmoid(np.array([-4.0, 0.0, 4.0], np.float32))
        array([0. , 0.5, 1. ], dtype=float32)
    """
    input = _float_input("hardsigmoid", "input", input)
    return OpSpec("hardsigmoid", (input,), {})


@op
def relu6(input: Any, inplace: bool = False) -> Any:
    """``min(max(x, 0), 6)`` elementwise (``F.relu6``).

    Args:
        input: float32 array or traced value, any shape.
        inplace: accepted for torch compatibility; featx always returns a
            new array and never modifies the input.

    Returns:
        float32 ndarray of the input's shape, values in [0, 6].

    Shape:
        Output = input shape.

    Raises:
        TypeError: integer/bool/complex input.

    Example:
        >>> relu6(np.array([-1.0, 3.0, 7.0], np.float32))
        array([0., 3., 6.], dtype=float32)
    """
    input = _float_input("relu6", "input", input)
    return OpSpec("relu6", (input,), {})


@op
def silu(input: Any, inplace: bool = False) -> Any:
    """``x * sigmoid(x)`` elementwise, a.k.a. swish (``F.silu``).

    Args:
        input: float32 array or traced value, any shape.
        inplace: accepted for torch compatibility; featx always returns a
            new array and never modifies the input.

    Returns:
        float32 ndarray of the input's shape.

    Shape:
        Output = input shape.

    Raises:
        TypeError: integer/bool/complex input.

    Example:
        >>> silu(np.array([0.0, 1.0], np.float32))
        array([0.       , 0.7310586], dtype=float32)
    """
    input = _float_input("silu", "input", input)
    return OpSpec("silu", (input,), {})


_GELU_APPROXIMATE = {"none": 0, "tanh": 1}


@op
def gelu(input: Any, approximate: str = "none") -> Any:
    """Gaussian error linear unit elementwise (``F.gelu``).

    ``approximate="none"``: ``x/2 * (1 + erf(x / sqrt(2)))``;
    ``approximate="tanh"``: ``x/2 * (1 + tanh(sqrt(2/pi) * (x + 0.044715
    x^3)))``.

    Args:
        input: float32 array or traced value, any shape.
        approximate: ``"none"`` (exact) or ``"tanh"``.

    Returns:
        float32 ndarray of the input's shape.

    Shape:
        Output = input shape.

    Raises:
        TypeError: integer/bool/complex input.
        ValueError: ``approximate`` not ``"none"`` or ``"tanh"``.

    Example:
        >>> gelu(np.array([0.0, 2.0], np.float32))
        array([0.       , 1.9544997], dtype=float32)
    """
    if approximate not in _GELU_APPROXIMATE:
        raise ValueError(
            f"gelu: approximate: expected 'none' (exact erf form) or 'tanh', "
            f"got {approximate!r}")
    input = _float_input("gelu", "input", input)
    return OpSpec("gelu", (input,),
                  {"approximate": _GELU_APPROXIMATE[approximate]})


@op
def layer_norm(input: Any, normalized_shape: Union[int, Sequence[int]],
               weight: Any = None, bias: Any = None,
               eps: float = 1e-5) -> Any:
    """Normalises over the last dims (``torch.nn.functional.layer_norm``).

    For each position of the leading dims, over the D elements of the last
    ``len(normalized_shape)`` dims: ``y = (x - mean) / sqrt(var + eps) *
    weight + bias`` with the biased variance (statistics in float64).

    Args:
        input: float32 array or traced value, shape (*, *normalized_shape).
        normalized_shape: the sizes of the last dims to normalise over; an
            int means one dim.
        weight: elementwise scale, shape ``normalized_shape``, or ``None``
            (1).
        bias: elementwise offset, shape ``normalized_shape``, or ``None``
            (0).
        eps: added to the variance, unitless.

    Returns:
        float32 ndarray of the input's shape.

    Shape:
        Output = input shape.

    Raises:
        TypeError: integer/bool/complex input or a bad ``normalized_shape``.
        ValueError: the input's last dims differ from ``normalized_shape``,
            or weight/bias of another shape.

    Example:
        >>> y = layer_norm(np.array([[1.0, 3.0]], np.float32), 2)
        >>> np.round(y, 4)
        array([[-1.,  1.]], dtype=float32)
    """
    if isinstance(normalized_shape, (int, np.integer)) and not isinstance(
            normalized_shape, bool):
        normalized_shape = (int(normalized_shape),)
    if (not isinstance(normalized_shape, (tuple, list)) or any(
            isinstance(s, bool) or not isinstance(s, (int, np.integer))
            for s in normalized_shape)):
        raise TypeError(
            f"layer_norm: normalized_shape must be an int or a sequence of "
            f"ints, got {normalized_shape!r}")
    shape = tuple(int(s) for s in normalized_shape)
    if not shape:
        raise ValueError("layer_norm: normalized_shape must have at least "
                         "one dimension, got ()")
    input = _float_input("layer_norm", "input", input)
    if isinstance(input, np.ndarray) and (
            input.ndim < len(shape) or input.shape[input.ndim - len(shape):]
            != shape):
        raise ValueError(
            f"layer_norm: given normalized_shape={list(shape)}, expected an "
            f"input with shape [*, {', '.join(map(str, shape))}], but got "
            f"input of size {list(input.shape)}")
    return OpSpec("layer_norm", (
        input, _float_input("layer_norm", "weight", weight),
        _float_input("layer_norm", "bias", bias)),
                  {"normalized_ndim": len(shape), "eps": float(eps)})


# ---- softmax ---------------------------------------------------------------

__all__ += ["softmax", "log_softmax"]


def _softmax(fn: str, input: Any, dim: Any, dtype: Any, log: bool) -> Any:
    if isinstance(input, SlotRef):
        return NotImplemented  # computed here: a plan runs it as a Python step
    x = _float_input(fn, "input", np.asarray(input))
    if dtype is not None and np.dtype(dtype).kind != "f":
        raise TypeError(f"{fn}: dtype must be a float dtype or None, got {dtype!r}")
    if dim is None:
        dim = 0 if x.ndim in (0, 1, 3) else 1
        warnings.warn(f"{fn} without dim: normalising over dim {dim} of a {x.ndim}-d input, "
                      "torch's deprecated implicit choice; pass dim= explicitly",
                      UserWarning, stacklevel=4)
    d = _wrap_dim(fn, dim, x.ndim)
    out = softmax_rows(x.reshape(x.shape or (1,)), d, log)
    return out.reshape(x.shape).astype(np.float32)


@op
def softmax(input: Any, dim: Optional[int] = None, _stacklevel: int = 3,
            dtype: Any = None) -> Any:
    """``exp(x) / sum(exp(x))`` along ``dim`` (``F.softmax``).

    Computed in float64 from the row's maximum (so large logits do not
    overflow), returned as float32; a row holding NaN or +inf gives NaN, as
    in torch. Computed with NumPy; a plan runs it as a Python step.

    Args:
        input: float32 array or traced value, any shape.
        dim: the dim to normalise over (negative counts from the end).
            ``None`` warns and picks torch's implicit dim (0 for a 0-, 1- or
            3-d input, else 1).
        _stacklevel: accepted for torch compatibility (no effect).
        dtype: ``None`` or a float dtype, accepted for torch compatibility;
            the result is float32.

    Returns:
        float32 ndarray of the input's shape.

    Raises:
        IndexError: ``dim`` out of range.
        TypeError: integer/bool/complex input, a non-int ``dim`` or a
            non-float ``dtype``.

    Example:
        >>> softmax(np.array([[0.0, np.log(3.0)]], np.float32), dim=1)
        array([[0.25, 0.75]], dtype=float32)
    """
    return _softmax("softmax", input, dim, dtype, log=False)


@op
def log_softmax(input: Any, dim: Optional[int] = None, _stacklevel: int = 3,
                dtype: Any = None) -> Any:
    """``x - log(sum(exp(x)))`` along ``dim`` (``F.log_softmax``); as
    :func:`softmax`, without the rounding of a log of a softmax.

    Example:
        >>> log_softmax(np.array([[0.0, 0.0]], np.float32), dim=1)
        array([[-0.6931472, -0.6931472]], dtype=float32)
    """
    return _softmax("log_softmax", input, dim, dtype, log=True)
