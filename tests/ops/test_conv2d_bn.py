"""conv2d_bn (conv2d -> eval batch norm -> optional activation, one kernel)
against the float64 reference, on every ISA; and bit-equality with the
unfused ops, which is what lets the planner fuse without changing
results."""
from __future__ import annotations

import numpy as np
import pytest

import reference as ref
from oputil import ACTS, act_call, act_ref, assert_close, call, rand

# (N, C, H, W, OC, KH, KW, stride, padding, dilation, groups)
CASES = [
    (1, 3, 8, 8, 4, 3, 3, 1, 1, 1, 1),
    (2, 5, 7, 9, 7, 3, 3, 2, 0, 1, 1),
    (1, 17, 5, 7, 19, 1, 1, 1, 0, 1, 1),     # 1x1 fast path
    (1, 8, 6, 6, 8, 1, 1, 2, 0, 1, 1),       # 1x1 strided
    (1, 4, 12, 12, 6, 3, 3, 1, 2, 2, 1),     # dilation
    (2, 6, 7, 7, 9, 3, 3, 1, 1, 1, 3),       # groups
    (1, 8, 9, 9, 8, 3, 3, 2, 1, 1, 8),       # depthwise
    # depthwise: 16-, 8-wide and overlapping blocks, stride 2, 5x5;
    # stride 3 takes the scalar formula
    (1, 4, 20, 21, 4, 3, 3, 1, 1, 1, 4),
    (2, 3, 19, 35, 3, 5, 5, 2, 2, 1, 3),
    (1, 3, 12, 12, 3, 5, 5, 1, 2, 1, 3),
    (1, 2, 11, 13, 2, 3, 3, 3, 1, 1, 2),
    # depthwise: the epilogue over planes longer than one pass, with a
    # partial vector; rows narrower than 8, across planes
    (1, 3, 30, 27, 3, 3, 3, 1, 1, 1, 3),
    (2, 3, 9, 5, 3, 3, 3, 1, 1, 1, 3),
    (2, 9, 7, 7, 9, 5, 5, 1, 2, 1, 9),      # ... in blocks of 8 planes
    (1, 40, 6, 6, 7, 3, 3, 1, 1, 1, 1),      # K = 360 > 256
    (1, 5, 12, 12, 80, 3, 3, 1, 1, 1, 1),    # M = 80 > 72
    (1, 3, 20, 13, 23, 3, 3, 1, 1, 1, 1),    # N = 260 > 8 panels
    (1, 64, 40, 37, 2, 3, 3, 1, 1, 1, 1),    # small OC, many panels
    (1, 3, 56, 56, 16, 7, 7, 2, 3, 1, 1),    # resnet stem shape
    (0, 3, 8, 8, 4, 3, 3, 1, 1, 1, 1),       # batch 0
]


def _attrs(s, p, d, g, eps=1e-5, act=0):
    return dict(stride=s, padding=p, dilation=d, groups=g, eps=eps, act=act)


def _inputs(case, seed, conv_bias=True, affine=True):
    n, c, h, w, oc, kh, kw, s, p, d, g = case
    rng = np.random.default_rng(seed)
    x = rand(rng, n, c, h, w)
    wt = rand(rng, oc, c // g, kh, kw)
    b = rand(rng, oc) if conv_bias else None
    mean = rand(rng, oc)
    var = (np.abs(rand(rng, oc)) + 0.5).astype(np.float32)
    bw = rand(rng, oc) if affine else None
    bb = rand(rng, oc) if affine else None
    return [x, wt, b, mean, var, bw, bb]


def _reference(inputs, case, eps, act):
    x, wt, b, mean, var, bw, bb = inputs
    _, _, _, _, _, _, _, s, p, d, g = case
    y = ref.batch_norm(ref.conv2d(x, wt, b, s, p, d, g), mean, var, bw, bb,
                       eps)
    return act_ref(act, y)


@pytest.mark.parametrize("act", sorted(ACTS))
@pytest.mark.parametrize("case", CASES, ids=[str(i) for i in range(len(CASES))])
def test_conv2d_bn_matches_reference(isa, case, act):
    inputs = _inputs(case, len(CASES) + case[2] * 7 + case[4])
    s, p, d, g = case[7:]
    y = call("conv2d_bn", inputs, _attrs(s, p, d, g, 1e-3, act), isa)
    k = case[1] // g * case[5] * case[6]
    assert_close(y, _reference(inputs, case, 1e-3, act), k=k)


@pytest.mark.parametrize("conv_bias", [False, True])
@pytest.mark.parametrize("affine", [False, True])
def test_conv2d_bn_optional_inputs(isa, conv_bias, affine):
    case = CASES[0]
    inputs = _inputs(case, 5, conv_bias, affine)
    y = call("conv2d_bn", inputs, _attrs(1, 1, 1, 1, act=1), isa)
    assert_close(y, _reference(inputs, case, 1e-5, 1), k=27)
    # trailing optional inputs may also be left out
    short = [v for v in inputs]
    while short[-1] is None:
        short.pop()
    y2 = call("conv2d_bn", short, _attrs(1, 1, 1, 1, act=1), isa)
    np.testing.assert_array_equal(y, y2)


@pytest.mark.parametrize("act", sorted(ACTS))
@pytest.mark.parametrize("case", CASES, ids=[str(i) for i in range(len(CASES))])
def test_conv2d_bn_equals_unfused_ops(isa, case, act):
    """Same kernel choice, same rounding: fused == conv2d -> batch_norm ->
    activation, bit for bit (every output width, so every vector tail)."""
    inputs = _inputs(case, 3)
    x, wt, b, mean, var, bw, bb = inputs
    s, p, d, g = case[7:]
    y = call("conv2d_bn", inputs, _attrs(s, p, d, g, 1e-5, act), isa)
    z = call("conv2d", [x, wt, b], dict(stride=s, padding=p, dilation=d,
                                        groups=g), isa)
    z = call("batch_norm", [z, mean, var, bw, bb], dict(eps=1e-5, act=0),
             isa)
    np.testing.assert_array_equal(y, act_call(act, z, isa))


@pytest.mark.parametrize("act", [1, 2, 3, 4, 5])
def test_conv2d_bn_act_keeps_nan(isa, act):
    case = CASES[0]
    inputs = _inputs(case, 9)
    inputs[0][0, 0, 3, 3] = np.nan
    y = call("conv2d_bn", inputs, _attrs(1, 1, 1, 1, act=act), isa)
    assert np.isnan(y[0, :, 2:5, 2:5]).all()
    if act <= 2:
        assert (y[~np.isnan(y)] >= 0).all()


def test_conv2d_bn_error_act(isa):
    with pytest.raises(ValueError, match=r"act must be 0 .* got 6"):
        call("conv2d_bn", _inputs(CASES[0], 1), _attrs(1, 1, 1, 1, act=6),
             isa)


def test_conv2d_bn_error_bn_shape(isa):
    inputs = _inputs(CASES[0], 1)
    inputs[4] = np.ones(5, np.float32)
    with pytest.raises(ValueError, match=r"running_var of shape \(4,\).*"
                       r"got shape \(5,\)"):
        call("conv2d_bn", inputs, _attrs(1, 1, 1, 1), isa)


def test_conv2d_bn_error_missing_stats(isa):
    inputs = _inputs(CASES[0], 1)
    inputs[3] = None
    with pytest.raises(ValueError, match="running_mean is required"):
        call("conv2d_bn", inputs, _attrs(1, 1, 1, 1), isa)


def test_conv2d_bn_error_conv_shape(isa):
    inputs = _inputs(CASES[0], 1)
    inputs[1] = np.ones((4, 2, 3, 3), np.float32)
    with pytest.raises(ValueError, match="expects 2 input channels"):
        call("conv2d_bn", inputs, _attrs(1, 1, 1, 1), isa)


@pytest.mark.parametrize("act", sorted(ACTS))
@pytest.mark.parametrize("g", [1, 16])  # 16: depthwise
def test_conv2d_bn_inf_weight_meeting_padding(isa, act, g):
    """An inf weight whose tap meets padding: the padded tap is skipped
    (as the reference does) on every path, fused or not."""
    case = (1, 16, 6, 6, 16, 3, 3, 1, 1, 1, g)
    inputs = _inputs(case, 11)
    inputs[1][0, 0, 0, 0] = np.inf
    x, wt, b, mean, var, bw, bb = inputs
    y = call("conv2d_bn", inputs, _attrs(1, 1, 1, g, 1e-5, act), isa)
    z = call("conv2d", [x, wt, b], dict(stride=1, padding=1, dilation=1,
                                        groups=g), isa)
    z = call("batch_norm", [z, mean, var, bw, bb], dict(eps=1e-5, act=0),
             isa)
    np.testing.assert_array_equal(y, act_call(act, z, isa))
    want = call("conv2d_bn", inputs, _attrs(1, 1, 1, g, 1e-5, act), "scalar")
    for kind in (np.isnan, np.isposinf, np.isneginf):
        np.testing.assert_array_equal(kind(y), kind(want))
