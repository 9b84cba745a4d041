"""add, sub, mul, div with NumPy/torch broadcasting against the float64
reference (one shared implementation, so one test file)."""
from __future__ import annotations

import numpy as np
import pytest

import reference as ref
from oputil import assert_close, call, layouts, rand

OPS = ["add", "sub", "mul", "div"]

SHAPES = [
    ((2, 3, 4, 5), (2, 3, 4, 5)),
    ((2, 3, 4, 5), (1, 3, 1, 1)),
    ((2, 3, 4, 5), (3, 1, 1)),
    ((2, 3, 4, 5), (5,)),
    ((2, 3, 4, 5), ()),
    ((), (2, 3)),
    ((), ()),
    ((4, 1), (1, 6)),
    ((1, 6), (4, 1)),
    ((3, 1, 7), (1, 5, 1)),
    ((7,), (7,)),
    ((0, 3), (1, 3)),
    ((2, 0), (2, 1)),
    ((1, 1, 1, 1, 1, 1, 2, 3), (3,)),
    # dims merged where neither operand switches broadcasting: squeeze-
    # excitation's scale, alternating patterns, size-1 dims in between
    ((2, 5, 1, 1), (2, 5, 7, 7)),
    ((2, 5, 7, 7), (1, 5, 1, 1)),
    ((2, 1, 4, 1), (1, 3, 1, 5)),
    ((3, 1, 4, 5), (3, 2, 1, 1)),
    ((1, 3, 1), (2, 3, 4)),
    ((2, 1, 3, 1, 4), (2, 1, 3, 5, 4)),
]


def _operands(rng, sa, sb, op):
    a = rand(rng, *sa)
    b = rand(rng, *sb)
    if op == "div":  # keep the divisor away from 0
        b = (np.sign(b) + (b == 0)) * (np.abs(b) + 0.5)
        b = b.astype(np.float32)
    return a, b


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("sa,sb", SHAPES, ids=lambda s: "x".join(map(str, s)) or "0d")
def test_binary_matches_reference(isa, op, sa, sb):
    rng = np.random.default_rng(len(sa) * 10 + len(sb))
    a, b = _operands(rng, sa, sb, op)
    y = call(op, [a, b], {}, isa)
    assert_close(y, getattr(ref, op)(a, b))


@pytest.mark.parametrize("op", OPS)
def test_binary_exact_float32(isa, op):
    # elementwise float32 IEEE arithmetic, bit for bit with NumPy's
    rng = np.random.default_rng(1)
    a, b = _operands(rng, (3, 4, 5), (4, 1), op)
    expect = getattr(np, {"add": "add", "sub": "subtract", "mul": "multiply",
                          "div": "divide"}[op])(a, b)
    np.testing.assert_array_equal(call(op, [a, b], {}, isa), expect)


def test_binary_python_scalars(isa):
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    np.testing.assert_array_equal(call("add", [x, 2], {}, isa), x + 2)
    np.testing.assert_array_equal(call("mul", [0.5, x], {}, isa), 0.5 * x)
    np.testing.assert_array_equal(call("div", [x, 4.0], {}, isa), x / 4)
    y = call("sub", [1.5, 0.25], {}, isa)
    assert y.shape == () and y == np.float32(1.25)


def test_binary_division_ieee(isa):
    a = np.array([1.0, -1.0, 0.0], np.float32)
    b = np.zeros(3, np.float32)
    with np.errstate(all="ignore"):
        np.testing.assert_array_equal(call("div", [a, b], {}, isa), a / b)


def test_binary_input_layouts(isa):
    rng = np.random.default_rng(2)
    a, b = rand(rng, 3, 4, 6), rand(rng, 4, 1)
    expect = call("add", [a, b], {}, isa)
    for label, av in layouts(a):
        before = np.array(av, copy=True)
        np.testing.assert_array_equal(call("add", [av, b], {}, isa), expect,
                                      err_msg=label)
        np.testing.assert_array_equal(av, before)


def test_binary_error_broadcast(isa):
    with pytest.raises(ValueError, match=r"mul: shapes \(2, 3\) and \(4,\) "
                       r"cannot be broadcast.*3 vs 4"):
        call("mul", [np.zeros((2, 3), np.float32), np.zeros(4, np.float32)],
             {}, isa)


# ---- add_relu (the plan's fused residual add + ReLU) ----------------------

@pytest.mark.parametrize("sa,sb", SHAPES, ids=lambda s: "x".join(map(str, s)) or "0d")
def test_add_relu_is_relu_of_add_bit_for_bit(isa, sa, sb):
    rng = np.random.default_rng(len(sa) * 7 + len(sb))
    a, b = rand(rng, *sa), rand(rng, *sb)
    want = np.maximum(np.add(a, b), np.float32(0))
    np.testing.assert_array_equal(call("add_relu", [a, b], {}, isa), want)


def test_add_relu_nan_inf_and_signed_zero(isa):
    a = np.array([np.nan, 1.0, -np.inf, np.inf, -0.0, 0.0, -1.0, 2.0, np.nan],
                 np.float32)
    b = np.array([1.0, np.nan, 1.0, -np.inf, -0.0, -0.0, 0.5, -2.0, np.nan],
                 np.float32)
    with np.errstate(all="ignore"):
        want = a + b
    want = np.where(want < 0, np.float32(0), want)  # NaN stays, as relu
    got = call("add_relu", [a, b], {}, isa)
    np.testing.assert_array_equal(got.view(np.uint32), want.view(np.uint32))


@pytest.mark.parametrize("op", OPS + ["add_relu"])
def test_same_shape_fast_path_every_remainder(isa, op):
    import featx
    rng = np.random.default_rng(3)
    n = featx.get_num_threads()
    try:
        for size in (1, 15, 16, 17, 31, 33, 100, 1023):
            a, b = _operands(rng, (size,), (size,), "div")
            a = a.reshape(1, size)
            b = b.reshape(1, size)
            want = call(op, [a, b], {}, "scalar")
            for threads in (1, 2, 3):
                featx.set_num_threads(threads)
                np.testing.assert_array_equal(
                    call(op, [a, b], {}, isa), want,
                    err_msg=f"{op} size {size}, {threads} threads")
    finally:
        featx.set_num_threads(n)


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("sa,sb", SHAPES, ids=lambda s: "x".join(map(str, s)) or "0d")
def test_binary_broadcast_equals_numpy_bits(isa, op, sa, sb):
    rng = np.random.default_rng(len(sa) * 7 + len(sb))
    a, b = _operands(rng, sa, sb, op)
    want = {"add": np.add, "sub": np.subtract, "mul": np.multiply,
            "div": np.divide}[op](a, b)
    np.testing.assert_array_equal(call(op, [a, b], {}, isa), want)


@pytest.mark.parametrize("op", OPS + ["add_relu"])
def test_broadcast_runs_every_remainder(isa, op):
    """Runs of every length 1..19 with each operand broadcast or not
    (squeeze-excitation's scale, a row vector, a scalar): bit for bit as
    the reference kernel."""
    rng = np.random.default_rng(4)
    for n in range(1, 20):
        full = (2, 3, n)
        for sa, sb in ((full, (2, 3, 1)), ((2, 3, 1), full), (full, (n,)),
                       ((n,), full), (full, ()), ((), full)):
            a, b = _operands(rng, sa, sb, "div")
            np.testing.assert_array_equal(
                call(op, [a, b], {}, isa), call(op, [a, b], {}, "scalar"),
                err_msg=f"{op} {sa} {sb}")
