"""Randomised cases of conv2d_bn_nchw8c (csrc/ops/nchw8c.c) beyond the
hand-picked ones of test_nchw8c.py: shapes, kernels, strides, paddings
and dilations drawn per axis (so asymmetric ones too), every act, with
and without bias, BN affine and residual, on every ISA and 1 to 4
threads: the blocked op equals the plain op of the same ISA bit for bit
(then + residual by the add op), and the float64 reference within the
sum bound."""
from __future__ import annotations

import math

import numpy as np
import pytest

import reference as ref
from oputil import act_ref, assert_close, call
from test_nchw8c import blocked, plain, plain_op, threads


def _case(rng: np.random.Generator) -> dict:
    """One random depthwise or pointwise conv whose output is not empty."""
    while True:
        c = 8 * int(rng.integers(1, 5))
        h, w = (int(v) for v in rng.integers(1, 48, 2))
        if rng.random() < 0.5:  # depthwise
            k = tuple(int(v) for v in rng.integers(1, 8, 2))
            s = tuple(int(v) for v in rng.integers(1, 4, 2))
            p = tuple(int(v) for v in rng.integers(0, 4, 2))
            d = tuple(int(v) for v in rng.integers(1, 4, 2))
            oc, groups = c, c
        else:
            k, s, p = (1, 1), (1, 1), (0, 0)
            d = (int(rng.integers(1, 3)),) * 2
            oc, groups = 8 * int(rng.integers(1, 6)), 1
        if all(n + 2 * p[i] - d[i] * (k[i] - 1) >= 1
               for i, n in enumerate((h, w))):
            return dict(n=int(rng.integers(1, 4)), c=c, h=h, w=w, oc=oc,
                        k=k, attrs=dict(stride=s, padding=p, dilation=d,
                                        groups=groups, eps=1e-3,
                                        act=int(rng.integers(0, 6))),
                        bias=rng.random() < 0.5, affine=rng.random() < 0.5,
                        residual=rng.random() < 0.3)


def _inputs(case: dict, rng: np.random.Generator) -> list:
    oc, depthwise = case["oc"], case["attrs"]["groups"] > 1
    fan_in = case["k"][0] * case["k"][1] * (1 if depthwise else case["c"])

    def vec():
        return rng.standard_normal(oc).astype(np.float32)

    x = rng.standard_normal((case["n"], case["c"], case["h"], case["w"]))
    wt = rng.standard_normal((oc, 1 if depthwise else case["c"])
                             + case["k"]) / math.sqrt(fan_in)
    var = np.abs(vec()) + np.float32(0.5)
    return [x.astype(np.float32), wt.astype(np.float32),
            vec() if case["bias"] else None, vec(), var,
            vec() if case["affine"] else None,
            vec() if case["affine"] else None]


@pytest.mark.parametrize("seed", range(5))
def test_random_convs_equal_the_plain_op_and_reference(isa, seed):
    rng = np.random.default_rng(seed)
    for _ in range(25):
        case = _case(rng)
        inputs, attrs = _inputs(case, rng), case["attrs"]
        want = blocked(call("conv2d_bn", inputs, attrs, plain_op(isa)))
        extra = []
        if case["residual"]:
            extra = [rng.standard_normal(want.shape).astype(np.float32)]
            want = call("add", [want, extra[0]], {}, isa)
        for n in (1, 2, 3, 4):
            with threads(n):
                got = call("conv2d_bn_nchw8c",
                           [blocked(inputs[0])] + inputs[1:] + extra,
                           attrs, isa)
            np.testing.assert_array_equal(got, want, err_msg=f"{case} {n}")
        if case["residual"]:
            continue
        y = ref.batch_norm(ref.conv2d(inputs[0], inputs[1], inputs[2],
                                      attrs["stride"], attrs["padding"],
                                      attrs["dilation"], attrs["groups"]),
                           *inputs[3:], attrs["eps"])
        k = case["k"][0] * case["k"][1] * (
            1 if attrs["groups"] > 1 else case["c"])
        assert_close(plain(got), act_ref(attrs["act"], y), k=k)


@pytest.mark.parametrize("padding", [(0, 1), (0, 3), (1, 0), (2, 1)])
@pytest.mark.parametrize("w", [31, 40, 70])
def test_depthwise_asymmetric_padding_on_wide_rows(isa, padding, w):
    """Padding (0, PW) on rows of 32+ outputs (read from x itself, not a
    padded copy): the AVX2 kernel took x for its padded copy, reading
    PW pixels before each row (wrong values; outside x on its first)."""
    rng = np.random.default_rng(w)
    x = rng.standard_normal((2, 16, 5, w)).astype(np.float32)
    for k in ((1, 3), (3, 3), (1, 1)):
        wt = rng.standard_normal((16, 1) + k).astype(np.float32)
        inputs = [x, wt, None, np.zeros(16, np.float32),
                  np.ones(16, np.float32)]
        attrs = dict(stride=1, padding=padding, dilation=1, groups=16,
                     eps=0.0, act=0)
        np.testing.assert_array_equal(
            call("conv2d_bn_nchw8c", [blocked(x)] + inputs[1:], attrs, isa),
            blocked(call("conv2d_bn", inputs, attrs, plain_op(isa))),
            err_msg=str(k))
