"""layer_norm against the float64 reference, on every ISA."""
from __future__ import annotations

import numpy as np
import pytest
import reference as ref
from oputil import assert_close, call, layouts, rand


@pytest.mark.parametrize("shape,k", [
    ((5,), 1), ((2, 7), 1), ((2, 3, 4, 5), 1), ((2, 3, 4, 5), 2),
    ((2, 3, 4, 5), 3), ((2, 3, 4, 5), 4), ((0, 4), 1), ((3, 1), 1),
    ((1, 1, 1, 1, 1, 1, 2, 3), 2)])
@pytest.mark.parametrize("affine", [(True, True), (True, False),
                                    (False, True), (False, False)])
@pytest.mark.parametrize("eps", [1e-5, 1e-6, 0.1])
def test_layer_norm_matches_reference(isa, shape, k, affine, eps):
    rng = np.random.default_rng(len(shape) * 11 + k)
    x = rand(rng, *shape) * 3 + 2  # an offset mean, as in real activations
    w = rand(rng, *shape[len(shape) - k:]) if affine[0] else None
    b = rand(rng, *shape[len(shape) - k:]) if affine[1] else None
    y = call("layer_norm", [x, w, b], {"normalized_ndim": k, "eps": eps},
             isa)
    assert_close(y, ref.layer_norm(x, k, w, b, eps), rtol=2e-5)


def test_layer_norm_every_row_length(isa):
    # rows of 1..49 floats hit every split between the AVX2 kernel's
    # 16-float steps, its 8-float step and the scalar tail
    rng = np.random.default_rng(5)
    for d in range(1, 50):
        x = rand(rng, 3, d) * 3 + 2
        w, b = rand(rng, d), rand(rng, d)
        y = call("layer_norm", [x, w, b], {"normalized_ndim": 1,
                                           "eps": 1e-5}, isa)
        assert_close(y, ref.layer_norm(x, 1, w, b, 1e-5), rtol=2e-5)


def test_layer_norm_one_input(isa):
    x = rand(np.random.default_rng(0), 4, 6)
    y = call("layer_norm", [x], {"normalized_ndim": 1, "eps": 1e-5}, isa)
    assert_close(y, ref.layer_norm(x, 1), rtol=2e-5)


def test_layer_norm_large_offset(isa):
    # a big common offset: a one-pass E[x^2] - E[x]^2 variance would lose
    # every digit here
    x = (rand(np.random.default_rng(1), 3, 64) + 1e4).astype(np.float32)
    y = call("layer_norm", [x], {"normalized_ndim": 1, "eps": 1e-5}, isa)
    assert_close(y, ref.layer_norm(x, 1), rtol=1e-3)


def test_layer_norm_input_layouts(isa):
    rng = np.random.default_rng(3)
    x, w = rand(rng, 2, 3, 5, 4), rand(rng, 4)
    attrs = {"normalized_ndim": 1, "eps": 1e-5}
    expect = call("layer_norm", [x, w, None], attrs, isa)
    for label, xv in layouts(x):
        got = call("layer_norm", [xv, w, None], attrs, isa)
        np.testing.assert_array_equal(got, expect, err_msg=label)


def test_layer_norm_error_ndim(isa):
    with pytest.raises(ValueError, match=r"normalized_ndim must be in "
                       r"\[1, 2\].*got 3"):
        call("layer_norm", [np.zeros((2, 3), np.float32)],
             {"normalized_ndim": 3, "eps": 1e-5}, isa)
    with pytest.raises(ValueError, match=r"normalized_ndim .* got 0"):
        call("layer_norm", [np.zeros((2, 3), np.float32)],
             {"normalized_ndim": 0, "eps": 1e-5}, isa)


def test_layer_norm_error_weight_shape(isa):
    with pytest.raises(ValueError, match=r"weight must have the shape of the "
                       r"last 1 dims of the input \(2x3\)|weight must have"):
        call("layer_norm", [np.zeros((2, 3), np.float32),
                            np.ones(4, np.float32)],
             {"normalized_ndim": 1, "eps": 1e-5}, isa)


def test_layer_norm_error_bias_shape(isa):
    with pytest.raises(ValueError, match=r"bias must have the shape"):
        call("layer_norm", [np.zeros((2, 3, 4), np.float32), None,
                            np.ones((4, 3), np.float32)],
             {"normalized_ndim": 2, "eps": 1e-5}, isa)


def test_layer_norm_error_eps(isa):
    with pytest.raises(ValueError, match="eps must be non-negative"):
        call("layer_norm", [np.zeros((2, 3), np.float32)],
             {"normalized_ndim": 1, "eps": -1.0}, isa)


@pytest.mark.skipif(not hasattr(__import__("featx")._core, "set_num_threads"),
                    reason="no thread pool")
def test_layer_norm_and_permute_thread_count_does_not_change_results(isa):
    from featx import _core

    x = rand(np.random.default_rng(10), 3, 5, 7, 4)
    calls = [("layer_norm", [x], {"normalized_ndim": 1, "eps": 1e-5}),
             ("permute", [x], {"dims": (2, 0, 3, 1)}),
             ("gelu", [x], {"approximate": 1}),
             ("hardswish", [x], {})]
    before = _core.get_num_threads()
    try:
        for name, inputs, attrs in calls:
            results = []
            for n in (1, 3, 7):
                _core.set_num_threads(n)
                results.append(call(name, inputs, attrs, isa))
            for r in results[1:]:
                np.testing.assert_array_equal(r, results[0], err_msg=name)
    finally:
        _core.set_num_threads(before)


@pytest.mark.parametrize("d", [1, 7, 8, 13, 96, 100])
def test_layer_norm_agrees_with_scalar_kernel(isa, d):
    # vector bodies and masked tails; a NaN or inf spreads over its row
    # only, as in the reference
    rng = np.random.default_rng(d)
    x = rand(rng, 5, d) * 3 + 2
    x[1, d // 2] = np.nan
    x[3, 0] = np.inf
    w, b = rand(rng, d), rand(rng, d)
    attrs = {"normalized_ndim": 1, "eps": 1e-6}
    got = call("layer_norm", [x, w, b], attrs, isa)
    want = call("layer_norm", [x, w, b], attrs, "scalar")
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    fin = np.isfinite(want)
    np.testing.assert_allclose(got[fin], want[fin], rtol=1e-5, atol=1e-5)


def _last_to_channels(x):
    """x (N, C, ...) permuted to (N, ..., C), contiguous."""
    return np.ascontiguousarray(np.moveaxis(x, 1, -1))


# C: the 8-channel transposes' remainders; the pixels: 8-pixel bands and
# their remainders (49 = 6*8 + 1), one pixel, a 3-D input
@pytest.mark.parametrize("shape", [
    (2, 13, 5, 7), (1, 96, 7, 7), (3, 8, 3, 3), (2, 17, 9), (2, 24, 1, 1),
    (1, 3, 4, 4), (2, 5), (0, 4, 3, 3), (2, 16, 8, 2)])
@pytest.mark.parametrize("affine", [(True, True), (False, False)])
def test_layer_norm_channels_first_is_permute_then_layer_norm(isa, shape,
                                                               affine):
    """channels_first: x (N, C, ...) normalised over C into (N, ..., C),
    the same bits as permute -> layer_norm on the same ISA, and close to
    the float64 reference; for 1, 2 and 3 threads."""
    from featx import _core

    rng = np.random.default_rng(sum(shape))
    x = rand(rng, *shape) * 3 + 2
    if x.size:
        x.reshape(-1)[x.size // 3] = np.nan  # spreads over its row only
    c = shape[1]
    w = rand(rng, c) if affine[0] else None
    b = rand(rng, c) if affine[1] else None
    attrs = {"normalized_ndim": 1, "eps": 1e-6}
    want = call("layer_norm", [_last_to_channels(x), w, b], attrs, isa)
    before = _core.get_num_threads()
    try:
        for n in (1, 2, 3):
            _core.set_num_threads(n)
            got = call("layer_norm", [x, w, b],
                       dict(attrs, channels_first=True), isa)
            np.testing.assert_array_equal(got, want)
    finally:
        _core.set_num_threads(before)
    fin = np.isfinite(want)
    r = ref.layer_norm(_last_to_channels(x), 1, w, b, 1e-6)
    assert np.array_equal(fin, np.isfinite(r))
    assert_close(np.where(fin, want, 0), np.where(fin, r, 0), rtol=2e-5)


def test_layer_norm_channels_first_errors(isa):
    x = np.zeros((2, 3, 4, 5), np.float32)
    with pytest.raises(ValueError, match=r"channels_first needs "
                       r"normalized_ndim 1 .* got normalized_ndim 2 and "
                       r"shape \(2, 3, 4, 5\)"):
        call("layer_norm", [x], {"normalized_ndim": 2, "eps": 1e-5,
                                 "channels_first": True}, isa)
    with pytest.raises(ValueError, match=r"at least 2 dimensions.*shape "
                       r"\(3,\)"):
        call("layer_norm", [np.zeros(3, np.float32)],
             {"normalized_ndim": 1, "eps": 1e-5, "channels_first": True},
             isa)
    with pytest.raises(ValueError, match=r"weight must have the shape of the "
                       r"last 1 dims of the permuted input \(2, 4, 5, 3\), "
                       r"got \(5,\)"):
        call("layer_norm", [x, np.ones(5, np.float32)],
             {"normalized_ndim": 1, "eps": 1e-5, "channels_first": True},
             isa)
