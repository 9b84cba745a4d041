"""conv2d / conv2d_bn with the batch as extra GEMM columns.

The AVX2 GEMM takes the output pixels of every image as its columns
(N*OH*OW of them), so a 16-column panel may hold the end of one image and
the start of the next (or several whole images when OH*OW < 16). Each
output's sum does not depend on which panel or thread it falls in, so a
batch must equal its images run one by one, bit for bit, at any thread
count; and the fused epilogue (applied in the last K block's store) must
equal conv2d -> batch_norm -> activation. Shapes cover N*OH*OW not a
multiple of 16 and images smaller than a panel, panels of one column, OC not a multiple of 6 and
above the 72-row block, K above the 256 K block, bias or none, the
pointwise and the im2col packers (with the vector stride-2 row copy).
"""
from __future__ import annotations

import numpy as np
import pytest

import featx
import reference as ref
from oputil import ACTS, act_call, assert_close, call, rand

# (N, C, H, W, OC, K, stride, padding)
CASES = [
    (3, 5, 7, 7, 7, 1, 1, 0),       # 49 pixels: panels cross images
    (5, 9, 3, 2, 13, 1, 1, 0),      # 6 pixels: several images per panel
    (4, 3, 1, 1, 8, 1, 1, 0),       # 1 pixel per image
    (2, 300, 5, 5, 11, 1, 1, 0),    # K = 300 > 256
    (3, 16, 4, 4, 80, 1, 1, 0),     # 16 pixels: whole panels, M = 80 > 72
    (2, 8, 9, 9, 19, 3, 2, 1),      # im2col, 25 pixels
    (3, 40, 5, 6, 7, 3, 2, 1),      # im2col, K = 360, 9 pixels
    (2, 6, 13, 13, 5, 1, 2, 0),     # 1x1 strided (im2col), 49 pixels
    (2, 3, 31, 31, 5, 1, 2, 0),     # stride 2, 16-wide rows ending at x[30]
    # one image alone ends in a one-column panel (column_rows: rows in
    # lanes), the batch in wider ones (rows in tiles): same bits
    (3, 40, 7, 7, 20, 1, 1, 0),     # 49 = 3*16 + 1 pixels, 8-row groups
    (4, 24, 1, 1, 75, 1, 1, 0),     # 1 pixel (squeeze-excitation), 72 + 3
    (2, 260, 7, 7, 16, 1, 1, 0),    # K = 260: 256 + a 4-term K block
    # too few panels to share evenly: threads split the output channels
    # (rows of 8; 203 = 25*8 + 3), each packing every panel
    (1, 40, 7, 7, 203, 1, 1, 0),    # 3 panels and one of 1 column
    (1, 16, 14, 14, 197, 3, 2, 1),  # im2col, the same 49 pixels
]


def _inputs(case, seed, bias):
    n, c, h, w, oc, k, _, _ = case
    rng = np.random.default_rng(seed)
    x = rand(rng, n, c, h, w)
    wt = rand(rng, oc, c, k, k)
    b = rand(rng, oc) if bias else None
    mean = rand(rng, oc)
    var = (np.abs(rand(rng, oc)) + 0.5).astype(np.float32)
    return [x, wt, b, mean, var, rand(rng, oc), rand(rng, oc)]


def _conv_attrs(case):
    return dict(stride=case[6], padding=case[7], dilation=1, groups=1)


def _threads(fn, counts=(1, 2, 3)):
    before = featx.get_num_threads()
    try:
        out = []
        for t in counts:
            featx.set_num_threads(t)
            out.append(fn())
        return out
    finally:
        featx.set_num_threads(before)


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("case", CASES, ids=[str(i) for i in range(len(CASES))])
def test_conv2d_batch_equals_images(isa, case, bias):
    x, wt, b = _inputs(case, 1, bias)[:3]
    attrs = _conv_attrs(case)
    ys = _threads(lambda: call("conv2d", [x, wt, b], attrs, isa))
    for y in ys[1:]:
        np.testing.assert_array_equal(ys[0], y)
    for i in range(x.shape[0]):
        yi = call("conv2d", [x[i:i + 1], wt, b], attrs, isa)
        np.testing.assert_array_equal(ys[0][i:i + 1], yi)
    expect = ref.conv2d(x, wt, b, case[6], case[7], 1, 1)
    assert_close(ys[0], expect, k=wt[0].size)


@pytest.mark.parametrize("act", sorted(ACTS))
@pytest.mark.parametrize("case", CASES, ids=[str(i) for i in range(len(CASES))])
def test_conv2d_bn_batch_equals_unfused(isa, case, act):
    inputs = _inputs(case, 2, act % 2 == 0)
    x, wt, b, mean, var, bw, bb = inputs
    attrs = dict(_conv_attrs(case), eps=1e-5, act=act)
    ys = _threads(lambda: call("conv2d_bn", inputs, attrs, isa))
    for y in ys[1:]:
        np.testing.assert_array_equal(ys[0], y)
    z = call("conv2d", [x, wt, b], _conv_attrs(case), isa)
    z = call("batch_norm", [z, mean, var, bw, bb], dict(eps=1e-5, act=0), isa)
    z = act_call(act, z, isa)
    np.testing.assert_array_equal(ys[0], z)
    for i in range(x.shape[0]):
        yi = call("conv2d_bn", [x[i:i + 1]] + inputs[1:], attrs, isa)
        np.testing.assert_array_equal(ys[0][i:i + 1], yi)
