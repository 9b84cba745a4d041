"""batch_norm (eval-mode statistics, optional fused activation) against
the float64 reference, on every ISA."""
from __future__ import annotations

import numpy as np
import pytest

import reference as ref
from oputil import ACTS, act_call, assert_close, call, layouts, rand


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
    y = call("batch_norm", [x, mean, var, w, b], {"eps": eps, "act": 0}, isa)
    assert_close(y, ref.batch_norm(x, mean, var, w, b, eps))


def test_batch_norm_three_inputs(isa):
    rng = np.random.default_rng(0)
    x, mean = rand(rng, 2, 3, 4), rand(rng, 3)
    var = np.ones(3, np.float32)
    assert_close(call("batch_norm", [x, mean, var], {"eps": 1e-5, "act": 0}, isa),
                 ref.batch_norm(x, mean, var, eps=1e-5))


def test_batch_norm_input_layouts(isa):
    rng = np.random.default_rng(1)
    x, mean, var = rand(rng, 2, 3, 5, 4), rand(rng, 3), np.ones(3, np.float32)
    expect = call("batch_norm", [x, mean, var], {"eps": 1e-5, "act": 0}, isa)
    for label, xv in layouts(x):
        got = call("batch_norm", [xv, mean, var], {"eps": 1e-5, "act": 0}, isa)
        np.testing.assert_array_equal(got, expect, err_msg=label)


def test_batch_norm_error_rank(isa):
    with pytest.raises(ValueError, match=r"at least 2 dimensions.*\(3,\)"):
        call("batch_norm", [np.zeros(3, np.float32), np.zeros(3, np.float32),
                            np.ones(3, np.float32)], {"eps": 1e-5, "act": 0}, isa)


def test_batch_norm_error_stat_shape(isa):
    with pytest.raises(ValueError, match=r"running_var must have shape "
                       r"\(3,\).*got \(4,\)"):
        call("batch_norm", [np.zeros((1, 3, 2, 2), np.float32),
                            np.zeros(3, np.float32), np.ones(4, np.float32)],
             {"eps": 1e-5, "act": 0}, isa)


def test_batch_norm_error_weight_shape(isa):
    with pytest.raises(ValueError, match=r"weight must have shape \(3,\)"):
        call("batch_norm", [np.zeros((1, 3, 2, 2), np.float32),
                            np.zeros(3, np.float32), np.ones(3, np.float32),
                            np.ones((3, 1), np.float32)], {"eps": 1e-5, "act": 0}, isa)


def test_batch_norm_error_eps(isa):
    with pytest.raises(ValueError, match="eps must be non-negative, got -1"):
        call("batch_norm", [np.zeros((1, 3), np.float32),
                            np.zeros(3, np.float32), np.ones(3, np.float32)],
             {"eps": -1.0, "act": 0}, isa)


@pytest.mark.parametrize("act", sorted(set(ACTS) - {0}))
@pytest.mark.parametrize("shape", [(2, 3, 5, 7), (1, 4, 3, 3), (1, 2, 16),
                                   (3, 5)])
def test_batch_norm_act_equals_bn_then_act(isa, act, shape):
    # the fused activation rounds as the activation op of the same ISA;
    # planes of 35, 9, 16 and 1 floats: vector bodies and masked tails
    rng = np.random.default_rng(act * 10 + len(shape))
    c = shape[1]
    x = rand(rng, *shape) * 4
    x.flat[0], x.flat[-1] = np.nan, -0.0
    mean, w, b = rand(rng, c), rand(rng, c), rand(rng, c)
    var = (rng.random(c) + 0.5).astype(np.float32)
    z = call("batch_norm", [x, mean, var, w, b], {"eps": 1e-5, "act": 0}, isa)
    want = act_call(act, z, isa)
    got = call("batch_norm", [x, mean, var, w, b], {"eps": 1e-5, "act": act},
               isa)
    np.testing.assert_array_equal(got, want)


def test_batch_norm_isas_agree(isa):
    rng = np.random.default_rng(3)
    x = rand(rng, 2, 6, 9, 11)
    mean, var = rand(rng, 6), (rng.random(6) + 0.5).astype(np.float32)
    for act in (0, 1):
        attrs = {"eps": 1e-5, "act": act}
        np.testing.assert_array_equal(
            call("batch_norm", [x, mean, var], attrs, isa),
            call("batch_norm", [x, mean, var], attrs, "scalar"))


def test_batch_norm_error_act(isa):
    with pytest.raises(ValueError, match="act must be 0 .none.*got 6"):
        call("batch_norm", [np.zeros((1, 3), np.float32),
                            np.zeros(3, np.float32), np.ones(3, np.float32)],
             {"eps": 1e-5, "act": 6}, isa)
