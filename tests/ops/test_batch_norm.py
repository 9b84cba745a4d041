"""batch_norm (eval-mode statistics) against the float64 reference."""
from __future__ import annotations

import numpy as np
import pytest

import reference as ref
from oputil import assert_close, call, layouts, rand


@pytest.mark.parametrize("shape", [(2, 3), (1, 4, 5), (2, 3, 4, 5),
                                   (1, 2, 3, 1, 2), (0, 3, 4, 4)])
@pytest.mark.parametrize("affine", [(True, True), (True, False),
                                    (False, True), (False, False)])
@pytest.mark.parametrize("eps", [1e-5, 1e-3, 0.0])
def test_batch_norm_matches_reference(isa, shape, affine, eps):
    rng = np.random.default_rng(len(shape) * 7 + int(affine[0]) + 2 * affine[1])
    c = shape[1]
    x = rand(rng, *shape)
    mean = rand(rng, c)
    var = (rng.random(c) + 0.5).astype(np.float32)
    w = rand(rng, c) if affine[0] else None
    b = rand(rng, c) if affine[1] else None
    y = call("batch_norm", [x, mean, var, w, b], {"eps": eps}, isa)
    assert_close(y, ref.batch_norm(x, mean, var, w, b, eps))


def test_batch_norm_three_inputs(isa):
    rng = np.random.default_rng(0)
    x, mean = rand(rng, 2, 3, 4), rand(rng, 3)
    var = np.ones(3, np.float32)
    assert_close(call("batch_norm", [x, mean, var], {"eps": 1e-5}, isa),
                 ref.batch_norm(x, mean, var, eps=1e-5))


def test_batch_norm_input_layouts(isa):
    rng = np.random.default_rng(1)
    x, mean, var = rand(rng, 2, 3, 5, 4), rand(rng, 3), np.ones(3, np.float32)
    expect = call("batch_norm", [x, mean, var], {"eps": 1e-5}, isa)
    for label, xv in layouts(x):
        got = call("batch_norm", [xv, mean, var], {"eps": 1e-5}, isa)
        np.testing.assert_array_equal(got, expect, err_msg=label)


def test_batch_norm_error_rank(isa):
    with pytest.raises(ValueError, match=r"at least 2 dimensions.*\(3,\)"):
        call("batch_norm", [np.zeros(3, np.float32), np.zeros(3, np.float32),
                            np.ones(3, np.float32)], {"eps": 1e-5}, isa)


def test_batch_norm_error_stat_shape(isa):
    with pytest.raises(ValueError, match=r"running_var must have shape "
                       r"\(3,\).*got \(4,\)"):
        call("batch_norm", [np.zeros((1, 3, 2, 2), np.float32),
                            np.zeros(3, np.float32), np.ones(4, np.float32)],
             {"eps": 1e-5}, isa)


def test_batch_norm_error_weight_shape(isa):
    with pytest.raises(ValueError, match=r"weight must have shape \(3,\)"):
        call("batch_norm", [np.zeros((1, 3, 2, 2), np.float32),
                            np.zeros(3, np.float32), np.ones(3, np.float32),
                            np.ones((3, 1), np.float32)], {"eps": 1e-5}, isa)


def test_batch_norm_error_eps(isa):
    with pytest.raises(ValueError, match="eps must be non-negative, got -1"):
        call("batch_norm", [np.zeros((1, 3), np.float32),
                            np.zeros(3, np.float32), np.ones(3, np.float32)],
             {"eps": -1.0}, isa)
