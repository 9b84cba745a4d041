"""conv2d -> batch_norm (-> activation), batch_norm -> activation and
add -> relu fusion in the plan (featx.fx.graph_module._fuse): results
unchanged, never across a returned node, BN fusions never in train mode,
BN parameters read at run time."""
from __future__ import annotations

import numpy as np
import pytest

from featx import _core, models
from featx.fx.graph_module import compile_plan
from featx.models.feature_extraction import create_feature_extractor


def _x(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(
        np.float32)


def _randomize_bn(model, seed=1):
    """Non-trivial BN statistics and affine parameters, in place."""
    rng = np.random.default_rng(seed)
    for name, v in model.state_dict().items():
        if name.endswith(("running_mean", "bias")) and v.dtype == np.float32:
            v[...] = rng.standard_normal(v.shape) * 0.1
        elif name.endswith("running_var"):
            v[...] = rng.uniform(0.5, 2.0, v.shape)
        elif name.endswith("bn1.weight") or name.endswith("bn2.weight") \
                or name.endswith("bn3.weight"):
            v[...] = rng.uniform(0.5, 1.5, v.shape)
    return model


def _model(name):
    return _randomize_bn(getattr(models, name)().eval())


def _unfused(ex, mode="eval"):
    return compile_plan(ex._graphs[mode], ex, mode == "train",
                        _core.isa_mask(), fuse=False)


def _fused_ops(ex, mode="eval"):
    return [op for _, op, _ in ex._plans[mode].kernels()]


def _rel_close(got, ref, rtol=1e-5):
    scale = max(float(np.abs(ref).max()), 1e-30)
    err = float(np.abs(got.astype(np.float64) - ref).max())
    assert err <= rtol * scale, f"max error {err:.3g} vs scale {scale:.3g}"


@pytest.mark.parametrize("name", ["resnet18", "resnet50"])
def test_resnet_outputs_unchanged_by_fusion(name):
    nodes = ["conv1", "layer1", "layer2.0.relu", "layer3", "layer4", "fc"]
    ex = create_feature_extractor(_model(name), nodes).eval()
    x = _x(2, 3, 64, 64)
    fused = ex(x)
    ref = _unfused(ex).run((x,))
    assert list(fused) == list(ref)
    for k in ref:
        _rel_close(fused[k], ref[k])
    ops = _fused_ops(ex)
    assert "conv2d_bn" in ops
    # every bn of the network was fused (stem: conv1 is returned, so
    # bn1 stays; downsample convs fuse with their bn without relu)
    assert ops.count("batch_norm") == 1


def test_densenet_pre_activation_bn_relu_is_one_step():
    # norm1 -> relu1 -> conv1 -> norm2 -> relu2 -> conv2 per dense layer:
    # norm1 takes relu1 (pre-activation), conv1 takes norm2 and relu2;
    # transitions likewise (a returned relu is the fused step's value);
    # the returned features.norm5 ends the graph
    nodes = ["features.denseblock1", "features.transition1.relu",
             "features.norm5"]
    ex = create_feature_extractor(_model("densenet121"), nodes).eval()
    x = _x(1, 3, 64, 64)
    fused = ex(x)
    ref = _unfused(ex).run((x,))
    for k in ref:
        np.testing.assert_array_equal(fused[k], ref[k])
    steps = [(op, k) for _, op, k in ex._plans["eval"].kernels()]
    ops = [op for op, _ in steps]
    assert "relu" not in ops
    assert ops.count("batch_norm") == 58 + 3 + 1
    assert ops.count("conv2d_bn") == 58 + 1
    assert all(k.endswith("__avx2") or k.endswith("_ref")
               for op, k in steps if op == "batch_norm")

def test_kernels_show_conv2d_bn_steps():
    ex = create_feature_extractor(_model("resnet18"), ["fc"]).eval()
    ops = _fused_ops(ex)
    # 20 convs, all followed by a bn; none left unfused
    assert ops.count("conv2d_bn") == 20
    assert "conv2d" not in ops and "batch_norm" not in ops
    names = [k for _, op, k in ex._plans["eval"].kernels()
             if op == "conv2d_bn"]
    assert all(k.endswith("__avx2") or k.endswith("_ref") for k in names)


@pytest.mark.parametrize("asked", ["conv1", "bn1"])
def test_requested_node_stops_fusion_of_its_chain(asked):
    model = _model("resnet18")
    ex = create_feature_extractor(model, [asked, "layer1"]).eval()
    x = _x(1, 3, 48, 48)
    out = ex(x)
    ref = _unfused(ex).run((x,))
    for k in ref:
        _rel_close(out[k], ref[k])
    # the value of the asked node is its own, not a fused successor's
    conv = model.conv1(x)
    want = conv if asked == "conv1" else model.bn1(conv)
    _rel_close(out[asked], want)
    assert (out[asked] < 0).any()  # not the relu output
    plan = ex._plans["eval"]
    slots = {k: i for k, i in ex.graph.outputs}
    by_slot = {slot: op for slot, op, _ in plan.kernels()}
    if asked == "conv1":
        assert by_slot[slots["conv1"]] == "conv2d"
    else:
        # conv1 + bn1 may fuse (bn1 is the last node), relu may not
        assert by_slot[slots["bn1"]] == "conv2d_bn"
        assert "relu" in by_slot.values()


def test_train_mode_is_never_fused():
    ex = create_feature_extractor(_model("resnet18"), ["layer1"])
    ex.train()
    assert "conv2d_bn" not in _fused_ops(ex, "train")
    assert "conv2d_bn" in _fused_ops(ex, "eval")


def test_bn_parameters_are_read_at_run_time():
    model = _model("resnet18")
    ex = create_feature_extractor(model, ["layer1"]).eval()
    x = _x(1, 3, 32, 32)
    before = ex(x)["layer1"]
    model.bn1.running_mean[...] += 0.5  # in-place: same arrays
    model.layer1[0].bn2.weight[...] *= 2.0
    after = ex(x)["layer1"]
    assert not np.allclose(before, after)
    _rel_close(after, _unfused(ex).run((x,))["layer1"])
    sd = {k: v.copy() for k, v in model.state_dict().items()}
    sd["bn1.running_var"] = sd["bn1.running_var"] * 4.0
    model.load_state_dict(sd)
    again = ex(x)["layer1"]
    assert not np.allclose(after, again)
    _rel_close(again, _unfused(ex).run((x,))["layer1"])


def test_intermediate_read_by_a_python_step_is_not_fused():
    from featx import nn

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3, padding=1)
            self.bn = nn.BatchNorm2d(4)
            self.relu = nn.ReLU()

        def forward(self, x):
            y = self.bn(self.conv(x))
            return self.relu(y), y * 2.0

    net = _randomize_bn(Net().eval())
    ex = create_feature_extractor(net, ["relu", "mul"]).eval()
    ops = _fused_ops(ex)
    # bn's output has two readers (relu and the multiply): conv+bn fuse,
    # relu stays
    assert ops.count("conv2d_bn") == 1 and "relu" in ops
    x = _x(2, 3, 9, 9)
    out, ref = ex(x), _unfused(ex).run((x,))
    for k in ref:
        _rel_close(out[k], ref[k])


ACTS = ["ReLU", "ReLU6", "Hardswish", "SiLU"]


@pytest.mark.parametrize("act", ACTS)
def test_graph_fuses_every_conv_bn_activation(act):
    from featx import nn

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3, padding=1)
            self.bn = nn.BatchNorm2d(4)
            self.act = getattr(nn, act)()

        def forward(self, x):
            return self.act(self.bn(self.conv(x)))

    net = _randomize_bn(Net().eval())
    ex = create_feature_extractor(net, ["act"]).eval()
    assert _fused_ops(ex) == ["conv2d_bn"]
    x = _x(2, 3, 9, 11)
    np.testing.assert_array_equal(ex(x)["act"], _unfused(ex).run((x,))["act"])


@pytest.mark.parametrize("act", ACTS + [None])
@pytest.mark.parametrize("groups", [1, 8])
def test_conv_norm_activation_block_is_one_exact_call(monkeypatch, act,
                                                      groups):
    """An eval-mode Conv2dNormActivation (a leaf: it runs as one Python
    step) makes one conv2d_bn call, bit for bit its layers one by one."""
    from featx import _op, nn
    from featx.ops import Conv2dNormActivation

    block = Conv2dNormActivation(
        8, 8, 3, groups=groups,
        activation_layer=None if act is None else getattr(nn, act))
    _randomize_bn(block)
    block[1].weight[...] = np.linspace(0.5, 1.5, 8)
    block.eval()
    x = _x(2, 8, 7, 13)
    unfused = x
    for layer in block:
        unfused = layer(unfused)
    calls = []
    real = _op._core.call
    monkeypatch.setattr(_core, "call",
                        lambda n, *a: calls.append(n) or real(n, *a))
    np.testing.assert_array_equal(block(x), unfused)
    assert calls == ["conv2d_bn"]


def test_conv_norm_activation_not_fused_in_training():
    from featx.ops import Conv2dNormActivation

    block = Conv2dNormActivation(3, 4, 3).train()
    x = _x(2, 3, 6, 6)
    before = block[1].num_batches_tracked.copy()
    y = block(x)
    assert block[1].num_batches_tracked == before + 1  # batch statistics
    mean = y.mean(axis=(0, 2, 3))
    assert (y >= 0).all() and mean.shape == (4,)


def _python_steps_names(ex, mode="eval"):
    kernels = {slot for slot, _, _ in ex._plans[mode].kernels()}
    return [name for i, name, kind, *_ in ex._graphs[mode].nodes
            if kind != "placeholder" and i not in kernels]


def test_residual_add_relu_is_one_kernel_step():
    model = _model("resnet50")
    ex = create_feature_extractor(model, ["layer1", "layer4", "fc"]).eval()
    ops = _fused_ops(ex)
    assert ops.count("add_relu") == 16  # one per bottleneck block
    assert "add" not in ops and "relu" not in ops
    x = _x(2, 3, 64, 64)
    out, ref = ex(x), _unfused(ex).run((x,))
    for k in ref:
        _rel_close(out[k], ref[k])
    eager = model(x)
    _rel_close(out["fc"], eager, rtol=1e-4)


def test_returned_add_is_not_fused_with_its_relu():
    model = _model("resnet18")
    ex = create_feature_extractor(
        model, ["layer1.0.add", "layer1.0.relu_1", "layer1"]).eval()
    plan = ex._plans["eval"]
    slots = {k: i for k, i in ex.graph.outputs}
    by_slot = {slot: op for slot, op, _ in plan.kernels()}
    assert by_slot[slots["layer1.0.add"]] == "add"
    assert by_slot[slots["layer1.0.relu_1"]] == "relu"
    x = _x(1, 3, 40, 40)
    out = ex(x)
    ref = _unfused(ex).run((x,))
    for k in ref:
        _rel_close(out[k], ref[k])
    assert (out["layer1.0.add"] < 0).any()
    np.testing.assert_array_equal(out["layer1.0.relu_1"],
                                  np.maximum(out["layer1.0.add"], 0))


def test_python_operator_on_non_kernel_values_stays_python():
    from featx import nn

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3, padding=1)
            self.relu = nn.ReLU()

        def forward(self, x, y):
            a = self.conv(x)
            # input + kernel value, kernel value * kernel value
            return self.relu(x[:, :1] + a), a * a, y + y

    ex = create_feature_extractor(Net().eval(), ["relu", "mul", "add_1"])
    ops = _fused_ops(ex)
    assert ops.count("mul") == 1 and "add" not in ops
    assert set(_python_steps_names(ex)) >= {"add", "add_1"}
    x = _x(2, 3, 6, 6)
    out = ex(x, [1, 2])  # y + y on a list: Python's result
    assert out["add_1"] == [1, 2, 1, 2]
    a = ex.conv(x)
    np.testing.assert_array_equal(out["mul"], a * a)
