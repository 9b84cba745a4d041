"""flatten, reshape and cat against NumPy (exact copies)."""
from __future__ import annotations

import numpy as np
import pytest

import reference as ref
from featx import _core
from oputil import call, layouts, rand


@pytest.mark.parametrize("shape,start,end", [
    ((2, 3, 4, 5), 1, -1), ((2, 3, 4, 5), 0, -1), ((2, 3, 4, 5), 1, 2),
    ((2, 3, 4, 5), -2, -1), ((2, 3, 4, 5), 3, 3), ((7,), 0, 0),
    ((), 0, -1), ((), -1, 0), ((0, 3, 2), 1, -1), ((2, 0, 3), 0, 1),
])
def test_flatten_matches_reference(isa, shape, start, end):
    x = rand(np.random.default_rng(1), *shape)
    y = call("flatten", [x], {"start_dim": start, "end_dim": end}, isa)
    expect = ref.flatten(x, start, end)
    assert y.shape == expect.shape
    np.testing.assert_array_equal(y, expect)


def test_flatten_input_layouts(isa):
    x = rand(np.random.default_rng(2), 2, 3, 4)
    for label, xv in layouts(x):
        y = call("flatten", [xv], {"start_dim": 1, "end_dim": -1}, isa)
        np.testing.assert_array_equal(y, x.reshape(2, 12), err_msg=label)


def test_flatten_error_range(isa):
    # the message was torch's ("dimension out of range (expected to be in
    # range of [-3, 2], but got ...)") and gave both dims without saying
    # which one was out of range
    for dims, bad in (((3, -1), "start_dim 3"), ((0, -4), "end_dim -4")):
        with pytest.raises(ValueError, match=rf"^flatten: {bad} is out of "
                           r"range for a 3-D input \(expected in \[-3, 2\]\)$"):
            call("flatten", [np.zeros((1, 2, 3), np.float32)],
                 {"start_dim": dims[0], "end_dim": dims[1]}, isa)


def test_flatten_error_order(isa):
    with pytest.raises(ValueError, match=r"start_dim \(2\) cannot come after "
                       r"end_dim \(1\)"):
        call("flatten", [np.zeros((1, 2, 3), np.float32)],
             {"start_dim": 2, "end_dim": 1}, isa)


@pytest.mark.parametrize("shape,new", [
    ((2, 3, 4), (6, 4)), ((2, 3, 4), (-1,)), ((2, 3, 4), (4, -1, 2)),
    ((2, 3, 4), (24,)), ((1,), ()), ((), (1, 1)), ((0, 3), (3, 0)),
    ((0, 3), (-1, 3)), ((5,), 5),
])
def test_reshape_matches_reference(isa, shape, new):
    x = rand(np.random.default_rng(3), *shape)
    y = call("reshape", [x], {"shape": new}, isa)
    expect = ref.reshape(x, new if isinstance(new, tuple) else (new,))
    assert y.shape == expect.shape
    np.testing.assert_array_equal(y, expect)


def test_reshape_input_layouts(isa):
    x = rand(np.random.default_rng(4), 3, 4)
    for label, xv in layouts(x):
        y = call("reshape", [xv], {"shape": (4, 3)}, isa)
        np.testing.assert_array_equal(y, x.reshape(4, 3), err_msg=label)


def test_reshape_error_numel(isa):
    with pytest.raises(ValueError, match=r"shape \(5, 5\) is invalid for an "
                       r"input of shape \(2, 3\) \(6 elements\)"):
        call("reshape", [np.zeros((2, 3), np.float32)], {"shape": (5, 5)},
             isa)


def test_reshape_error_infer(isa):
    with pytest.raises(ValueError, match=r"shape \(4, -1\) is invalid for an "
                       r"input of shape \(2, 3\)"):
        call("reshape", [np.zeros((2, 3), np.float32)], {"shape": (4, -1)},
             isa)


def test_reshape_error_two_minus_one(isa):
    with pytest.raises(ValueError, match=r"only one dimension can be -1, got "
                       r"shape \(-1, -1\)"):
        call("reshape", [np.zeros((2, 3), np.float32)], {"shape": (-1, -1)},
             isa)


def test_reshape_error_negative(isa):
    with pytest.raises(ValueError, match=r"invalid size -2 in shape \(3, -2\)"):
        call("reshape", [np.zeros((2, 3), np.float32)], {"shape": (3, -2)},
             isa)


def test_reshape_error_zero_with_minus_one(isa):
    with pytest.raises(ValueError, match=r"\(0, -1\) is invalid"):
        call("reshape", [np.zeros((0, 3), np.float32)], {"shape": (0, -1)},
             isa)


@pytest.mark.parametrize("shapes,dim", [
    ([(2, 3, 4)], 0), ([(2, 3), (4, 3)], 0), ([(2, 3), (2, 5)], 1),
    ([(2, 3), (2, 5), (2, 1)], -1), ([(1, 2, 3, 4), (1, 5, 3, 4)], 1),
    ([(1, 2, 3, 4), (1, 2, 3, 1)], 3), ([(0, 3), (2, 3)], 0),
    ([(2, 0), (2, 3)], 1), ([(3,), (4,)], 0), ([(2, 2)] * 64, 1),
])
def test_cat_matches_reference(isa, shapes, dim):
    rng = np.random.default_rng(len(shapes))
    xs = [rand(rng, *s) for s in shapes]
    y = call("cat", xs, {"dim": dim}, isa)
    np.testing.assert_array_equal(y, ref.cat(xs, dim))



@pytest.mark.parametrize("shapes,dim", [
    ([(1, 64, 5, 5), (1, 32, 5, 5), (1, 3, 5, 5)], 1),  # one image
    ([(3, 7, 2), (3, 1, 2), (3, 0, 2), (3, 4, 2)], 1),
    ([(2, 3)], 0),
])
def test_cat_thread_count_does_not_change_results(isa, shapes, dim):
    # the work is split by output floats, across inputs and rows
    rng = np.random.default_rng(11)
    xs = [rand(rng, *s) for s in shapes]
    before = _core.get_num_threads()
    try:
        for n in (1, 2, 3, 16):
            _core.set_num_threads(n)
            np.testing.assert_array_equal(call("cat", xs, {"dim": dim}, isa),
                                          np.concatenate(xs, dim))
    finally:
        _core.set_num_threads(before)

def test_cat_input_layouts(isa):
    rng = np.random.default_rng(5)
    a, b = rand(rng, 2, 3, 4), rand(rng, 2, 2, 4)
    expect = np.concatenate([a, b], 1)
    for label, av in layouts(a):
        np.testing.assert_array_equal(call("cat", [av, b], {"dim": 1}, isa),
                                      expect, err_msg=label)


def test_cat_error_size(isa):
    with pytest.raises(ValueError, match=r"input 2 has size 4 in dim 0.*"
                       r"expected 2"):
        call("cat", [np.zeros((2, 3), np.float32)] * 2
             + [np.zeros((4, 3), np.float32)], {"dim": 1}, isa)


def test_cat_error_rank(isa):
    with pytest.raises(ValueError, match=r"input 1 has 1 dims.*input 0 has 2"):
        call("cat", [np.zeros((2, 3), np.float32), np.zeros(3, np.float32)],
             {"dim": 0}, isa)


def test_cat_error_dim(isa):
    with pytest.raises(ValueError, match=r"dim 2 out of range for 2-D inputs"):
        call("cat", [np.zeros((2, 3), np.float32)], {"dim": 2}, isa)


def test_cat_error_zero_d(isa):
    with pytest.raises(ValueError, match=r"input 0 is 0-d"):
        call("cat", [np.float32(1.0)], {"dim": 0}, isa)


def test_cat_error_too_many_inputs(isa):
    with pytest.raises(ValueError, match=r"cat: expected 1 to 64 inputs, got 65"):
        call("cat", [np.zeros(1, np.float32)] * 65, {"dim": 0}, isa)
