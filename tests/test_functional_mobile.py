"""The Python API added for the mobile/efficient families: featx.nn.functional's
hardswish, hardsigmoid, relu6, silu, sigmoid, gelu, layer_norm; the nn modules Hardswish,
Hardsigmoid, ReLU6, SiLU, Sigmoid, GELU, LayerNorm; featx.sigmoid, permute, transpose,
chunk, view, contiguous, mean, size; and the matching tensor methods. Each is checked
eagerly, traced (node names) and lowered into an extractor plan.
"""
from __future__ import annotations

import numpy as np
import pytest
import reference as ref

import featx
from featx import nn
from featx._tensor_methods import METHODS
from featx.models.feature_extraction import (
    create_feature_extractor,
    get_graph_node_names,
)
from featx.nn import functional as F

ACTIVATIONS = [  # (functional, module, reference)
    (F.hardswish, nn.Hardswish, ref.hardswish),
    (F.hardsigmoid, nn.Hardsigmoid, ref.hardsigmoid),
    (F.relu6, nn.ReLU6, ref.relu6),
    (F.silu, nn.SiLU, ref.silu),
    (F.sigmoid, nn.Sigmoid, ref.sigmoid),
    (F.gelu, nn.GELU, ref.gelu),
]


def _x(*shape, seed=0, scale=4.0):
    return (np.random.default_rng(seed).standard_normal(shape) * scale).astype(np.float32)


@pytest.mark.parametrize("fn,module,reference", ACTIVATIONS,
                         ids=[a[0].__name__ for a in ACTIVATIONS])
def test_activation_function_and_module(fn, module, reference):
    x = _x(2, 3, 4, 5)
    y = fn(x)
    assert y.dtype == np.float32 and y.shape == x.shape
    np.testing.assert_allclose(y, reference(x), rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(module()(x), y)
    np.testing.assert_allclose(fn(x.astype(np.float64)), y)  # converted
    with pytest.raises(TypeError, match="float"):
        fn(np.ones(3, np.int64))


@pytest.mark.parametrize("fn", [F.hardswish, F.hardsigmoid, F.relu6, F.silu])
def test_inplace_flag_never_modifies(fn):
    x = _x(7)
    before = x.copy()
    fn(x, inplace=True)
    np.testing.assert_array_equal(x, before)


def test_module_reprs_and_flags():
    # torch 2.14's reprs
    assert repr(nn.Hardswish(inplace=True)) == "Hardswish()"
    assert repr(nn.Hardsigmoid(True)) == "Hardsigmoid()"
    assert repr(nn.GELU()) == "GELU(approximate='none')"
    assert repr(nn.ReLU6(inplace=True)) == "ReLU6(inplace=True)"
    assert repr(nn.SiLU(True)) == "SiLU(inplace=True)"
    assert repr(nn.Sigmoid()) == "Sigmoid()"
    assert repr(nn.GELU("tanh")) == "GELU(approximate='tanh')"
    assert repr(nn.LayerNorm(4, bias=False)) == (
        "LayerNorm((4,), eps=1e-05, elementwise_affine=True, bias=False)")
    assert repr(nn.LayerNorm([3, 4])) == (
        "LayerNorm((3, 4), eps=1e-05, elementwise_affine=True, bias=True)")


def test_gelu_modes():
    x = _x(50)
    np.testing.assert_allclose(F.gelu(x, approximate="tanh"), ref.gelu(x, "tanh"),
                               rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(nn.GELU("tanh")(x), F.gelu(x, approximate="tanh"))
    with pytest.raises(ValueError, match=r"^gelu: approximate: expected 'none' "
                       r"\(exact erf form\) or 'tanh', got 'erf'$"):
        F.gelu(x, approximate="erf")


def test_layer_norm_function():
    x = _x(2, 3, 4, scale=2.0) + 3
    w, b = _x(3, 4, seed=1), _x(3, 4, seed=2)
    np.testing.assert_allclose(F.layer_norm(x, (3, 4), w, b, eps=1e-6),
                               ref.layer_norm(x, 2, w, b, 1e-6), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(F.layer_norm(x, 4), ref.layer_norm(x, 1),
                               rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match=r"normalized_shape=\[3\].*\[2, 3, 4\]"):
        F.layer_norm(x, [3])
    with pytest.raises(ValueError, match="weight must have"):
        F.layer_norm(x, 4, np.ones(5, np.float32))
    with pytest.raises(TypeError, match="normalized_shape"):
        F.layer_norm(x, "4")


def test_layer_norm_module():
    m = nn.LayerNorm([3, 4])
    assert m.normalized_shape == (3, 4)
    assert list(m.state_dict()) == ["weight", "bias"]
    assert np.all(m.weight == 1) and not np.any(m.bias)
    assert list(nn.LayerNorm(4, bias=False).state_dict()) == ["weight"]
    assert nn.LayerNorm(4, elementwise_affine=False).state_dict() == {}
    x = _x(2, 3, 4)
    m.weight[...] = _x(3, 4, seed=3)
    m.bias[...] = _x(3, 4, seed=4)
    np.testing.assert_allclose(m(x), ref.layer_norm(x, 2, m.weight, m.bias),
                               rtol=1e-5, atol=1e-5)


def test_torch_namespace_functions():
    x = _x(2, 6, 3, 4)
    np.testing.assert_array_equal(featx.sigmoid(x), F.sigmoid(x))
    np.testing.assert_array_equal(featx.permute(x, (0, 2, 3, 1)), x.transpose(0, 2, 3, 1))
    np.testing.assert_array_equal(featx.permute(x, [-1, 0, 1, 2]), x.transpose(3, 0, 1, 2))
    t = featx.transpose(x, 1, -1)
    assert t.flags.c_contiguous
    np.testing.assert_array_equal(t, np.swapaxes(x, 1, 3))
    np.testing.assert_array_equal(featx.view(x, 2, -1), x.reshape(2, -1))
    np.testing.assert_array_equal(featx.view(x, (12, 12)), x.reshape(12, 12))
    c = featx.contiguous(x)
    assert c is not x and np.array_equal(c, x)
    assert featx.contiguous(x.T).flags.c_contiguous
    np.testing.assert_allclose(featx.mean(x, [2, 3]), x.mean(axis=(2, 3)), rtol=1e-6)
    assert featx.mean(x, -1, keepdim=True).shape == (2, 6, 3, 1)
    assert featx.mean(x).shape == ()
    assert featx.size(x) == (2, 6, 3, 4) and featx.size(x, -3) == 6
    with pytest.raises(IndexError):
        featx.size(x, 4)
    with pytest.raises(IndexError):
        featx.transpose(x, 0, 4)
    with pytest.raises(ValueError, match="repeated"):
        featx.permute(x, (0, 0, 1, 2))
    with pytest.raises(ValueError, match="invalid for an input"):
        featx.view(x, 5, -1)


@pytest.mark.parametrize("n,chunks,sizes", [
    (6, 2, [3, 3]), (5, 2, [3, 2]), (6, 4, [2, 2, 2]), (1, 3, [1]), (7, 7, [1] * 7),
])
def test_chunk_sizes_follow_torch(n, chunks, sizes):
    x = _x(2, n)
    parts = featx.chunk(x, chunks, dim=1)
    assert isinstance(parts, tuple)
    assert [p.shape[1] for p in parts] == sizes
    np.testing.assert_array_equal(np.concatenate(parts, axis=1), x)
    assert all(p.flags.c_contiguous for p in parts)
    with pytest.raises(ValueError, match="greater than 0"):
        featx.chunk(x, 0)


def test_tensor_methods_have_torch_semantics():
    x = _x(2, 6, 3, 4)
    for name in ("transpose", "permute", "chunk", "view", "contiguous", "mean", "size",
                 "sigmoid"):
        assert name in METHODS
    np.testing.assert_array_equal(METHODS["transpose"](x, 1, 2), np.swapaxes(x, 1, 2))
    np.testing.assert_array_equal(METHODS["permute"](x, 0, 2, 3, 1), x.transpose(0, 2, 3, 1))
    assert [p.shape for p in METHODS["chunk"](x, 2, 1)] == [(2, 3, 3, 4)] * 2
    assert METHODS["view"](x, 2, -1).shape == (2, 72)
    assert METHODS["size"](x) == (2, 6, 3, 4) and METHODS["size"](x, 1) == 6
    np.testing.assert_allclose(METHODS["mean"](x, [2, 3]), x.mean(axis=(2, 3)), rtol=1e-6)
    np.testing.assert_array_equal(METHODS["sigmoid"](x), F.sigmoid(x))


class _UsesEverything(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.act = nn.Hardswish()
        self.ln = nn.LayerNorm(4)
        self.gelu = nn.GELU("tanh")
        self.gate = nn.Sigmoid()

    def forward(self, x):
        x = F.silu(self.act(x))
        x = self.gelu(self.ln(x))
        n, c, h, w = featx.size(x)
        x = featx.view(x, n, 2, c // 2, h, w)
        x = featx.contiguous(featx.transpose(x, 1, 2))
        x = featx.view(x, n, c, h, w)
        a, b = featx.chunk(x, 2, dim=1)
        x = featx.cat([F.relu6(a), self.gate(b)], 1)
        x = F.layer_norm(featx.permute(x, (0, 2, 3, 1)), [c])
        y = F.hardsigmoid(featx.sigmoid(x))
        return F.gelu(featx.mean(y, [1, 2]))


def test_traced_names_and_plan_match_eager():
    m = _UsesEverything().eval()
    names = ["x", "act", "silu", "ln", "gelu", "size", "getitem", "getitem_1", "getitem_2",
             "getitem_3", "floordiv", "view", "transpose", "contiguous", "view_1", "chunk",
             "getitem_4", "getitem_5", "relu6", "gate", "cat", "permute", "layer_norm",
             "sigmoid", "hardsigmoid", "mean", "gelu_1"]
    assert get_graph_node_names(m) == (names, names)
    x = _x(2, 6, 3, 4, seed=5)
    out = create_feature_extractor(m, ["silu", "view_1", "getitem_5", "permute",
                                       "gelu_1"])(x)
    np.testing.assert_array_equal(out["gelu_1"], m(x))
    np.testing.assert_allclose(out["silu"], ref.silu(ref.hardswish(x)), rtol=1e-5,
                               atol=1e-6)
    assert out["view_1"].shape == (2, 6, 3, 4)
    assert out["getitem_5"].shape == (2, 3, 3, 4)
    assert out["permute"].shape == (2, 3, 4, 6)
