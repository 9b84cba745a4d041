"""conv2d against the float64 reference, on every ISA.

The case list hits the packed GEMM's remainders: rows per group (M) not a
multiple of the 6-row tile and above the 72-row block, output pixels (N)
not a multiple of the 16-column panel and above the 8-panel block, and
reduction length (K = C/G*KH*KW) above the 256 K block; plus stride >
kernel, maximal padding, dilation, groups, depthwise, 1x1 fast path and
batch 0.
"""
from __future__ import annotations

import numpy as np
import pytest

import reference as ref
from featx import _core
from oputil import assert_close, call, layouts, rand

# (N, C, H, W, OC, KH, KW, stride, padding, dilation, groups, bias)
CASES = [
    (1, 3, 8, 8, 4, 3, 3, 1, 1, 1, 1, True),
    (2, 5, 7, 9, 7, 3, 3, 1, 0, 1, 1, False),
    (1, 4, 11, 10, 13, 3, 2, (2, 3), (1, 0), 1, 1, True),
    (1, 6, 9, 9, 5, 1, 1, 1, 0, 1, 1, True),            # 1x1 fast path
    (2, 17, 5, 7, 19, 1, 1, 1, 0, 1, 1, False),         # 1x1, odd sizes
    (1, 8, 6, 6, 8, 1, 1, 2, 0, 1, 1, True),            # 1x1 strided
    (1, 3, 5, 5, 2, 1, 1, 1, 2, 1, 1, True),            # 1x1 padded
    (1, 3, 10, 10, 4, 2, 2, 4, 0, 1, 1, True),          # stride > kernel
    (1, 2, 6, 7, 3, 5, 5, 1, 4, 1, 1, True),            # padding >= kernel
    (1, 4, 12, 12, 6, 3, 3, 1, 2, 2, 1, True),          # dilation
    (1, 3, 13, 11, 5, 3, 3, 2, 3, (3, 1), 1, False),    # dilation + stride
    (2, 6, 7, 7, 9, 3, 3, 1, 1, 1, 3, True),            # groups
    (1, 8, 9, 9, 8, 3, 3, 2, 1, 1, 8, True),            # depthwise
    (1, 4, 6, 6, 12, 3, 3, 1, 1, 1, 4, False),          # depthwise x3
    (1, 40, 6, 6, 7, 3, 3, 1, 1, 1, 1, True),           # K = 360 > 256
    (1, 300, 5, 5, 11, 1, 1, 1, 0, 1, 1, True),         # 1x1, K = 300
    (1, 5, 12, 12, 80, 3, 3, 1, 1, 1, 1, True),         # M = 80 > 72, N = 144
    (1, 3, 20, 13, 23, 3, 3, 1, 1, 1, 1, True),         # N = 260 > 128
    (1, 7, 3, 3, 1, 3, 3, 1, 0, 1, 1, True),            # 1x1 output, M = 1
    (1, 3, 224, 224, 8, 7, 7, 2, 3, 1, 1, True),        # resnet stem
    # im2col at stride 2 (packed by masked loads): 7 output columns, so a
    # panel holds 3 rows' pieces and crosses images, padded both sides
    (2, 5, 15, 13, 7, 3, 3, 2, 1, 1, 1, True),
    # 16 output columns (one piece per panel), K = 270 > 256, stride 1
    # across rows (one piece per panel row, padded)
    (1, 30, 29, 31, 9, 3, 3, (1, 2), (2, 1), 1, 1, False),
    # stride 3 (element by element), dilated, padded on one axis
    (1, 3, 9, 40, 6, 1, 5, (2, 3), (0, 2), (1, 2), 1, True),
    (0, 3, 8, 8, 4, 3, 3, 1, 1, 1, 1, True),            # batch 0
]


def _attrs(stride, padding, dilation, groups):
    return dict(stride=stride, padding=padding, dilation=dilation,
                groups=groups)


@pytest.mark.parametrize("case", CASES, ids=[str(i) for i in range(len(CASES))])
def test_conv2d_matches_reference(isa, case):
    n, c, h, w, oc, kh, kw, s, p, d, g, has_bias = case
    rng = np.random.default_rng(len(CASES) + h * 31 + oc)
    x = rand(rng, n, c, h, w)
    wt = rand(rng, oc, c // g, kh, kw)
    b = rand(rng, oc) if has_bias else None
    y = call("conv2d", [x, wt, b], _attrs(s, p, d, g), isa)
    assert_close(y, ref.conv2d(x, wt, b, s, p, d, g), k=c // g * kh * kw)


@pytest.mark.parametrize("m", [1, 2, 3, 4, 5, 6, 7, 11, 12, 13, 73])
def test_conv2d_every_row_remainder(isa, m):
    rng = np.random.default_rng(m)
    x = rand(rng, 1, 4, 5, 7)
    wt = rand(rng, m, 4, 3, 3)
    y = call("conv2d", [x, wt], _attrs(1, 1, 1, 1), isa)
    assert_close(y, ref.conv2d(x, wt, None, 1, 1), k=36)


@pytest.mark.parametrize("hw", [(1, 1), (1, 15), (4, 4), (1, 17), (3, 11),
                                (9, 15), (12, 11)])
def test_conv2d_every_column_remainder(isa, hw):
    rng = np.random.default_rng(hw[0] * 100 + hw[1])
    x = rand(rng, 2, 9, *hw)
    wt = rand(rng, 7, 9, 1, 1)
    b = rand(rng, 7)
    y = call("conv2d", [x, wt, b], _attrs(1, 0, 1, 1), isa)
    assert_close(y, ref.conv2d(x, wt, b), k=9)


def test_conv2d_fast_path_matches_scalar(isa):
    rng = np.random.default_rng(7)
    x = rand(rng, 1, 64, 14, 14)
    wt = rand(rng, 96, 64, 3, 3)
    b = rand(rng, 96)
    y = call("conv2d", [x, wt, b], _attrs(1, 1, 1, 1), isa)
    y0 = call("conv2d", [x, wt, b], _attrs(1, 1, 1, 1), "scalar")
    assert_close(y, y0.astype(np.float64), k=576)


def test_conv2d_input_layouts(isa):
    rng = np.random.default_rng(3)
    x = rand(rng, 2, 3, 7, 6)
    wt = rand(rng, 5, 3, 3, 3)
    expect = call("conv2d", [x, wt], _attrs(1, 1, 1, 1), isa)
    for label, xv in layouts(x):
        before = xv.copy()
        for wv in (wt, np.asfortranarray(wt)):
            got = call("conv2d", [xv, wv], _attrs(1, 1, 1, 1), isa)
            np.testing.assert_array_equal(got, expect, err_msg=label)
        np.testing.assert_array_equal(xv, before)


def _err(isa, x, w, b=None, **kw):
    attrs = _attrs(1, 0, 1, 1)
    attrs.update(kw)
    return call("conv2d", [x, w, b], attrs, isa)


def test_conv2d_error_input_rank(isa):
    with pytest.raises(ValueError, match=r"4-D input.*\(3, 8, 8\)"):
        _err(isa, np.zeros((3, 8, 8), np.float32),
             np.zeros((4, 3, 3, 3), np.float32))


def test_conv2d_error_weight_rank(isa):
    with pytest.raises(ValueError, match=r"4-D weight.*\(4, 3, 3\)"):
        _err(isa, np.zeros((1, 3, 8, 8), np.float32),
             np.zeros((4, 3, 3), np.float32))


def test_conv2d_error_channels(isa):
    with pytest.raises(ValueError, match=r"expects 4 input channels.*has 3"):
        _err(isa, np.zeros((1, 3, 8, 8), np.float32),
             np.zeros((4, 4, 3, 3), np.float32))


def test_conv2d_error_groups_divisibility(isa):
    with pytest.raises(ValueError, match=r"\(6\).*\(4\).*groups \(4\)"):
        _err(isa, np.zeros((1, 6, 8, 8), np.float32),
             np.zeros((4, 1, 3, 3), np.float32), groups=4)


def test_conv2d_error_groups_positive(isa):
    with pytest.raises(ValueError, match="groups must be positive, got 0"):
        _err(isa, np.zeros((1, 3, 8, 8), np.float32),
             np.zeros((4, 3, 3, 3), np.float32), groups=0)


def test_conv2d_error_stride(isa):
    with pytest.raises(ValueError, match=r"stride \(0, 1\)"):
        _err(isa, np.zeros((1, 3, 8, 8), np.float32),
             np.zeros((4, 3, 3, 3), np.float32), stride=(0, 1))


def test_conv2d_error_bias_shape(isa):
    with pytest.raises(ValueError, match=r"bias of shape \(4,\), got shape \(5,\)"):
        _err(isa, np.zeros((1, 3, 8, 8), np.float32),
             np.zeros((4, 3, 3, 3), np.float32), np.zeros(5, np.float32))


def test_conv2d_error_output_too_small(isa):
    with pytest.raises(ValueError, match=r"output size would be 0x0 for input "
                       r"2x2, kernel_size \(3, 3\), stride \(1, 1\)"):
        _err(isa, np.zeros((1, 3, 2, 2), np.float32),
             np.zeros((4, 3, 3, 3), np.float32))


# ---- bounded workspace ------------------------------------------------

GEMM_BLOCK_BYTES = 256 * 8 * 16 * 4  # KC x NB*16 floats, per thread


def test_conv2d_workspace_is_bounded_per_thread():
    """The GEMM scratch is one packed KC x NC block per thread, not the
    im2col of the whole input (which was 4608 x 160000 floats = 2.9 GB
    here). np.empty: the 312 MB input is never touched."""
    x = np.empty((1, 512, 400, 400), np.float32)
    wt = np.empty((2, 512, 3, 3), np.float32)
    ws = _core._workspace_bytes("conv2d", [x, wt, None], _attrs(1, 1, 1, 1))
    assert 0 < ws <= GEMM_BLOCK_BYTES
    assert ws % 64 == 0
    # small problems get a block no larger than they need
    ws_small = _core._workspace_bytes(
        "conv2d", [np.empty((1, 3, 4, 4), np.float32),
                   np.empty((2, 3, 3, 3), np.float32), None],
        _attrs(1, 1, 1, 1))
    assert ws_small == 27 * 16 * 4


def test_conv2d_large_k_small_oc(isa):
    """Few output channels, long reduction (K = 4608 > KC), many panels:
    the case the bounded workspace is for. All-ones input: interior
    outputs are K, borders count the taps inside the input."""
    x = np.ones((1, 512, 40, 37), np.float32)
    wt = np.ones((2, 512, 3, 3), np.float32)
    y = call("conv2d", [x, wt], _attrs(1, 1, 1, 1), isa)
    rows = np.minimum(np.arange(40) + 2, 3) - (np.arange(40) == 39)
    cols = np.minimum(np.arange(37) + 2, 3) - (np.arange(37) == 36)
    expect = 512.0 * rows[:, None] * cols[None, :]
    np.testing.assert_array_equal(y[0, 0], expect)
    np.testing.assert_array_equal(y[0, 1], expect)


@pytest.mark.parametrize("value", [np.inf, -np.inf])
@pytest.mark.parametrize("shape", [(1, 2, 6, 6, 3), (1, 16, 6, 6, 16)],
                         ids=["gemm", "winograd-size"])
def test_conv2d_inf_corner_weight_with_padding_as_scalar(isa, shape, value):
    """An inf weight at a corner tap meets padded positions. featx skips
    padded taps on every path (the reference's formula; the AVX2 GEMM
    path takes it when a non-finite weight could meet im2col's padding
    zeros, whose inf * 0 would be NaN), so the ISAs agree. torch itself
    differs between its algorithms here (NaN from its 3x3 GEMM path,
    finite from its depthwise and 7x7 paths)."""
    n, c, h, w, oc = shape
    rng = np.random.default_rng(5)
    x = rng.standard_normal((n, c, h, w)).astype(np.float32)
    wt = rng.standard_normal((oc, c, 3, 3)).astype(np.float32)
    wt[0, 0, 0, 0] = value
    y = call("conv2d", [x, wt], _attrs(1, 1, 1, 1), isa)
    want = call("conv2d", [x, wt], _attrs(1, 1, 1, 1), "scalar")
    for kind in (np.isnan, np.isposinf, np.isneginf):
        np.testing.assert_array_equal(kind(y), kind(want))
