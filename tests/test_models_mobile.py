"""featx.models mobilenetv2, mobilenetv3, mnasnet and shufflenetv2, without torch.

Structure facts (parameter counts, node-list lengths, selected node names) were measured
from torchvision 0.29.1 (``sum(p.numel() for p in m.parameters())`` and
``torchvision.models.feature_extraction.get_graph_node_names``) with
``.venv-oracle``; tests/test_oracle_mobile.py compares everything live.
"""
from __future__ import annotations

import numpy as np
import pytest

import featx
from featx import models, nn
from featx.models import mnasnet, mobilenetv2, mobilenetv3, shufflenetv2
from featx.models.feature_extraction import (
    create_feature_extractor,
    get_graph_node_names,
)
from featx.ops import Conv2dNormActivation, SqueezeExcitation

# name -> (parameters, number of graph nodes (train == eval)), torchvision 0.29.1
FACTS = {
    "mobilenet_v2": (3504872, 84),
    "mobilenet_v3_small": (2542856, 56),
    "mobilenet_v3_large": (5483032, 71),
    "mnasnet0_5": (2218512, 153),
    "mnasnet0_75": (3170208, 153),
    "mnasnet1_0": (4383312, 153),
    "mnasnet1_3": (6282256, 153),
    "shufflenet_v2_x0_5": (1366792, 368),
    "shufflenet_v2_x1_0": (2278604, 368),
    "shufflenet_v2_x1_5": (3503624, 368),
    "shufflenet_v2_x2_0": (7393996, 368),
}
MODELS = list(FACTS)


def _params(model: nn.Module) -> int:
    return sum(int(p.size) for p in model.parameters())


@pytest.fixture(scope="module")
def built():
    """Every model once, seeded, in eval mode."""
    featx.manual_seed(0)
    return {name: getattr(models, name)().eval() for name in MODELS}


@pytest.mark.parametrize("name", MODELS)
def test_parameter_count_and_node_count(built, name):
    params, n_nodes = FACTS[name]
    model = built[name]
    assert _params(model) == params
    train, eval_ = get_graph_node_names(model)
    assert train == eval_
    assert len(eval_) == n_nodes
    assert len(set(eval_)) == n_nodes
    assert not model.training  # the mode flags are restored


def test_registry_and_weights_enums():
    assert set(MODELS) <= set(models.list_models())
    assert models.get_model_builder("mobilenet_v3_small") is models.mobilenet_v3_small
    assert models.MobileNet_V2_Weights.DEFAULT.name == "IMAGENET1K_V2"
    assert models.ShuffleNet_V2_X1_0_Weights.DEFAULT.meta["num_params"] == 2278604
    assert models.MNASNet1_3_Weights.DEFAULT.meta["num_params"] == 6282256
    assert models.MobileNet_V3_Large_Weights.DEFAULT.meta["num_params"] == 5483032
    with pytest.raises(ValueError, match="num_classes"):
        models.mobilenet_v3_small(weights="DEFAULT", num_classes=10)
    with pytest.raises(ValueError):
        models.shufflenet_v2_x0_5(weights="NOT_A_WEIGHT")


def test_mobilenet_v2_names_and_arguments():
    m = models.mobilenet_v2(
        inverted_residual_setting=[[1, 16, 1, 1], [6, 24, 2, 2]])
    assert get_graph_node_names(m)[1] == [  # torchvision 0.29.1
        "x", "features.0", "features.1.conv.0", "features.1.conv.1",
        "features.1.conv.2", "features.2.conv.0", "features.2.conv.1",
        "features.2.conv.2", "features.2.conv.3", "features.3.conv.0",
        "features.3.conv.1", "features.3.conv.2", "features.3.conv.3",
        "features.3.add", "features.4", "adaptive_avg_pool2d", "flatten",
        "classifier.0", "classifier.1"]
    # parameter counts of torchvision 0.29.1 with the same arguments
    assert _params(models.mobilenet_v2(width_mult=0.5, num_classes=10)) == 700490
    assert _params(models.mobilenet_v2(width_mult=1.4)) == 6108776
    assert _params(models.mobilenet_v2(width_mult=0.35, round_nearest=1)) == 1670588
    m = models.mobilenet_v2(dropout=0.3, num_classes=5)
    assert m.classifier[0].p == 0.3 and m.classifier[1].out_features == 5
    assert m.last_channel == 1280
    assert isinstance(m.features[0], Conv2dNormActivation)
    assert isinstance(m.features[0][2], nn.ReLU6)
    with pytest.raises(ValueError, match=r"expected a non-empty list of "
                       r"\[t, c, n, s\] rows \(4 values each\), got \[\]$"):
        models.mobilenet_v2(inverted_residual_setting=[])
    with pytest.raises(ValueError, match=r"\(4 values each\), got "
                       r"\[\[1, 16, 1\]\]$"):
        models.mobilenet_v2(inverted_residual_setting=[[1, 16, 1]])
    with pytest.raises(ValueError, match="^MobileNetV2 InvertedResidual "
                       "stride: expected 1 or 2, got 3$"):
        mobilenetv2.InvertedResidual(8, 8, 3, 6)
    assert mobilenetv2._make_divisible(83, 8) == 80
    assert mobilenetv2._make_divisible(90, 64) == 128  # 64 would lose > 10%
    assert mobilenetv2._make_divisible(20, 8) == 24


def test_mobilenet_v3_arguments():
    assert _params(models.mobilenet_v3_small(reduced_tail=True, dilated=True)) == 1099672
    assert _params(models.mobilenet_v3_large(width_mult=0.75)) == 3377576
    m = models.mobilenet_v3_small(dilated=True)
    dw = m.features[9].block[1][0]
    assert dw.dilation == (2, 2) and dw.stride == (1, 1)
    bn = m.features[0][1]
    assert bn.eps == 0.001 and bn.momentum == 0.01
    se = m.features[1].block[1]
    assert isinstance(se, SqueezeExcitation)
    assert isinstance(se.scale_activation, nn.Hardsigmoid)
    assert isinstance(se.activation, nn.ReLU)
    assert isinstance(m.classifier[1], nn.Hardswish) and m.classifier[1].inplace
    with pytest.raises(ValueError, match="got an empty sequence"):
        mobilenetv3.MobileNetV3([], 1024)
    with pytest.raises(TypeError, match="InvertedResidualConfig, got list at index 0"):
        mobilenetv3.MobileNetV3([[16, 3, 16, 16]], 1024)
    with pytest.raises(ValueError,
                       match="no MobileNetV3 configuration named 'mobilenet_v3_medium'"):
        mobilenetv3._mobilenet_v3_conf("mobilenet_v3_medium")


def test_mnasnet_arguments():
    assert _params(models.mnasnet0_5(num_classes=10)) == 950322
    assert mnasnet._get_depths(0.5) == [16, 8, 16, 24, 40, 48, 96, 160]
    m = models.mnasnet1_0(dropout=0.5)
    assert m.alpha == 1.0 and m.classifier[0].p == 0.5
    assert m.layers[1].momentum == pytest.approx(0.0003)
    with pytest.raises(ValueError, match="alpha .*: expected a value > 0, "
                       "got 0.0$"):
        mnasnet.MNASNet(0.0)
    with pytest.raises(ValueError, match="kernel_size: expected 3 or 5, "
                       "got 7$"):
        mnasnet._InvertedResidual(8, 8, 7, 1, 3)
    with pytest.raises(ValueError, match="^MNASNet inverted residual stride: "
                       "expected 1 or 2, got 3$"):
        mnasnet._InvertedResidual(8, 8, 3, 3, 3)
    with pytest.raises(ValueError, match="repeats: expected at least 1 "
                       "block, got 0$"):
        mnasnet._stack(8, 8, 3, 1, 3, 0, 0.1)
    with pytest.raises(ValueError, match=r"round_up_bias: expected a value "
                       r"in the open interval \(0, 1\), got 1.0$"):
        mnasnet._round_to_multiple_of(83, 8, 1.0)


def test_shufflenet_arguments_and_shuffle_nodes():
    assert _params(models.shufflenet_v2_x0_5(num_classes=10)) == 352042
    names = get_graph_node_names(models.shufflenet_v2_x0_5())[1]
    i = names.index("stage2.1.chunk")
    assert names[i:i + 3] == ["stage2.1.chunk", "stage2.1.getitem",
                              "stage2.1.getitem_1"]
    j = names.index("stage2.1.cat")
    assert names[j:j + 11] == [  # torchvision 0.29.1
        "stage2.1.cat", "stage2.1.size", "stage2.1.getitem_2",
        "stage2.1.getitem_3", "stage2.1.getitem_4", "stage2.1.getitem_5",
        "stage2.1.floordiv", "stage2.1.view", "stage2.1.transpose",
        "stage2.1.contiguous", "stage2.1.view_1"]
    assert names[-3:] == ["conv5.2", "mean", "fc"]
    with pytest.raises(ValueError, match=r"stages_repeats: expected 3 block "
                       r"counts .*, got 2: \[4, 8\]$"):
        shufflenetv2.ShuffleNetV2([4, 8], [24, 48, 96, 192, 1024])
    with pytest.raises(ValueError, match=r"stages_out_channels: expected 5 "
                       r"channel counts .*, got 4: \[24, 48, 96, 192\]$"):
        shufflenetv2.ShuffleNetV2([4, 8, 4], [24, 48, 96, 192])
    with pytest.raises(ValueError, match="^ShuffleNetV2 InvertedResidual "
                       "stride: expected one of 1, 2, 3, got 4$"):
        shufflenetv2.InvertedResidual(24, 24, 4)
    with pytest.raises(ValueError, match=r"with stride 1: expected inp == "
                       r"2 \* \(oup // 2\) = 48 .*, got inp=24, oup=48$"):
        shufflenetv2.InvertedResidual(24, 48, 1)
    assert len(shufflenetv2.InvertedResidual(24, 24, 1).branch1) == 0


def test_channel_shuffle_matches_numpy():
    x = np.arange(2 * 6 * 2 * 3, dtype=np.float32).reshape(2, 6, 2, 3)
    y = shufflenetv2.channel_shuffle(x, 2)
    expect = x.reshape(2, 2, 3, 2, 3).transpose(0, 2, 1, 3, 4).reshape(2, 6, 2, 3)
    np.testing.assert_array_equal(y, expect)


def test_init_distributions():
    featx.manual_seed(1)
    m = models.mobilenet_v2()
    w = m.features[2].conv[0][0].weight  # 1x1 conv 16 -> 96: fan_out 96
    assert np.std(w) == pytest.approx(np.sqrt(2.0 / 96), rel=0.1)
    assert np.std(m.classifier[1].weight) == pytest.approx(0.01, rel=0.05)
    assert not np.any(m.classifier[1].bias)
    bn = m.features[2].conv[0][1]
    assert np.all(bn.weight == 1) and not np.any(bn.bias)
    mn = models.mnasnet0_5()
    lin = mn.classifier[1].weight  # kaiming_uniform fan_out (1000), gain 1
    bound = np.sqrt(3.0 / 1000)
    assert np.abs(lin).max() <= bound
    assert np.abs(lin).max() > 0.95 * bound


@pytest.mark.parametrize("name", MODELS)
def test_eager_equals_extractor(built, name):
    model = built[name]
    x = np.random.default_rng(0).standard_normal((1, 3, 32, 32)).astype(np.float32)
    eval_names = get_graph_node_names(model)[1]
    mid = eval_names[len(eval_names) // 2]
    out = create_feature_extractor(model, [mid, eval_names[-1]])(x)
    logits = model(x)
    assert logits.shape == (1, 1000) and logits.dtype == np.float32
    np.testing.assert_array_equal(out[eval_names[-1]], logits)
    assert np.all(np.isfinite(out[mid]))


@pytest.mark.parametrize("name", ["mobilenet_v3_small", "shufflenet_v2_x0_5",
                                  "mnasnet0_5", "mobilenet_v2"])
def test_train_mode_runs_and_updates_statistics(name):
    featx.manual_seed(2)
    model = getattr(models, name)().train()
    x = np.random.default_rng(1).standard_normal((2, 3, 32, 32)).astype(np.float32)
    bn = next(m for m in model.modules() if isinstance(m, nn.BatchNorm2d))
    before = bn.running_mean.copy()
    names = get_graph_node_names(model)[0]
    out = create_feature_extractor(model, [names[-1]])(x)[names[-1]]
    assert out.shape == (2, 1000) and np.all(np.isfinite(out))
    assert not np.array_equal(bn.running_mean, before)
    assert int(bn.num_batches_tracked) == 1
    assert model.training
