"""DenseNet's plan rewrites (featx.fx.graph_module): a 1x1 convolution and
the average pool that alone reads it run pool first (``_pool_first``),
within float32 rounding of the float64 reference, never when the conv is
returned or the pool does not average whole unpadded windows."""
from __future__ import annotations

import numpy as np
import pytest
import reference as R

import featx
from featx import _core, models, nn
from featx.fx.graph_module import compile_plan
from featx.models.feature_extraction import create_feature_extractor


def _x(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(
        np.float32)


def _ops(ex):
    return [op for _, op, _ in ex._plans["eval"].kernels()]


def _unfused(ex):
    return compile_plan(ex._graphs["eval"], ex, False, _core.isa_mask(),
                        fuse=False)


def _err(got, ref):
    """Max abs error over the reference's largest magnitude."""
    return float(np.abs(got.astype(np.float64) - ref).max()
                 / max(float(np.abs(ref).max()), 1e-30))


def _densenet():
    rng = np.random.default_rng(1)
    model = models.densenet121().eval()
    for name, v in model.state_dict().items():
        if name.endswith(("running_mean", "bias")):
            v[...] = rng.standard_normal(v.shape) * 0.1
        elif name.endswith("running_var"):
            v[...] = rng.uniform(0.5, 2.0, v.shape)
    return model


def test_transition_pools_before_its_conv():
    nodes = ["features.transition1.relu", "features.transition1.pool",
             "features.transition2", "features.norm5"]
    ex = create_feature_extractor(_densenet(), nodes).eval()
    x = _x(2, 3, 64, 64)
    out = ex(x)
    ops = _ops(ex)
    # every transition: batch_norm(+relu) -> avg_pool2d -> conv2d (the
    # batch_norm takes the block's cat where that is not returned)
    pools = [i for i, op in enumerate(ops) if op == "avg_pool2d"]
    assert len(pools) == 3
    assert all(ops[i - 1] in ("batch_norm", "cat_batch_norm")
               and ops[i + 1] == "conv2d" for i in pools)
    model = ex  # the extractor's own weights
    w = model.get_submodule("features.transition1.conv").weight
    ref = R.avg_pool2d(R.conv2d(out["features.transition1.relu"], w), 2)
    unfused = _unfused(ex).run((x,))
    np.testing.assert_array_equal(out["features.transition1.relu"],
                                  unfused["features.transition1.relu"])
    got_err = _err(out["features.transition1.pool"], ref)
    assert got_err <= 2e-6, got_err
    # the same size of error as conv-then-pool's
    assert got_err <= 4 * max(
        _err(unfused["features.transition1.pool"], ref), 2.5e-7)
    for k in nodes[2:]:
        scale = float(np.abs(unfused[k]).max())
        assert float(np.abs(out[k] - unfused[k]).max()) <= 1e-5 * scale


def test_returned_transition_conv_keeps_its_order():
    nodes = ["features.transition1.conv", "features.transition1"]
    ex = create_feature_extractor(_densenet(), nodes).eval()
    x = _x(1, 3, 64, 64)
    out = ex(x)
    ops = _ops(ex)
    i = ops.index("avg_pool2d")
    assert ops[i - 1] == "conv2d"
    unfused = _unfused(ex).run((x,))
    for k in nodes:
        np.testing.assert_array_equal(out[k], unfused[k])


@pytest.mark.parametrize("conv, pool, swapped", [
    (dict(kernel_size=1, bias=True, groups=2), dict(kernel_size=2), True),
    (dict(kernel_size=1, bias=False), dict(kernel_size=(3, 2)), True),
    (dict(kernel_size=1), dict(kernel_size=3, stride=2), False),  # overlap
    (dict(kernel_size=1), dict(kernel_size=2, padding=1), False),
    (dict(kernel_size=1), dict(kernel_size=2, ceil_mode=True), False),
    (dict(kernel_size=1), dict(kernel_size=2, divisor_override=3), False),
    (dict(kernel_size=1), dict(kernel_size=1), False),  # nothing to gain
    (dict(kernel_size=3, padding=1), dict(kernel_size=2), False),
    (dict(kernel_size=1, stride=2), dict(kernel_size=2), False),
    (dict(kernel_size=1, padding=1), dict(kernel_size=2), False),
])
def test_conv_pool_pairs(conv, pool, swapped):
    model = nn.Sequential(nn.ReLU(), nn.Conv2d(4, 6, **conv),
                          nn.AvgPool2d(**pool)).eval()
    rng = np.random.default_rng(2)
    for p in model.parameters():
        p[...] = rng.standard_normal(p.shape)
    ex = create_feature_extractor(model, ["0", "2"]).eval()
    x = _x(3, 4, 9, 11, seed=3)
    out = ex(x)
    ops = _ops(ex)
    assert ops == (["relu", "avg_pool2d", "conv2d"] if swapped
                   else ["relu", "conv2d", "avg_pool2d"])
    c = model[1]
    ref = R.avg_pool2d(
        R.conv2d(out["0"], c.weight, c.bias, c.stride, c.padding,
                 groups=c.groups),
        pool["kernel_size"], pool.get("stride"), pool.get("padding", 0),
        pool.get("ceil_mode", False),
        divisor_override=pool.get("divisor_override"))
    assert _err(out["2"], ref) <= 2e-6


def test_dense_layer_cat_fuses_into_norm1():
    nodes = ["features.denseblock1.denselayer3.conv2",
             "features.denseblock1.denselayer5.cat", "features.denseblock1"]
    ex = create_feature_extractor(_densenet(), nodes).eval()
    x = _x(2, 3, 40, 40)
    out = ex(x)
    unfused = _unfused(ex).run((x,))
    for k in nodes:
        np.testing.assert_array_equal(out[k], unfused[k])
    by_slot = {slot: op for slot, op, _ in ex._plans["eval"].kernels()}
    slots = {n: i for n, i in ex.graph.outputs}
    # layers 1-4 and 6: cat -> norm1 -> relu1 is one step; layer 5's cat is
    # returned, so it stays a cat (the user's own array) and a batch_norm
    ops = list(by_slot.values())
    assert ops.count("cat_batch_norm") == 5
    assert ops.count("batch_norm") == 1
    assert by_slot[slots["features.denseblock1.denselayer5.cat"]] == "cat"
    got = out["features.denseblock1.denselayer5.cat"]
    assert got.flags.owndata and got.shape == (2, 192, 10, 10)


class _CatBn(nn.Module):
    def __init__(self, dim, affine):
        super().__init__()
        self.bn = nn.BatchNorm2d(5, affine=affine)  # 3 + 2
        self.dim = dim

    def forward(self, x):
        a = nn.functional.relu(x)
        y = featx.cat([a, a[:, :2] * 2], self.dim)
        return self.bn(y), nn.functional.relu(y)


@pytest.mark.parametrize("dim, affine, asked, fused", [
    (1, True, ["bn"], True),
    (-3, True, ["bn"], False),           # the rank is not known to the plan
    (1, True, ["bn", "cat"], False),     # the cat is returned
    (1, True, ["bn", "relu_1"], False),  # another step reads the cat
    (1, False, ["bn"], False),           # no weight and bias
])
def test_cat_batch_norm_rule(dim, affine, asked, fused):
    model = _CatBn(dim, affine).eval()
    rng = np.random.default_rng(4)
    model.bn.running_mean[...] = rng.standard_normal(5)
    model.bn.running_var[...] = rng.uniform(0.5, 2, 5)
    ex = create_feature_extractor(model, asked).eval()
    x = _x(2, 3, 5, 3)
    out = ex(x)
    ops = _ops(ex)
    assert ("cat_batch_norm" in ops) == fused
    assert ("cat" in ops) == (not fused)
    y = np.concatenate([np.maximum(x, 0), np.maximum(x, 0)[:, :2] * 2], 1)
    bn = model.bn
    want = R.batch_norm(y, bn.running_mean, bn.running_var, bn.weight,
                        bn.bias)
    assert _err(out["bn"], want) <= 1e-6
    np.testing.assert_array_equal(out["bn"], _unfused(ex).run((x,))["bn"])
