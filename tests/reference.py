"""float64 NumPy reference implementations of featx's ops.

Written from torch's documented semantics, independently of the C code:
each function takes float arrays (any float dtype), computes in float64 and
returns a float64 array. The op tests compare every kernel (scalar and each
ISA) against these.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np


def _pair(v: int | Sequence[int]) -> tuple[int, int]:
    if isinstance(v, (int, np.integer)):
        return int(v), int(v)
    v = tuple(int(a) for a in v)
    return (v[0], v[0]) if len(v) == 1 else (v[0], v[1])


def _f64(*arrays: np.ndarray | None) -> list[np.ndarray | None]:
    return [None if a is None else np.asarray(a, dtype=np.float64) for a in arrays]


def conv_out_size(size: int, k: int, s: int, p: int, d: int = 1,
                  ceil_mode: bool = False) -> int:
    """torch's output size of a sliding window (conv and pooling)."""
    eff = d * (k - 1) + 1
    num = size + 2 * p - eff
    if num < 0:
        return 0
    out = (-(-num // s) if ceil_mode else num // s) + 1
    if ceil_mode and (out - 1) * s >= size + p:
        out -= 1
    return out


def conv2d(x, w, b=None, stride=1, padding=0, dilation=1, groups=1):
    x, w, b = _f64(x, w, b)
    sh, sw = _pair(stride)
    ph, pw = _pair(padding)
    dh, dw = _pair(dilation)
    n, c, h, wd = x.shape
    oc, cg, kh, kw = w.shape
    oh = conv_out_size(h, kh, sh, ph, dh)
    ow = conv_out_size(wd, kw, sw, pw, dw)
    xp = np.zeros((n, c, h + 2 * ph, wd + 2 * pw))
    xp[:, :, ph:ph + h, pw:pw + wd] = x
    y = np.zeros((n, oc, oh, ow))
    ocg = oc // groups
    for g in range(groups):
        xg = xp[:, g * cg:(g + 1) * cg]
        wg = w[g * ocg:(g + 1) * ocg]
        for u in range(kh):
            for v in range(kw):
                patch = xg[:, :, u * dh: u * dh + sh * (oh - 1) + 1: sh,
                           v * dw: v * dw + sw * (ow - 1) + 1: sw]
                y[:, g * ocg:(g + 1) * ocg] += np.einsum(
                    "nchw,oc->nohw", patch, wg[:, :, u, v])
    if b is not None:
        y += b[None, :, None, None]
    return y


def linear(x, w, b=None):
    x, w, b = _f64(x, w, b)
    y = x @ w.T
    return y + b if b is not None else y


def batch_norm(x, mean, var, weight=None, bias=None, eps=1e-5):
    x, mean, var, weight, bias = _f64(x, mean, var, weight, bias)
    shape = (1, -1) + (1,) * (x.ndim - 2)
    y = (x - mean.reshape(shape)) / np.sqrt(var.reshape(shape) + eps)
    if weight is not None:
        y = y * weight.reshape(shape)
    if bias is not None:
        y = y + bias.reshape(shape)
    return y


def relu(x):
    (x,) = _f64(x)
    return np.maximum(x, 0.0)


def max_pool2d(x, kernel_size, stride=None, padding=0, dilation=1,
               ceil_mode=False):
    (x,) = _f64(x)
    kh, kw = _pair(kernel_size)
    sh, sw = _pair(stride if stride is not None else kernel_size)
    ph, pw = _pair(padding)
    dh, dw = _pair(dilation)
    h, wd = x.shape[-2:]
    oh = conv_out_size(h, kh, sh, ph, dh, ceil_mode)
    ow = conv_out_size(wd, kw, sw, pw, dw, ceil_mode)
    # pad generously with -inf so ceil_mode windows never index out
    big_h = (oh - 1) * sh + dh * (kh - 1) + 1
    big_w = (ow - 1) * sw + dw * (kw - 1) + 1
    xp = np.full(x.shape[:-2] + (max(big_h, h + ph), max(big_w, wd + pw)),
                 -np.inf)
    xp[..., ph:ph + h, pw:pw + wd] = x
    y = np.full(x.shape[:-2] + (oh, ow), -np.inf)
    for u in range(kh):
        for v in range(kw):
            tap = xp[..., u * dh: u * dh + sh * (oh - 1) + 1: sh,
                     v * dw: v * dw + sw * (ow - 1) + 1: sw]
            y = np.maximum(y, tap)
    return y


def avg_pool2d(x, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True, divisor_override=None):
    (x,) = _f64(x)
    kh, kw = _pair(kernel_size)
    sh, sw = _pair(stride if stride is not None else kernel_size)
    ph, pw = _pair(padding)
    h, wd = x.shape[-2:]
    oh = conv_out_size(h, kh, sh, ph, 1, ceil_mode)
    ow = conv_out_size(wd, kw, sw, pw, 1, ceil_mode)
    y = np.zeros(x.shape[:-2] + (oh, ow))
    for i in range(oh):
        r0 = i * sh - ph
        r1 = min(r0 + kh, h + ph)          # window clipped to padded input
        for j in range(ow):
            c0 = j * sw - pw
            c1 = min(c0 + kw, wd + pw)
            padded_count = (r1 - r0) * (c1 - c0)
            a0, a1 = max(r0, 0), min(r1, h)
            b0, b1 = max(c0, 0), min(c1, wd)
            s = x[..., a0:a1, b0:b1].sum(axis=(-2, -1))
            if divisor_override:
                div = divisor_override
            elif count_include_pad:
                div = padded_count
            else:
                div = (a1 - a0) * (b1 - b0)
            y[..., i, j] = s / div
    return y


def adaptive_avg_pool2d(x, output_size):
    (x,) = _f64(x)
    oh, ow = _pair(output_size)
    h, wd = x.shape[-2:]
    y = np.zeros(x.shape[:-2] + (oh, ow))
    for i in range(oh):
        r0, r1 = (i * h) // oh, -(-((i + 1) * h) // oh)
        for j in range(ow):
            c0, c1 = (j * wd) // ow, -(-((j + 1) * wd) // ow)
            y[..., i, j] = x[..., r0:r1, c0:c1].mean(axis=(-2, -1))
    return y


def add(a, b):
    a, b = _f64(a, b)
    return a + b


def sub(a, b):
    a, b = _f64(a, b)
    return a - b


def mul(a, b):
    a, b = _f64(a, b)
    return a * b


def div(a, b):
    a, b = _f64(a, b)
    return a / b


def flatten(x, start_dim=0, end_dim=-1):
    (x,) = _f64(x)
    if x.ndim == 0:
        return x.reshape(1)
    s = start_dim % x.ndim
    e = end_dim % x.ndim
    return x.reshape(x.shape[:s] + (-1,) + x.shape[e + 1:]) if x.size else \
        x.reshape(x.shape[:s] + (math.prod(x.shape[s:e + 1]),) + x.shape[e + 1:])


def reshape(x, shape):
    (x,) = _f64(x)
    return x.reshape(tuple(shape))


def cat(xs, dim=0):
    return np.concatenate(_f64(*xs), axis=dim)


# ---- activations, layer_norm, permute ------------------------------------

def hardsigmoid(x):
    (x,) = _f64(x)
    return np.clip(x + 3.0, 0.0, 6.0) / 6.0


def hardswish(x):
    (x,) = _f64(x)
    return x * np.clip(x + 3.0, 0.0, 6.0) / 6.0


def relu6(x):
    (x,) = _f64(x)
    return np.clip(x, 0.0, 6.0)


def sigmoid(x):
    (x,) = _f64(x)
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + np.exp(-x))


def silu(x):
    (x,) = _f64(x)
    return x * sigmoid(x)


def gelu(x, approximate="none"):
    (x,) = _f64(x)
    if approximate == "tanh":
        u = math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)
        return 0.5 * x * (1.0 + np.tanh(u))
    erf = np.vectorize(math.erf, otypes=[np.float64])
    return 0.5 * x * (1.0 + erf(x / math.sqrt(2.0)))


def layer_norm(x, normalized_ndim, weight=None, bias=None, eps=1e-5):
    x, weight, bias = _f64(x, weight, bias)
    axes = tuple(range(x.ndim - normalized_ndim, x.ndim))
    mean = x.mean(axis=axes, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=axes, keepdims=True)
    y = (x - mean) / np.sqrt(var + eps)
    if weight is not None:
        y = y * weight
    if bias is not None:
        y = y + bias
    return y


def permute(x, dims):
    (x,) = _f64(x)
    return np.array(np.transpose(x, tuple(dims)), order="C")
