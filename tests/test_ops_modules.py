"""featx.ops: Conv2dNormActivation, SqueezeExcitation, MLP, Permute, FrozenBatchNorm2d,
stochastic_depth / StochasticDepth, against NumPy references and torchvision facts.

The state_dict keys and child layouts below are torchvision 0.29.1's (measured with
``.venv-oracle``: ``list(torchvision.ops.<Class>(...).state_dict())``).
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import reference as ref

import featx
from featx import nn, ops
from featx.models.feature_extraction import (
    create_feature_extractor,
    get_graph_node_names,
)


def _rand(rng, *shape):
    return rng.standard_normal(shape).astype(np.float32)


def _randomise(module: nn.Module, seed: int = 0) -> None:
    """Random parameters and BN statistics (variances positive)."""
    rng = np.random.default_rng(seed)
    for key, value in module.state_dict().items():
        if value.dtype != np.float32:
            continue
        value[...] = (rng.random(value.shape) + 0.5 if key.endswith("running_var")
                      else rng.standard_normal(value.shape) * 0.5)


def _bn(x, m):
    return ref.batch_norm(x, m.running_mean, m.running_var, m.weight, m.bias, m.eps)


def test_conv2d_norm_activation_layout():
    m = ops.Conv2dNormActivation(3, 8)
    assert list(m.state_dict()) == [  # torchvision 0.29.1
        "0.weight", "1.weight", "1.bias", "1.running_mean", "1.running_var",
        "1.num_batches_tracked"]
    assert m.out_channels == 8 and len(m) == 3
    conv = m[0]
    assert conv.padding == (1, 1) and conv.bias is None and m[2].inplace
    m = ops.Conv2dNormActivation(4, 6, kernel_size=5, stride=2, dilation=2,
                                 norm_layer=None, activation_layer=nn.Hardswish)
    assert list(m.state_dict()) == ["0.weight", "0.bias"]  # bias when no norm
    assert m[0].padding == (4, 4) and m[0].stride == (2, 2)
    assert isinstance(m[1], nn.Hardswish) and len(m) == 2
    m = ops.Conv2dNormActivation(4, 6, kernel_size=(3, 5), activation_layer=None,
                                 bias=True, inplace=None)
    assert m[0].padding == (1, 2) and m[0].bias is not None and len(m) == 2
    m = ops.Conv2dNormActivation(4, 6, activation_layer=nn.SiLU, inplace=None)
    assert not m[2].inplace  # inplace=None keeps the activation's default


def test_conv2d_norm_activation_values():
    rng = np.random.default_rng(0)
    m = ops.Conv2dNormActivation(4, 6, kernel_size=3, stride=2, groups=2,
                                 activation_layer=nn.Hardswish)
    _randomise(m)
    m.eval()
    x = _rand(rng, 2, 4, 9, 7)
    y = ref.conv2d(x, m[0].weight, None, 2, 1, 1, 2)
    expect = ref.hardswish(_bn(y, m[1]))
    np.testing.assert_allclose(m(x), expect, rtol=1e-5, atol=1e-5)


def test_squeeze_excitation():
    m = ops.SqueezeExcitation(8, 4, scale_activation=nn.Hardsigmoid)
    assert list(m.state_dict()) == ["fc1.weight", "fc1.bias", "fc2.weight",
                                    "fc2.bias"]  # torchvision 0.29.1
    assert [n for n, _ in m.named_children()] == [
        "avgpool", "fc1", "fc2", "activation", "scale_activation"]
    assert isinstance(m.activation, nn.ReLU)
    assert isinstance(ops.SqueezeExcitation(8, 4).scale_activation, nn.Sigmoid)
    _randomise(m, 1)
    x = _rand(np.random.default_rng(1), 2, 8, 5, 6)
    s = x.astype(np.float64).mean(axis=(2, 3))
    s = np.maximum(s @ m.fc1.weight[:, :, 0, 0].T.astype(np.float64) + m.fc1.bias, 0)
    s = s @ m.fc2.weight[:, :, 0, 0].T.astype(np.float64) + m.fc2.bias
    expect = ref.hardsigmoid(s)[:, :, None, None] * x
    np.testing.assert_allclose(m(x), expect, rtol=1e-5, atol=1e-6)


def test_mlp():
    m = ops.MLP(4, [8, 3], norm_layer=nn.LayerNorm, dropout=0.25)
    assert list(m.state_dict()) == [  # torchvision 0.29.1
        "0.weight", "0.bias", "1.weight", "1.bias", "4.weight", "4.bias"]
    kinds = [type(c).__name__ for c in m]
    assert kinds == ["Linear", "LayerNorm", "ReLU", "Dropout", "Linear", "Dropout"]
    assert m[3].p == 0.25 and not m[2].inplace
    assert ops.MLP(4, [8, 3], inplace=True)[1].inplace
    assert list(ops.MLP(4, [3], bias=False).state_dict()) == ["0.weight"]
    _randomise(m, 2)
    m.eval()
    x = _rand(np.random.default_rng(2), 5, 4)
    h = ref.linear(x, m[0].weight, m[0].bias)
    h = np.maximum(ref.layer_norm(h, 1, m[1].weight, m[1].bias), 0)
    expect = ref.linear(h, m[4].weight, m[4].bias)
    np.testing.assert_allclose(m(x), expect, rtol=1e-5, atol=1e-5)


def test_permute():
    m = ops.Permute([0, 2, 3, 1])
    x = _rand(np.random.default_rng(3), 2, 3, 4, 5)
    y = m(x)
    assert y.shape == (2, 4, 5, 3) and y.flags.c_contiguous
    np.testing.assert_array_equal(y, x.transpose(0, 2, 3, 1))
    assert m.dims == [0, 2, 3, 1] and m.state_dict() == {}


def test_frozen_batch_norm():
    m = ops.FrozenBatchNorm2d(3, eps=1e-3)
    assert list(m.state_dict()) == ["weight", "bias", "running_mean", "running_var"]
    assert list(m.parameters()) == []  # all buffers
    assert repr(m) == "FrozenBatchNorm2d(3, eps=0.001)"
    rng = np.random.default_rng(4)
    sd = {"weight": _rand(rng, 3), "bias": _rand(rng, 3), "running_mean": _rand(rng, 3),
          "running_var": (rng.random(3) + 0.5).astype(np.float32),
          "num_batches_tracked": np.array(7)}
    m.load_state_dict(sd)  # num_batches_tracked is dropped, not unexpected
    x = _rand(rng, 2, 3, 4, 4)
    expect = ref.batch_norm(x, sd["running_mean"], sd["running_var"], sd["weight"],
                            sd["bias"], 1e-3)
    for mode in (True, False):  # frozen: the same in both modes
        m.train(mode)
        np.testing.assert_allclose(m(x), expect, rtol=1e-5, atol=1e-6)


def test_stochastic_depth_identity_cases():
    x = _rand(np.random.default_rng(5), 4, 3)
    assert ops.stochastic_depth(x, 0.5, "row", training=False) is x
    assert ops.stochastic_depth(x, 0.0, "batch") is x
    m = ops.StochasticDepth(0.3, "row").eval()
    assert m(x) is x
    assert repr(m) == "StochasticDepth(p=0.3, mode=row)"
    np.testing.assert_array_equal(ops.stochastic_depth(x, 1.0, "row"), np.zeros_like(x))
    with pytest.raises(ValueError, match=r"expected a value in \[0, 1\], got 1.5"):
        ops.stochastic_depth(x, 1.5, "row")
    with pytest.raises(ValueError, match="mode must be 'batch' or 'row', got 'col'"):
        ops.stochastic_depth(x, 0.5, "col")


def test_stochastic_depth_row_statistics():
    featx.manual_seed(0)
    x = np.ones((4000, 2, 3), np.float32)
    y = ops.stochastic_depth(x, 0.25, "row")
    rows = y.reshape(4000, -1)
    # each row is all zero or all 1/(1-p)
    assert np.all((rows == 0).all(axis=1) | np.isclose(rows, 1 / 0.75).all(axis=1))
    kept = float((rows[:, 0] != 0).mean())
    assert abs(kept - 0.75) < 4 * math.sqrt(0.75 * 0.25 / 4000)
    assert abs(float(y.mean()) - 1.0) < 0.05  # unbiased in expectation


def test_stochastic_depth_batch_mode_and_seeding():
    x = np.ones((8, 3), np.float32)
    featx.manual_seed(1)
    draws = [ops.stochastic_depth(x, 0.5, "batch") for _ in range(200)]
    for y in draws:  # one decision for the whole input
        assert np.all(y == 0) or np.all(y == 2)
    kept = np.mean([bool(y[0, 0]) for y in draws])
    assert 0.35 < kept < 0.65
    featx.manual_seed(1)
    again = [ops.stochastic_depth(x, 0.5, "batch") for _ in range(200)]
    assert all(np.array_equal(a, b) for a, b in zip(draws, again))


class _Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem = ops.Conv2dNormActivation(3, 8, stride=2)
        self.se = ops.SqueezeExcitation(8, 4)
        self.drop = ops.StochasticDepth(0.5, "row")
        self.perm = ops.Permute([0, 2, 3, 1])
        self.frozen = ops.FrozenBatchNorm2d(8)
        self.mlp = ops.MLP(8, [6, 4])

    def forward(self, x):
        y = self.se(self.stem(x))
        y = featx.add(self.drop(y), y)
        y = self.frozen(y)
        return self.mlp(self.perm(y))


def test_ops_modules_are_leaves():
    net = _Net()
    names = ["x", "stem", "se", "drop", "add", "frozen", "perm", "mlp"]
    assert get_graph_node_names(net) == (names, names)


def test_ops_modules_in_extractor_train_and_eval():
    featx.manual_seed(3)
    net = _Net()
    _randomise(net, 3)
    x = _rand(np.random.default_rng(6), 4, 3, 8, 8)
    net.eval()
    ext = create_feature_extractor(net, ["se", "mlp"])
    out = ext(x)
    np.testing.assert_array_equal(out["mlp"], net(x))
    ext.train()
    net.eval()
    a, b = ext(x)["mlp"], ext(x)["mlp"]
    assert a.shape == b.shape == (4, 4, 4, 4)
    assert not np.array_equal(a, b)  # a new stochastic-depth draw per run
