"""The nchw8c layout's ops (csrc/ops/nchw8c.c): the reorders, the
pointwise and depthwise conv2d_bn_nchw8c and global average pooling,
against float64 references on every ISA; bit-equality with the plain
layout's ops on the same ISA (which lets the planner switch layouts
without changing results) and across thread counts; and the errors."""
from __future__ import annotations

import numpy as np
import pytest

import reference as ref
from featx import _core
from oputil import ACTS, act_ref, assert_close, call, layouts, rand


def blocked(x: np.ndarray) -> np.ndarray:
    """x (N, C, H, W) in nchw8c, by NumPy."""
    n, c, h, w = x.shape
    return np.ascontiguousarray(
        x.reshape(n, c // 8, 8, h, w).transpose(0, 1, 3, 4, 2))


def plain(x: np.ndarray) -> np.ndarray:
    """nchw8c x (N, C/8, H, W, 8) as (N, C, H, W), by NumPy."""
    n, cb, h, w, _ = x.shape
    return np.ascontiguousarray(x.transpose(0, 1, 4, 2, 3)).reshape(
        n, cb * 8, h, w)


def threads(n: int):
    """Context manager: n threads in the pool, the old count after."""
    class _T:
        def __enter__(self):
            self.before = _core.get_num_threads()
            _core.set_num_threads(n)

        def __exit__(self, *exc):
            _core.set_num_threads(self.before)
    return _T()


# ---- reorders --------------------------------------------------------------

REORDER_SHAPES = [(1, 8, 1, 1), (2, 16, 2, 3), (1, 24, 7, 7), (3, 8, 13, 17),
                  (1, 40, 9, 1), (0, 8, 3, 3), (2, 8, 0, 4)]


@pytest.mark.parametrize("shape", REORDER_SHAPES, ids=str)
def test_reorders_match_numpy(isa, shape):
    x = rand(np.random.default_rng(1), *shape)
    b = call("to_nchw8c", [x], {}, isa)
    np.testing.assert_array_equal(b, blocked(x))
    np.testing.assert_array_equal(call("from_nchw8c", [b], {}, isa), x)
    for label, xv in layouts(x):
        np.testing.assert_array_equal(call("to_nchw8c", [xv], {}, isa),
                                      blocked(x), err_msg=label)


def test_reorders_do_not_depend_on_thread_count(isa):
    x = rand(np.random.default_rng(2), 3, 24, 5, 7)
    for n in (1, 2, 3):
        with threads(n):
            np.testing.assert_array_equal(call("to_nchw8c", [x], {}, isa),
                                          blocked(x))
            np.testing.assert_array_equal(
                call("from_nchw8c", [blocked(x)], {}, isa), x)


# ---- conv2d_bn_nchw8c ------------------------------------------------------

# (N, C, H, W, OC, K, stride, padding, dilation, depthwise)
PW_CASES = [
    (1, 8, 1, 1, 8, 1, 1, 0, 1, False),       # C = 8, a 1x1 plane
    (1, 16, 2, 3, 24, 1, 1, 0, 1, False),     # OC/8 odd
    (1, 40, 7, 7, 56, 1, 1, 0, 1, False),     # 49 pixels: tiles + rest
    (2, 24, 13, 17, 72, 1, 1, 0, 1, False),   # batch, odd plane
    (1, 264, 5, 5, 16, 1, 1, 0, 1, False),    # C > 256: two K blocks
    (1, 520, 3, 2, 136, 1, 1, 0, 1, False),   # three K blocks, OC > 128
    (2, 8, 3, 1, 88, 1, 1, 0, 2, False),      # dilation of a 1x1: no-op
    (1, 96, 14, 14, 8, 1, 1, 0, 1, False),
    # tiles of every height: 2 pixels, 4, 7 = 3 + 4, 10 = 5 + 5
    (3, 8, 1, 2, 16, 1, 1, 0, 1, False),
    (1, 16, 2, 2, 40, 1, 1, 0, 1, False),
    (1, 32, 1, 7, 24, 1, 1, 0, 1, False),
    (2, 16, 2, 5, 8, 1, 1, 0, 1, False),
]
DW_CASES = [
    (1, 8, 1, 1, 8, 3, 1, 1, 1, True),        # 1x1 plane, all padding
    (1, 16, 2, 3, 16, 3, 1, 1, 1, True),
    (2, 8, 7, 7, 8, 3, 2, 1, 1, True),
    (1, 24, 13, 17, 24, 3, 1, 1, 1, True),
    (1, 8, 13, 17, 8, 5, 2, 2, 1, True),
    (1, 16, 7, 7, 16, 5, 1, 2, 1, True),
    (1, 8, 13, 17, 8, 7, 1, 3, 1, True),
    (1, 8, 12, 11, 8, 3, 1, 2, 2, True),      # dilation 2
    (1, 8, 9, 10, 8, 1, 1, 0, 1, True),       # 1x1 depthwise
    (1, 8, 9, 10, 8, 1, 2, 0, 1, True),
    (1, 8, 10, 9, 8, 3, 2, 0, 1, True),       # no padding, stride 2
    (1, 8, 11, 12, 8, 5, 2, 3, 1, True),      # padding past half the kernel
    (1, 8, 11, 12, 8, 3, 3, 1, 1, True),      # stride 3
    # rows of 32+ pixels: from x itself, interior and border pixels;
    # narrower ones from a zero-padded copy, unless the plane is too big
    (1, 16, 40, 37, 16, 3, 1, 1, 1, True),
    (1, 8, 100, 40, 8, 3, 2, 1, 1, True),
    (1, 8, 3, 700, 8, 3, 1, 1, 1, True),
    (1, 8, 5, 400, 8, 5, 2, 2, 1, True),
    (0, 8, 5, 5, 8, 3, 1, 1, 1, True),        # batch 0
    (1, 8, 15, 16, 8, 3, 2, 2, 2, True),      # stride 2, dilation 2
    (2, 16, 20, 19, 16, 7, 2, 3, 1, True),
    (1, 8, 9, 11, 8, 3, (2, 1), (0, 1), (1, 2), True),  # asymmetric
    # 3x3 / 5x5 of stride 1 or 2 (a ring of padded rows): rows of 4n + 2
    # pixels, padding different along H and W; dilated rows of 32+ pixels
    # (from x itself)
    (2, 16, 6, 6, 16, 3, 1, 1, 1, True),
    (1, 8, 9, 38, 8, 5, 2, 2, 1, True),
    (1, 8, 7, 10, 8, 3, 1, (2, 0), 1, True),
    (1, 8, 11, 9, 8, 5, 2, (0, 3), 1, True),
    (1, 8, 5, 40, 8, 3, 1, 2, 2, True),
]
CASES = PW_CASES + DW_CASES


def _attrs(case, act=0, eps=1e-3):
    _, c, _, _, _, _, s, p, d, dw = case
    return dict(stride=s, padding=p, dilation=d, groups=c if dw else 1,
                eps=eps, act=act)


def _inputs(case, seed, conv_bias=True, affine=True):
    n, c, h, w, oc, k, _, _, _, dw = case
    rng = np.random.default_rng(seed)
    x = rand(rng, n, c, h, w)
    wt = rand(rng, oc, 1 if dw else c, k, k)
    mean = rand(rng, oc)
    var = (np.abs(rand(rng, oc)) + 0.5).astype(np.float32)
    return [x, wt, rand(rng, oc) if conv_bias else None, mean, var,
            rand(rng, oc) if affine else None,
            rand(rng, oc) if affine else None]


def _reference(inputs, case, act, eps=1e-3):
    x, wt, b, mean, var, bw, bb = inputs
    a = _attrs(case)
    y = ref.batch_norm(ref.conv2d(x, wt, b, a["stride"], a["padding"],
                                  a["dilation"], a["groups"]),
                       mean, var, bw, bb, eps)
    return act_ref(act, y)


def plain_op(isa: str) -> str:
    """The ISA whose conv2d_bn kernel conv2d_bn_nchw8c's kernel on isa
    matches bit for bit: isa itself, or scalar while isa has none of its
    own (the reference kernels round alike)."""
    name = _core.kernel_name("conv2d_bn_nchw8c", isa)
    return "scalar" if name.endswith("_ref") else isa


def _blocked_call(inputs, attrs, isa, residual=None):
    extra = [] if residual is None else [residual]
    return call("conv2d_bn_nchw8c", [blocked(inputs[0])] + inputs[1:] + extra,
                attrs, isa)


@pytest.mark.parametrize("act", sorted(ACTS))
@pytest.mark.parametrize("case", CASES, ids=str)
def test_conv2d_bn_nchw8c_matches_reference_and_plain_op(isa, case, act):
    inputs = _inputs(case, case[1] + case[2] * 7 + case[5])
    attrs = _attrs(case, act)
    y = _blocked_call(inputs, attrs, isa)
    k = (1 if case[9] else case[1]) * case[5] ** 2
    assert_close(plain(y), _reference(inputs, case, act), k=k)
    # the plain layout's op on the same ISA: the same bits
    np.testing.assert_array_equal(
        y, blocked(call("conv2d_bn", inputs, attrs, plain_op(isa))))


def test_nchw8c_ops_have_their_own_kernels(isa):
    for name in ("to_nchw8c", "from_nchw8c", "conv2d_bn_nchw8c",
                 "adaptive_avg_pool2d_nchw8c"):
        kernel = _core.kernel_name(name, isa)
        assert kernel.endswith("_ref") == (isa == "scalar"), kernel


@pytest.mark.parametrize("conv_bias", [False, True])
@pytest.mark.parametrize("affine", [False, True])
@pytest.mark.parametrize("case", [PW_CASES[2], DW_CASES[4]], ids=str)
def test_conv2d_bn_nchw8c_optional_inputs(isa, case, conv_bias, affine):
    inputs = _inputs(case, 5, conv_bias, affine)
    attrs = _attrs(case, 3)
    y = _blocked_call(inputs, attrs, isa)
    assert_close(plain(y), _reference(inputs, case, 3), k=case[1])
    np.testing.assert_array_equal(
        y, blocked(call("conv2d_bn", inputs, attrs, plain_op(isa))))
    # trailing absent inputs may also be left out
    if not affine:
        np.testing.assert_array_equal(
            call("conv2d_bn_nchw8c", [blocked(inputs[0])] + inputs[1:5],
                 attrs, isa), y)


@pytest.mark.parametrize("act", [0, 3])
@pytest.mark.parametrize("case", [PW_CASES[3], PW_CASES[4], DW_CASES[3]],
                         ids=str)
def test_conv2d_bn_nchw8c_residual_is_the_add_op(isa, case, act):
    inputs = _inputs(case, 6)
    attrs = _attrs(case, act)
    y = _blocked_call(inputs, attrs, isa)
    r = rand(np.random.default_rng(7), *y.shape)
    np.testing.assert_array_equal(_blocked_call(inputs, attrs, isa, r),
                                  call("add", [y, r], {}, isa))
    # absent residual: None
    np.testing.assert_array_equal(_blocked_call(inputs, attrs, isa), y)
    np.testing.assert_array_equal(
        call("conv2d_bn_nchw8c", [blocked(inputs[0])] + inputs[1:] + [None],
             attrs, isa), y)


@pytest.mark.parametrize("case", [PW_CASES[2], PW_CASES[3], PW_CASES[5],
                                  DW_CASES[2], DW_CASES[4], DW_CASES[13],
                                  DW_CASES[15], DW_CASES[22], DW_CASES[23]],
                         ids=str)
def test_conv2d_bn_nchw8c_does_not_depend_on_thread_count(isa, case):
    inputs = _inputs(case, 8)
    attrs = _attrs(case, 4)
    results = []
    for n in (1, 2, 3):
        with threads(n):
            results.append(_blocked_call(inputs, attrs, isa))
    for r in results[1:]:
        np.testing.assert_array_equal(r, results[0])


@pytest.mark.parametrize("case", [DW_CASES[2], DW_CASES[5], DW_CASES[13],
                                  DW_CASES[15], DW_CASES[22], PW_CASES[2]],
                         ids=str)
def test_conv2d_bn_nchw8c_nonfinite_like_plain_op(isa, case):
    inputs = _inputs(case, 9)
    inputs[1][0].flat[0] = np.inf
    inputs[1][-1].flat[-1] = np.nan
    inputs[0][0, 1, 0, 0] = np.inf
    attrs = _attrs(case, 1)
    np.testing.assert_array_equal(
        _blocked_call(inputs, attrs, isa),
        blocked(call("conv2d_bn", inputs, attrs, plain_op(isa))))


def test_conv2d_bn_nchw8c_reads_weights_every_call(isa):
    case = PW_CASES[2]
    inputs = _inputs(case, 10)
    attrs = _attrs(case)
    y1 = _blocked_call(inputs, attrs, isa)
    inputs[1] *= 2
    inputs[4][:] = 4 * inputs[4] + 3 * 1e-3   # var' + eps = 4 (var + eps)
    y2 = _blocked_call(inputs, attrs, isa)
    assert not np.array_equal(y1, y2)
    assert_close(plain(y2), _reference(inputs, case, 0), k=case[1])


# ---- adaptive_avg_pool2d_nchw8c -------------------------------------------

@pytest.mark.parametrize("shape", [(1, 8, 1, 1), (2, 16, 2, 3), (1, 24, 7, 7),
                                   (3, 8, 13, 17), (1, 8, 33, 1),
                                   (0, 8, 2, 2)], ids=str)
def test_global_pool_matches_reference_and_plain_op(isa, shape):
    x = rand(np.random.default_rng(11), *shape) + 3.0
    attrs = {"output_size": (1, 1)}
    y = call("adaptive_avg_pool2d_nchw8c", [blocked(x)], attrs, isa)
    assert y.shape == shape[:2] + (1, 1)
    assert_close(y, ref.adaptive_avg_pool2d(x, (1, 1)), k=shape[2] * shape[3])
    np.testing.assert_array_equal(
        y, call("adaptive_avg_pool2d", [x], attrs, isa))
    for n in (2, 3):
        with threads(n):
            np.testing.assert_array_equal(
                call("adaptive_avg_pool2d_nchw8c", [blocked(x)], attrs, isa),
                y)


# ---- errors ----------------------------------------------------------------

def _op_error(name, inputs, attrs, match, exc=Exception):
    with pytest.raises(exc, match=match):
        _core.call(name, inputs, attrs, isa="scalar")


@pytest.mark.parametrize("shape", [(1, 12, 3, 3), (8, 3, 3), (1, 8, 3, 3, 1)],
                         ids=str)
def test_to_nchw8c_rejects_bad_shapes(shape):
    x = np.zeros(shape, np.float32)
    _op_error("to_nchw8c", [x], {},
              r"to_nchw8c: expected a 4-D input \(N, C, H, W\) with C a "
              r"multiple of 8, got shape " + re_shape(shape))


@pytest.mark.parametrize("shape", [(1, 2, 3, 3, 4), (1, 16, 3, 3),
                                   (1, 2, 3, 3, 8, 1)], ids=str)
def test_from_nchw8c_rejects_bad_shapes(shape):
    x = np.zeros(shape, np.float32)
    _op_error("from_nchw8c", [x], {},
              r"from_nchw8c: expected the input in the nchw8c layout, a "
              r"5-D array \(N, C/8, H, W, 8\), got shape " + re_shape(shape))


def re_shape(shape) -> str:
    return r"\(" + ", ".join(str(s) for s in shape) + ",?\\)"


def _conv_inputs(c=16, oc=16, k=1, dw=False, x_shape=None):
    rng = np.random.default_rng(12)
    x = rand(rng, *(x_shape or (1, c // 8, 5, 5, 8)))
    wt = rand(rng, oc, 1 if dw else c, k, k)
    return [x, wt, None, rand(rng, oc), np.ones(oc, np.float32)]


def _cattrs(s=1, p=0, d=1, g=1, act=0):
    return dict(stride=s, padding=p, dilation=d, groups=g, eps=1e-5, act=act)


@pytest.mark.parametrize("x_shape", [(1, 16, 5, 5), (1, 2, 5, 5, 7),
                                     (1, 2, 5, 5, 8, 1)], ids=str)
def test_conv2d_bn_nchw8c_rejects_plain_input(x_shape):
    _op_error("conv2d_bn_nchw8c", _conv_inputs(x_shape=x_shape), _cattrs(),
              r"conv2d_bn_nchw8c: expected the input in the nchw8c layout, "
              r"a 5-D array \(N, C/8, H, W, 8\), got shape "
              + re_shape(x_shape))


@pytest.mark.parametrize("k, attrs, dw, oc", [
    (3, _cattrs(p=1), False, 16),           # a dense 3x3
    (1, _cattrs(s=2), False, 16),           # a strided 1x1
    (1, _cattrs(p=1), False, 16),           # a padded 1x1
    (1, _cattrs(g=2), False, 16),           # grouped
    (3, _cattrs(p=1, g=8), False, 16),      # grouped, 2 channels a group
])
def test_conv2d_bn_nchw8c_rejects_unsupported_convs(k, attrs, dw, oc):
    inputs = _conv_inputs(k=k, oc=oc)
    inputs[1] = inputs[1][:, :16 // attrs["groups"]].copy()
    _op_error("conv2d_bn_nchw8c", inputs, attrs,
              r"conv2d_bn_nchw8c: only pointwise convs \(1x1 kernel, groups "
              r"1, stride 1, padding 0\) and depthwise ones \(groups == "
              r"input channels == output channels\) are supported, got "
              rf"weight shape \(16, {16 // attrs['groups']}, {k}, {k}\), "
              rf"groups {attrs['groups']}", NotImplementedError)


def test_conv2d_bn_nchw8c_rejects_output_channels_not_multiple_of_8():
    _op_error("conv2d_bn_nchw8c", _conv_inputs(oc=12), _cattrs(),
              r"conv2d_bn_nchw8c: the output channels must be a multiple of "
              r"8, got weight shape \(12, 16, 1, 1\)")


def test_conv2d_bn_nchw8c_checks_like_conv2d_bn():
    inputs = _conv_inputs()
    inputs[1] = inputs[1][:, :12].copy()       # weight for 12 channels
    _op_error("conv2d_bn_nchw8c", inputs, _cattrs(),
              r"expects 12 input channels .* has 16 channels")
    inputs = _conv_inputs()
    inputs[3] = inputs[3][:5].copy()
    _op_error("conv2d_bn_nchw8c", inputs, _cattrs(),
              r"expected running_mean of shape \(16,\)")
    _op_error("conv2d_bn_nchw8c", _conv_inputs(), _cattrs(act=9), "act")


def test_conv2d_bn_nchw8c_rejects_bad_residual():
    inputs = _conv_inputs() + [None, None, np.zeros((1, 2, 5, 4, 8),
                                                    np.float32)]
    _op_error("conv2d_bn_nchw8c", inputs, _cattrs(),
              r"conv2d_bn_nchw8c: expected residual of the output's shape "
              r"\(1, 2, 5, 5, 8\), got shape \(1, 2, 5, 4, 8\)")


def test_global_pool_nchw8c_errors():
    x = np.zeros((1, 2, 3, 3, 8), np.float32)
    _op_error("adaptive_avg_pool2d_nchw8c", [x], {"output_size": (2, 1)},
              r"adaptive_avg_pool2d_nchw8c: only output_size \(1, 1\) is "
              r"supported, got \(2, 1\)", NotImplementedError)
    _op_error("adaptive_avg_pool2d_nchw8c", [x[..., :4]],
              {"output_size": (1, 1)},
              r"adaptive_avg_pool2d_nchw8c: expected the input in the "
              r"nchw8c layout.*got shape \(1, 2, 3, 3, 4\)")
    _op_error("adaptive_avg_pool2d_nchw8c", [x[:, :, :0]],
              {"output_size": (1, 1)}, "empty spatial size")


# ---- the channel scale: inner-block broadcasting of the binary ops ----------

@pytest.mark.parametrize("name, f", [
    ("mul", np.multiply), ("add", np.add), ("sub", np.subtract),
    ("div", np.divide),
    ("add_relu", lambda u, v: np.where(u + v < 0, np.float32(0), u + v))])
@pytest.mark.parametrize("xs, zs", [
    ((2, 3, 5, 7, 8), (2, 3, 1, 1, 8)),      # nchw8c * gate
    ((2, 3, 1, 1, 8), (2, 3, 5, 7, 8)),      # ... the other way round
    ((1, 2, 3, 4, 16), (1, 2, 1, 1, 16)),    # blocks of 16
    ((3, 5, 8), (5, 8)),                     # leading dims broadcast
    ((4, 3, 8), (4, 1, 8)),
    ((4, 3, 5), (4, 1, 5)),                  # blocks of 5: the general path
    ((2, 1, 3, 1, 8), (2, 1, 1, 1, 8)),      # size-1 dims
    ((2, 0, 3, 3, 8), (2, 0, 1, 1, 8)),      # empty
], ids=str)
def test_block_broadcast_binary_ops_match_numpy(isa, name, f, xs, zs):
    rng = np.random.default_rng(13)
    x, z = rand(rng, *xs), rand(rng, *zs)
    expect = f(x, z).astype(np.float32)
    for n in (1, 2, 3):
        with threads(n):
            np.testing.assert_array_equal(call(name, [x, z], {}, isa), expect)
