"""In-place parameter initialisers (``torch.nn.init``).

Every function fills the given float array in place and returns it. Random
values come from featx's generator (``featx.manual_seed``) unless a NumPy
``Generator`` is passed. The distributions and their parameters are torch's;
the random streams are NumPy's.
"""
from __future__ import annotations

import math
import warnings
from typing import Optional

import numpy as np

from .. import _rng

__all__ = ["calculate_gain", "uniform_", "normal_", "trunc_normal_",
           "constant_", "ones_", "zeros_", "xavier_uniform_",
           "xavier_normal_", "kaiming_uniform_", "kaiming_normal_"]


def _gen(generator: Optional[np.random.Generator]) -> np.random.Generator:
    return generator if generator is not None else \
        _rng.default_generator()


def _fill(tensor: np.ndarray, values: np.ndarray) -> np.ndarray:
    tensor[...] = values
    return tensor


def _check_array(fn: str, tensor: object) -> None:
    if not isinstance(tensor, np.ndarray):
        raise TypeError(
            f"{fn}: expected a numpy.ndarray, got {type(tensor).__name__}")


def calculate_gain(nonlinearity: str, param: Optional[float] = None
                   ) -> float:
    """Recommended gain for ``nonlinearity`` (torch's table).

    Args:
        nonlinearity: ``linear``, ``conv1d``/``2d``/``3d``,
            ``conv_transpose*``, ``sigmoid``, ``tanh``, ``relu``,
            ``leaky_relu`` or ``selu``.
        param: negative slope for ``leaky_relu`` (default 0.01).

    Returns:
        The gain, unitless.

    Raises:
        ValueError: unknown nonlinearity or a bad slope.
    """
    linear = ["linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d",
              "conv_transpose2d", "conv_transpose3d"]
    if nonlinearity in linear or nonlinearity == "sigmoid":
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is None:
            slope = 0.01
        elif not isinstance(param, bool) and isinstance(param, (int, float)):
            slope = param
        else:
            raise ValueError(
                f"calculate_gain('leaky_relu'): param is the negative slope, "
                f"expected an int or float, got {param!r}")
        return math.sqrt(2.0 / (1 + slope ** 2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(
        f"calculate_gain: no gain known for nonlinearity {nonlinearity!r}; "
        f"expected one of {', '.join(linear)}, sigmoid, tanh, relu, "
        f"leaky_relu, selu")


def _fans(tensor: np.ndarray) -> tuple[int, int]:
    if tensor.ndim < 2:
        raise ValueError(
            f"fan_in/fan_out: expected a weight of at least 2 dimensions "
            f"(out, in, *kernel), got shape {tuple(tensor.shape)}")
    receptive = int(np.prod(tensor.shape[2:])) if tensor.ndim > 2 else 1
    return tensor.shape[1] * receptive, tensor.shape[0] * receptive


def uniform_(tensor: np.ndarray, a: float = 0.0, b: float = 1.0,
             generator: Optional[np.random.Generator] = None) -> np.ndarray:
    """Fills ``tensor`` with U(a, b) samples, in place.

    Args:
        tensor: float ndarray of any shape, written in place.
        a: lower bound, same units as the values.
        b: upper bound.
        generator: NumPy generator; featx's by default.

    Returns:
        ``tensor``.

    Shape:
        Unchanged.
    """
    _check_array("uniform_", tensor)
    g = _gen(generator)
    if tensor.dtype == np.float32 and tensor.flags.c_contiguous:
        # draw float32 straight into the array (no float64 temporary)
        plain = tensor.view(np.ndarray)
        g.random(dtype=np.float32, out=plain)
        plain *= np.float32(b - a)
        plain += np.float32(a)
        return tensor
    return _fill(tensor, g.uniform(a, b, size=tensor.shape))


def normal_(tensor: np.ndarray, mean: float = 0.0, std: float = 1.0,
            generator: Optional[np.random.Generator] = None) -> np.ndarray:
    """Fills ``tensor`` with N(mean, std**2) samples, in place.

    Returns:
        ``tensor``.

    Shape:
        Unchanged.
    """
    _check_array("normal_", tensor)
    g = _gen(generator)
    if tensor.dtype == np.float32 and tensor.flags.c_contiguous:
        plain = tensor.view(np.ndarray)
        g.standard_normal(dtype=np.float32, out=plain)
        plain *= np.float32(std)
        plain += np.float32(mean)
        return tensor
    return _fill(tensor, g.normal(mean, std, size=tensor.shape))


def trunc_normal_(tensor: np.ndarray, mean: float = 0.0, std: float = 1.0,
                  a: float = -2.0, b: float = 2.0,
                  generator: Optional[np.random.Generator] = None
                  ) -> np.ndarray:
    """Fills ``tensor`` with N(mean, std**2) samples redrawn until in [a, b].

    ``a`` and ``b`` are absolute bounds on the values, as in torch.

    Returns:
        ``tensor``.

    Shape:
        Unchanged.
    """
    _check_array("trunc_normal_", tensor)
    g = _gen(generator)
    out = g.normal(mean, std, size=tensor.shape)
    bad = (out < a) | (out > b)
    while bad.any():
        out[bad] = g.normal(mean, std, size=int(bad.sum()))
        bad = (out < a) | (out > b)
    return _fill(tensor, out)


def constant_(tensor: np.ndarray, val: float) -> np.ndarray:
    """Sets every element of ``tensor`` to ``val``, in place."""
    _check_array("constant_", tensor)
    tensor[...] = val
    return tensor


def ones_(tensor: np.ndarray) -> np.ndarray:
    """Sets every element of ``tensor`` to 1, in place."""
    return constant_(tensor, 1.0)


def zeros_(tensor: np.ndarray) -> np.ndarray:
    """Sets every element of ``tensor`` to 0, in place."""
    return constant_(tensor, 0.0)


def xavier_uniform_(tensor: np.ndarray, gain: float = 1.0,
                    generator: Optional[np.random.Generator] = None
                    ) -> np.ndarray:
    """U(-a, a) with a = gain * sqrt(6 / (fan_in + fan_out)), in place.

    Raises:
        ValueError: ``tensor`` has fewer than 2 dimensions.
    """
    fan_in, fan_out = _fans(tensor)
    a = math.sqrt(3.0) * gain * math.sqrt(2.0 / float(fan_in + fan_out))
    return uniform_(tensor, -a, a, generator)


def xavier_normal_(tensor: np.ndarray, gain: float = 1.0,
                   generator: Optional[np.random.Generator] = None
                   ) -> np.ndarray:
    """N(0, std**2) with std = gain * sqrt(2 / (fan_in + fan_out)), in place.

    Raises:
        ValueError: ``tensor`` has fewer than 2 dimensions.
    """
    fan_in, fan_out = _fans(tensor)
    std = gain * math.sqrt(2.0 / float(fan_in + fan_out))
    return normal_(tensor, 0.0, std, generator)


def _kaiming_std(fn: str, tensor: np.ndarray, a: float, mode: str,
                 nonlinearity: str) -> Optional[float]:
    _check_array(fn, tensor)
    if 0 in tensor.shape:
        warnings.warn(f"{fn}: the tensor of shape {tuple(tensor.shape)} has "
                      f"no elements; nothing to initialise", stacklevel=3)
        return None
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(
            f"{fn}: mode: expected 'fan_in' or 'fan_out', got {mode!r}")
    fan_in, fan_out = _fans(tensor)
    fan = fan_in if mode == "fan_in" else fan_out
    return calculate_gain(nonlinearity, a) / math.sqrt(fan)


def kaiming_uniform_(tensor: np.ndarray, a: float = 0.0,
                     mode: str = "fan_in",
                     nonlinearity: str = "leaky_relu",
                     generator: Optional[np.random.Generator] = None
                     ) -> np.ndarray:
    """He uniform init: U(-bound, bound), bound = gain * sqrt(3 / fan), in place.

    Args:
        tensor: weight, shape (out, in, *kernel); written in place.
        a: negative slope of the following leaky ReLU (``leaky_relu`` only).
        mode: ``fan_in`` (in * prod(kernel)) or ``fan_out``
            (out * prod(kernel)).
        nonlinearity: name for :func:`calculate_gain`.
        generator: NumPy generator; featx's by default.

    Returns:
        ``tensor``.

    Shape:
        Unchanged; at least 2-D.

    Raises:
        ValueError: bad ``mode``/``nonlinearity`` or fewer than 2 dims.
    """
    std = _kaiming_std("kaiming_uniform_", tensor, a, mode, nonlinearity)
    if std is None:
        return tensor
    bound = math.sqrt(3.0) * std
    return uniform_(tensor, -bound, bound, generator)


def kaiming_normal_(tensor: np.ndarray, a: float = 0.0,
                    mode: str = "fan_in",
                    nonlinearity: str = "leaky_relu",
                    generator: Optional[np.random.Generator] = None
                    ) -> np.ndarray:
    """He normal init: N(0, std**2), std = gain / sqrt(fan), in place.

    Args: as :func:`kaiming_uniform_`.

    Returns:
        ``tensor``.

    Shape:
        Unchanged; at least 2-D.

    Raises:
        ValueError: bad ``mode``/``nonlinearity`` or fewer than 2 dims.
    """
    std = _kaiming_std("kaiming_normal_", tensor, a, mode, nonlinearity)
    if std is None:
        return tensor
    return normal_(tensor, 0.0, std, generator)
