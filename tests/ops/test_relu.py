"""relu against the float64 reference."""
from __future__ import annotations

import numpy as np
import pytest

import reference as ref
from oputil import assert_close, call, layouts, rand


@pytest.mark.parametrize("shape", [(), (1,), (7,), (2, 3, 5, 7), (0, 4),
                                   (1, 1, 1, 1, 1, 1, 1, 3)])
def test_relu_matches_reference(isa, shape):
    x = rand(np.random.default_rng(len(shape)), *shape)
    assert_close(call("relu", [x], {}, isa), ref.relu(x))


def test_relu_nan_and_inf(isa):
    x = np.array([np.nan, -np.inf, np.inf, -0.5, 0.0, 2.0], np.float32)
    y = call("relu", [x], {}, isa)
    assert np.isnan(y[0])
    np.testing.assert_array_equal(y[1:], [0.0, np.inf, 0.0, 0.0, 2.0])


def test_relu_input_layouts(isa):
    x = rand(np.random.default_rng(2), 3, 4, 5)
    expect = call("relu", [x], {}, isa)
    for label, xv in layouts(x):
        before = np.array(xv, copy=True)
        np.testing.assert_array_equal(call("relu", [xv], {}, isa), expect,
                                      err_msg=label)
        np.testing.assert_array_equal(xv, before)
