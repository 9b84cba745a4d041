"""mlp (linear -> act -> linear in one kernel) against the float64
reference, on every ISA; bit-equality with the two linear calls of the
same ISA (what lets the planner fuse them), at 1, 2 and 3 threads.

The AVX2 kernel works on blocks of at most 128 rows (fewer when C + OUT
is large; a thread's rows in the fewest blocks of even whole panels),
split between threads in groups of 8: the rows sweep one row, partial
and whole 16-row panels, a one-column last panel, several blocks; C (the
first GEMM's K) one and two 256-blocks and 8-row transposes; H (the
second GEMM's K, made 256 hidden units at a time) less than a tile, one
and several 256-blocks; OUT partial panels and the 8 x 8 transposes of
the output. channels_first and scale (ConvNeXt's
permute back to NCHW and layer_scale) against mlp -> permute -> mul."""
from __future__ import annotations

from functools import partial

import numpy as np
import pytest

import featx
import reference as ref
from featx import _core
from oputil import ACTS, act_ref, assert_close, call, rand

# (rows, C, H, OUT)
CASES = [
    (1, 7, 20, 9),
    (5, 1, 16, 1),
    (16, 24, 96, 24),       # one whole group, ConvNeXt-like ratio
    (17, 300, 17, 16),      # C: two K blocks; H: one tile row short
    (49, 96, 384, 96),      # a 7x7 plane: last group one column
    (130, 33, 513, 40),     # two blocks; H: three 256-blocks
    (300, 16, 260, 15),     # three blocks: 112, 112, 76 rows
    (392, 20, 40, 24),      # 8 x 7x7: blocks 112, 112, 112, 56
    (70, 1100, 8, 600),     # C + OUT = 1700: blocks of 112 rows
]


def _inputs(case, seed, bias=(True, True)):
    m, c, h, o = case
    rng = np.random.default_rng(seed)
    x, w1, w2 = rand(rng, m, c), rand(rng, h, c), rand(rng, o, h)
    b1 = rand(rng, h) if bias[0] else None
    b2 = rand(rng, o) if bias[1] else None
    return [x, w1, w2, b1, b2]


def _unfused(inputs, act, isa):
    x, w1, w2, b1, b2 = inputs
    hid = call("linear", [x, w1, b1], {"act": act}, isa)
    return call("linear", [hid, w2, b2], {"act": 0}, isa)


def _reference(inputs, act):
    x, w1, w2, b1, b2 = inputs
    return ref.linear(act_ref(act, ref.linear(x, w1, b1)), w2, b2)


def _at_threads(n, fn):
    before = featx.get_num_threads()
    try:
        featx.set_num_threads(n)
        return fn()
    finally:
        featx.set_num_threads(before)


@pytest.mark.parametrize("act", sorted(ACTS))
@pytest.mark.parametrize("case", CASES, ids=[str(c) for c in CASES])
def test_mlp_matches_reference(isa, case, act):
    inputs = _inputs(case, act * 31 + case[0])
    y = call("mlp", inputs, {"act": act}, isa)
    assert y.shape == (case[0], case[3])
    assert_close(y, _reference(inputs, act), k=case[1] + case[2])


@pytest.mark.parametrize("act", [0, 1, 5])
@pytest.mark.parametrize("case", CASES, ids=[str(c) for c in CASES])
def test_mlp_equals_linear_act_linear(isa, case, act):
    """Fused == linear (act) -> linear of the same ISA, bit for bit, NaN
    included, whatever the thread count (the row split and blocks change
    no result)."""
    inputs = _inputs(case, 3)
    inputs[0][0, 0] = np.nan
    inputs[0][-1] *= 3
    expect = _unfused(inputs, act, isa)
    for n in (1, 2, 3):
        y = _at_threads(n, lambda: call("mlp", inputs, {"act": act}, isa))
        np.testing.assert_array_equal(y, expect, err_msg=f"{n} threads")
    assert np.isnan(expect[0]).all()


@pytest.mark.parametrize("bias", [(False, False), (True, False),
                                  (False, True)])
def test_mlp_optional_biases(isa, bias):
    case = CASES[3]
    inputs = _inputs(case, 7, bias)
    y = call("mlp", inputs, {"act": 5}, isa)
    np.testing.assert_array_equal(y, _unfused(inputs, 5, isa))
    assert_close(y, _reference(inputs, 5), k=case[1] + case[2])
    short = list(inputs)
    while short[-1] is None:
        short.pop()
    np.testing.assert_array_equal(call("mlp", short, {"act": 5}, isa), y)


@pytest.mark.parametrize("shape", [(9,), (2, 3, 9), (0, 9), (2, 0, 9)])
def test_mlp_leading_dims(isa, shape):
    rng = np.random.default_rng(1)
    x, w1, w2 = rand(rng, *shape), rand(rng, 20, 9), rand(rng, 4, 20)
    y = call("mlp", [x, w1, w2], {"act": 5}, isa)
    assert y.shape == shape[:-1] + (4,)
    np.testing.assert_array_equal(y, _unfused([x, w1, w2, None, None], 5,
                                              isa))


@pytest.mark.parametrize("c, h, o", [(0, 5, 3), (4, 0, 3), (4, 5, 0)])
def test_mlp_empty_dims(isa, c, h, o):
    """No input features: the hidden layer is act(b1); no hidden units:
    y is b2; no outputs: an empty y."""
    rng = np.random.default_rng(2)
    inputs = [rand(rng, 6, c), rand(rng, h, c), rand(rng, o, h),
              rand(rng, h), rand(rng, o)]
    y = call("mlp", inputs, {"act": 1}, isa)
    assert y.shape == (6, o)
    np.testing.assert_array_equal(y, _unfused(inputs, 1, isa))


def test_mlp_workspace_is_bounded_per_thread():
    """Blocks of rows per thread, never the (rows, H) hidden array: x^T,
    256 hidden units and y^T for 128 rows at ConvNeXt-tiny's last stage,
    whatever the number of rows."""
    x = np.empty((8 * 7 * 7, 768), np.float32)
    w1, w2 = np.empty((3072, 768), np.float32), np.empty((768, 3072),
                                                         np.float32)
    ws = _core._workspace_bytes("mlp", [x, w1, w2], {"act": 5})
    assert ws == 128 * (768 + 256 + 768) * 4
    big = np.empty((8 * 56 * 56, 768), np.float32)
    assert _core._workspace_bytes("mlp", [big, w1, w2], {"act": 5}) == ws
    wide1, wide2 = np.empty((64, 6000), np.float32), np.empty((6000, 64),
                                                              np.float32)
    ws = _core._workspace_bytes("mlp", [np.empty((5, 6000), np.float32),
                                        wide1, wide2], {"act": 5})
    assert ws == 16 * (6000 + 64 + 6000) * 4


def test_mlp_error_act(isa):
    x, w1, w2 = (np.zeros(s, np.float32) for s in ((2, 4), (3, 4), (5, 3)))
    with pytest.raises(ValueError, match=r"mlp: act must be 0 .* got 6"):
        call("mlp", [x, w1, w2], {"act": 6}, isa)


def test_mlp_error_first_weight(isa):
    x, w1, w2 = (np.zeros(s, np.float32) for s in ((2, 4), (3, 5), (5, 3)))
    with pytest.raises(ValueError, match=r"mlp \(first linear\): input of "
                       r"shape \(2, 4\) has 4 features, weight of shape "
                       r"\(3, 5\) expects 5"):
        call("mlp", [x, w1, w2], {"act": 0}, isa)


def test_mlp_error_second_weight(isa):
    x, w1, w2 = (np.zeros(s, np.float32) for s in ((2, 4), (3, 4), (5, 7)))
    with pytest.raises(ValueError, match=r"mlp \(second linear\): input of "
                       r"shape \(2, 3\) has 3 features, weight of shape "
                       r"\(5, 7\) expects 7"):
        call("mlp", [x, w1, w2], {"act": 0}, isa)
    with pytest.raises(ValueError, match=r"mlp \(second linear\): expected "
                       r"a 2-D weight .* got shape \(5,\)"):
        call("mlp", [x, w1, np.zeros(5, np.float32)], {"act": 0}, isa)


@pytest.mark.parametrize("which, shape", [(3, (4,)), (4, (2, 5))])
def test_mlp_error_bias(isa, which, shape):
    inputs = [np.zeros(s, np.float32) for s in ((2, 4), (3, 4), (5, 3))]
    inputs += [None, None]
    inputs[which] = np.zeros(shape, np.float32)
    layer, n = ("first", 3) if which == 3 else ("second", 5)
    with pytest.raises(ValueError, match=rf"mlp \({layer} linear\): expected "
                       rf"bias of shape \({n},\), got shape "
                       + str(shape).replace("(", r"\(").replace(")", r"\)")):
        call("mlp", inputs, {"act": 0}, isa)


def test_mlp_error_input_rank(isa):
    with pytest.raises(ValueError, match=r"at least 1 dimension.*\(\)"):
        call("mlp", [np.float32(1.0), np.zeros((3, 1), np.float32),
                     np.zeros((2, 3), np.float32)], {"act": 0}, isa)


# x shapes for channels_first: images whose pixels a 128-row block
# straddles (50 and 390 pixels), one pixel per image (2-D x), and a
# 3-D x (one spatial dim)
CF_SHAPES = [(3, 50, 8), (2, 3, 130, 8), (2, 7, 7, 24), (4, 9), (1, 300, 16)]


def _cf_inputs(shape, seed):
    rng = np.random.default_rng(seed)
    c, h, o = shape[-1], 40, 17
    return [rand(rng, *shape), rand(rng, h, c), rand(rng, o, h), rand(rng, h),
            rand(rng, o)], rand(rng, o)


@pytest.mark.parametrize("shape", CF_SHAPES, ids=[str(s) for s in CF_SHAPES])
@pytest.mark.parametrize("with_scale", [False, True])
def test_mlp_channels_first_scale_equal_permute_mul(isa, shape, with_scale):
    """channels_first == mlp -> permute (last dim to dim 1) and scale ==
    then mul by the (OUT, 1, .., 1) scale (ConvNeXt's layer_scale), of the
    same ISA, bit for bit, at 1, 2 and 3 threads; scale given as (OUT,)
    or (OUT, 1, .., 1) alike."""
    inputs, scale = _cf_inputs(shape, len(shape))
    nd = len(shape)
    sc = scale.reshape((-1,) + (1,) * (nd - 2))
    z = call("mlp", inputs, {"act": 5}, isa)
    z = call("permute", [z], {"dims": (0, nd - 1) + tuple(range(1, nd - 1))},
             isa)
    if with_scale:
        z = call("mul", [sc, z], {}, isa)
    for n in (1, 2, 3):
        for s in ([sc, scale] if with_scale else [None]):
            y = _at_threads(n, partial(call, "mlp", inputs + [s], {
                "act": 5, "channels_first": 1}, isa))
            np.testing.assert_array_equal(y, z, err_msg=f"{n} threads")
    ref_y = np.moveaxis(_reference(inputs, 5), -1, 1)
    if with_scale:
        ref_y = ref_y * sc.astype(np.float64)
    assert_close(z, ref_y, k=shape[-1] + 40)


def test_mlp_scale_channels_last_equals_mul(isa):
    inputs, scale = _cf_inputs((2, 5, 8), 4)
    y = call("mlp", inputs + [scale], {"act": 1}, isa)
    z = call("mul", [call("mlp", inputs, {"act": 1}, isa), scale], {}, isa)
    np.testing.assert_array_equal(y, z)


@pytest.mark.parametrize("shape", [(4, 1), (17, 2), (1, 17), (16,), ()])
def test_mlp_error_scale(isa, shape):
    inputs, _ = _cf_inputs((2, 3, 8), 5)
    with pytest.raises(ValueError, match=r"mlp: expected scale of shape "
                       r"\(17,\) or \(17, 1, \.\.\., 1\), got shape "):
        call("mlp", inputs + [np.zeros(shape, np.float32)], {"act": 0}, isa)


def test_mlp_error_channels_first_needs_2d(isa):
    inputs, _ = _cf_inputs((8,), 6)
    with pytest.raises(ValueError, match=r"channels_first needs an input "
                       r"\(N, \.\.\., C\) of at least 2 dimensions, got "
                       r"shape \(8,\)"):
        call("mlp", inputs, {"act": 0, "channels_first": 1}, isa)
