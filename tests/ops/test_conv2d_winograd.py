"""3x3 stride-1 conv2d / conv2d_bn through Winograd F(4x4, 3x3)
(kernels/winograd_avx2.c, picked by the AVX2 kernels for groups 1,
C and OC >= 16) against the float64 reference, on every ISA.

Tolerance, from the math. The kernel computes, per 4x4 output tile,
y = A^T [sum_c (G g_c G^T) .* (B^T d_c B)] A in float32. A first-order
rounding analysis (each op adds a relative error <= eps = 2**-24 of its
result, and a sum's error is bounded by its depth times eps times the sum
of the absolute values of its terms):

  - each entry of B^T d B / G g G^T is a two-pass sum of at most 3
    rounded ops per pass: within 6 eps of |B^T| |d| |B| / |G| |g| |G^T|;
  - their product adds 1 eps; the channel sum runs FMA chains of at most
    64 channels, then adds the blocks: depth <= 64 + ceil(C / 64);
  - the output transform: 2 passes of at most 3 rounded ops: 6 eps.

So every output obeys, to first order,

    |y - y_exact| <= eps * (19 + 64 + ceil(C / 64)) * S,
    S = |A^T| (sum_c (|G| |g_c| |G^T|) .* (|B^T| |d_c| |B|)) |A|

(+ |bias| * eps for the bias add), computed per output in float64 by
winograd_bound. It is rigorous but loose (worst-case roundings; the
measured error is 300-1000x below it), so the tests also check the figure
the model tests care about, max|y - y_exact| / max|y_exact|, on realistic
data (ReLU'd activations, He-initialised weights): measured ~3e-6 for
C <= 130 and ~1e-5 at C = 1024, asserted below 1e-5 and 2e-5.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

import featx
import reference as ref
from featx import _core
from featx._op import CONV_BN_ACTS
from oputil import call

BT = np.array([[4, 0, -5, 0, 1, 0], [0, -4, -4, 1, 1, 0],
               [0, 4, -4, -1, 1, 0], [0, -2, -1, 2, 1, 0],
               [0, 2, -1, -2, 1, 0], [0, 4, 0, -5, 0, 1]], np.float64)
G = np.array([[1 / 4, 0, 0], [-1 / 6, -1 / 6, -1 / 6],
              [-1 / 6, 1 / 6, -1 / 6], [1 / 24, 1 / 12, 1 / 6],
              [1 / 24, -1 / 12, 1 / 6], [0, 0, 1]], np.float64)
AT = np.array([[1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 0],
               [0, 1, 1, 4, 4, 0], [0, 1, -1, 8, -8, 1]], np.float64)
EPS = 2.0 ** -24


def winograd_bound(x, w, b, pad):
    """Per-output error bound of the module docstring, shape of y."""
    x = np.abs(x.astype(np.float64))
    w = np.abs(w.astype(np.float64))
    n, c, h, wd = x.shape
    oh, ow = h + 2 * pad - 2, wd + 2 * pad - 2
    th, tw = -(-oh // 4), -(-ow // 4)
    xp = np.zeros((n, c, 4 * th + 2, 4 * tw + 2))
    hh, ww = min(h, 4 * th + 2 - pad), min(wd, 4 * tw + 2 - pad)
    xp[:, :, pad:pad + hh, pad:pad + ww] = x[:, :, :hh, :ww]
    # patches: (n, c, th, tw, 6, 6)
    idx = 4 * np.arange(th)[:, None] + np.arange(6)[None, :]
    jdx = 4 * np.arange(tw)[:, None] + np.arange(6)[None, :]
    d = xp[:, :, idx[:, None, :, None], jdx[None, :, None, :]]
    bt, g, at = np.abs(BT), np.abs(G), np.abs(AT)
    v = np.einsum("ij,nctujk,lk->nctuil", bt, d, bt)
    u = np.einsum("ij,ocjk,lk->ocil", g, w, g)
    s = np.einsum("nctuil,ocil->notuil", v, u)
    s = np.einsum("ij,notujk,lk->notuil", at, s, at)
    s = s.transpose(0, 1, 2, 4, 3, 5).reshape(n, -1, 4 * th, 4 * tw)
    s = s[:, :, :oh, :ow]
    if b is not None:
        s = s + np.abs(b.astype(np.float64))[None, :, None, None]
    return EPS * (19 + 64 + math.ceil(c / 64)) * s


def assert_within_bound(y, expect, x, w, b, pad, rel=1e-5):
    assert y.shape == expect.shape
    err = np.abs(y.astype(np.float64) - expect)
    scale = max(float(np.abs(expect).max()), 1e-30)
    assert err.max() <= rel * scale, (
        f"max error {err.max():.3g} > {rel:g} * max|ref| {scale:.3g}")
    bound = winograd_bound(x, w, b, pad)
    bad = err > bound
    assert not bad.any(), (
        f"{int(bad.sum())} outputs over the bound; worst ratio "
        f"{float((err / np.maximum(bound, 1e-300)).max()):.3g}")


def _data(rng, n, c, h, w, oc, bias=True):
    """ReLU'd activations and He-initialised weights, as in a network."""
    x = np.maximum(rng.standard_normal((n, c, h, w)), 0).astype(np.float32)
    wt = (rng.standard_normal((oc, c, 3, 3))
          * math.sqrt(2.0 / (9 * c))).astype(np.float32)
    b = rng.standard_normal(oc).astype(np.float32) if bias else None
    return x, wt, b


def _attrs(pad):
    return dict(stride=1, padding=pad, dilation=1, groups=1)


# (N, C, H, W, OC, padding, bias): H/W around and below the 4x4 tile, runs
# of 8 tiles cut by row ends, C/OC not multiples of 6/8/16 and across the
# 64-channel and 48-output-channel blocks. Winograd needs 2+ tiles in
# all (fx__conv2d_winograd_ok), hence the batch of the smallest ones.
CASES = [
    (8, 16, 1, 1, 16, 1, True),       # 1x1 output, one cut tile
    (9, 16, 3, 3, 16, 0, True),       # 1x1 output, no padding
    (2, 17, 2, 13, 19, 2, False),     # H below a tile
    (3, 24, 13, 5, 30, 2, True),      # W below two tiles
    (8, 16, 4, 4, 16, 1, False),
    (2, 20, 5, 6, 23, 1, True),
    (2, 31, 7, 7, 33, 1, True),       # 7x7: 2x2 tiles, last ones cut
    (1, 48, 7, 7, 40, 1, True),       # 4 tiles: one group of 8 lanes
    (2, 16, 8, 9, 16, 0, True),       # 6x7 output
    (1, 18, 11, 12, 17, 1, False),
    (1, 65, 12, 12, 49, 1, True),     # C = 64 + 1, OC = 48 + 1
    (3, 16, 13, 13, 21, 1, True),
    (2, 40, 14, 14, 50, 1, True),     # 14x14: cut last tile column
    (1, 37, 10, 33, 29, 1, False),    # 33 wide: 9 tiles per row
    (1, 16, 56, 56, 18, 1, True),     # 14 tiles per row
    (1, 130, 9, 9, 97, 1, True),      # several C and OC blocks
    (2, 16, 30, 30, 16, 0, True),     # no padding, 28x28 output
]


@pytest.mark.parametrize("case", CASES, ids=[str(i) for i in range(len(CASES))])
def test_winograd_conv2d_matches_reference(isa, case):
    n, c, h, w, oc, pad, has_bias = case
    rng = np.random.default_rng(h * 100 + w + c)
    x, wt, b = _data(rng, n, c, h, w, oc, has_bias)
    y = call("conv2d", [x, wt, b], _attrs(pad), isa)
    expect = ref.conv2d(x, wt, b, 1, pad)
    assert_within_bound(y, expect, x, wt, b, pad)


@pytest.mark.parametrize("c", [64, 256, 1024])
def test_winograd_relative_error_realistic(isa, c):
    """The figure the model tests care about: max error / max |ref|."""
    rng = np.random.default_rng(c)
    x, wt, b = _data(rng, 2, c, 7, 7, 32)
    y = call("conv2d", [x, wt, b], _attrs(1), isa)
    expect = ref.conv2d(x, wt, b, 1, 1)
    assert_within_bound(y, expect, x, wt, b, 1, rel=2e-5)


def _bn_inputs(rng, case):
    n, c, h, w, oc, pad, has_bias = case
    x, wt, b = _data(rng, n, c, h, w, oc, has_bias)
    mean = rng.standard_normal(oc).astype(np.float32)
    var = (np.abs(rng.standard_normal(oc)) + 0.5).astype(np.float32)
    bw = rng.standard_normal(oc).astype(np.float32)
    bb = rng.standard_normal(oc).astype(np.float32)
    return [x, wt, b, mean, var, bw, bb]


@pytest.mark.parametrize("act", [None, *CONV_BN_ACTS])
@pytest.mark.parametrize("case", CASES[::3], ids=[str(i) for i in
                                                    range(0, len(CASES), 3)])
def test_winograd_conv2d_bn(isa, case, act):
    """Bit-equal to conv2d -> batch_norm -> activation (the fused epilogue
    rounds as the separate ops do), and (no activation, relu) against the
    float64 reference."""
    rng = np.random.default_rng(case[2] * 7 + case[4])
    inputs = _bn_inputs(rng, case)
    x, wt, b, mean, var, bw, bb = inputs
    pad = case[5]
    attrs = dict(_attrs(pad), eps=1e-5,
                 act=0 if act is None else CONV_BN_ACTS[act])
    y = call("conv2d_bn", inputs, attrs, isa)
    z = call("conv2d", [x, wt, b], _attrs(pad), isa)
    z = call("batch_norm", [z, mean, var, bw, bb], dict(eps=1e-5, act=0), isa)
    if act is not None:
        z = call(act, [z], {}, isa)
    np.testing.assert_array_equal(y, z)
    if act not in (None, "relu"):
        return
    alpha = bw.astype(np.float64) / np.sqrt(var.astype(np.float64) + 1e-5)
    expect = ref.batch_norm(ref.conv2d(x, wt, b, 1, pad), mean, var, bw, bb,
                            1e-5)
    bound = winograd_bound(x, wt, b, pad) * np.abs(alpha)[None, :, None, None]
    got = y.astype(np.float64)
    if act == "relu":
        expect = np.maximum(expect, 0.0)
    # the affine's own rounding: a few ulps of its result
    bound += 4 * EPS * (np.abs(expect) + 1e-30)
    assert (np.abs(got - expect) <= bound).all()


# Few tiles per thread split the output channels (in 6-row units; with
# 16 channels and 4 threads one thread gets none), many split the tiles;
# between them these cases and thread counts take both splits.
@pytest.mark.parametrize("case", [(3, 40, 14, 15, 50, 1, True),
                                  (1, 40, 14, 14, 50, 1, False),
                                  (1, 16, 14, 14, 16, 1, True),
                                  (1, 24, 56, 56, 20, 1, True)],
                         ids=["48tiles", "16tiles", "oc16", "196tiles"])
@pytest.mark.parametrize("op", ["conv2d", "conv2d_bn"])
def test_winograd_threads_identical(isa, op, case):
    rng = np.random.default_rng(11)
    inputs = _bn_inputs(rng, case)
    if op == "conv2d":
        inputs, attrs = inputs[:3], _attrs(1)
    else:
        attrs = dict(_attrs(1), eps=1e-5, act=CONV_BN_ACTS["relu"])
    before = featx.get_num_threads()
    try:
        featx.set_num_threads(1)
        y1 = call(op, inputs, attrs, isa)
        for t in (2, 3, 4):
            featx.set_num_threads(t)
            np.testing.assert_array_equal(call(op, inputs, attrs, isa), y1)
    finally:
        featx.set_num_threads(before)
    if op == "conv2d":
        x, wt, b = inputs
        assert_within_bound(y1, ref.conv2d(x, wt, b, 1, 1), x, wt, b, 1)


@pytest.mark.parametrize("where", ["input", "weight"])
@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_non_finite_values_as_the_reference(isa, value, where):
    """An inf or NaN in the input or the weights gives exactly the
    reference's NaN / +inf / -inf pattern (Winograd's tile transforms
    would spread the value over the tile and turn inf into NaN: such an
    input takes the direct path, such a weight's tiles are recomputed by
    the reference formula); the finite outputs stay close."""
    rng = np.random.default_rng(5)
    x, wt, b = _data(rng, 1, 16, 20, 20, 16)
    if where == "input":
        x[0, 3, 9, 10] = value
    else:
        wt[2, 3, 1, 1] = value
    y = call("conv2d", [x, wt, b], _attrs(1), isa)
    ref = call("conv2d", [x, wt, b], _attrs(1), "scalar")
    for kind in (np.isnan, np.isposinf, np.isneginf):
        np.testing.assert_array_equal(kind(y), kind(ref))
    assert (~np.isfinite(y)).any()
    finite = np.isfinite(ref)
    np.testing.assert_allclose(y[finite], ref[finite], rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("where", ["input", "weight"])
def test_huge_values_finite(isa, where):
    """A finite value too large for Winograd's transforms (which scale a
    tile by up to 100 and 361: 1e38 would overflow to inf and then NaN)
    gives finite outputs, as torch's are: an input beyond 2^48 takes the
    direct path (bit for bit), a weight's overflowing tiles are
    recomputed by the reference formula, the others keep Winograd's error
    bound."""
    rng = np.random.default_rng(6)
    x, wt, b = _data(rng, 1, 16, 20, 20, 16)
    if where == "input":
        x[0, 3, 9, 10] = 1e38
    else:
        wt[2, 3, 1, 1] = 1e37
    y = call("conv2d", [x, wt, b], _attrs(1), isa)
    assert np.isfinite(y).all()
    if where == "input":
        direct = call("conv2d", [x, wt, b], dict(_attrs(1), direct=True),
                      isa)
        np.testing.assert_array_equal(y, direct)
    else:
        assert_within_bound(y, ref.conv2d(x, wt, b, 1, 1), x, wt, b, 1)


@pytest.mark.parametrize("value", [np.nan, np.inf, 1e38])
def test_non_finite_weight_stays_in_its_channel(isa, value):
    """An inf, NaN or overflowing weight changes only its output channel:
    the others are bit for bit as without it, on any number of threads,
    and the channel has the reference's inf/NaN pattern."""
    rng = np.random.default_rng(8)
    x, wt, b = _data(rng, 2, 20, 14, 15, 24)
    clean = call("conv2d", [x, wt, b], _attrs(1), isa)
    wt[5, 7, 0, 2] = value
    want = call("conv2d", [x, wt, b], _attrs(1), "scalar")
    before = featx.get_num_threads()
    try:
        for t in (1, 2, 3):
            featx.set_num_threads(t)
            y = call("conv2d", [x, wt, b], _attrs(1), isa)
            others = np.arange(24) != 5
            np.testing.assert_array_equal(y[:, others], clean[:, others])
            for kind in (np.isnan, np.isposinf, np.isneginf):
                np.testing.assert_array_equal(kind(y), kind(want))
    finally:
        featx.set_num_threads(before)


def test_winograd_workspace_is_bounded():
    """Winograd's slot is bounded whatever N, H, W (tiles are blocked) and
    C (above 1024 channels the GEMM path runs instead). np.empty: the
    inputs are never touched."""
    limit = 6 << 20
    for n, c, hw, oc in ((4, 16, 1200, 16), (2, 64, 300, 512),
                         (1, 512, 100, 512), (1, 1024, 40, 64),
                         (1, 1025, 40, 64), (1, 2048, 8, 16),
                         (1, 227, 200, 64)):  # the largest V: 128 tiles
        x = np.empty((n, c, hw, hw), np.float32)
        wt = np.empty((oc, c, 3, 3), np.float32)
        ws = _core._workspace_bytes("conv2d", [x, wt, None], _attrs(1))
        assert 0 < ws <= limit, (n, c, hw, oc, ws)
        assert ws % 64 == 0


def _spike_error(isa, direct):
    """max |y - y_exact| / max |y_exact| over the outputs whose 3x3 windows
    miss one input value 1e5 times the others (but whose 6x6 Winograd
    tiles may hold it)."""
    rng = np.random.default_rng(9)
    x, wt, b = _data(rng, 1, 32, 24, 24, 32)
    x[0, :, 5, 5] = 1e5
    attrs = dict(_attrs(1), direct=True) if direct else _attrs(1)
    y = call("conv2d", [x, wt, b], attrs, isa)
    expect = ref.conv2d(x, wt, b, 1, 1)
    far = np.ones((24, 24), bool)
    far[4:7, 4:7] = False  # the outputs whose windows hold it
    return (np.abs(y - expect)[..., far].max()
            / np.abs(expect[..., far]).max())


def test_direct_attr_never_takes_winograd(isa):
    """conv2d's optional ``direct`` attribute (nn.Conv2d sets it in train
    mode) computes by the direct formula: outputs away from a huge input
    value keep a direct convolution's accuracy, while Winograd's tile
    transforms spread that value's rounding error over its 6x6 tile."""
    assert _spike_error(isa, direct=True) < 1e-6
    if isa != "scalar":  # the input does show Winograd's error
        assert _spike_error(isa, direct=False) > 1e-4


def test_conv2d_module_is_direct_in_train_mode():
    """nn.Conv2d in train mode (eagerly and in an extractor) gives conv2d's
    direct result bit for bit; in eval mode the default (Winograd) one."""
    from featx.feature_extraction import create_feature_extractor
    from featx.nn import Conv2d, Sequential

    rng = np.random.default_rng(3)
    x, wt, b = _data(rng, 2, 32, 12, 12, 32)
    model = Sequential(Conv2d(32, 32, 3, padding=1))
    model[0].weight[...] = wt
    model[0].bias[...] = b
    direct = _core.call("conv2d", [x, wt, b], dict(_attrs(1), direct=True))
    default = _core.call("conv2d", [x, wt, b], _attrs(1))
    for training, expect in ((True, direct), (False, default)):
        model.train(training)
        np.testing.assert_array_equal(model(x), expect)
        extractor = create_feature_extractor(model, ["0"])
        np.testing.assert_array_equal(extractor(x)["0"], expect)
    if _core.cpu_features().get("avx2"):
        assert not np.array_equal(direct, default)
