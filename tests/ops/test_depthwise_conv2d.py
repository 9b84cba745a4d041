"""Depthwise conv2d (groups == C == OC; the AVX2 kernel's direct path in
kernels/dwconv2d_avx2.c) against the float64 reference, on every ISA."""
from __future__ import annotations

import numpy as np
import pytest
import reference as ref
from oputil import assert_close, call, layouts, rand

# (N, C, H, W, K, stride, padding, dilation, bias)
CASES = [
    (1, 1, 5, 5, 3, 1, 1, 1, True),
    (2, 3, 7, 9, 3, 1, 1, 1, True),          # rows shorter than a vector
    (1, 4, 12, 37, 3, 1, 1, 1, False),       # 8-wide body + tail
    (2, 5, 16, 16, 3, 2, 1, 1, True),        # stride 2 (mobile downsampling)
    (1, 6, 15, 17, 5, 2, 2, 1, True),        # 5x5 stride 2, odd sizes
    (1, 3, 11, 23, 5, 1, 2, 1, True),        # 5x5 stride 1
    (1, 2, 13, 13, 3, 1, 2, 2, False),       # dilation 2, "same" padding
    (1, 2, 9, 20, 3, 3, 0, 1, True),         # stride 3, no padding
    (1, 3, 4, 4, 7, 1, 3, 1, True),          # kernel wider than the input
    (1, 2, 8, 9, 3, 1, 0, 3, True),          # dilation with no padding
    (2, 4, 1, 1, 3, 1, 1, 1, True),          # 1x1 image, all taps but one pad
    (0, 3, 5, 5, 3, 1, 1, 1, True),          # empty batch
    (1, 3, 9, 61, 3, 2, 1, 1, True),         # stride 2: vector interior
    (1, 2, 10, 70, 5, 2, 2, 1, False),       # 5x5 stride 2 interior
    (1, 2, 11, 72, 3, 2, 1, 1, True),        # stride 2, even width
    (1, 3, 14, 56, 7, 1, 3, 1, True),        # 7x7 (convnext)
    (2, 2, 7, 7, 5, 1, 2, 1, True),          # rows narrower than a block
    (2, 3, 3, 6, 3, 1, 1, 1, True),          # ... whose last ones are masked
    (1, 2, 6, 40, 3, 1, 0, 1, True),         # interior from column 0
    (1, 2, 6, 44, 3, 2, 0, 1, True),         # ... with stride 2
    (1, 2, 5, 30, 3, 1, 2, 2, True),         # dilation 2, vector interior
    (1, 1, 4, 80, 3, 1, 30, 30, True),       # dilation 30: a tall row ring
    (1, 2, 20, 21, 17, 1, 8, 1, True),       # 17 tap rows
    (1, 1, 3, 9000, 3, 1, 1, 1, True),       # rows too wide for the ring
    (1, 2, 3, 25, 3, 1, 1, 1, True),         # 16 + 8 + overlapping block
    # padding not a multiple of the dilation: output row 0's first tap row
    # is past input row 0, which a later output row still needs
    (1, 4, 12, 12, 3, 1, 1, 2, True),
    (1, 3, 13, 11, 3, 1, 1, 3, False),
    (1, 2, 14, 20, 4, 1, 3, 2, True),        # even kernel, "same"-like
    (2, 2, 15, 18, 3, 2, 1, 2, True),        # ... with stride 2
    (1, 2, 16, 16, 5, 1, 3, 2, True),
    (1, 3, 9, 11, 3, 2, 1, 1, True),         # stride 2, rows < 8, odd OH
    (1, 2, 17, 29, 3, 2, 2, 3, True),        # stride 2, odd tap offsets
    (1, 2, 13, 33, 7, 2, 3, 1, True),        # 7x7 stride 2
    (1, 3, 6, 10, 1, 1, 0, 1, True),         # 1x1 kernel
    (2, 2, 8, 18, 2, 2, 0, 1, True),         # 2x2 stride 2, no padding
    (3, 4, 1, 3, 3, 1, 1, 1, True),          # 1x3 planes: rows < 8 stored
    (2, 3, 2, 2, 3, 1, 1, 1, True),          # ... across several planes
    (1, 2, 40, 100, 3, 1, 1, 1, True),       # several 16-column blocks
    # rows < 8, at least 8 planes: blocks of 8 planes in the lanes
    (2, 8, 7, 7, 5, 1, 2, 1, True),
    (1, 12, 14, 13, 5, 2, 2, 1, True),       # ... stride 2, 4 planes left
    (1, 9, 9, 5, 3, 1, 2, 2, False),         # ... dilation 2, 1 left
    (3, 5, 2, 3, 3, 1, 1, 1, True),          # ... across images
    (1, 10, 12, 11, 5, 1, 2, 1, True),       # ... rows < 16, 5x5
    # ... 7x7 stride 1 (ConvNeXt's 14x14 and 7x7 planes): 4 pixels of a
    # row at a time, the last 4 overlapping; rows of 4..15 and of 3
    (1, 9, 14, 14, 7, 1, 3, 1, True),
    (2, 8, 7, 7, 7, 1, 3, 1, True),
    (1, 8, 5, 6, 7, 1, 3, 1, False),
    (1, 8, 9, 9, 7, 1, 3, 1, True),
    (1, 8, 4, 4, 7, 1, 3, 1, True),
    (1, 8, 3, 3, 7, 1, 3, 1, True),
    (1, 8, 6, 15, 7, 1, 2, 1, True),         # padding 2: narrower rows
]


@pytest.mark.parametrize("n,c,h,w,k,s,p,d,bias", CASES)
def test_depthwise_matches_reference(isa, n, c, h, w, k, s, p, d, bias):
    rng = np.random.default_rng(h * 31 + w + k)
    x = rand(rng, n, c, h, w)
    wt = rand(rng, c, 1, k, k)
    b = rand(rng, c) if bias else None
    attrs = {"stride": s, "padding": p, "dilation": d, "groups": c}
    y = call("conv2d", [x, wt, b], attrs, isa)
    assert_close(y, ref.conv2d(x, wt, b, s, p, d, c), k=k * k)


@pytest.mark.parametrize("stride,padding", [((1, 2), (0, 1)), ((2, 1), (1, 0))])
def test_depthwise_asymmetric_attrs(isa, stride, padding):
    rng = np.random.default_rng(5)
    x = rand(rng, 1, 3, 10, 19)
    wt = rand(rng, 3, 1, 3, 2)
    attrs = {"stride": stride, "padding": padding, "dilation": (1, 2),
             "groups": 3}
    y = call("conv2d", [x, wt, None], attrs, isa)
    assert_close(y, ref.conv2d(x, wt, None, stride, padding, (1, 2), 3), k=6)


def test_depthwise_agrees_with_scalar_reference_kernel(isa):
    rng = np.random.default_rng(7)
    x = rand(rng, 2, 16, 28, 28)
    wt = rand(rng, 16, 1, 3, 3)
    b = rand(rng, 16)
    attrs = {"stride": 1, "padding": 1, "dilation": 1, "groups": 16}
    got = call("conv2d", [x, wt, b], attrs, isa)
    want = call("conv2d", [x, wt, b], attrs, "scalar")
    assert_close(got, want.astype(np.float64), k=9)


def test_depthwise_input_layouts(isa):
    rng = np.random.default_rng(8)
    x = rand(rng, 1, 3, 6, 10)
    wt = rand(rng, 3, 1, 3, 3)
    attrs = {"stride": 1, "padding": 1, "dilation": 1, "groups": 3}
    expect = call("conv2d", [x, wt], attrs, isa)
    for label, xv in layouts(x):
        np.testing.assert_array_equal(call("conv2d", [xv, wt], attrs, isa),
                                      expect, err_msg=label)


@pytest.mark.skipif(not hasattr(__import__("featx")._core, "set_num_threads"),
                    reason="no thread pool")
@pytest.mark.parametrize("shape,stride,k", [
    ((3, 5, 13, 45), 2, 3),
    ((2, 7, 4, 3), 1, 3),    # rows < 8
    ((3, 9, 7, 7), 1, 3),    # ... and blocks of 8 planes, split anywhere
    ((2, 9, 12, 12), 1, 5),
    ((2, 9, 14, 13), 2, 5),
    ((2, 9, 14, 14), 1, 7),  # 7x7 stride 1 blocks of 8 planes
])
def test_depthwise_thread_count_does_not_change_results(isa, shape, stride,
                                                        k):
    from featx import _core

    rng = np.random.default_rng(9)
    x = rand(rng, *shape)
    wt = rand(rng, shape[1], 1, k, k)
    attrs = {"stride": stride, "padding": k // 2, "dilation": 1,
             "groups": shape[1]}
    before = _core.get_num_threads()
    try:
        results = []
        for n in (1, 2, 3, 4, 16):  # 16 > planes: some threads get none
            _core.set_num_threads(n)
            results.append(call("conv2d", [x, wt], attrs, isa))
    finally:
        _core.set_num_threads(before)
    for r in results[1:]:
        np.testing.assert_array_equal(r, results[0])


@pytest.mark.parametrize("stride", [1, 2])
def test_depthwise_nonfinite_like_reference(isa, stride):
    # padded taps are skipped, as the reference does: an inf weight
    # meets only real inputs, and NaN inputs spread only where read
    rng = np.random.default_rng(10)
    x = rand(rng, 1, 2, 9, 35)
    x[0, 0, 4, 17] = np.nan
    x[0, 1, 0, 0] = np.inf
    wt = rand(rng, 2, 1, 3, 3)
    wt[0, 0, 0, 0] = np.inf
    wt[1, 0, 2, 2] = -np.inf
    attrs = {"stride": stride, "padding": 1, "dilation": 1, "groups": 2}
    got = call("conv2d", [x, wt], attrs, isa)
    want = call("conv2d", [x, wt], attrs, "scalar")
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_array_equal(np.isinf(got), np.isinf(want))
    fin = np.isfinite(want)
    np.testing.assert_allclose(got[fin], want[fin], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("shape,k,stride", [
    ((2, 9, 7, 7), 5, 1),      # blocks of 8 planes in the lanes
    ((1, 12, 14, 13), 5, 2),   # ... stride 2
    ((1, 10, 12, 11), 5, 1),   # ... rows < 16, 5x5
    ((3, 8, 2, 3), 3, 1),
    ((1, 9, 14, 14), 7, 1),    # 7x7 stride 1: 4 pixels of a row at a time
    ((2, 8, 7, 7), 7, 1),
    ((1, 8, 9, 9), 7, 1),
    ((1, 8, 5, 6), 7, 1),
    ((1, 8, 3, 3), 7, 1),      # rows < 4: the general order of pixels
])
def test_depthwise_channel_does_not_depend_on_path(isa, shape, k, stride):
    """An inf weight in one channel sends the call off the blocks of 8
    planes (the row path, and the scalar formula for that plane); every
    other channel's output keeps its bits."""
    rng = np.random.default_rng(12)
    c = shape[1]
    x = rand(rng, *shape)
    wt = rand(rng, c, 1, k, k)
    b = rand(rng, c)
    attrs = {"stride": stride, "padding": k // 2, "dilation": 1,
             "groups": c}
    want = call("conv2d", [x, wt, b], attrs, isa)
    wt[3, 0, 0, 0] = np.inf
    got = call("conv2d", [x, wt, b], attrs, isa)
    keep = [i for i in range(c) if i != 3]
    np.testing.assert_array_equal(got[:, keep], want[:, keep])
