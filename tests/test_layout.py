"""The blocked layout pass (featx.fx.graph_module._blocked_layout): which
plan steps run in the nchw8c layout and where values are converted, on
small graphs and on the mobile models; the results equal the plain
plan's bit for bit (each blocked op equals its plain op on the same ISA,
see tests/ops/test_nchw8c.py) and torchvision's golden outputs, on every
ISA and thread count and under concurrent calls; errors, node names and
what Python code sees are unchanged."""
from __future__ import annotations

import threading

import numpy as np
import pytest

import featx
from featx import _core, models, nn
from featx.fx.graph_module import compile_plan, plan_steps
from featx.models.feature_extraction import (create_feature_extractor,
                                             get_graph_node_names)
from featx.models.mobilenetv2 import InvertedResidual
from featx.nn import Parameter
from featx.ops import Conv2dNormActivation, SqueezeExcitation
from synthetic import assert_close

ISA_MASKS = {"scalar": 1, "avx2": 3}
LAYOUT_OPS = ("to_nchw8c", "from_nchw8c", "conv2d_bn_nchw8c",
              "adaptive_avg_pool2d_nchw8c")


@pytest.fixture(autouse=True)
def restore_threads():
    n = featx.get_num_threads()
    yield
    featx.set_num_threads(n)


def _x(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(
        np.float32)


def _randomize(model, seed=1):
    """Weights and BN statistics of unit-order outputs, in place (random
    initialisation shrinks mobile nets' activations to ~1e-8 by the
    classifier, where differences would hide)."""
    rng = np.random.default_rng(seed)
    for name, v in model.state_dict().items():
        if v.dtype != np.float32:
            continue
        if name.endswith("running_var"):
            v[...] = rng.uniform(0.5, 2.0, v.shape)
        elif name.endswith(("running_mean", "bias")):
            v[...] = rng.standard_normal(v.shape) * 0.1
        elif v.ndim == 1:
            v[...] = rng.uniform(0.5, 1.5, v.shape)
        else:
            fan_in = int(np.prod(v.shape[1:]))
            v[...] = rng.standard_normal(v.shape) * np.sqrt(2.0 / fan_in)
    return model


def _steps(ex, blocked=True):
    return plan_steps(ex._graphs["eval"], ex, False, blocked=blocked)[0]


def _ops(steps):
    return [st[2] if st[1] == "kernel" else "python" for st in steps]


def _summary(steps):
    """Steps as comparable tuples: out slot, op (or "python"), slot
    inputs of kernels, node name."""
    return [(st[0], _ops([st])[0], tuple(
        v if isinstance(v, int) else None for v in st[3])
        if st[1] == "kernel" else (), st[5]) for st in steps]


def _plan(ex, isa, blocked=True):
    return compile_plan(ex._graphs["eval"], ex, False, ISA_MASKS[isa],
                        blocked=blocked)


def _isas():
    return [i for i in ISA_MASKS
            if i == "scalar" or _core.cpu_features().get(i)]


def _assert_same(got, ref):
    assert list(got) == list(ref)
    for k in ref:
        assert got[k].shape == ref[k].shape, k
        np.testing.assert_array_equal(got[k], ref[k], err_msg=k)


class Net(nn.Module):
    """stem (3x3, stride 2) -> 3 inverted residual blocks (1x1 expansion,
    3x3 depthwise, 1x1 projection; blocks 1 and 3 add their input) ->
    optional squeeze-excitation -> optional layer scale -> pool."""

    def __init__(self, c=16, se=False, scale=False, t=4, wide=2):
        super().__init__()
        self.stem = Conv2dNormActivation(3, c, stride=2)
        self.b1 = InvertedResidual(c, c, 1, t)
        self.b2 = InvertedResidual(c, wide * c, 2, t)
        self.b3 = InvertedResidual(wide * c, wide * c, 1, t)
        self.se = SqueezeExcitation(wide * c, 8) if se else None
        self.gamma = (Parameter(_x(wide * c, 1, 1, seed=5)) if scale
                      else None)
        self.pool = nn.AdaptiveAvgPool2d(1)

    def forward(self, x):
        y = self.b3(self.b2(self.b1(self.stem(x))))
        if self.se is not None:
            y = self.se(y)
        if self.gamma is not None:
            y = y * self.gamma
        return self.pool(y)


def _net_ex(nodes, **kw):
    return create_feature_extractor(_randomize(Net(**kw).eval()), nodes)


def _check_values(ex, shape=(2, 3, 32, 32)):
    x = _x(*shape)
    plain = compile_plan(ex._graphs["eval"], ex, False, _core.isa_mask(),
                         blocked=False)
    _assert_same(ex(x), plain.run((x,)))
    for isa in _isas():
        _assert_same(_plan(ex, isa).run((x,)),
                     _plan(ex, isa, blocked=False).run((x,)))


BLOCK = ["conv2d_bn_nchw8c"] * 3  # expansion, depthwise, projection


def test_chain_runs_blocked_with_one_conversion_each_way():
    ex = _net_ex(["b3"])
    steps = _steps(ex)
    assert _ops(steps) == (["python", "to_nchw8c"] + BLOCK * 3
                           + ["from_nchw8c"])
    # the projections: blocks 1 and 3 add their input as the conv's
    # residual (8th input), block 2 has none
    proj = [st for st in steps if st[2] == "conv2d_bn_nchw8c"][2::3]
    assert [len(st[3]) for st in proj] == [8, 7, 8]
    # blocked steps keep their nodes' names, and the returned slot gets
    # the plain value
    names = [st[5] for st in steps]
    assert names[2:5] == ["b1.conv.0", "b1.conv.1", "b1.conv.2"]
    assert steps[-1][0] == dict(ex.graph.outputs)["b3"]
    _check_values(ex)


def test_node_returned_inside_the_chain_is_converted_and_chain_goes_on():
    ex = _net_ex(["b2.conv.1", "b3"])
    steps = _steps(ex)
    slot = dict(ex.graph.outputs)["b2.conv.1"]
    made = [st for st in steps if st[0] == slot]
    assert len(made) == 1 and made[0][2] == "from_nchw8c"
    assert made[0][5] == "b2.conv.1"
    dw = next(st for st in steps if st[5] == "b2.conv.1"
              and st[2] == "conv2d_bn_nchw8c")
    assert made[0][3] == (dw[0],)
    # the next conv reads the blocked value, not the returned one
    assert any(st[3][0] == dw[0] and st[2] == "conv2d_bn_nchw8c"
               for st in steps)
    assert _ops(steps).count("from_nchw8c") == 2
    assert _ops(steps).count("to_nchw8c") == 1
    _check_values(ex)


class Keep(nn.Module):
    """A user leaf: notes the shapes Python code receives."""

    def __init__(self):
        super().__init__()
        self.seen = []

    def forward(self, x):
        self.seen.append(x.shape)
        return x * 2


class BranchNet(Net):
    def __init__(self):
        super().__init__()
        self.keep = Keep()

    def forward(self, x):
        y = self.b2(self.b1(self.stem(x)))
        return self.b3(y), self.keep(y)


def test_value_read_by_a_python_step_is_converted_before_it():
    model = _randomize(BranchNet().eval())
    ex = create_feature_extractor(
        model, ["b3", "keep"], tracer_kwargs={"leaf_modules": [Keep]})
    steps = _steps(ex)
    pos = next(i for i, st in enumerate(steps) if st[5] == "keep")
    y = steps[pos][3][0].index
    convert = [i for i, st in enumerate(steps) if st[0] == y]
    assert len(convert) == 1 and steps[convert[0]][2] == "from_nchw8c"
    assert convert[0] < pos
    # block 3 reads y's blocked value
    assert _ops(steps).count("from_nchw8c") == 2
    assert _ops(steps).count("conv2d_bn_nchw8c") == 9
    x = _x(2, 3, 32, 32)
    out = ex(x)
    assert ex.keep.seen[-1] == (2, 32, 8, 8)
    _check_values(ex)
    np.testing.assert_array_equal(out["keep"], 2 * model.b2(
        model.b1(model.stem(x))))


def test_squeeze_excitation_scales_blocked_by_the_reshaped_gate():
    ex = _net_ex(["se", "pool"], se=True)
    steps = _steps(ex)
    ops = _ops(steps)
    assert ops.count("adaptive_avg_pool2d_nchw8c") == 2  # SE's, pool's
    pos = ops.index("mul")
    reshape = steps[pos - 1]
    assert reshape[2] == "reshape" and reshape[4]["shape"] == (
        -1, 4, 1, 1, 8)
    assert reshape[0] in steps[pos][3]
    # the gate itself (1x1 convs, relu, sigmoid) stays plain
    assert ops[ops.index("adaptive_avg_pool2d_nchw8c") + 1:pos - 1] == [
        "conv2d", "relu", "conv2d", "sigmoid"]
    assert ops.count("to_nchw8c") == 1
    assert ops.count("from_nchw8c") == 1  # the returned se
    _check_values(ex)
    _check_values(ex, (1, 3, 19, 23))


def test_channels_not_a_multiple_of_8_stay_plain():
    ex = _net_ex(["b3"], c=12, t=3, wide=1)  # 12 and 36 channels
    assert not set(_ops(_steps(ex))) & set(LAYOUT_OPS)
    assert _summary(_steps(ex)) == _summary(_steps(ex, blocked=False))


def test_constant_operand_reads_the_plain_value():
    ex = _net_ex(["pool"], scale=True)
    steps = _steps(ex)
    ops = _ops(steps)
    pos = ops.index("mul")
    assert isinstance(steps[pos][3][1], np.ndarray)  # the layer scale
    assert ops[pos - 1] == "from_nchw8c" and steps[pos][3][0] == (
        steps[pos - 1][0])
    assert ops[pos + 1] == "adaptive_avg_pool2d"
    _check_values(ex)


def test_chains_without_depthwise_or_with_many_conversions_stay_plain():
    # pointwise convs only: the plain layout
    model = nn.Sequential(Conv2dNormActivation(3, 16),
                          Conv2dNormActivation(16, 32, kernel_size=1),
                          Conv2dNormActivation(32, 16, kernel_size=1),
                          Conv2dNormActivation(16, 32, kernel_size=1))
    ex = create_feature_extractor(_randomize(model.eval()), ["3"])
    assert not set(_ops(_steps(ex))) & set(LAYOUT_OPS)
    # every node returned: each value would be converted back
    ex = _net_ex(get_graph_node_names(Net())[1][1:])
    assert not set(_ops(_steps(ex))) & set(LAYOUT_OPS)
    _check_values(ex)


def test_training_mode_and_fuse_off_are_plain():
    ex = _net_ex(["b3"])
    for steps in (plan_steps(ex._graphs["train"], ex, True)[0],
                  plan_steps(ex._graphs["eval"], ex, False, fuse=False)[0]):
        assert not set(_ops(steps)) & set(LAYOUT_OPS)


def test_values_seen_by_python_code_are_plain():
    ex = _net_ex(["b1", "b2.conv.1", "b3", "pool"])
    out = ex(_x(2, 3, 32, 32))
    assert {k: v.shape for k, v in out.items()} == {
        "b1": (2, 16, 16, 16), "b2.conv.1": (2, 64, 8, 8),
        "b3": (2, 32, 8, 8), "pool": (2, 32, 1, 1)}
    assert list(ex.return_nodes) == list(out)
    assert all(v.flags.c_contiguous and v.flags.owndata
               for v in out.values())


class TightNet(nn.Module):
    """A depthwise conv without padding: inputs under 3x3 fail in it."""

    def __init__(self):
        super().__init__()
        self.stem = Conv2dNormActivation(3, 16, kernel_size=1)
        self.pw = Conv2dNormActivation(16, 32, kernel_size=1)
        self.dw = Conv2dNormActivation(32, 32, groups=32, padding=0)
        self.pw2 = Conv2dNormActivation(32, 32, kernel_size=1)
        self.pw3 = Conv2dNormActivation(32, 32, kernel_size=1)
        self.pw4 = Conv2dNormActivation(32, 32, kernel_size=1)

    def forward(self, x):
        return self.pw4(self.pw3(self.pw2(self.dw(self.pw(self.stem(x))))))


@pytest.mark.parametrize("shape", [(1, 3, 2, 9), (1, 5, 8, 8), (3, 8, 8)])
def test_errors_are_those_of_the_plain_plan(shape):
    ex = create_feature_extractor(_randomize(TightNet().eval()), ["pw4"])
    assert "conv2d_bn_nchw8c" in _ops(_steps(ex))
    x = _x(*shape)
    with pytest.raises(ValueError) as blocked:
        ex(x)
    with pytest.raises(ValueError) as plain:
        _plan(ex, "scalar", blocked=False).run((x,))
    assert str(blocked.value) == str(plain.value)
    assert type(blocked.value) is type(plain.value)
    _check_values(ex, (1, 3, 9, 7))  # still usable


class TwoStems(nn.Module):
    """Two branches of 16 channels added at the end; their planes differ
    (by one row and column) for odd input sizes."""

    def __init__(self):
        super().__init__()
        self.stem1 = Conv2dNormActivation(3, 16, stride=2)
        self.stem2 = Conv2dNormActivation(3, 16, kernel_size=2, stride=2,
                                          padding=0)
        self.a = nn.Sequential(InvertedResidual(16, 16, 1, 4),
                               InvertedResidual(16, 16, 1, 4))
        self.b = nn.Sequential(InvertedResidual(16, 16, 1, 4),
                               InvertedResidual(16, 16, 1, 4))

    def forward(self, x):
        return self.a(self.stem1(x)) + self.b(self.stem2(x))


def test_add_of_values_not_provably_of_one_shape_stays_plain():
    ex = create_feature_extractor(_randomize(TwoStems().eval()), ["add"])
    steps = _steps(ex)
    ops = _ops(steps)
    assert ops[-3:] == ["from_nchw8c", "from_nchw8c", "add"]
    assert ops.count("conv2d_bn_nchw8c") == 12
    _check_values(ex, (2, 3, 16, 12))
    x = _x(1, 3, 15, 16)
    with pytest.raises(ValueError) as blocked:
        ex(x)
    with pytest.raises(ValueError) as plain:
        _plan(ex, "scalar", blocked=False).run((x,))
    assert str(blocked.value) == str(plain.value)
    assert "node 'add'" in str(blocked.value)


class CrossGate(Net):
    """b3's output scaled by a gate pooled from b2's output: not provably
    of b3's batch, so the product stays plain."""

    def forward(self, x):
        y = self.b2(self.b1(self.stem(x)))
        gate = featx.nn.functional.sigmoid(self.pool(y))
        return self.b3(y) * gate


def test_scale_by_a_gate_of_another_value_stays_plain():
    ex = create_feature_extractor(_randomize(CrossGate().eval()), ["mul"])
    ops = _ops(_steps(ex))
    assert ops[-2:] == ["from_nchw8c", "mul"] and "reshape" not in ops
    assert "adaptive_avg_pool2d_nchw8c" in ops
    _check_values(ex)


# ---- models ------------------------------------------------------------

STAGES = {
    "mobilenet_v3_large": ["features.1", "features.3", "features.6",
                           "features.12", "features.16", "classifier.3"],
    "efficientnet_b0": ["features.1", "features.2", "features.3",
                        "features.5", "features.8", "classifier.1"],
}


@pytest.mark.parametrize("name", sorted(STAGES))
def test_mobile_stage_outputs_convert_once_each(name):
    """The stem's output is converted once to nchw8c; each returned
    stage but the classifier once back; nothing else, as the whole
    network from the first block to the last conv is one chain."""
    ex = create_feature_extractor(getattr(models, name)().eval(),
                                  STAGES[name])
    steps = _steps(ex)
    ops = _ops(steps)
    plain = _steps(ex, blocked=False)
    convs = sum(op == "conv2d_bn" for op in _ops(plain))
    assert ops.count("to_nchw8c") == 1
    assert ops.count("from_nchw8c") == len(STAGES[name]) - 1
    assert ops.count("conv2d_bn") == 0  # the stem is a Python step
    assert ops.count("conv2d_bn_nchw8c") == convs
    n_se = sum(type(m).__name__ == "SqueezeExcitation"
               for m in ex.modules())
    assert ops.count("reshape") == n_se
    assert ops.count("adaptive_avg_pool2d_nchw8c") == n_se + 1
    outputs = dict(ex.graph.outputs)
    for node in STAGES[name][:-1]:
        st = next(st for st in steps if st[0] == outputs[node])
        assert st[2] == "from_nchw8c"


@pytest.mark.parametrize("name", ["resnet50", "densenet121",
                                  "convnext_tiny"])
def test_models_without_depthwise_chains_keep_the_plain_plan(name):
    model = getattr(models, name)().eval()
    nodes = get_graph_node_names(model)[1]
    ex = create_feature_extractor(model, nodes[-12::3])
    assert _summary(_steps(ex)) == _summary(_steps(ex, blocked=False))


def _node_sets(model):
    """Return-node sets: the last node, stages, a node inside a block,
    the SE block's output, a third of all nodes, every node."""
    nodes = get_graph_node_names(model)[1]
    feats = [n for n in nodes if n.startswith("features.")]
    inner = [n for n in feats if n.count(".") >= 3]
    se = [n for n in nodes if n.endswith(".block.2")
          and type(model.get_submodule(n)).__name__ == "SqueezeExcitation"]
    sets = [[nodes[-1]], nodes[1::len(nodes) // 5], inner[len(inner) // 2:][:1]
            + [nodes[-1]], se[:2] + [nodes[-2]], nodes[::3], nodes[1:]]
    return [s for s in sets if s]


MODELS = ["mobilenet_v3_large", "mobilenet_v3_small", "mobilenet_v2",
          "mnasnet1_0", "efficientnet_b0", "efficientnet_b1",
          "efficientnet_b3"]


@pytest.mark.parametrize("name", MODELS)
def test_models_equal_the_plain_plan_on_every_isa_and_thread_count(name):
    model = _randomize(getattr(models, name)().eval())
    x = _x(2, 3, 48, 40)
    for nodes in _node_sets(model):
        ex = create_feature_extractor(model, nodes)
        for isa in _isas():
            blocked, plain = _plan(ex, isa), _plan(ex, isa, blocked=False)
            for n in (1, 2):
                featx.set_num_threads(n)
                _assert_same(blocked.run((x,)), plain.run((x,)))


@pytest.mark.parametrize("name", [f"efficientnet_b{i}" for i in (2, 4, 5, 6, 7)]
                         + ["efficientnet_v2_s", "mnasnet0_75"])
def test_larger_efficientnets_equal_the_plain_plan(name):
    model = _randomize(getattr(models, name)().eval())
    nodes = get_graph_node_names(model)[1]
    ex = create_feature_extractor(model, nodes[1::len(nodes) // 6])
    assert "conv2d_bn_nchw8c" in _ops(_steps(ex))
    x = _x(1, 3, 32, 32)
    _assert_same(_plan(ex, "scalar").run((x,)),
                 _plan(ex, "scalar", blocked=False).run((x,)))


GOLDEN = ["efficientnet_b0", "mobilenet_v2", "mobilenet_v3_small",
          "mnasnet0_5"]


@pytest.mark.parametrize("name", GOLDEN)
def test_golden_outputs_with_the_blocked_plan(name):
    from test_golden_models import _build, _golden_arrays, _manifest

    entry = _manifest()["outputs"][name]
    golden = _golden_arrays(name)
    ex = create_feature_extractor(_build(name, "eval"),
                                  list(entry["return_nodes"]))
    assert "conv2d_bn_nchw8c" in _ops(_steps(ex))
    for isa in _isas():
        out = _plan(ex, isa).run((golden["input"].copy(),))
        for k in entry["return_nodes"]:
            assert_close(out[k], golden[k], f"{name} {isa} {k!r}")


def test_concurrent_calls_equal_serial_calls():
    model = _randomize(models.mobilenet_v3_large().eval())
    ex = create_feature_extractor(model, STAGES["mobilenet_v3_large"])
    xs = [_x(1 + i % 2, 3, 64, 48, seed=i) for i in range(6)]
    serial = [ex(x) for x in xs]
    results: dict[int, dict] = {}
    errors: list[BaseException] = []

    def work(k):
        try:
            for i in range(k, len(xs), 3):
                results[i] = ex(xs[i])
        except BaseException as e:  # noqa: BLE001 (reported below)
            errors.append(e)

    featx.set_num_threads(2)
    threads = [threading.Thread(target=work, args=(k,)) for k in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for i, ref in enumerate(serial):
        _assert_same(results[i], ref)
