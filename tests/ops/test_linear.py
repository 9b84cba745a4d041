"""linear against the float64 reference: every GEMM tile remainder (rows
M vs the 6-row tile and 72-row block, tiles of every height 1-6 (a block's
rows are shared evenly, 49 = 5*5 + 4*6), outputs N vs the 16-column panel
(a last panel of one column: 8-row groups in lanes, then tiles),
its 8-column transposed halves and the 8-panel block, K vs the 8-row
transposed blocks and the 256 block), leading dims, 1-D input, batch 0."""
from __future__ import annotations

import numpy as np
import pytest

import featx
import reference as ref
from featx import _core
from oputil import ACTS, act_call, act_ref, assert_close, call, layouts, rand


@pytest.mark.parametrize("m", [1, 2, 5, 6, 7, 13, 49, 75])
@pytest.mark.parametrize("n", [1, 15, 16, 17, 33, 130])
@pytest.mark.parametrize("k", [1, 7, 300])
def test_linear_tile_sweep(isa, m, n, k):
    rng = np.random.default_rng(m * 10007 + n * 101 + k)
    x, w, b = rand(rng, m, k), rand(rng, n, k), rand(rng, n)
    assert_close(call("linear", [x, w, b], {"act": 0}, isa), ref.linear(x, w, b), k=k)


@pytest.mark.parametrize("shape", [(9,), (2, 3, 9), (0, 9), (2, 0, 9)])
def test_linear_leading_dims(isa, shape):
    rng = np.random.default_rng(1)
    x, w = rand(rng, *shape), rand(rng, 4, 9)
    y = call("linear", [x, w], {"act": 0}, isa)
    assert y.shape == shape[:-1] + (4,)
    assert_close(y, ref.linear(x, w), k=9)


def test_linear_no_bias_none(isa):
    rng = np.random.default_rng(2)
    x, w = rand(rng, 3, 5), rand(rng, 2, 5)
    assert_close(call("linear", [x, w, None], {"act": 0}, isa), ref.linear(x, w))


def test_linear_zero_features(isa):
    x, w = np.zeros((3, 0), np.float32), np.zeros((4, 0), np.float32)
    b = np.arange(4, dtype=np.float32)
    np.testing.assert_array_equal(call("linear", [x, w, b], {"act": 0}, isa),
                                  np.tile(b, (3, 1)))


def test_linear_input_layouts(isa):
    rng = np.random.default_rng(3)
    x, w = rand(rng, 7, 19), rand(rng, 17, 19)
    expect = call("linear", [x, w], {"act": 0}, isa)
    for label, xv in layouts(x):
        got = call("linear", [xv, np.asfortranarray(w)], {"act": 0}, isa)
        np.testing.assert_array_equal(got, expect, err_msg=label)


def test_linear_error_features(isa):
    with pytest.raises(ValueError, match=r"\(2, 5\) has 5 features.*\(3, 4\) "
                       r"expects 4"):
        call("linear", [np.zeros((2, 5), np.float32),
                        np.zeros((3, 4), np.float32)], {"act": 0}, isa)


def test_linear_error_weight_rank(isa):
    with pytest.raises(ValueError, match=r"2-D weight.*\(4,\)"):
        call("linear", [np.zeros((2, 4), np.float32),
                        np.zeros(4, np.float32)], {"act": 0}, isa)


def test_linear_error_input_rank(isa):
    with pytest.raises(ValueError, match=r"at least 1 dimension.*\(\)"):
        call("linear", [np.float32(1.0), np.zeros((3, 1), np.float32)],
             {"act": 0}, isa)


def test_linear_error_bias(isa):
    with pytest.raises(ValueError, match=r"bias of shape \(3,\), got shape "
                       r"\(2,\)"):
        call("linear", [np.zeros((2, 4), np.float32),
                        np.zeros((3, 4), np.float32),
                        np.zeros(2, np.float32)], {"act": 0}, isa)


def test_linear_workspace_is_bounded_per_thread():
    """One packed KC x NB*16 block of w^T per thread, not all of it."""
    x = np.empty((4, 25088), np.float32)
    w = np.empty((4096, 25088), np.float32)  # vgg fc6: w^T was 411 MB
    ws = _core._workspace_bytes("linear", [x, w, None], {"act": 0})
    assert 0 < ws <= 256 * 8 * 16 * 4 and ws % 64 == 0


def test_linear_long_reduction_many_panels(isa):
    rng = np.random.default_rng(11)
    x = rand(rng, 7, 1100)   # K: 4 blocks of 256 + 76
    w = rand(rng, 300, 1100)  # 19 panels: several blocks of 8 panels
    b = rand(rng, 300)
    assert_close(call("linear", [x, w, b], {"act": 0}, isa), ref.linear(x, w, b),
                 k=1100)


@pytest.mark.parametrize("act", sorted(ACTS))
@pytest.mark.parametrize("m, n, k", [(7, 33, 300), (13, 16, 96), (5, 15, 7),
                                     (75, 130, 1), (13, 17, 20)])
def test_linear_act_matches_reference(isa, act, m, n, k):
    """act after the bias, in the GEMM's epilogue: whole and partial
    panels, one and two K blocks, every activation."""
    rng = np.random.default_rng(act * 1000 + m + n + k)
    x, w, b = rand(rng, m, k), rand(rng, n, k), rand(rng, n)
    assert_close(call("linear", [x, w, b], {"act": act}, isa),
                 act_ref(act, ref.linear(x, w, b)), k=k)


@pytest.mark.parametrize("act", sorted(ACTS))
@pytest.mark.parametrize("m, n, k", [(13, 48, 96), (7, 130, 300), (6, 17, 5),
                                     (2, 9, 0), (40, 33, 300)])
@pytest.mark.parametrize("bias", [False, True])
def test_linear_act_equals_linear_then_act(isa, act, m, n, k, bias):
    """Fused == linear -> activation op of the same ISA, bit for bit, NaN
    and -0 included."""
    rng = np.random.default_rng(act * 7 + m + k)
    x, w = rand(rng, m, k) * 2, rand(rng, n, k)
    b = rand(rng, n) if bias else None
    if k:
        x[0, 0] = np.nan
    y = call("linear", [x, w, b], {"act": act}, isa)
    z = call("linear", [x, w, b], {"act": 0}, isa)
    np.testing.assert_array_equal(y, act_call(act, z, isa))


def test_linear_error_act(isa):
    with pytest.raises(ValueError, match=r"linear: act must be 0 .* got 6"):
        call("linear", [np.zeros((2, 4), np.float32),
                        np.zeros((3, 4), np.float32)], {"act": 6}, isa)


@pytest.mark.parametrize("act", [0, 5])
@pytest.mark.parametrize("n, k", [(33, 300), (7, 20), (130, 5), (4, 0),
                                  (20, 1024)])
def test_linear_one_row_equals_batched_rows(isa, act, n, k):
    """One input row (y^T = w x^T: w read in place, rows in vector lanes)
    gives the bits of the same row inside a batch (x rows times packed
    w^T), bias and activation included, at any thread count."""
    rng = np.random.default_rng(n + k)
    x, w, b = rand(rng, 1, k), rand(rng, n, k), rand(rng, n)
    batch = np.concatenate([x, rand(rng, 8, k)])
    expect = call("linear", [batch, w, b], {"act": act}, isa)[:1]
    y = call("linear", [x[0], w, b], {"act": act}, isa)
    np.testing.assert_array_equal(y, expect[0])
    before = featx.get_num_threads()
    try:
        featx.set_num_threads(3)
        np.testing.assert_array_equal(
            call("linear", [x, w, b], {"act": act}, isa), expect)
    finally:
        featx.set_num_threads(before)
    assert_close(call("linear", [x, w, None], {"act": 0}, isa),
                 ref.linear(x, w), k=max(k, 1))
