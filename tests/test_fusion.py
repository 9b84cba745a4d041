"""conv2d -> batch_norm (-> activation), batch_norm -> activation,
add -> relu, linear -> activation, linear -> gelu -> linear (mlp) and
permute -> layer_norm fusion in the plan (featx.fx.graph_module._fuse): results
unchanged, never across a returned node, BN fusions never in train mode,
BN parameters read at run time."""
from __future__ import annotations

import numpy as np
import pytest

from featx import _core, models
from featx.fx.graph_module import compile_plan, plan_steps
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
    for k in nodes[:2]:
        np.testing.assert_array_equal(fused[k], ref[k])
    # after the transitions, which pool before their conv (_pool_first,
    # tests/test_densenet_plan.py), within rounding
    _rel_close(fused["features.norm5"], ref["features.norm5"])
    steps = [(op, k) for _, op, k in ex._plans["eval"].kernels()]
    ops = [op for op, _ in steps]
    assert "relu" not in ops
    # each BN reading a cat that is not returned takes the cat too
    # (tests/test_densenet_plan.py): all but transition1's, whose input
    # features.denseblock1 is returned
    assert ops.count("batch_norm") == 1
    assert ops.count("cat_batch_norm") == 58 + 2 + 1
    assert ops.count("conv2d_bn") == 58 + 1
    assert all(k.endswith("__avx2") or k.endswith("_ref")
               for op, k in steps if op.endswith("batch_norm"))

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
    """An eval-mode Conv2dNormActivation (a leaf) makes one conv2d_bn
    call, bit for bit its layers one by one."""
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
    steps, _ = plan_steps(ex._graphs[mode], ex, mode == "train")
    return [st[5] for st in steps if st[1] == "python"]


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


MOBILE_BLOCKS = {
    # model: returned nodes (a squeeze-excitation block, a
    # Conv2dNormActivation block, an eval-mode stochastic depth)
    "mobilenet_v3_large": ["features.4.block.1", "features.4.block.2",
                           "features.5.block.0", "classifier.3"],
    "efficientnet_b0": ["features.2.1.block.1", "features.2.1.block.2",
                        "features.2.1.block.3",
                        "features.2.1.stochastic_depth", "classifier.1"],
}


@pytest.mark.parametrize("name", sorted(MOBILE_BLOCKS))
def test_mobile_leaf_blocks_are_kernel_steps(name):
    """Eval-mode Conv2dNormActivation, SqueezeExcitation and
    StochasticDepth leaves run as kernel steps (one conv2d_bn; pool, two
    1x1 convs, activations, multiply; none), not Python steps, with the
    eager blocks' results bit for bit, returned or not."""
    model = _model(name)
    nodes = MOBILE_BLOCKS[name]
    ex = create_feature_extractor(model, nodes).eval()
    whole = create_feature_extractor(model, nodes[-1:]).eval()
    # the only Python steps left: a returned identity (stochastic depth);
    # unreturned identities (dropout, stochastic depth) are no step
    assert {n.rsplit(".", 1)[-1] for n in _python_steps_names(ex)} <= {
        "stochastic_depth", "0", "2"}  # classifier.0 / .2: dropouts
    ops = _fused_ops(ex)
    assert ops.count("mul") == sum(
        type(m).__name__ == "SqueezeExcitation" for m in model.modules())
    assert "batch_norm" not in ops
    x = _x(2, 3, 64, 64)
    out = ex(x)
    np.testing.assert_array_equal(out[nodes[-1]], model(x))
    np.testing.assert_array_equal(whole(x)[nodes[-1]], model(x))
    se = model.get_submodule(nodes[1])
    np.testing.assert_array_equal(out[nodes[1]], se(out[nodes[0]]))
    if "stochastic_depth" in nodes[3]:
        np.testing.assert_array_equal(out[nodes[3]], out[nodes[2]])


def test_stochastic_depth_in_training_stays_a_python_step():
    model = models.efficientnet_b0(stochastic_depth_prob=0.5)
    ex = create_feature_extractor(model, ["features.2.1.add"]).train()
    assert "features.2.1.stochastic_depth" in _python_steps_names(ex,
                                                                  "train")


@pytest.mark.parametrize("act", ACTS + ["GELU"])
@pytest.mark.parametrize("mode", ["eval", "train"])
def test_linear_activation_is_one_exact_step(act, mode):
    from featx import nn

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = nn.Linear(24, 96)
            self.act = getattr(nn, act)()
            self.fc2 = nn.Linear(96, 24)

        def forward(self, x):
            return self.fc2(self.act(self.fc1(x)))

    ex = create_feature_extractor(Net(), ["fc2"])
    ex.train(mode == "train")
    # exact gelu between two linears makes one mlp step (see below)
    assert _fused_ops(ex, mode) == (["mlp"] if act == "GELU"
                                    else ["linear", "linear"])
    x = _x(2, 7, 7, 24) * 3
    out = ex(x)["fc2"]
    np.testing.assert_array_equal(
        out, _unfused(ex, mode).run((x,))["fc2"])


def test_linear_gelu_tanh_and_returned_linear_are_not_fused():
    from featx import nn

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = nn.Linear(8, 16)
            self.tanh = nn.GELU(approximate="tanh")
            self.fc2 = nn.Linear(16, 16)
            self.gelu = nn.GELU()

        def forward(self, x):
            return self.gelu(self.fc2(self.tanh(self.fc1(x))))

    ex = create_feature_extractor(Net(), ["fc2", "gelu"]).eval()
    assert _fused_ops(ex) == ["linear", "gelu", "linear", "gelu"]
    x = _x(3, 8)
    out = ex(x)
    assert (out["fc2"] < 0).any()
    np.testing.assert_array_equal(out["gelu"],
                                  _unfused(ex).run((x,))["gelu"])


def _mlp_net(act2=None):
    """x -> fc1 -> exact gelu -> fc2 (-> act2), returning every node."""
    from featx import nn

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = nn.Linear(24, 96)
            self.gelu = nn.GELU()
            self.fc2 = nn.Linear(96, 24)
            self.act2 = act2 or nn.Identity()

        def forward(self, x):
            return self.act2(self.fc2(self.gelu(self.fc1(x))))

    return Net()


@pytest.mark.parametrize("asked", [[], ["fc1"], ["gelu"]])
def test_linear_gelu_linear_is_one_mlp_step_unless_asked(asked):
    """linear -> gelu -> linear is one mlp step, the same bits as the
    unfused chain; a returned fc1 or gelu splits the chain there (a
    returned gelu still fuses into fc1: the fused step computes it)."""
    ex = create_feature_extractor(_mlp_net(), asked + ["fc2"]).eval()
    expect = {(): ["mlp"], ("fc1",): ["linear", "gelu", "linear"],
              ("gelu",): ["linear", "linear"]}[tuple(asked)]
    assert _fused_ops(ex) == expect
    x = _x(2, 5, 24) * 3
    out, ref = ex(x), _unfused(ex).run((x,))
    assert list(out) == list(ref)
    for k in ref:
        np.testing.assert_array_equal(out[k], ref[k])


def test_mlp_second_linear_keeps_its_own_activation():
    """fc2 -> relu fuses as linear + act, so fc1 -> gelu stays one linear
    step and fc2 -> relu another (never two fusions of one step)."""
    from featx import nn

    ex = create_feature_extractor(_mlp_net(nn.ReLU()), ["act2"]).eval()
    assert _fused_ops(ex) == ["linear", "linear"]
    x = _x(3, 24)
    np.testing.assert_array_equal(ex(x)["act2"],
                                  _unfused(ex).run((x,))["act2"])


def test_classifier_relu_mlp_stays_two_linear_steps():
    """relu/hardswish heads (one row per image) are not made mlp steps."""
    from featx import nn

    net = _mlp_net()
    net.gelu = nn.ReLU()
    ex = create_feature_extractor(net, ["fc2"]).eval()
    assert _fused_ops(ex) == ["linear", "linear"]


def _scaled_mlp_net(scale_shape):
    """ConvNeXt's branch: NHWC fc1 -> gelu -> fc2, permute back to NCHW,
    times a parameter of scale_shape."""
    from featx import nn
    from featx.ops import Permute

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = nn.Linear(24, 96)
            self.gelu = nn.GELU()
            self.fc2 = nn.Linear(96, 24)
            self.perm = Permute([0, 3, 1, 2])
            self.scale = nn.Parameter(np.random.default_rng(3).uniform(
                0.5, 2.0, scale_shape).astype(np.float32))

        def forward(self, x):
            return self.scale * self.perm(self.fc2(self.gelu(self.fc1(x))))

    return Net()


@pytest.mark.parametrize("scale_shape, ops", [
    ((24, 1, 1), ["mlp"]),
    ((1, 24, 1, 1), ["mlp", "mul"]),   # not the (OUT, 1, 1) form
    ((24,), ["mlp", "mul"]),           # scales the last dim, W
])
def test_mlp_absorbs_permute_back_and_layer_scale(scale_shape, ops):
    """mlp -> permute (NHWC -> NCHW) -> (C, 1, 1) * value is one
    channels-first mlp step with a scale, the same bits as the unfused
    steps; another scale shape leaves its mul a step of its own."""
    ex = create_feature_extractor(_scaled_mlp_net(scale_shape),
                                  ["mul"]).eval()
    assert _fused_ops(ex) == ops
    x = _x(2, 5, 24, 24) if scale_shape == (24,) else _x(2, 5, 7, 24)
    np.testing.assert_array_equal(ex(x)["mul"],
                                  _unfused(ex).run((x,))["mul"])


def test_mlp_scale_is_read_at_run_time():
    net = _scaled_mlp_net((24, 1, 1))
    ex = create_feature_extractor(net, ["mul"]).eval()
    x = _x(1, 3, 4, 24)
    before = ex(x)["mul"]
    net.scale[...] *= 2
    np.testing.assert_array_equal(ex(x)["mul"], before * 2)


def test_returned_permute_stops_mlp_fusion_there():
    """A returned permute is the channels-first mlp step's value (it
    computes it), so only the mul stays a step."""
    ex = create_feature_extractor(_scaled_mlp_net((24, 1, 1)),
                                  ["perm", "mul"]).eval()
    assert _fused_ops(ex) == ["mlp", "mul"]
    x = _x(1, 3, 4, 24)
    out, ref = ex(x), _unfused(ex).run((x,))
    for k in ref:
        np.testing.assert_array_equal(out[k], ref[k])


def test_convnext_mlp_fused_and_unchanged():
    ex = create_feature_extractor(models.convnext_tiny().eval(),
                                  ["features.1", "features.3"]).eval()
    ops = _fused_ops(ex)
    assert "gelu" not in ops and "linear" not in ops
    # the permute NCHW -> NHWC before each LayerNorm is in the
    # layer_norm step, the one back and the layer_scale mul in the mlp
    # step; stage 2's LayerNorm2d keeps its permute back
    assert ops.count("mlp") == 6 and "mul" not in ops
    assert ops.count("permute") == 1 and ops.count("layer_norm") == 6 + 1
    x = _x(1, 3, 64, 64)
    out, ref = ex(x), _unfused(ex).run((x,))
    for k in ref:
        np.testing.assert_array_equal(out[k], ref[k])


def _convnext_block_extractor(nodes):
    model = models.convnext_tiny().eval()
    rng = np.random.default_rng(5)
    for k, v in model.state_dict().items():
        if k.endswith("layer_scale"):
            v[...] = rng.uniform(0.1, 1.0, v.shape)
    return model, create_feature_extractor(model, nodes).eval()


def test_convnext_block_runs_as_kernel_steps():
    """Permute (a featx.ops leaf) lowers to the permute kernel, eval-mode
    stochastic depth to no step at all, and layer_scale * x (a float32
    parameter times a kernel value) to the mul kernel."""
    model, ex = _convnext_block_extractor(["features.3"])
    # (the fused plan has block.6 and mul inside its mlp steps)
    kernels = {slot for slot, _, _ in _unfused(ex).kernels()}
    names = {name for i, name, kind, *_ in ex._graphs["eval"].nodes
             if kind != "placeholder" and i not in kernels}
    # (stage 1's adds stay Python steps: they read the stem, a leaf)
    for node in ("block.1", "block.6", "mul", "add"):
        assert f"features.3.1.{node}" not in names
    x = _x(1, 3, 64, 64)
    np.testing.assert_array_equal(ex(x)["features.3"],
                                  model.features[:4](x))


def test_returned_stochastic_depth_is_its_input():
    _, ex = _convnext_block_extractor(
        ["features.1.1.mul", "features.1.1.stochastic_depth",
         "features.1.1.add"])
    x = _x(1, 3, 32, 32)
    out = ex(x)
    np.testing.assert_array_equal(out["features.1.1.stochastic_depth"],
                                  out["features.1.1.mul"])
    assert out["features.1.1.stochastic_depth"] is not \
        out["features.1.1.mul"]


def test_operator_on_a_parameter_is_a_kernel_step():
    from featx import nn

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 1)
            self.scale = nn.Parameter(np.linspace(-1, 1, 4, dtype=np.float32)
                                      .reshape(4, 1, 1))

        def forward(self, x):
            a = self.conv(x)
            return self.scale * a, a / self.scale

    net = Net().eval()
    ex = create_feature_extractor(net, ["mul", "truediv"])
    assert _fused_ops(ex) == ["conv2d", "mul", "div"]
    x = _x(2, 3, 5, 5)
    out, want = ex(x), net(x)
    np.testing.assert_array_equal(out["mul"], want[0])
    np.testing.assert_array_equal(out["truediv"], want[1])
    net.scale[...] = 2.0  # read by reference at run time
    np.testing.assert_array_equal(ex(x)["mul"], net(x)[0])


def _leaf_ops(ex, mode="eval"):
    from featx.fx.graph_module import op_label

    python = set(_python_steps_names(ex, mode))
    return [(name, op_label(ex, kind, target), name not in python)
            for i, name, kind, target, *_ in ex._graphs[mode].nodes
            if kind == "call_module"]


def test_conv_norm_activation_leaves_run_as_kernel_steps():
    """In a plan an eval-mode Conv2dNormActivation leaf is one conv2d_bn
    kernel step when its input is another kernel's (or a leaf's) fresh
    float32 array; the one on the extractor's input stays a Python step
    (its conversions and errors stay its own). Values equal eager ones."""
    model = _model("mobilenet_v3_small")
    ex = create_feature_extractor(
        model, ["features.1", "features.4", "classifier.3"]).eval()
    blocks = [(n, k) for n, op, k in _leaf_ops(ex)
              if op == "Conv2dNormActivation"]
    assert blocks[0] == ("features.0", False)
    assert all(k for _, k in blocks[1:]) and len(blocks) > 20
    x = _x(1, 3, 64, 64)
    out = ex(x)
    np.testing.assert_array_equal(out["features.1"], model.features[:2](x))
    np.testing.assert_array_equal(out["features.4"], model.features[:5](x))
    np.testing.assert_array_equal(out["classifier.3"], model(x))


def test_eval_stochastic_depth_is_an_identity_and_adds_lower():
    """EfficientNet's eval-mode StochasticDepth returns its input, so the
    residual add after it is a kernel step on kernel results."""
    model = _model("efficientnet_b0")
    ex = create_feature_extractor(model, ["features.3", "classifier.1"])
    ex.eval()
    # every residual block's (the blocked layout then makes each the
    # residual input of the projection conv before it)
    steps, _ = plan_steps(ex._graphs["eval"], ex, False, blocked=False)
    assert [st[2] for st in steps].count("add") == 9
    x = _x(1, 3, 64, 64)
    np.testing.assert_array_equal(ex(x)["classifier.1"], model(x))


@pytest.mark.parametrize("asked", [[], ["features.1.0.block.1"]])
def test_permute_into_layer_norm_unless_asked(asked):
    """ConvNeXt's permute NCHW -> NHWC -> LayerNorm is one channels-first
    layer_norm step, the same bits as the unfused steps, in both modes; a
    returned permute stays a step of its own, read by the layer_norm."""
    model = models.convnext_tiny()
    ex = create_feature_extractor(model, asked + ["features.1.0.block.2"])
    x = _x(2, 3, 32, 32)
    for mode in ("eval", "train"):
        getattr(ex, mode)()
        assert _fused_ops(ex, mode)[-2:] == (["permute", "layer_norm"]
                                             if asked else
                                             ["conv2d", "layer_norm"])
        out, ref = ex(x), _unfused(ex, mode).run((x,))
        assert list(out) == list(ref)
        for k in ref:
            np.testing.assert_array_equal(out[k], ref[k])
