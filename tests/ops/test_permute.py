"""permute against NumPy (exact copies)."""
from __future__ import annotations

import itertools

import numpy as np
import pytest
import reference as ref
from oputil import call, layouts, rand


@pytest.mark.parametrize("dims", list(itertools.permutations(range(4))))
def test_permute_4d_every_order(isa, dims):
    x = rand(np.random.default_rng(0), 2, 3, 4, 5)
    y = call("permute", [x], {"dims": dims}, isa)
    np.testing.assert_array_equal(y, ref.permute(x, dims))


@pytest.mark.parametrize("shape,dims", [
    ((), ()), ((5,), (0,)), ((3, 4), (1, 0)), ((3, 4), (-1, -2)),
    ((2, 0, 3), (2, 1, 0)), ((0, 3), (1, 0)), ((2, 3, 1), (0, 2, 1)),
    ((1, 2, 1, 2, 1, 2, 1, 2), (7, 6, 5, 4, 3, 2, 1, 0)),
    ((2, 3, 4, 5, 6), (0, 3, 1, 4, 2)),
    # batched 2-D transposes (tiled), sizes off the 16-float tile and the
    # 8 x 8 register blocks
    ((2, 19, 7, 5), (0, 2, 3, 1)), ((2, 7, 5, 19), (0, 3, 1, 2)),
    ((2, 24, 9, 9), (0, 2, 3, 1)), ((2, 9, 9, 24), (0, 3, 1, 2)),
    ((1, 96, 8, 8), (0, 2, 3, 1)), ((3, 8, 8), (0, 2, 1)),
    ((37, 20), (1, 0)), ((1, 33, 1, 17), (0, 3, 2, 1)),
    ((3, 1, 16, 32), (1, 0, 3, 2)), ((4, 5, 6), (2, 0, 1)),
    ((2, 3, 4, 5), (2, 3, 0, 1)), ((2, 0, 3, 3), (0, 2, 3, 1)),
])
def test_permute_matches_reference(isa, shape, dims):
    x = rand(np.random.default_rng(len(shape)), *shape)
    y = call("permute", [x], {"dims": dims}, isa)
    expect = ref.permute(x, [d % max(len(shape), 1) for d in dims])
    assert y.shape == expect.shape
    np.testing.assert_array_equal(y, expect)


def test_permute_input_layouts(isa):
    x = rand(np.random.default_rng(2), 2, 3, 4)
    for label, xv in layouts(x):
        y = call("permute", [xv], {"dims": (2, 0, 1)}, isa)
        np.testing.assert_array_equal(y, np.transpose(x, (2, 0, 1)),
                                      err_msg=label)


def test_permute_error_count(isa):
    # (the message was torch's "number of dims don't match")
    with pytest.raises(ValueError, match=r"^permute: dims must name each of "
                       r"the 3 dims of the input of shape \(1, 2, 3\) once, "
                       r"got 2 dims$"):
        call("permute", [np.zeros((1, 2, 3), np.float32)], {"dims": (0, 1)},
             isa)


def test_permute_error_range(isa):
    with pytest.raises(ValueError, match=r"dim 3 out of range for a 3-D "
                       r"input \(expected in \[-3, 2\]\)"):
        call("permute", [np.zeros((1, 2, 3), np.float32)],
             {"dims": (0, 1, 3)}, isa)


def test_permute_error_repeated(isa):
    with pytest.raises(ValueError, match="dim 0 is repeated"):
        call("permute", [np.zeros((1, 2, 3), np.float32)],
             {"dims": (0, -3, 1)}, isa)


@pytest.mark.skipif(not hasattr(__import__("featx")._core, "set_num_threads"),
                    reason="no thread pool")
@pytest.mark.parametrize("shape,dims", [((2, 40, 9, 7), (0, 2, 3, 1)),
                                        ((1, 9, 7, 40), (0, 3, 1, 2))])
def test_permute_thread_count_does_not_change_results(isa, shape, dims):
    from featx import _core

    x = rand(np.random.default_rng(4), *shape)
    before = _core.get_num_threads()
    try:
        for n in (1, 2, 3, 16):
            _core.set_num_threads(n)
            np.testing.assert_array_equal(
                call("permute", [x], {"dims": dims}, isa), ref.permute(x, dims))
    finally:
        _core.set_num_threads(before)
