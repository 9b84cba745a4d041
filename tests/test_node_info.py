"""Shape inference without running (featx._core.infer) and
featx.feature_extraction.get_graph_node_info."""
from __future__ import annotations

import numpy as np
import pytest

from featx import _core

CONV = {"stride": 2, "padding": 3, "dilation": 1, "groups": 1}


@pytest.mark.parametrize("name, inputs, attrs", [
    ("conv2d", [(2, 3, 17, 13), (8, 3, 7, 7), (8,)], CONV),
    ("conv2d", [(2, 3, 17, 13), (8, 3, 7, 7), None], CONV),
    ("linear", [(4, 5, 6), (7, 6)], {}),
    ("max_pool2d", [(1, 2, 9, 9)], {"kernel_size": 3, "stride": 2,
                                    "padding": 1, "dilation": 1,
                                    "ceil_mode": True}),
    ("add", [(2, 1, 5), (3, 1)], {}),
    ("cat", [(1, 2, 3), (1, 4, 3)], {"dim": 1}),
])
def test_infer_equals_call_shape(name, inputs, attrs):
    arrays = [None if s is None else np.zeros(s, np.float32) for s in inputs]
    expected = _core.call(name, arrays, attrs).shape
    assert _core.infer(name, inputs, attrs) == expected
    assert _core.infer(name, [None if s is None else list(s)
                              for s in inputs], attrs) == expected


@pytest.mark.parametrize("inputs, attrs, exc, match", [
    ([(1, 3), (1, 3)], {}, ValueError, "relu: expected 1 to 1 inputs, got 2"),
    ([(1, -1)], {}, ValueError, "negative size -1"),
    ([None], {}, TypeError, "input 0 is required"),
    ([(1, 2.0)], {}, TypeError, "must hold ints, got float"),
    ([(1, True)], {}, TypeError, "must hold ints, got bool"),
    ([5], {}, TypeError, "must be a tuple of ints or None, got int"),
    ([(1,) * 9], {}, ValueError, "9 dimensions, at most 8"),
    ([(1, 2)], {"x": 1}, TypeError, "unknown attribute 'x'"),
])
def test_infer_errors(inputs, attrs, exc, match):
    with pytest.raises(exc, match=match):
        _core.infer("relu", inputs, attrs)


def test_infer_shape_error_is_the_ops_message():
    with pytest.raises(ValueError, match="conv2d: expected a 4-D input"):
        _core.infer("conv2d", [(1, 3), (8, 3, 3, 3)], CONV)
    with pytest.raises(ValueError, match="unknown op 'nope'"):
        _core.infer("nope", [], {})
