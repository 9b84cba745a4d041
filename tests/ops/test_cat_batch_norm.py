"""cat_batch_norm (batch_norm with its activation, over the concatenation
of its inputs along dim 1) against the float64 reference and against
cat -> batch_norm bit for bit, on every ISA and 1, 2 and 3 threads."""
from __future__ import annotations

import numpy as np
import pytest

import featx
import reference as ref
from oputil import ACTS, act_ref, assert_close, call, layouts, rand


@pytest.fixture(params=[1, 2, 3])
def threads(request):
    before = featx.get_num_threads()
    featx.set_num_threads(request.param)
    yield request.param
    featx.set_num_threads(before)


def _stats(rng, c, affine=(True, True)):
    mean = rand(rng, c)
    var = (rng.random(c) + 0.5).astype(np.float32)
    w = rand(rng, c) if affine[0] else None
    b = rand(rng, c) if affine[1] else None
    return [mean, var, w, b]


# channels of each input and the plane after them: planes of 1, 7, 9, 16,
# 35 floats (vector bodies and masked tails), one input and many
@pytest.mark.parametrize("chans, plane", [
    ((3,), (5, 7)), ((1, 2, 4), (3, 3)), ((5, 1, 1, 2, 3), (1,)),
    ((2, 3), (4, 4)), ((4, 1), (7,)), ((1,) * 20, (1, 9)), ((6, 2), ()),
])
@pytest.mark.parametrize("act", sorted(ACTS))
def test_matches_reference_and_cat_then_batch_norm(isa, threads, chans,
                                                   plane, act):
    rng = np.random.default_rng(len(chans) * 31 + act)
    xs = [rand(rng, 2, c, *plane) * 3 for c in chans]
    stats = _stats(rng, sum(chans))
    attrs = {"eps": 1e-5, "act": act}
    got = call("cat_batch_norm", stats + xs, attrs, isa)
    cat = np.concatenate(xs, 1)
    want = act_ref(act, ref.batch_norm(cat, *stats, 1e-5))
    assert_close(got, want)
    np.testing.assert_array_equal(
        got, call("batch_norm", [cat] + stats, attrs, isa))
    if act in (0, 1):  # no transcendental: every ISA rounds alike
        np.testing.assert_array_equal(
            got, call("cat_batch_norm", stats + xs, attrs, "scalar"))


@pytest.mark.parametrize("affine", [(True, False), (False, True)])
def test_weight_and_bias_are_required(isa, affine):
    rng = np.random.default_rng(5)
    xs = [rand(rng, 3, 2, 3, 5), rand(rng, 3, 5, 3, 5)]
    stats = _stats(rng, 7, affine)
    with pytest.raises(TypeError, match=f"input {2 + affine[0]} is "
                                        f"required, got None"):
        call("cat_batch_norm", stats + xs, {"eps": 1e-3, "act": 0}, isa)


def test_input_layouts(isa):
    rng = np.random.default_rng(6)
    xs = [rand(rng, 2, 3, 4, 5), rand(rng, 2, 2, 4, 5)]
    stats = _stats(rng, 5)
    attrs = {"eps": 1e-5, "act": 1}
    want = call("cat_batch_norm", stats + xs, attrs, isa)
    for label, xv in layouts(xs[1]):
        np.testing.assert_array_equal(
            call("cat_batch_norm", stats + [xs[0], xv], attrs, isa), want,
            err_msg=label)


def test_empty_batch(isa):
    xs = [np.zeros((0, 2, 3, 3), np.float32)] * 2
    stats = _stats(np.random.default_rng(0), 4)
    assert call("cat_batch_norm", stats + xs, {"eps": 1e-5, "act": 0},
                isa).shape == (0, 4, 3, 3)


@pytest.mark.parametrize("xs, stat, match", [
    ([(1, 2, 3, 3), (1, 2, 3, 4)], 4,
     r"sizes must match except in dim 1; input 5 has size 4 in dim 3 "
     r"\(shape \(1, 2, 3, 4\)\), expected 3"),
    ([(1, 2, 3, 3), (1, 2, 3)], 4,
     r"input 5 has shape \(1, 2, 3\), expected 4 dimensions"),
    ([(2,)], 2, r"input 4 has shape \(2,\), expected 1 dimensions .*at "
                r"least 2"),
    ([(1, 2, 3, 3), (1, 3, 3, 3)], 4,
     r"running_mean must have shape \(5,\) for the concatenation of shape "
     r"\(1, 5, 3, 3\), got \(4,\)"),
])
def test_errors_name_input_and_shapes(isa, xs, stat, match):
    arrays = [np.zeros(s, np.float32) for s in xs]
    stats = [np.zeros(stat, np.float32), np.ones(stat, np.float32),
             np.ones(stat, np.float32), np.zeros(stat, np.float32)]
    with pytest.raises(ValueError, match=match):
        call("cat_batch_norm", stats + arrays, {"eps": 1e-5, "act": 0}, isa)


def test_error_eps_and_act(isa):
    args = [np.zeros(2, np.float32), np.ones(2, np.float32),
            np.ones(2, np.float32), np.zeros(2, np.float32),
            np.zeros((1, 2), np.float32)]
    with pytest.raises(ValueError, match="eps must be non-negative, got -1"):
        call("cat_batch_norm", args, {"eps": -1.0, "act": 0}, isa)
    with pytest.raises(ValueError, match="act must be 0 .none.*got 6"):
        call("cat_batch_norm", args, {"eps": 1e-5, "act": 6}, isa)
