"""featx.nn.functional, the torch-namespace functions and the layers that
wrap them, against float64 NumPy references on small inputs."""
from __future__ import annotations

import doctest
import re
import warnings

import numpy as np
import pytest

import featx
import featx._functions
import featx.nn.functional as F
from featx import _tensor_methods, nn
from featx._op import OpSpec, SlotRef

RNG = np.random.default_rng(1234)


def rand(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


def close(a, b, tol=1e-5):
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    assert a.shape == b.shape, (a.shape, b.shape)
    scale = max(1.0, float(np.abs(b).max()) if b.size else 1.0)
    assert float(np.abs(a - b).max() if a.size else 0) <= tol * scale


# ---------------------------------------------------------------- references

def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def ref_conv2d(x, w, b, stride, padding, dilation, groups):
    x, w = x.astype(np.float64), w.astype(np.float64)
    (sh, sw), (ph, pw), (dh, dw) = _pair(stride), _pair(padding), _pair(dilation)
    n, c, h, wd = x.shape
    oc, cg, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    oh = (h + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    ow = (wd + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    out = np.zeros((n, oc, oh, ow))
    og = oc // groups
    for o in range(oc):
        g = o // og
        for i in range(oh):
            for j in range(ow):
                win = xp[:, g * cg:(g + 1) * cg,
                         i * sh:i * sh + dh * (kh - 1) + 1:dh,
                         j * sw:j * sw + dw * (kw - 1) + 1:dw]
                out[:, o, i, j] = (win * w[o]).sum(axis=(1, 2, 3))
    if b is not None:
        out += b.reshape(1, -1, 1, 1)
    return out


def _out_size(h, k, s, p, d, ceil):
    num = h + 2 * p - d * (k - 1) - 1
    o = (-(-num // s) if ceil else num // s) + 1
    if ceil and (o - 1) * s >= h + p:
        o -= 1
    return o


def ref_max_pool2d(x, k, s, p, d, ceil):
    x = x.astype(np.float64)
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = map(_pair, (k, s, p, d))
    n, c, h, w = x.shape
    oh, ow = _out_size(h, kh, sh, ph, dh, ceil), _out_size(w, kw, sw, pw, dw, ceil)
    out = np.full((n, c, oh, ow), -np.inf)
    for i in range(oh):
        for j in range(ow):
            for a in range(kh):
                for b in range(kw):
                    y, z = i * sh - ph + a * dh, j * sw - pw + b * dw
                    if 0 <= y < h and 0 <= z < w:
                        out[:, :, i, j] = np.maximum(out[:, :, i, j],
                                                     x[:, :, y, z])
    return out


def ref_avg_pool2d(x, k, s, p, ceil, include_pad, divisor):
    x = x.astype(np.float64)
    (kh, kw), (sh, sw), (ph, pw) = map(_pair, (k, s, p))
    n, c, h, w = x.shape
    oh, ow = _out_size(h, kh, sh, ph, 1, ceil), _out_size(w, kw, sw, pw, 1, ceil)
    out = np.zeros((n, c, oh, ow))
    for i in range(oh):
        for j in range(ow):
            h0, w0 = i * sh - ph, j * sw - pw
            h1, w1 = min(h0 + kh, h + ph), min(w0 + kw, w + pw)
            pool = (h1 - h0) * (w1 - w0)
            hs, ws, he, we = max(h0, 0), max(w0, 0), min(h1, h), min(w1, w)
            total = x[:, :, hs:he, ws:we].sum(axis=(2, 3))
            if divisor:
                d = divisor
            elif include_pad:
                d = pool
            else:
                d = (he - hs) * (we - ws)
            out[:, :, i, j] = total / d
    return out


def ref_adaptive(x, oh, ow):
    n, c, h, w = x.shape
    out = np.zeros((n, c, oh, ow))
    for i in range(oh):
        for j in range(ow):
            h0, h1 = (i * h) // oh, -(-((i + 1) * h) // oh)
            w0, w1 = (j * w) // ow, -(-((j + 1) * w) // ow)
            out[:, :, i, j] = x[:, :, h0:h1, w0:w1].astype(np.float64).mean(
                axis=(2, 3))
    return out


# ---------------------------------------------------------------- conv / linear

@pytest.mark.parametrize("stride,padding,dilation,groups", [
    (1, 0, 1, 1), (2, 1, 1, 1), ((2, 1), (1, 2), 1, 2), (1, 2, 2, 1),
    (1, 1, 1, 4), (3, (0, 1), (2, 1), 2)])
def test_conv2d(stride, padding, dilation, groups):
    x = rand(2, 4, 9, 8)
    w = rand(6 if groups != 4 else 4, 4 // groups, 3, 2)
    b = rand(w.shape[0])
    y = F.conv2d(x, w, b, stride, padding, dilation, groups)
    assert y.dtype == np.float32
    close(y, ref_conv2d(x, w, b, stride, padding, dilation, groups))
    close(F.conv2d(x, w, None, stride, padding, dilation, groups),
          ref_conv2d(x, w, None, stride, padding, dilation, groups))


def test_conv2d_string_padding_and_layer():
    x, w = rand(1, 2, 6, 6), rand(3, 2, 3, 3)
    close(F.conv2d(x, w, padding="same"), ref_conv2d(x, w, None, 1, 1, 1, 1))
    close(F.conv2d(x, w, padding="valid"), ref_conv2d(x, w, None, 1, 0, 1, 1))
    with pytest.raises(ValueError, match=r"^conv2d padding='same' keeps the "
                       r"input size, so it needs stride 1; got stride=\(2, 2\)$"):
        F.conv2d(x, w, stride=2, padding="same")
    with pytest.raises(ValueError, match="^conv2d padding: expected an int, a "
                       "pair of ints, 'valid' or 'same', got 'full'$"):
        F.conv2d(x, w, padding="full")
    with pytest.raises(NotImplementedError, match="asymmetric"):
        F.conv2d(x, rand(3, 2, 2, 2), padding="same")
    conv = nn.Conv2d(2, 3, 3, padding="same")
    assert conv(x).shape == (1, 3, 6, 6)
    conv = nn.Conv2d(2, 4, 3, stride=2, padding=1, groups=2)
    close(conv(x), ref_conv2d(x, conv.weight, conv.bias, 2, 1, 1, 2))
    with pytest.raises(ValueError, match=r"^Conv2d in_channels: expected a "
                       r"multiple of groups=2 \(.*\), got 3$"):
        nn.Conv2d(3, 4, 3, groups=2)
    with pytest.raises(ValueError, match=r"^Conv2d out_channels: expected a "
                       r"multiple of groups=2 \(.*\), got 3$"):
        nn.Conv2d(4, 3, 3, groups=2)
    with pytest.raises(ValueError, match="^Conv2d groups: expected an int >= "
                       "1, got 0$"):
        nn.Conv2d(4, 4, 3, groups=0)
    with pytest.raises(ValueError, match=r"^Conv2d padding='same' keeps the "
                       r"input size, so it needs stride 1; got stride=\(2, 2\)$"):
        nn.Conv2d(4, 4, 3, stride=2, padding="same")
    with pytest.raises(ValueError, match="^Conv2d padding: expected an int, a "
                       "pair of ints, 'valid' or 'same', got 'full'$"):
        nn.Conv2d(4, 4, 3, padding="full")
    with pytest.raises(NotImplementedError, match="asymmetric"):
        nn.Conv2d(4, 4, 2, padding="same")
    with pytest.raises(NotImplementedError, match="padding_mode"):
        nn.Conv2d(3, 4, 3, padding_mode="reflect")
    with pytest.raises(ValueError, match="^Conv2d padding_mode: expected one "
                       "of 'zeros', 'reflect', 'replicate', 'circular', got "
                       "'nope'$"):
        nn.Conv2d(3, 4, 3, padding_mode="nope")


def test_conv2d_shape_errors():
    with pytest.raises(ValueError, match="channels"):
        F.conv2d(rand(1, 3, 4, 4), rand(2, 4, 3, 3))


@pytest.mark.parametrize("make, exc, msg", [
    # NumPy's own "negative dimensions are not allowed" / "'float' object
    # cannot be interpreted as an integer" / "'float' object is not
    # iterable" came through before
    (lambda: nn.Conv2d(4, 6, -1), ValueError,
     "Conv2d kernel_size: expected an int >= 0, got -1"),
    (lambda: nn.Conv2d(4, 6, (3, -2)), ValueError,
     "Conv2d kernel_size: expected an int >= 0, got -2"),
    (lambda: nn.Conv2d(-1, 6, 3), ValueError,
     "Conv2d in_channels: expected an int >= 0, got -1"),
    (lambda: nn.Conv2d(4, -6, 3), ValueError,
     "Conv2d out_channels: expected an int >= 0, got -6"),
    (lambda: nn.Conv2d(4.0, 6, 3), TypeError,
     "Conv2d in_channels: expected an int >= 0, got 4.0 (float)"),
    (lambda: nn.Conv2d(4, 6, 3, stride=1.5), TypeError,
     "Conv2d: stride must be an int or a pair of ints, got 1.5 (float)"),
    (lambda: nn.Conv2d(4, 6, 3, groups=1.0), TypeError,
     "Conv2d groups: expected an int >= 1, got 1.0 (float)"),
    (lambda: nn.Linear(-1, 3), ValueError,
     "Linear in_features: expected an int >= 0, got -1"),
    (lambda: nn.Linear(2, 2.5), TypeError,
     "Linear out_features: expected an int >= 0, got 2.5 (float)"),
    (lambda: nn.BatchNorm2d(-1), ValueError,
     "BatchNorm2d num_features: expected an int >= 0, got -1"),
    (lambda: nn.BatchNorm2d(2.5), TypeError,
     "BatchNorm2d num_features: expected an int >= 0, got 2.5 (float)"),
    (lambda: nn.BatchNorm2d(True), TypeError,
     "BatchNorm2d num_features: expected an int >= 0, got True (bool)"),
    (lambda: nn.LayerNorm([4, -1]), ValueError,
     "LayerNorm normalized_shape: expected an int >= 0, got -1"),
])
def test_layer_size_arguments_are_checked_by_name(make, exc, msg):
    with pytest.raises(exc) as e:
        make()
    assert str(e.value) == msg


def test_layer_sizes_of_zero_and_numpy_ints_are_accepted():
    # torch builds these (empty weights, warning that their initialisation
    # does nothing); so does featx
    with pytest.warns(UserWarning, match="has no elements"):
        assert nn.Conv2d(np.int64(0), 2, 3).weight.shape == (2, 0, 3, 3)
    with pytest.warns(UserWarning, match="has no elements"):
        assert nn.Linear(0, np.int32(3)).weight.shape == (3, 0)
    assert nn.BatchNorm2d(np.int64(0)).running_mean.shape == (0,)
    assert type(nn.Conv2d(np.int64(4), 2, 3, groups=np.int64(2)).groups) is int


@pytest.mark.parametrize("call, msg", [
    # the message listed all three ranges and all three pairs
    (lambda x, w: F.conv2d(x, w, stride=0),
     "conv2d: stride must be >= 1 in both dimensions, got stride (0, 0)"),
    (lambda x, w: F.conv2d(x, w, padding=(1, -1)),
     "conv2d: padding must be in [0, 2**48] in both dimensions, got padding "
     "(1, -1)"),
    (lambda x, w: F.conv2d(x, w, dilation=(0, 1)),
     "conv2d: dilation must be in [1, 2**48] in both dimensions, got "
     "dilation (0, 1)"),
    (lambda x, w: F.max_pool2d(x, 2, stride=(1, 0)),
     "max_pool2d: stride must be >= 1 in both dimensions, got stride (1, 0)"),
    (lambda x, w: F.max_pool2d(x, 2, dilation=0),
     "max_pool2d: dilation must be in [1, 2**48] in both dimensions, got "
     "dilation (0, 0)"),
    (lambda x, w: F.avg_pool2d(x, (0, 2)),
     "avg_pool2d: kernel_size must be in [1, 2**48] in both dimensions, got "
     "kernel_size (0, 2)"),
])
def test_window_attribute_errors_name_the_attribute(call, msg):
    with pytest.raises(featx.OpError) as e:
        call(rand(1, 2, 6, 6), rand(3, 2, 3, 3))
    assert str(e.value) == msg


def test_linear():
    x, w, b = rand(3, 5), rand(4, 5), rand(4)
    close(F.linear(x, w, b), x.astype(np.float64) @ w.T.astype(np.float64) + b)
    close(F.linear(x, w), x.astype(np.float64) @ w.T.astype(np.float64))
    lin = nn.Linear(5, 4)
    close(lin(x), x @ lin.weight.T + lin.bias)


# ---------------------------------------------------------------- batch norm

def test_batch_norm_eval():
    x, m, v, w, b = rand(2, 3, 4, 5), rand(3), np.abs(rand(3)) + 0.5, \
        rand(3), rand(3)
    ref = (x - m.reshape(1, 3, 1, 1)) / np.sqrt(v.reshape(1, 3, 1, 1) + 1e-3)
    close(F.batch_norm(x, m, v, w, b, eps=1e-3),
          ref * w.reshape(1, 3, 1, 1) + b.reshape(1, 3, 1, 1))
    close(F.batch_norm(x, m, v, eps=1e-3), ref)
    with pytest.raises(ValueError, match="running_mean"):
        F.batch_norm(x, None, None)


def test_batch_norm_train_updates_running_stats():
    x = rand(4, 3, 5, 5) * 2 + 1
    rm, rv = np.full(3, 0.5, np.float32), np.full(3, 2.0, np.float32)
    rm0, rv0 = rm.copy(), rv.copy()
    y = F.batch_norm(x, rm, rv, None, None, training=True, momentum=0.25,
                     eps=1e-5)
    x64 = x.astype(np.float64)
    mean = x64.mean(axis=(0, 2, 3))
    var = x64.var(axis=(0, 2, 3))
    n = 4 * 5 * 5
    close(y, (x64 - mean.reshape(1, 3, 1, 1))
          / np.sqrt(var.reshape(1, 3, 1, 1) + 1e-5))
    close(rm, 0.75 * rm0 + 0.25 * mean, 1e-6)
    close(rv, 0.75 * rv0 + 0.25 * var * n / (n - 1), 1e-6)


def test_batch_norm_train_and_mean_on_inf_warn_nothing():
    # NumPy's "invalid value encountered in subtract" came out of the batch
    # statistics of a channel holding inf; torch gives the same NaNs silently.
    x = rand(2, 3, 4, 4)
    x[0, 0, 0, 0] = np.inf
    rm, rv = np.zeros(3, np.float32), np.ones(3, np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        y = F.batch_norm(x, rm, rv, training=True)
    assert np.isnan(y[:, 0]).all() and np.isfinite(y[:, 1:]).all()
    assert np.isinf(rm[0]) and np.isnan(rv[0]) and np.isfinite(rm[1:]).all()
    # featx.mean of +inf and -inf
    x[0, 0, 0, 1] = -np.inf
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m = featx.mean(x, (2, 3))
    assert np.isnan(m[0, 0]) and np.isfinite(m[1]).all()


def test_batchnorm2d_module_train_eval():
    bn = nn.BatchNorm2d(3)
    held_mean, held_nbt = bn.running_mean, bn.num_batches_tracked
    x = rand(2, 3, 4, 4) + 3
    y = bn(x)
    x64 = x.astype(np.float64)
    mean, var = x64.mean(axis=(0, 2, 3)), x64.var(axis=(0, 2, 3))
    close(y, (x64 - mean.reshape(1, 3, 1, 1))
          / np.sqrt(var.reshape(1, 3, 1, 1) + 1e-5))
    assert held_mean is bn.running_mean and held_nbt is bn.num_batches_tracked
    close(bn.running_mean, 0.1 * mean, 1e-6)
    close(bn.running_var, 0.9 + 0.1 * var * 32 / 31, 1e-6)
    assert int(bn.num_batches_tracked) == 1
    assert bn.num_batches_tracked.dtype == np.int64
    bn.eval()
    rm, rv = bn.running_mean.copy(), bn.running_var.copy()
    close(bn(x), (x64 - rm.reshape(1, 3, 1, 1))
          / np.sqrt(rv.reshape(1, 3, 1, 1) + 1e-5))
    assert int(bn.num_batches_tracked) == 1  # eval does not count


def test_batchnorm2d_cumulative_momentum_and_no_stats():
    bn = nn.BatchNorm2d(2, momentum=None)
    xs = [rand(3, 2, 2, 2) + i for i in range(3)]
    for x in xs:
        bn(x)
    means = [x.astype(np.float64).mean(axis=(0, 2, 3)) for x in xs]
    close(bn.running_mean, np.mean(means, axis=0), 1e-6)
    assert int(bn.num_batches_tracked) == 3
    free = nn.BatchNorm2d(2, track_running_stats=False).eval()
    x = rand(3, 2, 2, 2)
    x64 = x.astype(np.float64)
    close(free(x), (x64 - x64.mean(axis=(0, 2, 3)).reshape(1, 2, 1, 1))
          / np.sqrt(x64.var(axis=(0, 2, 3)).reshape(1, 2, 1, 1) + 1e-5))


def test_batchnorm_one_value_per_channel():
    with pytest.raises(ValueError, match=r"at least 2 values for its batch "
                       r"statistics, input of shape \(1, 3, 1, 1\) has 1"):
        nn.BatchNorm2d(3)(rand(1, 3, 1, 1))
    assert nn.BatchNorm2d(3).eval()(rand(1, 3, 1, 1)).shape == (1, 3, 1, 1)


@pytest.mark.parametrize("shape", [(4, 5, 5), (2, 3, 4, 5, 6), (3,)])
@pytest.mark.parametrize("train", [False, True])
def test_batchnorm2d_needs_4d_input(shape, train):
    m = nn.BatchNorm2d(shape[0]).train(train)
    before = m.running_mean.copy(), m.num_batches_tracked.copy()
    with pytest.raises(ValueError, match=rf"BatchNorm2d: expected a 4-D input \(N, C, H, W\), "
                       rf"got shape {re.escape(str(shape))} \({len(shape)}-D\)"):
        m(rand(*shape))
    np.testing.assert_array_equal(m.running_mean, before[0])  # the model is unchanged
    assert m.num_batches_tracked == before[1]


# ---------------------------------------------------------------- pooling

@pytest.mark.parametrize("k,s,p,d,ceil", [
    (2, None, 0, 1, False), (3, 2, 1, 1, False), (3, 2, 1, 1, True),
    ((3, 2), (2, 1), (1, 0), (2, 1), False), (2, 3, 0, 1, True)])
def test_max_pool2d(k, s, p, d, ceil):
    x = rand(2, 3, 9, 10)
    y = F.max_pool2d(x, k, s, p, d, ceil)
    close(y, ref_max_pool2d(x, k, k if s is None else s, p, d, ceil), 0)
    m = nn.MaxPool2d(k, s, p, d, ceil_mode=ceil)
    close(m(x), y, 0)


@pytest.mark.parametrize("k,s,p,ceil,inc,div", [
    (2, None, 0, False, True, None), (3, 2, 1, False, True, None),
    (3, 2, 1, True, False, None), (3, 2, 1, True, True, None),
    ((3, 2), (2, 1), (1, 1), False, False, None), (3, 2, 1, False, True, 5)])
def test_avg_pool2d(k, s, p, ceil, inc, div):
    x = rand(2, 3, 9, 10)
    y = F.avg_pool2d(x, k, s, p, ceil, inc, div)
    close(y, ref_avg_pool2d(x, k, k if s is None else s, p, ceil, inc, div))
    close(nn.AvgPool2d(k, s, p, ceil, inc, div)(x), y, 0)
    with pytest.raises(ValueError, match="divisor_override"):
        F.avg_pool2d(x, 2, divisor_override=0)


@pytest.mark.parametrize("size,expect", [
    (1, (1, 1)), ((3, 4), (3, 4)), ((5, None), (5, 7)), (None, (9, 7)),
    (2, (2, 2))])
def test_adaptive_avg_pool2d(size, expect):
    x = rand(2, 3, 9, 7)
    y = F.adaptive_avg_pool2d(x, size)
    close(y, ref_adaptive(x, *expect))
    close(nn.AdaptiveAvgPool2d(size)(x), y, 0)


# ---------------------------------------------------------------- elementwise

def test_relu_and_arithmetic():
    x, z = rand(2, 3, 4), rand(3, 4)
    close(F.relu(x), np.maximum(x, 0), 0)
    close(featx.relu(x), np.maximum(x, 0), 0)
    close(nn.ReLU(inplace=True)(x), np.maximum(x, 0), 0)
    close(featx.add(x, z), x + z)
    close(featx.add(x, z, alpha=2), x + 2 * z)
    close(featx.sub(x, z), x - z)
    close(featx.sub(x, 1.5), x - 1.5)
    close(featx.mul(x, z), x * z)
    close(featx.div(x, 2), x / 2)
    with pytest.raises(ValueError):
        featx.add(rand(2, 3), rand(4))
    # featx.div refused rounding_mode (NotImplementedError) while the
    # tensor method x.div(y, rounding_mode=...) computed it
    d = x.astype(np.float64) / z.astype(np.float64)
    close(featx.div(x, z, rounding_mode="floor"), np.floor(d), 0)
    close(featx.div(x, z, rounding_mode="trunc"), np.trunc(d), 0)
    with pytest.raises(ValueError, match="^div: rounding_mode must be None, "
                       "'trunc' or 'floor', got 'round'$"):
        featx.div(x, z, rounding_mode="round")


class FloorDiv(nn.Module):
    def forward(self, x):
        return featx.div(x, 0.7, rounding_mode="floor")


def test_div_rounding_mode_in_an_extractor():
    from featx.feature_extraction import create_feature_extractor

    x = rand(2, 3, 4)
    out = create_feature_extractor(FloorDiv(), ["div"])(x)["div"]
    close(out, np.floor(x / np.float32(0.7)), 0)
    assert out.dtype == np.float32


def test_shape_functions():
    x = rand(2, 3, 4, 5)
    assert featx.flatten(x).shape == (120,)
    assert featx.flatten(x, 1).shape == (2, 60)
    assert featx.flatten(x, 1, 2).shape == (2, 12, 5)
    close(featx.flatten(x, 1), x.reshape(2, -1), 0)
    assert nn.Flatten()(x).shape == (2, 60)
    assert featx.reshape(x, (6, -1)).shape == (6, 20)
    close(featx.cat([x, x[:, :1]], 1), np.concatenate([x, x[:, :1]], 1), 0)
    with pytest.raises(ValueError, match="non-empty"):
        featx.cat([])
    with pytest.raises(TypeError, match="list or tuple"):
        featx.cat(x)


def test_identity_returns_input():
    x = rand(2, 2)
    assert nn.Identity(3, foo=1)(x) is x


# ---------------------------------------------------------------- dropout / seeds

def test_dropout():
    x = np.ones((200, 200), np.float32)
    assert F.dropout(x, 0.3, training=False) is x
    featx.manual_seed(7)
    y = F.dropout(x, 0.3)
    assert set(np.unique(y)) <= {0.0, np.float32(1 / 0.7)}
    assert abs(float((y == 0).mean()) - 0.3) < 0.02
    featx.manual_seed(7)
    np.testing.assert_array_equal(F.dropout(x, 0.3), y)
    assert not np.array_equal(F.dropout(x, 0.3), y)  # the stream moved on
    d = nn.Dropout(0.5)
    assert (d(x) == 0).any()
    assert d.eval()(x) is x
    with pytest.raises(ValueError, match=r"expected a value in \[0, 1\], got 1.5"):
        nn.Dropout(1.5)
    with pytest.raises(ValueError, match=r"expected a value in \[0, 1\]"):
        F.dropout(x, -0.1)


# ---------------------------------------------------------------- dtypes / layouts

@pytest.mark.parametrize("dtype", [np.int64, np.uint8, np.bool_,
                                   np.complex64])
def test_non_float_inputs_are_type_errors(dtype):
    x = np.ones((1, 3, 4, 4), dtype)
    for fn in (lambda a: F.relu(a), lambda a: F.max_pool2d(a, 2),
               lambda a: F.conv2d(a, rand(1, 3, 1, 1)),
               lambda a: featx.flatten(a, 1)):
        with pytest.raises(TypeError, match="featx.transforms"):
            fn(x)


def test_float64_float16_noncontiguous_readonly_inputs():
    x = rand(2, 3, 6, 6)
    ref = F.max_pool2d(x, 2)
    for variant in (x.astype(np.float64), x.astype(np.float16),
                    np.asfortranarray(x)):
        y = F.max_pool2d(variant, 2)
        assert y.dtype == np.float32
        close(y, F.max_pool2d(np.ascontiguousarray(variant, np.float32), 2),
              0)
    big = rand(2, 3, 12, 12)
    strided = big[:, :, ::2, ::-2]
    close(F.max_pool2d(strided, 2), F.max_pool2d(strided.copy(), 2), 0)
    ro = x.copy()
    ro.flags.writeable = False
    close(F.max_pool2d(ro, 2), ref, 0)
    close(F.batch_norm(x.astype(np.float64), np.zeros(3), np.ones(3)),
          F.batch_norm(x, np.zeros(3, np.float32), np.ones(3, np.float32)))


def test_input_is_never_modified():
    x = rand(2, 3, 5, 5)
    keep = x.copy()
    nn.ReLU(inplace=True)(x)
    F.batch_norm(x, np.zeros(3, np.float32), np.ones(3, np.float32),
                 training=True)
    np.testing.assert_array_equal(x, keep)


# ---------------------------------------------------------------- plan lowering

def test_spec_builders_return_opspecs_for_placeholders():
    s = SlotRef(0)
    spec = F.relu(s)
    assert spec == OpSpec("relu", (s,), {})
    spec = F.max_pool2d(s, 3, 2, 1)
    assert spec.name == "max_pool2d" and spec.attrs == {
        "kernel_size": 3, "stride": 2, "padding": 1, "dilation": 1,
        "ceil_mode": False}
    spec = F.avg_pool2d(s, 2)
    assert spec.attrs["divisor_override"] == 0
    conv = nn.Conv2d(3, 4, 3, padding=1).eval()
    spec = conv.forward(s)
    assert spec.name == "conv2d" and spec.inputs[1] is conv.weight
    assert spec.attrs == {"stride": (1, 1), "padding": (1, 1),
                          "dilation": (1, 1), "groups": 1}
    assert conv.train().forward(s).attrs == dict(spec.attrs, direct=True)
    bn = nn.BatchNorm2d(3).eval()
    spec = bn.forward(s)
    assert spec.name == "batch_norm" and spec.attrs == {"eps": 1e-5, "act": 0}
    assert spec.inputs[1] is bn.running_mean
    assert featx.flatten(s, 1) == OpSpec("flatten", (s,), {
        "start_dim": 1, "end_dim": -1})
    assert F.dropout(s, training=False) is s
    assert nn.Linear(2, 3).forward(s).name == "linear"
    assert featx.cat([s, s], 1).inputs == (s, s)


def test_composites_do_not_lower_and_have_no_side_effects():
    s = SlotRef(0)
    bn = nn.BatchNorm2d(3)  # training
    assert bn.forward(s) is NotImplemented
    assert int(bn.num_batches_tracked) == 0
    assert (bn.running_mean == 0).all()
    assert F.batch_norm(s, None, None, training=True) is NotImplemented
    assert F.adaptive_avg_pool2d(s, (None, 2)) is NotImplemented
    # a lowered dropout would freeze its seed: it stays a Python step
    assert F.dropout(s, 0.5, training=True) is NotImplemented


# ---------------------------------------------------------------- tensor methods

def test_tensor_methods():
    M = _tensor_methods.METHODS
    x = rand(2, 3, 4, 5)
    assert M["flatten"](x, 1).shape == (2, 60)
    assert M["view"](x, 2, -1).shape == (2, 60)
    assert M["view"](x, (6, 20)).shape == (6, 20)
    assert M["reshape"](x, -1).shape == (120,)
    assert M["size"](x) == (2, 3, 4, 5)
    assert M["size"](x, 1) == 3 and M["size"](x, -1) == 5
    with pytest.raises(IndexError):
        M["size"](x, 4)
    assert M["dim"](x) == 4 and M["numel"](x) == 120
    m = M["mean"](x, (2, 3), keepdim=True)
    assert m.shape == (2, 3, 1, 1) and m.dtype == np.float32
    close(m, x.astype(np.float64).mean(axis=(2, 3), keepdims=True))
    full = M["mean"](x)
    assert isinstance(full, np.ndarray) and full.shape == ()
    close(M["relu"](x), np.maximum(x, 0), 0)
    assert M["contiguous"](x) is x
    assert M["contiguous"](x.transpose(0, 1, 3, 2)).flags.c_contiguous
    assert M["float"](x.astype(np.float64)).dtype == np.float32
    assert M["permute"](x, 0, 2, 3, 1).shape == (2, 4, 5, 3)
    assert M["transpose"](x, 1, 2).shape == (2, 4, 3, 5)
    assert M["unsqueeze"](x, -1).shape == (2, 3, 4, 5, 1)
    assert [c.shape[1] for c in M["chunk"](x, 2, 1)] == [2, 1]
    close(M["add"](x, 1.0), x + 1)


# ---------------------------------------------------------------- doc examples

@pytest.mark.parametrize("module", [F, featx._functions, featx.nn.parameter])
def test_docstring_examples(module):
    res = doctest.testmod(module, extraglobs={"np": np, "featx": featx},
                          optionflags=doctest.NORMALIZE_WHITESPACE)
    assert res.failed == 0




def test_softmax_and_log_softmax_as_torch():
    # SPEC 8 lists F.softmax; values at the edges are torch 2.14's.
    inf, nan = np.inf, np.nan
    rows = {(inf, 1.0): ([nan, nan], [nan, nan]), (-inf, -inf): ([nan, nan], [nan, nan]),
            (nan, 1.0): ([nan, nan], [nan, nan]), (1e30, -1e30): ([1.0, 0.0], [0.0, -2e30]),
            (-inf, 0.0): ([0.0, 1.0], [-inf, 0.0])}
    for row, (sm, lsm) in rows.items():
        x = np.array([row], np.float32)
        np.testing.assert_allclose(F.softmax(x, 1)[0], sm, rtol=1e-6)
        np.testing.assert_allclose(F.log_softmax(x, dim=-1)[0], lsm, rtol=1e-6)
    x = rand(2, 5, 3, 4) * 30
    for d in range(-4, 4):
        e = np.exp(x.astype(np.float64) - x.max(axis=d, keepdims=True))
        want = e / e.sum(axis=d, keepdims=True)
        got = F.softmax(x, d)
        assert got.dtype == np.float32 and got.shape == x.shape
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(F.log_softmax(x, d), np.log(want), rtol=1e-5, atol=1e-5)
    assert F.softmax(np.float32(3.0), 0) == 1.0
    assert F.softmax(np.zeros((0, 5), np.float32), 1).shape == (0, 5)
    with pytest.warns(UserWarning, match="softmax without dim: normalising over dim 1"):
        np.testing.assert_allclose(F.softmax(x[0, 0]), F.softmax(x[0, 0], 1))
    with pytest.raises(IndexError, match=r"softmax: dim 2 is out of range"):
        F.softmax(x[0, 0], 2)
    with pytest.raises(TypeError, match="float array"):
        F.softmax(np.ones((2, 3), np.int64), 1)


def test_softmax_traces_as_torchvision_names_it():
    from featx.feature_extraction import (create_feature_extractor, get_graph_node_info,
                                          get_graph_node_names)

    class Head(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(6, 4)

        def forward(self, x):
            y = self.fc(x)
            return F.softmax(y, dim=1) + F.log_softmax(y, 1)

    m = Head().eval()
    assert get_graph_node_names(m)[1] == ["x", "fc", "softmax", "log_softmax", "add"]
    x = rand(3, 6)
    out = create_feature_extractor(m, ["softmax", "log_softmax", "add"])(x)
    np.testing.assert_array_equal(out["softmax"], F.softmax(m.fc(x), 1))
    np.testing.assert_array_equal(out["add"], m(x))
    info = get_graph_node_info(m, input_shape=(3, 6))
    assert [r.shape for r in info][2:] == [(3, 4)] * 3
