"""Tensor-method calls inside an extractor: torch's meaning or a clear error.

Every method a traced ``forward`` calls on a traced value either runs with
torch's result (checked against float64 NumPy formulas written here, and
against torch itself when it is installed) or is refused when the extractor
is created, naming the node, the method and what to use instead. Nothing
runs with NumPy's own meaning (``x.std()`` dividing by n, ``x.max(1)``
returning only the values, ``x.sort()`` returning None).
"""
from __future__ import annotations

import numpy as np
import pytest

import featx.nn as nn
from featx.feature_extraction import (create_feature_extractor,
                                      get_graph_node_names)

try:
    import torch
except ImportError:  # the oracle comparison is skipped without torch
    torch = None


class Expr(nn.Module):
    def __init__(self, fn):
        super().__init__()
        self.__dict__["fn"] = fn

    def forward(self, x):
        return self.fn(x)


def _x():
    rng = np.random.RandomState(0)
    return (rng.randn(2, 3, 4, 5) + 0.1).astype(np.float32)


def _run(fn, x):
    m = Expr(fn).eval()
    last = get_graph_node_names(m)[1][-1]
    return create_feature_extractor(m, [last])(x)[last]


def _d(x):
    return x.astype(np.float64)


def _softmax(x, d):
    e = np.exp(_d(x) - _d(x).max(d, keepdims=True))
    return e / e.sum(d, keepdims=True)


# (method, call, float64 NumPy reference) -- the reference is torch's meaning
SUPPORTED = [
    ("std", lambda x: x.std(1), lambda x: _d(x).std(1, ddof=1)),
    ("std", lambda x: x.std(), lambda x: _d(x).std(ddof=1)),
    ("std", lambda x: x.std((2, 3), keepdim=True),
     lambda x: _d(x).std((2, 3), ddof=1, keepdims=True)),
    ("std", lambda x: x.std(1, unbiased=False), lambda x: _d(x).std(1)),
    ("std", lambda x: x.std(1, correction=0), lambda x: _d(x).std(1)),
    ("var", lambda x: x.var(1), lambda x: _d(x).var(1, ddof=1)),
    ("var", lambda x: x.var(), lambda x: _d(x).var(ddof=1)),
    ("var", lambda x: x.var(False), lambda x: _d(x).var()),
    ("var", lambda x: x.var(-1, correction=2, keepdim=True),
     lambda x: _d(x).var(-1, ddof=2, keepdims=True)),
    ("max", lambda x: x.max(1)[0], lambda x: x.max(1)),
    ("max", lambda x: x.max(1)[1], lambda x: x.argmax(1)),
    ("max", lambda x: x.max(dim=2, keepdim=True).values,
     lambda x: x.max(2, keepdims=True)),
    ("max", lambda x: x.max(), lambda x: x.max()),
    ("min", lambda x: x.min(1)[0], lambda x: x.min(1)),
    ("min", lambda x: x.min(-1).indices, lambda x: x.argmin(-1)),
    ("sort", lambda x: x.sort(1)[0], lambda x: np.sort(x, 1)),
    ("sort", lambda x: x.sort(-1, descending=True)[1],
     lambda x: np.argsort(-x, -1, kind="stable")),
    ("argmax", lambda x: x.argmax(1), lambda x: x.argmax(1)),
    ("softmax", lambda x: x.softmax(dim=1), lambda x: _softmax(x, 1)),
    ("log_softmax", lambda x: x.log_softmax(-1),
     lambda x: np.log(_softmax(x, -1))),
    ("clamp", lambda x: x.clamp(min=0), lambda x: np.maximum(x, 0)),
    ("clamp", lambda x: x.clamp(-0.5, 0.5), lambda x: np.clip(x, -0.5, 0.5)),
    ("clamp", lambda x: x.clamp(1.0, -1.0),  # min > max: all max
     lambda x: np.full_like(x, -1.0)),
    ("clip", lambda x: x.clip(0.2), lambda x: np.maximum(x, 0.2)),
    ("pow", lambda x: x.pow(2), lambda x: _d(x) ** 2),
    ("sqrt", lambda x: x.abs().sqrt(), lambda x: np.sqrt(np.abs(_d(x)))),
    ("abs", lambda x: x.abs(), lambda x: np.abs(x)),
    ("exp", lambda x: x.exp(), lambda x: np.exp(_d(x))),
    ("tanh", lambda x: x.tanh(), lambda x: np.tanh(_d(x))),
    ("neg", lambda x: x.neg(), lambda x: -x),
    ("split", lambda x: x.split(1, dim=1)[1], lambda x: x[:, 1:2]),
    ("split", lambda x: x.split([1, 2], 1)[1], lambda x: x[:, 1:]),
    ("expand", lambda x: x[:, :1].expand(2, 3, -1, -1),
     lambda x: np.broadcast_to(x[:, :1], (2, 3, 4, 5))),
    ("expand", lambda x: x.expand(2, -1, -1, -1, -1),
     lambda x: np.broadcast_to(x, (2,) + x.shape)),
    ("type_as", lambda x: x.long().type_as(x),
     lambda x: np.trunc(x)),
    ("flip", lambda x: x.flip(1, 3), lambda x: x[:, ::-1, :, ::-1]),
    ("roll", lambda x: x.roll(2, 3), lambda x: np.roll(x, 2, 3)),
    ("roll", lambda x: x.roll(1), lambda x: np.roll(x, 1)),
    ("masked_fill", lambda x: x.masked_fill(x > 0, 0.0),
     lambda x: np.where(x > 0, 0, x)),
    ("narrow", lambda x: x.narrow(3, 1, 2), lambda x: x[..., 1:3]),
    ("select", lambda x: x.select(1, -1), lambda x: x[:, -1]),
    ("unflatten", lambda x: x.unflatten(1, (3, 1)),
     lambda x: x.reshape(2, 3, 1, 4, 5)),
    ("movedim", lambda x: x.movedim(1, -1),
     lambda x: np.moveaxis(x, 1, -1)),
    ("matmul", lambda x: x.matmul(x.transpose(2, 3)),
     lambda x: _d(x) @ np.swapaxes(_d(x), 2, 3)),
    ("add_", lambda x: (x * 2).add_(1), lambda x: _d(x) * 2 + 1),
    ("mul_", lambda x: (x + 1).mul_(3), lambda x: (_d(x) + 1) * 3),
    ("bool", lambda x: x.bool(), lambda x: x != 0),
    ("int", lambda x: x.int(), lambda x: np.trunc(x)),
    ("long", lambda x: x.long(), lambda x: np.trunc(x)),
    ("half", lambda x: x.half(), lambda x: x.astype(np.float16)),
    ("prod", lambda x: x.prod(), lambda x: np.prod(_d(x))),
    ("any", lambda x: (x > 2).any(), lambda x: (x > 2).any()),
    ("cumprod", lambda x: x.cumprod(1), lambda x: np.cumprod(_d(x), 1)),
    ("round", lambda x: (x * 2).round(), lambda x: np.round(x * 2)),
    ("nonzero", lambda x: (x > 1).nonzero(), lambda x: np.argwhere(x > 1)),
    ("fill_", lambda x: (x + 0).fill_(1), lambda x: np.ones_like(x)),
    # keyword forms
    ("permute", lambda x: x.permute(dims=(0, 2, 3, 1)),
     lambda x: x.transpose(0, 2, 3, 1)),
    ("reshape", lambda x: x.reshape(shape=(2, -1)),
     lambda x: x.reshape(2, -1)),
    ("flip", lambda x: x.flip(dims=[1]), lambda x: x[:, ::-1]),
    ("split", lambda x: x.split(split_size=2, dim=1)[1], lambda x: x[:, 2:]),
    ("max", lambda x: x.max(other=x * 0.5), lambda x: np.maximum(x, x * 0.5)),
    ("div", lambda x: x.div(0.3, rounding_mode="floor"),
     lambda x: np.floor(x / np.float32(0.3))),
    ("div", lambda x: x.div(0.3, rounding_mode="trunc"),
     lambda x: np.trunc(x / np.float32(0.3))),
    ("div", lambda x: (x * 10).long().div(3),
     lambda x: (x * 10).astype(np.int64) / 3),
]

_DTYPES = {"bool": np.bool_, "int": np.int32, "long": np.int64,
           "half": np.float16, "argmax": np.int64, "nonzero": np.int64}


@pytest.mark.parametrize("name,fn,ref", SUPPORTED,
                         ids=[f"{i}-{c[0]}" for i, c in enumerate(SUPPORTED)])
def test_supported_methods_have_torchs_meaning(name, fn, ref):
    x = _x()
    out = _run(fn, x)
    want = ref(x.copy())
    assert np.shape(out) == np.shape(want), (name, np.shape(out))
    if name in _DTYPES:
        assert np.asarray(out).dtype == _DTYPES[name]
    np.testing.assert_allclose(np.asarray(out, np.float64),
                               np.asarray(want, np.float64),
                               rtol=2e-6, atol=2e-6)
    if torch is not None:
        t = fn(torch.from_numpy(x.copy()))
        np.testing.assert_allclose(np.asarray(out, np.float64),
                                   t.double().numpy(), rtol=2e-6,
                                   atol=2e-6)


def test_integer_results_have_torchs_dtypes():
    """Sums of bool/int and rounded integer divisions are int64, as in
    torch (not float32)."""
    x = _x()
    cases = [(lambda v: (v > 0).sum(1), (x > 0).sum(1)),
             (lambda v: (v * 10).long().div(3, rounding_mode="floor"),
              np.floor_divide((x * 10).astype(np.int64), 3))]
    for fn, want in cases:
        out = _run(fn, x)
        assert out.dtype == np.int64
        np.testing.assert_array_equal(out, want)
        if torch is not None:
            np.testing.assert_array_equal(out, fn(torch.from_numpy(x)).numpy())


def test_max_with_dim_is_a_values_indices_pair():
    out = _run(lambda x: x.max(1), _x())
    values, indices = out
    assert out.values is values and out.indices is indices
    np.testing.assert_array_equal(values, _x().max(1))
    assert indices.dtype == np.int64


def test_sort_puts_nan_where_torch_does():
    x = np.array([[1.0, np.nan, -1.0, np.inf]], np.float32)
    up = _run(lambda x: x.sort(1), x)
    down = _run(lambda x: x.sort(1, descending=True), x)
    np.testing.assert_array_equal(up.indices, [[2, 0, 3, 1]])
    np.testing.assert_array_equal(down.indices, [[1, 3, 0, 2]])


# methods featx does not run: refused when the extractor is created
UNSUPPORTED = [
    ("to", lambda x: x.to("cpu"), "x.float()"),
    ("copy", lambda x: x.copy(), "featx.nn.functional"),
    ("take", lambda x: x.take(0), "featx.nn.functional"),
    ("tolist", lambda x: x.tolist(), "leaf_modules"),
]


@pytest.mark.parametrize("name,fn,hint", UNSUPPORTED,
                         ids=[c[0] for c in UNSUPPORTED])
def test_unsupported_methods_fail_when_the_extractor_is_created(name, fn,
                                                                hint):
    m = Expr(fn).eval()
    names = get_graph_node_names(m)[1]   # listing still works, as in tv
    assert names[-1] == name
    with pytest.raises(NotImplementedError) as e:
        create_feature_extractor(m, [name])
    msg = str(e.value)
    assert f"node '{name}'" in msg and f"tensor method '{name}'" in msg
    assert hint in msg and "Supported methods:" in msg


def test_unsupported_method_is_refused_even_if_not_returned_directly():
    m = Expr(lambda x: x.copy() + 1).eval()
    with pytest.raises(NotImplementedError, match="node 'copy'"):
        create_feature_extractor(m, ["add"])


def test_inplace_method_whose_input_is_used_again_is_refused():
    # torch would change x itself; featx runs add_ out of place
    m = Expr(lambda x: (lambda y: (y.add_(1), y * 2))(x + 0)[1]).eval()
    with pytest.raises(NotImplementedError) as e:
        create_feature_extractor(m, ["mul"])
    msg = str(e.value)
    assert "node 'add_'" in msg and "'add'" in msg and "out of place" in msg
    m = Expr(lambda x: (x + 0).relu_()).eval()
    out = create_feature_extractor(m, ["relu_"])(_x())["relu_"]
    np.testing.assert_array_equal(out, np.maximum(_x(), 0))
