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
    with pytest.raises(ValueError, match=r"number of dims don't match.*"
                       r"has 3 dims, got 2"):
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
