"""max_pool2d, avg_pool2d and adaptive_avg_pool2d against the float64
reference: odd sizes, stride > kernel, maximal padding, dilation,
ceil_mode (incl. the last-window rule), count_include_pad,
divisor_override, 3-D input, batch 0."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

import reference as ref
from oputil import assert_close, call, layouts, rand

# (H, W, kernel, stride, padding, dilation)
WINDOWS = [
    (8, 8, 2, 2, 0, 1),
    (7, 9, 3, 2, 1, 1),
    (5, 5, 3, 3, 1, 1),
    (6, 7, (3, 2), (2, 1), (1, 1), 1),
    (10, 10, 2, 4, 1, 1),              # stride > kernel
    (9, 11, 5, 2, 2, 1),               # maximal padding
    (4, 4, 4, 3, 2, 1),
    (1, 1, 1, 1, 0, 1),
    (1, 1, 3, 2, 1, 1),
    (13, 12, 3, 2, 1, 2),              # dilation (max_pool only)
    (12, 9, (2, 3), (3, 2), (1, 1), (3, 2)),
    (112, 112, 3, 2, 1, 1),            # resnet
]


def _mp_attrs(k, s, p, d, ceil):
    return dict(kernel_size=k, stride=s, padding=p, dilation=d,
                ceil_mode=ceil)


@pytest.mark.parametrize("win", WINDOWS, ids=[str(i) for i in range(len(WINDOWS))])
@pytest.mark.parametrize("ceil", [False, True])
def test_max_pool2d_matches_reference(isa, win, ceil):
    h, w, k, s, p, d = win
    x = rand(np.random.default_rng(h * w), 2, 3, h, w)
    y = call("max_pool2d", [x], _mp_attrs(k, s, p, d, ceil), isa)
    assert_close(y, ref.max_pool2d(x, k, s, p, d, ceil))


def test_max_pool2d_ceil_last_window_rule(isa):
    # H=5, k=2, s=2, p=1, ceil: ceil((5+2-2)/2)+1 = 4 windows, but the 4th
    # would start at 6 >= H + p = 6, so torch drops it -> 3.
    x = rand(np.random.default_rng(0), 1, 1, 5, 5)
    y = call("max_pool2d", [x], _mp_attrs(2, 2, 1, 1, True), isa)
    assert y.shape == (1, 1, 3, 3)
    # H=6, k=3, s=2, p=0, ceil: 3 windows (last starts at 4 < 6, overhangs)
    x = rand(np.random.default_rng(1), 1, 1, 6, 6)
    y = call("max_pool2d", [x], _mp_attrs(3, 2, 0, 1, True), isa)
    assert y.shape == (1, 1, 3, 3)
    assert_close(y, ref.max_pool2d(x, 3, 2, 0, 1, True))


def test_max_pool2d_nan_propagates(isa):
    x = np.zeros((1, 1, 4, 4), np.float32)
    x[0, 0, 1, 2] = np.nan
    y = call("max_pool2d", [x], _mp_attrs(2, 2, 0, 1, False), isa)
    assert np.isnan(y[0, 0, 0, 1]) and np.isnan(y).sum() == 1


def test_max_pool2d_3d_and_batch0(isa):
    x = rand(np.random.default_rng(2), 3, 7, 7)
    assert_close(call("max_pool2d", [x], _mp_attrs(3, 2, 1, 1, False), isa),
                 ref.max_pool2d(x, 3, 2, 1))
    y = call("max_pool2d", [np.zeros((0, 3, 7, 7), np.float32)],
             _mp_attrs(3, 2, 1, 1, False), isa)
    assert y.shape == (0, 3, 4, 4)


def _ap_attrs(k, s, p, ceil, cip, div):
    return dict(kernel_size=k, stride=s, padding=p, ceil_mode=ceil,
                count_include_pad=cip, divisor_override=div)


@pytest.mark.parametrize("win", [w for w in WINDOWS if w[5] == 1],
                         ids=lambda w: "x".join(map(str, w[:2])))
@pytest.mark.parametrize("ceil,cip,div", list(itertools.product(
    [False, True], [False, True], [0, 3])))
def test_avg_pool2d_matches_reference(isa, win, ceil, cip, div):
    h, w, k, s, p, _ = win
    x = rand(np.random.default_rng(h + w), 2, 3, h, w)
    y = call("avg_pool2d", [x], _ap_attrs(k, s, p, ceil, cip, div), isa)
    assert_close(y, ref.avg_pool2d(x, k, s, p, ceil, cip, div or None))


def test_avg_pool2d_ceil_overhang_not_counted(isa):
    # H=W=3, k=2, s=2, ceil: the last window covers row/col 2 only; its
    # divisor is 1 even with count_include_pad (the overhang is not pad).
    x = np.arange(9, dtype=np.float32).reshape(1, 1, 3, 3)
    y = call("avg_pool2d", [x], _ap_attrs(2, 2, 0, True, True, 0), isa)
    np.testing.assert_allclose(y[0, 0], [[2.0, 3.5], [6.5, 8.0]])
    # with padding 1 the window at the pad edge counts the padding only
    y = call("avg_pool2d", [x], _ap_attrs(2, 2, 1, True, True, 0), isa)
    np.testing.assert_allclose(y, ref.avg_pool2d(x, 2, 2, 1, True, True),
                               rtol=1e-6)


def test_avg_pool2d_input_layouts(isa):
    x = rand(np.random.default_rng(5), 2, 3, 7, 8)
    attrs = _ap_attrs(3, 2, 1, True, False, 0)
    expect = call("avg_pool2d", [x], attrs, isa)
    for label, xv in layouts(x):
        np.testing.assert_array_equal(call("avg_pool2d", [xv], attrs, isa),
                                      expect, err_msg=label)


@pytest.mark.parametrize("hw,out", [((7, 7), (1, 1)), ((7, 7), (7, 7)),
                                    ((10, 9), (3, 4)), ((5, 3), (7, 6)),
                                    ((1, 1), (2, 3)), ((14, 13), (5, 2))])
def test_adaptive_avg_pool2d_matches_reference(isa, hw, out):
    x = rand(np.random.default_rng(hw[0] * 10 + out[1]), 2, 3, *hw)
    y = call("adaptive_avg_pool2d", [x], {"output_size": out}, isa)
    assert_close(y, ref.adaptive_avg_pool2d(x, out))


def test_adaptive_avg_pool2d_3d_batch0_int(isa):
    x = rand(np.random.default_rng(3), 4, 6, 6)
    assert_close(call("adaptive_avg_pool2d", [x], {"output_size": 4}, isa),
                 ref.adaptive_avg_pool2d(x, 4))
    y = call("adaptive_avg_pool2d", [np.zeros((0, 2, 5, 5), np.float32)],
             {"output_size": (1, 1)}, isa)
    assert y.shape == (0, 2, 1, 1)


def test_pool_input_unchanged(isa):
    x = rand(np.random.default_rng(4), 1, 2, 6, 6)
    before = x.copy()
    call("max_pool2d", [x], _mp_attrs(2, 2, 0, 1, False), isa)
    call("avg_pool2d", [x], _ap_attrs(2, 2, 0, False, True, 0), isa)
    call("adaptive_avg_pool2d", [x], {"output_size": 3}, isa)
    np.testing.assert_array_equal(x, before)


# ---- ISA kernels equal the reference kernel bit for bit --------------------

# (kernel, stride, padding, dilation): strides 1 and 2 (vector loads), 3
# (gather), resnet's 3/2/1, dilation, asymmetric windows
ISA_WINDOWS = [(3, 2, 1, 1), (2, 2, 0, 1), (3, 1, 1, 1), (1, 1, 0, 1),
               (5, 3, 2, 1), ((3, 2), (1, 2), (1, 1), 1), (3, 2, 2, 2),
               ((2, 3), (2, 1), (0, 1), (1, 3)), (4, 4, 2, 1)]


def _special(rng, *shape):
    """Random values with NaN, +-inf and signed zeros sprinkled in."""
    x = rand(rng, *shape)
    flat = x.reshape(-1)
    for value in (np.nan, np.inf, -np.inf, 0.0, -0.0):
        idx = rng.choice(flat.size, size=max(1, flat.size // 40),
                         replace=False)
        flat[idx] = value
    return x


def _bits_equal(got, want, msg):
    assert got.shape == want.shape, msg
    np.testing.assert_array_equal(got.view(np.uint32), want.view(np.uint32),
                                  err_msg=msg)


@pytest.mark.parametrize("win", ISA_WINDOWS, ids=lambda w: str(w))
@pytest.mark.parametrize("ceil", [False, True])
def test_max_pool2d_isa_equals_reference_bits(isa, win, ceil):
    k, s, p, d = win
    rng = np.random.default_rng(7)
    for width in range(1, 42):  # every remainder of an 8-wide block
        h = 3 + width % 5
        x = _special(rng, 2, 2, h, width + 4)
        attrs = _mp_attrs(k, s, p, d, ceil)
        try:
            want = call("max_pool2d", [x], attrs, "scalar")
        except ValueError:  # window larger than this input
            continue
        _bits_equal(call("max_pool2d", [x], attrs, isa), want,
                    f"width {width + 4}")


@pytest.mark.parametrize("win", [w for w in ISA_WINDOWS if w[3] == 1],
                         ids=lambda w: str(w))
@pytest.mark.parametrize("ceil,cip,div", [(False, True, 0), (True, False, 0),
                                          (True, True, 0), (False, False, 5)])
def test_avg_pool2d_isa_equals_reference_bits(isa, win, ceil, cip, div):
    k, s, p, _ = win
    rng = np.random.default_rng(8)
    for width in range(1, 42):
        h = 3 + width % 5
        x = rand(rng, 2, 2, h, width + 4)
        attrs = _ap_attrs(k, s, p, ceil, cip, div)
        try:
            want = call("avg_pool2d", [x], attrs, "scalar")
        except ValueError:
            continue
        _bits_equal(call("avg_pool2d", [x], attrs, isa), want,
                    f"width {width + 4}")


def test_max_pool2d_nan_and_inf_semantics(isa):
    # NaN anywhere in a window wins; -inf alone stays -inf; +inf wins
    x = np.full((1, 1, 4, 20), -np.inf, np.float32)
    x[0, 0, 1, 5] = np.nan
    x[0, 0, 2, 12] = np.inf
    y = call("max_pool2d", [x], _mp_attrs(2, 2, 0, 1, False), isa)
    want = np.full((1, 1, 2, 10), -np.inf, np.float32)
    want[0, 0, 0, 2] = np.nan
    want[0, 0, 1, 6] = np.inf
    np.testing.assert_array_equal(y, want)
    x[0, 0, 0, 4] = np.inf  # NaN after +inf in the same window: NaN
    y = call("max_pool2d", [x], _mp_attrs(2, 2, 0, 1, False), isa)
    assert np.isnan(y[0, 0, 0, 2])


def test_pool2d_resnet_shape_multithreaded(isa):
    import featx
    x = _special(np.random.default_rng(9), 2, 5, 112, 112)
    attrs = _mp_attrs(3, 2, 1, 1, False)
    want = call("max_pool2d", [x], attrs, "scalar")
    n = featx.get_num_threads()
    try:
        for threads in (1, 3):
            featx.set_num_threads(threads)
            _bits_equal(call("max_pool2d", [x], attrs, isa), want,
                        f"{threads} threads")
    finally:
        featx.set_num_threads(n)


# ---- errors ---------------------------------------------------------------

def test_max_pool2d_error_output_too_small(isa):
    with pytest.raises(ValueError, match=r"max_pool2d: output size would be "
                       r"0x0 for input 1x1, kernel_size \(3, 3\), stride "
                       r"\(2, 2\), padding \(0, 0\)"):
        call("max_pool2d", [np.zeros((1, 1, 1, 1), np.float32)],
             _mp_attrs(3, 2, 0, 1, False), isa)


def test_max_pool2d_error_padding(isa):
    with pytest.raises(ValueError, match=r"at most half.*padding \(2, 2\), "
                       r"kernel_size \(3, 3\) and dilation \(1, 1\)"):
        call("max_pool2d", [np.zeros((1, 1, 8, 8), np.float32)],
             _mp_attrs(3, 1, 2, 1, False), isa)


@pytest.mark.parametrize("k,pad,dil", [(3, 2, 2), (2, 2, 3), ((3, 5), (1, 3), 1)])
def test_max_pool2d_padding_limit_ignores_dilation(isa, k, pad, dil):
    # torch: "pad should be smaller than or equal to half of kernel size",
    # with the undilated kernel, even where the dilated window is larger
    x = np.zeros((1, 1, 9, 9), np.float32)
    kk = (k, k) if isinstance(k, int) else k
    with pytest.raises(ValueError) as e:
        call("max_pool2d", [x], _mp_attrs(k, 1, pad, dil, False), isa)
    msg = str(e.value)
    assert "at most half of kernel_size" in msg
    assert f"kernel_size ({kk[0]}, {kk[1]})" in msg
    assert f"largest padding allowed is ({kk[0] // 2}, {kk[1] // 2})" in msg


def test_max_pool2d_padding_at_the_limit_with_dilation(isa):
    x = rand(np.random.default_rng(6), 1, 1, 8, 8)
    y = call("max_pool2d", [x], _mp_attrs(3, 1, 1, 3, False), isa)
    assert_close(y, ref.max_pool2d(x, 3, 1, 1, 3))


def test_max_pool2d_error_rank(isa):
    with pytest.raises(ValueError, match=r"3-D \(C, H, W\) or 4-D.*\(8, 8\)"):
        call("max_pool2d", [np.zeros((8, 8), np.float32)],
             _mp_attrs(2, 2, 0, 1, False), isa)


def test_max_pool2d_error_nonpositive(isa):
    with pytest.raises(ValueError, match=r"^max_pool2d: stride must be >= 1 in "
                       r"both dimensions, got stride \(0, 2\)$"):
        call("max_pool2d", [np.zeros((1, 1, 8, 8), np.float32)],
             _mp_attrs(2, (0, 2), 0, 1, False), isa)


def test_max_pool2d_error_empty_plane(isa):
    with pytest.raises(ValueError, match=r"non-empty.*\(1, 1, 0, 4\)"):
        call("max_pool2d", [np.zeros((1, 1, 0, 4), np.float32)],
             _mp_attrs(2, 2, 0, 1, False), isa)


def test_avg_pool2d_error_padding(isa):
    with pytest.raises(ValueError, match=r"avg_pool2d: padding.*padding "
                       r"\(0, 2\), kernel_size \(3, 3\)"):
        call("avg_pool2d", [np.zeros((1, 1, 8, 8), np.float32)],
             _ap_attrs(3, 1, (0, 2), False, True, 0), isa)


def test_avg_pool2d_error_divisor(isa):
    with pytest.raises(ValueError, match="divisor_override must be positive.*"
                       "got -2"):
        call("avg_pool2d", [np.zeros((1, 1, 8, 8), np.float32)],
             _ap_attrs(2, 2, 0, False, True, -2), isa)


def test_avg_pool2d_error_output_too_small(isa):
    with pytest.raises(ValueError, match=r"avg_pool2d: output size would be "
                       r"0x3 for input 2x5, kernel_size \(3, 3\)"):
        call("avg_pool2d", [np.zeros((1, 1, 2, 5), np.float32)],
             _ap_attrs(3, 1, 0, False, True, 0), isa)


def test_adaptive_avg_pool2d_error_output_size(isa):
    with pytest.raises(ValueError, match=r"output_size must be positive, got "
                       r"\(0, 2\)"):
        call("adaptive_avg_pool2d", [np.zeros((1, 1, 4, 4), np.float32)],
             {"output_size": (0, 2)}, isa)


def test_adaptive_avg_pool2d_error_rank(isa):
    with pytest.raises(ValueError, match=r"adaptive_avg_pool2d: expected a "
                       r"3-D.*\(4, 4\)"):
        call("adaptive_avg_pool2d", [np.zeros((4, 4), np.float32)],
             {"output_size": 1}, isa)


def test_adaptive_avg_pool2d_error_empty(isa):
    with pytest.raises(ValueError, match=r"empty spatial size"):
        call("adaptive_avg_pool2d", [np.zeros((1, 1, 0, 4), np.float32)],
             {"output_size": 1}, isa)


@pytest.mark.parametrize("n", [1, 7, 8, 9, 31, 32, 33, 40, 63, 64, 65, 100,
                               196, 784, 3136])
def test_global_adaptive_avg_pool2d_isa_equals_reference_bits(isa, n):
    """Global pooling (a whole-plane bin) sums in fx__plane_sum's order on
    every ISA: every remainder of the 32 partial sums and of an 8-wide
    block, NaN / inf / signed zeros included; and within float32 rounding
    of the float64 mean."""
    rng = np.random.default_rng(n)
    for h, w in {(1, n), (n, 1)} | ({(n // 7, 7)} if n % 7 == 0 else set()):
        x = rand(rng, 2, 3, h, w)
        got = call("adaptive_avg_pool2d", [x], {"output_size": 1}, isa)
        assert_close(got, ref.adaptive_avg_pool2d(x, 1), k=n)
        _bits_equal(got, call("adaptive_avg_pool2d", [x],
                              {"output_size": 1}, "scalar"), f"{h}x{w}")
        # NaN where the reference has NaN (which NaN, when two meet, is
        # the compiler's choice of operand order), else the same bits
        xs = _special(rng, 2, 3, h, w)
        got = call("adaptive_avg_pool2d", [xs], {"output_size": 1}, isa)
        want = call("adaptive_avg_pool2d", [xs], {"output_size": 1},
                    "scalar")
        np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
        _bits_equal(np.where(np.isnan(want), 0, got),
                    np.where(np.isnan(want), 0, want), f"{h}x{w} special")
