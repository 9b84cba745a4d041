"""Shape inference without running (featx._core.infer) and
featx.feature_extraction.get_graph_node_info."""
from __future__ import annotations

import json
import os
import warnings

import numpy as np
import pytest

import featx
from featx import _core
from featx.feature_extraction import (
    GraphNodeInfo, create_feature_extractor, get_graph_node_info,
    get_graph_node_names)
from featx.fx.graph_module import value_shape

CONV = {"stride": 2, "padding": 3, "dilation": 1, "groups": 1}


@pytest.mark.parametrize("name, inputs, attrs", [
    ("conv2d", [(2, 3, 17, 13), (8, 3, 7, 7), (8,)], CONV),
    ("conv2d", [(2, 3, 17, 13), (8, 3, 7, 7), None], CONV),
    ("linear", [(4, 5, 6), (7, 6)], {"act": 0}),
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
    ([(1, 3), (1, 3)], {}, ValueError, "relu: expected 1 input, got 2"),
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


# --------------------------------------------------------------------------- get_graph_node_info


def _model(name):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # googlenet init
        return featx.models.get_model(name)


def _extractor_shapes(model, mode, shape):
    """Every node's shape as the extractor returns it, run on real data."""
    train, eval_ = get_graph_node_names(model, suppress_diff_warning=True)
    ex = create_feature_extractor(model, train_return_nodes=train,
                                  eval_return_nodes=eval_,
                                  suppress_diff_warning=True)
    ex.train(mode == "train")
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    out = ex(x)
    return [(k, value_shape(v)) for k, v in out.items()], (
        train if mode == "train" else eval_)


@pytest.mark.parametrize("name, shape", [
    ("resnet50", (2, 3, 224, 224)),
    ("mobilenet_v3_large", (2, 3, 96, 96)),
    ("convnext_tiny", (2, 3, 64, 64)),
    ("densenet121", (2, 3, 64, 64)),
    ("shufflenet_v2_x0_5", (2, 3, 64, 80)),   # chunk: tuples of arrays
    ("googlenet", (2, 3, 64, 64)),            # train graph has aux heads
])
@pytest.mark.parametrize("mode", ["eval", "train"])
def test_shapes_equal_the_extractors(name, shape, mode):
    model = _model(name)
    rows = get_graph_node_info(model, shape, mode=mode)
    got, names = _extractor_shapes(model, mode, shape)
    assert [r.name for r in rows] == names
    assert [(r.name, r.shape) for r in rows] == got
    assert all(isinstance(r, GraphNodeInfo) for r in rows)


def test_rows_resnet18():
    rows = get_graph_node_info(featx.models.resnet18(), (1, 3, 224, 224))
    by_name = {r.name: r for r in rows}
    assert rows[0] == GraphNodeInfo("x", "placeholder", (1, 3, 224, 224), 0,
                                    0)
    assert by_name["conv1"] == GraphNodeInfo(
        "conv1", "Conv2d", (1, 64, 112, 112), 64 * 3 * 7 * 7,
        64 * 112 * 112 * 3 * 7 * 7)
    assert by_name["layer1.0.add"].op == "add"
    assert by_name["flatten"].op == "flatten"
    assert by_name["fc"] == GraphNodeInfo("fc", "Linear", (1, 1000),
                                          512 * 1000 + 1000, 512 * 1000)
    # a leaf called twice: its parameters are counted at the first call
    assert by_name["layer1.0.relu_1"].params == 0


def test_non_array_values_have_no_shape():
    rows = get_graph_node_info(featx.models.shufflenet_v2_x0_5(),
                               (1, 3, 64, 64))
    by_name = {r.name: r for r in rows}
    assert by_name["stage2.0.size"].shape is None          # an int
    assert by_name["stage2.1.chunk"].shape == ((1, 24, 8, 8),) * 2


class _MaxOverChannels(featx.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = featx.nn.Conv2d(3, 4, 3)

    def forward(self, x):
        y = self.conv(x)
        return y + y.max(1)[0][:, None]


def test_a_values_indices_result_has_the_shapes_of_both():
    # x.max(dim) gives a (values, indices) named tuple: it was a TypeError
    # ("ValuesIndices.__new__() missing 1 required positional argument").
    model = _MaxOverChannels()
    rows = {r.name: r for r in get_graph_node_info(model, (2, 3, 8, 8))}
    assert rows["max"].shape == ((2, 6, 6), (2, 6, 6))
    assert rows["add"].shape == (2, 4, 6, 6)


@pytest.mark.parametrize("name", ["resnet50", "convnext_tiny",
                                  "efficientnet_b0", "googlenet"])
def test_params_sum_is_the_models_parameter_count(name):
    model = _model(name)
    rows = get_graph_node_info(model, (1, 3, 64, 64), mode="train")
    assert sum(r.params for r in rows) == sum(
        p.size for p in model.parameters())


def _weights_ops():
    path = os.path.join(os.path.dirname(featx.__file__), "models",
                        "weights.json")
    with open(path) as f:
        enums = json.load(f)["enums"]
    return {e: m["IMAGENET1K_V1"]["meta"]["_ops"]
            for e, v in enums.items()
            for m in [v["members"]] if "IMAGENET1K_V1" in m}


@pytest.mark.parametrize("name, enum", [
    ("resnet18", "ResNet18_Weights"), ("resnet50", "ResNet50_Weights"),
    ("mobilenet_v3_large", "MobileNet_V3_Large_Weights"),
    ("efficientnet_b0", "EfficientNet_B0_Weights"),
    ("convnext_tiny", "ConvNeXt_Tiny_Weights"),
    ("densenet121", "DenseNet121_Weights"),
    ("shufflenet_v2_x1_0", "ShuffleNet_V2_X1_0_Weights"),
    ("googlenet", "GoogLeNet_Weights"), ("vgg16", "VGG16_Weights"),
])
def test_flops_equal_torchvision_gflops(name, enum):
    # torchvision's weights meta "_ops" is GFLOPS at 224 x 224, rounded to
    # 3 decimals, counting one multiply-add as one: conv and linear layers.
    rows = get_graph_node_info(_model(name), (1, 3, 224, 224))
    assert round(sum(r.flops for r in rows) / 1e9, 3) == pytest.approx(
        _weights_ops()[enum], abs=1e-9)


def test_conv_flops_formula():
    class Net(featx.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = featx.nn.Conv2d(6, 10, (3, 5), stride=(2, 1),
                                        padding=(1, 2), groups=2)

        def forward(self, x):
            return self.conv(x)

    rows = get_graph_node_info(Net(), (3, 6, 17, 11))
    n, oc, oh, ow = 3, 10, (17 + 2 - 3) // 2 + 1, (11 + 4 - 5) + 1
    assert rows[1].shape == (n, oc, oh, ow)
    expected = np.float64(n) * oc * oh * ow * (6 // 2) * 3 * 5
    assert rows[1].flops == int(expected)
    assert rows[1].params == 10 * 3 * 3 * 5 + 10


class _Attention(featx.nn.Module):
    """A leaf-free module that uses ``@`` and a parameter read."""

    def __init__(self):
        super().__init__()
        self.proj = featx.nn.Linear(8, 8)
        self.scale = featx.nn.Parameter(np.ones((1, 1, 8), np.float32))

    def forward(self, x):
        q = self.proj(x) * self.scale
        return featx.nn.functional.relu(q @ x.transpose(1, 2))


def test_matmul_and_parameter_reads():
    rows = get_graph_node_info(_Attention(), (2, 5, 8))
    by_name = {r.name: r for r in rows}
    assert by_name["scale"] == GraphNodeInfo("scale", "get_attr", (1, 1, 8),
                                             8, 0)
    assert by_name["matmul"].shape == (2, 5, 5)
    assert by_name["matmul"].flops == 2 * 5 * 8 * 5
    assert by_name["proj"].flops == 2 * 5 * 8 * 8
    x = np.random.default_rng(1).standard_normal((2, 5, 8)).astype(
        np.float32)
    out = create_feature_extractor(_Attention(), [r.name for r in rows])(x)
    assert [(k, value_shape(v)) for k, v in out.items()] == [
        (r.name, r.shape) for r in rows]


class _LeafUser(featx.nn.Module):
    def __init__(self):
        super().__init__()
        self.block = featx.ops.misc.Conv2dNormActivation(3, 4, 3)

    def forward(self, x):
        return self.block(x) + 1


def test_no_kernel_runs_and_nothing_changes(monkeypatch):
    # A huge input: every featx op, also inside leaf modules and in train
    # mode (BatchNorm on batch statistics, Dropout), only infers shapes.
    model = featx.models.resnet50()
    leaf_user, small = _LeafUser(), featx.models.mobilenet_v3_small()
    before = {k: v.copy() for k, v in model.state_dict().items()}
    featx.manual_seed(7)
    expected_draw = featx._rng.default_generator().random()
    featx.manual_seed(7)

    def no_kernel(name, *args, **kwargs):
        raise AssertionError(f"kernel {name} ran")

    monkeypatch.setattr(_core, "call", no_kernel)
    for mode in ("eval", "train"):
        rows = get_graph_node_info(model, (1, 3, 4096, 4096), mode=mode)
        assert rows[-1].shape == (1, 1000)
        shapes = {r.name: r.shape for r in rows}
        assert shapes["layer4.2.relu_2"] == (1, 2048, 128, 128)
    rows = get_graph_node_info(leaf_user, (2, 3, 2048, 2048), mode="train")
    assert rows[-1].shape == (2, 4, 2048, 2048)
    assert rows[1].flops == 2 * 4 * 2048 * 2048 * 3 * 9
    rows = get_graph_node_info(small, (1, 3, 1024, 1024), mode="train")
    assert rows[-1].shape == (1, 1000)
    assert featx._rng.default_generator().random() == expected_draw
    after = model.state_dict()
    assert all(np.array_equal(v, after[k]) for k, v in before.items())


def test_mode_flags_unchanged():
    model = featx.models.resnet18()
    model.layer1.eval()
    flags = [m.training for m in model.modules()]
    get_graph_node_info(model, mode="eval")
    assert [m.training for m in model.modules()] == flags


@pytest.mark.parametrize("bad, exc, match", [
    ((1, 3, 0, 5), ValueError, r"positive ints .* got \(1, 3, 0, 5\)"),
    ((1, 3, -2, 5), ValueError, r"positive ints"),
    ((), ValueError, r"non-empty"),
    ((1, 3, 2.5, 5), TypeError, r"must hold ints .* got \(1, 3, 2.5, 5\)"),
    ((1.0, 3, 8, 8), TypeError, r"must hold ints"),
    ((1, True, 8, 8), TypeError, r"must hold ints"),
    ((2**62, 3, 224, 224), ValueError, r"elements, more than the "
                                       r"281474976710656 \(2\*\*48\)"),
    ("1, 3, 8, 8", TypeError, r"tuple of ints .* got str"),
    (224, TypeError, r"got int"),
])
def test_bad_input_shape(bad, exc, match):
    with pytest.raises(exc, match=match):
        get_graph_node_info(featx.models.resnet18(), bad)


def test_input_shape_the_model_cannot_take_names_the_node():
    with pytest.raises(ValueError) as info:
        get_graph_node_info(featx.models.alexnet(), (1, 3, 8, 8))
    msg = str(info.value)
    assert "input_shape (1, 3, 8, 8) does not fit AlexNet in eval mode" in msg
    assert "node 'features.2': max_pool2d: output size would be 0x0" in msg
    with pytest.raises(ValueError, match=r"node 'conv1': conv2d: expected a "
                                         r"4-D input .* got shape \(3, 64, "
                                         r"64\)"):
        get_graph_node_info(featx.models.resnet18(), (3, 64, 64))


def test_bad_mode_and_tracer_kwargs():
    with pytest.raises(ValueError, match="mode must be 'train' or 'eval', "
                                         "got 'both'"):
        get_graph_node_info(featx.models.resnet18(), mode="both")
    with pytest.raises(TypeError, match="unknown key"):
        get_graph_node_info(featx.models.resnet18(),
                            tracer_kwargs={"leaf": []})


class _TwoInputs(featx.nn.Module):
    def forward(self, x, y, scale=2.0):
        return featx.add(x, y) * scale


def test_other_forward_arguments():
    with pytest.raises(TypeError, match="forward argument 'y' needs a value"):
        get_graph_node_info(_TwoInputs(), (2, 3))
    rows = get_graph_node_info(_TwoInputs(), (2, 3),
                               concrete_args={"y": np.ones((1, 3),
                                                           np.float32)})
    assert rows[-1].shape == (2, 3)


def test_alias_module_exports_it():
    from featx.models import feature_extraction as alias
    assert alias.get_graph_node_info is get_graph_node_info


def test_extractor_repr_html():
    model = featx.models.resnet18().eval()
    ex = create_feature_extractor(model, {"layer1": "a<b>&", "fc": "logits",
                                          "layer1.0.conv1": "c"})
    before = ex._repr_html_()
    assert "eval mode, 3 returned nodes" in before
    assert "<td>a&lt;b&gt;&amp;</td><td>layer1.1.relu_1</td><td>ReLU</td>" \
        "<td>not run yet</td>" in before
    assert "<td>c</td><td>layer1.0.conv1</td><td>Conv2d</td>" in before
    ex(np.zeros((2, 3, 64, 64), np.float32))
    after = ex._repr_html_()
    assert "output shapes of the last call" in after
    assert "<td>logits</td><td>fc</td><td>Linear</td><td>(2, 1000)</td>" \
        in after
    assert "<td>(2, 64, 16, 16)</td>" in after
    ex.train()  # the train graph has not run yet
    assert "not run yet" in ex._repr_html_()
    assert "return_nodes=['c', 'a<b>&', 'logits']" in repr(ex)
