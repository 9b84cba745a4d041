"""featx.models.efficientnet, .regnet and .convnext without torch.

Structure (parameter counts, module tree, constructor arguments, errors,
stochastic-depth schedules, init) and eager == extractor. Names and
state_dict layouts against torchvision are checked by the golden tests and
tests/test_oracle_efficient.py.
"""
from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import featx
from featx import models, nn, ops
from featx.models import convnext, efficientnet, regnet
from featx.models.feature_extraction import (create_feature_extractor,
                                             get_graph_node_names)

EFFICIENTNETS = [f"efficientnet_b{i}" for i in range(8)] + [
    "efficientnet_v2_s", "efficientnet_v2_m", "efficientnet_v2_l"]
REGNETS = [f"regnet_y_{s}" for s in ("400mf", "800mf", "1_6gf", "3_2gf",
                                     "8gf", "16gf", "32gf", "128gf")] + [
    f"regnet_x_{s}" for s in ("400mf", "800mf", "1_6gf", "3_2gf", "8gf",
                              "16gf", "32gf")]
CONVNEXTS = ["convnext_tiny", "convnext_small", "convnext_base",
             "convnext_large"]
ALL = EFFICIENTNETS + REGNETS + CONVNEXTS

# sum(p.numel() for p in model.parameters()) of torchvision 0.29.1's models
# (num_classes=1000); equal to the "num_params" in torchvision's weights
# metadata (e.g. torchvision.models.EfficientNet_B0_Weights.IMAGENET1K_V1
# .meta["num_params"]), measured with the oracle venv.
NUM_PARAMS = {
    "efficientnet_b0": 5288548, "efficientnet_b1": 7794184,
    "efficientnet_b2": 9109994, "efficientnet_b3": 12233232,
    "efficientnet_b4": 19341616, "efficientnet_b5": 30389784,
    "efficientnet_b6": 43040704, "efficientnet_b7": 66347960,
    "efficientnet_v2_s": 21458488, "efficientnet_v2_m": 54139356,
    "efficientnet_v2_l": 118515272,
    "regnet_y_400mf": 4344144, "regnet_y_800mf": 6432512,
    "regnet_y_1_6gf": 11202430, "regnet_y_3_2gf": 19436338,
    "regnet_y_8gf": 39381472, "regnet_y_16gf": 83590140,
    "regnet_y_32gf": 145046770, "regnet_y_128gf": 644812894,
    "regnet_x_400mf": 5495976, "regnet_x_800mf": 7259656,
    "regnet_x_1_6gf": 9190136, "regnet_x_3_2gf": 15296552,
    "regnet_x_8gf": 39572648, "regnet_x_16gf": 54278536,
    "regnet_x_32gf": 107811560,
    "convnext_tiny": 28589128, "convnext_small": 50223688,
    "convnext_base": 88591464, "convnext_large": 197767336,
}

# torchvision 0.29.1's BlockParams.from_init_params(...) for each RegNet:
# (depths, widths, group_widths), measured with the oracle venv.
REGNET_STAGES = {
    "regnet_y_400mf": ([1, 3, 6, 6], [48, 104, 208, 440], [8] * 4),
    "regnet_y_800mf": ([1, 3, 8, 2], [64, 144, 320, 784], [16] * 4),
    "regnet_y_1_6gf": ([2, 6, 17, 2], [48, 120, 336, 888], [24] * 4),
    "regnet_y_3_2gf": ([2, 5, 13, 1], [72, 216, 576, 1512], [24] * 4),
    "regnet_y_8gf": ([2, 4, 10, 1], [224, 448, 896, 2016], [56] * 4),
    "regnet_y_16gf": ([2, 4, 11, 1], [224, 448, 1232, 3024], [112] * 4),
    "regnet_y_32gf": ([2, 5, 12, 1], [232, 696, 1392, 3712], [232] * 4),
    "regnet_y_128gf": ([2, 7, 17, 1], [528, 1056, 2904, 7392], [264] * 4),
    "regnet_x_400mf": ([1, 2, 7, 12], [32, 64, 160, 400], [16] * 4),
    "regnet_x_800mf": ([1, 3, 7, 5], [64, 128, 288, 672], [16] * 4),
    "regnet_x_1_6gf": ([2, 4, 10, 2], [72, 168, 408, 912], [24] * 4),
    "regnet_x_3_2gf": ([2, 6, 15, 2], [96, 192, 432, 1008], [48] * 4),
    "regnet_x_8gf": ([2, 5, 15, 1], [80, 240, 720, 1920],
                     [80, 120, 120, 120]),
    "regnet_x_16gf": ([2, 6, 13, 1], [256, 512, 896, 2048], [128] * 4),
    "regnet_x_32gf": ([2, 7, 13, 1], [336, 672, 1344, 2520], [168] * 4),
}

_INIT_FNS = ("uniform_", "normal_", "trunc_normal_", "constant_", "ones_",
             "zeros_", "kaiming_uniform_", "kaiming_normal_",
             "xavier_uniform_", "xavier_normal_")


@pytest.fixture
def no_init(monkeypatch):
    """Skips the random initialisation (and so the memory it touches):
    structure tests of the 100M+ parameter models stay fast."""
    for fn in _INIT_FNS:
        monkeypatch.setattr(nn.init, fn, lambda t, *a, **k: t)


def _x(shape=(1, 3, 64, 64), seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(
        np.float32)


def _names(model):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # train and eval lists must agree
        train, eval_ = get_graph_node_names(model)
    return list(train), list(eval_)


# ---- registry and layout --------------------------------------------------

def test_registry():
    assert models.list_models(module=efficientnet) == sorted(EFFICIENTNETS)
    assert models.list_models(module=regnet) == sorted(REGNETS)
    assert models.list_models(module=convnext) == sorted(CONVNEXTS)
    m = models.get_model("regnet_x_400mf", num_classes=7)
    assert isinstance(m, regnet.RegNet) and m.fc.out_features == 7
    for name in ALL:
        assert getattr(models, name) is models.get_model_builder(name)


@pytest.mark.parametrize("name", ALL)
def test_parameter_count(name, no_init):
    model = getattr(models, name)()
    assert sum(p.size for p in model.parameters()) == NUM_PARAMS[name]
    sd = model.state_dict()
    assert all(v.dtype == np.float32 for k, v in sd.items()
               if not k.endswith("num_batches_tracked"))


@pytest.mark.parametrize("name", sorted(REGNET_STAGES))
def test_regnet_stage_params(name, no_init):
    model = getattr(models, name)()
    depths, widths, groups = REGNET_STAGES[name]
    stages = list(model.trunk_output.named_children())
    assert [n for n, _ in stages] == [f"block{i}" for i in range(1, 5)]
    assert [len(s) for _, s in stages] == depths
    for i, (_, stage) in enumerate(stages, 1):
        assert list(stage._modules) == [f"block{i}-{j}"
                                        for j in range(len(stage))]
        first = stage[0]
        assert first.f.c[0].out_channels == widths[i - 1]
        # grouped 3x3: groups = bottleneck width / group width
        assert first.f.b[0].groups == widths[i - 1] // groups[i - 1]
        assert first.proj is not None  # stride 2 at every stage start
        assert all(b.proj is None for b in list(stage)[1:])
    assert ("se" in model.trunk_output.block1[0].f._modules) == (
        "_y_" in name)


def test_make_divisible():
    md = efficientnet._make_divisible
    assert [md(v, 8) for v in (3, 12, 16, 17.6, 35.2, 1280 * 1.1)] == [
        8, 16, 16, 16, 32, 1408]
    assert md(10, 8) == 16  # 8 would lose more than 10%
    assert md(4, 8, min_value=1) == 8


# ---- EfficientNet ---------------------------------------------------------

def test_efficientnet_b0_structure():
    m = models.efficientnet_b0()
    assert len(m.features) == 9
    assert isinstance(m.features[0], ops.Conv2dNormActivation)
    assert [m.features[i][0].out_channels for i in range(1, 8)] == [
        16, 24, 40, 80, 112, 192, 320]
    assert [len(m.features[i]) for i in range(1, 8)] == [1, 2, 2, 3, 3, 4, 1]
    assert m.features[8][0].out_channels == 1280
    assert m.classifier[0].p == 0.2 and m.classifier[1].in_features == 1280
    blk = m.features[2][1]
    assert isinstance(blk, efficientnet.MBConv) and blk.use_res_connect
    assert not m.features[2][0].use_res_connect
    assert not m.features[1][0].use_res_connect  # 32 -> 16 channels
    # expand (1x1), depthwise, SE, project; no expand when ratio is 1
    assert len(blk.block) == 4 and len(m.features[1][0].block) == 3
    se = blk.block[2]
    assert isinstance(se, ops.SqueezeExcitation)
    assert se.fc1.out_channels == 24 // 4 and se.fc1.in_channels == 144
    assert blk.block[1][0].groups == 144 and blk.block[1][0].stride == (1, 1)
    # stochastic depth p = 0.2 * block_index / 16
    probs = [b.stochastic_depth.p for s in m.features[1:8] for b in s]
    assert probs == [0.2 * i / 16 for i in range(16)]
    assert all(b.stochastic_depth.mode == "row"
               for s in m.features[1:8] for b in s)


def test_efficientnet_builder_arguments(no_init):
    m = models.efficientnet_b7()
    bn = m.features[0][1]
    assert (bn.eps, bn.momentum) == (0.001, 0.01)
    assert m.classifier[0].p == 0.5 and m.features[-1][0].out_channels == 2560
    v2 = models.efficientnet_v2_s()
    bn = v2.features[0][1]
    assert (bn.eps, bn.momentum) == (1e-3, 0.1)
    assert isinstance(v2.features[1][0], efficientnet.FusedMBConv)
    assert isinstance(v2.features[4][0], efficientnet.MBConv)
    assert len(v2.features[1][0].block) == 1  # expand ratio 1: one conv
    assert len(v2.features[2][0].block) == 2
    assert v2.features[-1][0].out_channels == 1280
    m = models.efficientnet_b1(num_classes=10, dropout=0.05,
                               stochastic_depth_prob=0.4)
    assert m.classifier[1].out_features == 10 and m.classifier[0].p == 0.05
    assert m.features[7][-1].stochastic_depth.p == pytest.approx(0.4 * 22
                                                                 / 23)
    assert models.efficientnet_b0().features[0][1].eps == 1e-5
    custom = models.efficientnet_b0(norm_layer=nn.BatchNorm2d)
    assert custom.features[0][1].eps == 1e-5
    # b5-b7 and V2 fix norm_layer themselves, so torchvision gets it twice
    for builder in (models.efficientnet_b5, models.efficientnet_v2_m):
        with pytest.raises(TypeError, match="norm_layer"):
            builder(norm_layer=nn.BatchNorm2d)


def test_efficientnet_errors():
    cfg = efficientnet.MBConvConfig(1, 3, 1, 32, 16, 1)
    assert (cfg.input_channels, cfg.out_channels, cfg.num_layers) == (
        32, 16, 1)
    assert efficientnet.MBConvConfig(6, 3, 1, 32, 16, 3, width_mult=1.1,
                                     depth_mult=1.2).num_layers == 4
    with pytest.raises(ValueError, match="got an empty sequence"):
        efficientnet.EfficientNet([], 0.2)
    with pytest.raises(TypeError, match="got str at index 1"):
        efficientnet.EfficientNet([cfg, "x"], 0.2)
    with pytest.raises(ValueError, match="^MBConv block stride: expected 1 or 2, got 3$"):
        efficientnet.EfficientNet(
            [efficientnet.MBConvConfig(1, 3, 3, 32, 16, 1)], 0.2)
    with pytest.raises(ValueError, match="no EfficientNet configuration named"):
        efficientnet._efficientnet_conf("efficientnet_v3")
    small = efficientnet.EfficientNet([cfg], 0.0, num_classes=3)
    assert small.features[-1][0].out_channels == 64  # 4 * 16
    assert small(_x((1, 3, 16, 16))).shape == (1, 3)


# ---- RegNet ---------------------------------------------------------------

def test_regnet_structure():
    m = models.regnet_y_400mf()
    assert isinstance(m.stem, regnet.SimpleStemIN)
    assert isinstance(m.stem, ops.Conv2dNormActivation)
    assert m.stem[0].stride == (2, 2) and m.stem[0].out_channels == 32
    blk = m.trunk_output.block2[0]
    assert isinstance(blk, regnet.ResBottleneckBlock)
    assert list(blk.f._modules) == ["a", "b", "se", "c"]
    assert blk.f.se.fc1.out_channels == round(0.25 * 48)  # of width_in
    assert blk.f.b[0].stride == (2, 2) and blk.proj[0].stride == (2, 2)
    assert isinstance(blk.activation, nn.ReLU) and blk.activation.inplace
    assert m.fc.in_features == 440
    x = models.regnet_x_400mf()
    assert list(x.trunk_output.block1[0].f._modules) == ["a", "b", "c"]


def test_regnet_arguments_and_errors(no_init):
    m = models.regnet_x_800mf(num_classes=5, stem_width=16,
                              activation=nn.ReLU6)
    assert m.fc.out_features == 5 and m.stem[0].out_channels == 16
    assert isinstance(m.stem[2], nn.ReLU6)
    assert m.stem[1].eps == 1e-5 and m.stem[1].momentum == 0.1
    # torchvision passes the kwargs to BlockParams and to RegNet alike
    with pytest.raises(TypeError, match="bottleneck_multiplier"):
        models.regnet_x_400mf(bottleneck_multiplier=2.0)
    with pytest.raises(TypeError, match="depth"):
        models.regnet_y_400mf(depth=3)
    with pytest.raises(ValueError, match=r"expected w_a >= 0, w_0 a positive "
                       r"multiple of 8 and w_m > 1, got w_a=1.0, w_0=12, "
                       r"w_m=2.0$"):
        regnet.BlockParams.from_init_params(depth=4, w_0=12, w_a=1.0,
                                            w_m=2.0, group_width=8)
    p = regnet.BlockParams.from_init_params(depth=3, w_0=16, w_a=8.0,
                                            w_m=2.0, group_width=8,
                                            bottleneck_multiplier=0.5)
    assert (p.depths, p.widths, p.group_widths) == ([1, 2], [16, 32],
                                                    [8, 8])
    small = regnet.RegNet(p, num_classes=4)
    assert small.trunk_output.block2[0].f.a[0].out_channels == 16
    assert small.trunk_output.block2[0].f.b[0].groups == 2


# ---- ConvNeXt -------------------------------------------------------------

def test_convnext_structure():
    m = models.convnext_tiny()
    assert len(m.features) == 8
    stem = m.features[0]
    assert stem[0].kernel_size == (4, 4) and stem[0].stride == (4, 4)
    assert stem[0].bias is not None and len(stem) == 2
    assert isinstance(stem[1], convnext.LayerNorm2d) and stem[1].eps == 1e-6
    assert [len(m.features[i]) for i in (1, 3, 5, 7)] == [3, 3, 9, 3]
    down = m.features[2]
    assert isinstance(down[0], convnext.LayerNorm2d)
    assert down[1].kernel_size == (2, 2) and down[1].out_channels == 192
    blk = m.features[1][0]
    assert isinstance(blk, convnext.CNBlock)
    assert blk.layer_scale.shape == (96, 1, 1)
    assert isinstance(blk.layer_scale, nn.Parameter)
    assert (blk.layer_scale == np.float32(1e-6)).all()
    ln = blk.block[2]
    assert type(ln) is nn.LayerNorm and ln.eps == 1e-6
    assert isinstance(blk.block[1], ops.Permute)
    assert blk.block[1].dims == [0, 2, 3, 1]
    assert isinstance(blk.block[4], nn.GELU)
    assert blk.block[3].out_features == 384
    # stochastic depth grows linearly to 0.1 over the 18 blocks
    probs = [b.stochastic_depth.p for i in (1, 3, 5, 7) for b in m.features[i]]
    assert probs == [0.1 * i / 17.0 for i in range(18)]
    assert isinstance(m.classifier[0], convnext.LayerNorm2d)
    assert isinstance(m.classifier[1], nn.Flatten)
    assert m.classifier[2].in_features == 768
    assert "features.1.0.layer_scale" in m.state_dict()


def test_convnext_arguments_and_errors(no_init):
    m = models.convnext_small(num_classes=3, layer_scale=0.5,
                              stochastic_depth_prob=0.0, unknown_kw=1)
    assert m.classifier[2].out_features == 3
    assert all(b.stochastic_depth.p == 0.0 for b in m.features[5])
    with pytest.raises(ValueError, match="got an empty sequence"):
        convnext.ConvNeXt([])
    with pytest.raises(TypeError, match="CNBlockConfig, got tuple at index 0"):
        convnext.ConvNeXt([(96, None, 3)])
    cfg = convnext.CNBlockConfig(8, None, 2)
    assert repr(cfg) == ("CNBlockConfig(input_channels=8, out_channels=None,"
                         " num_layers=2)")
    featx.manual_seed(0)
    small = convnext.ConvNeXt([cfg], layer_scale=0.5, num_classes=2)
    assert (small.features[1][1].layer_scale == 0.5).all()
    assert small(_x((2, 3, 8, 8))).shape == (2, 2)


def test_layernorm2d_matches_channel_layer_norm():
    ln = convnext.LayerNorm2d(5, eps=1e-6)
    rng = np.random.default_rng(3)
    ln.weight[...] = rng.random(5)
    ln.bias[...] = rng.random(5)
    x = _x((2, 5, 3, 4))
    mean = x.mean(axis=1, keepdims=True)
    var = x.var(axis=1, keepdims=True)
    want = ((x - mean) / np.sqrt(var + 1e-6) * ln.weight[:, None, None]
            + ln.bias[:, None, None])
    np.testing.assert_allclose(ln(x), want, rtol=1e-5, atol=1e-5)


# ---- init -------------------------------------------------------------------

def test_init_distributions():
    featx.manual_seed(0)
    e = models.efficientnet_b0()
    w = e.features[8][0].weight  # (1280, 320, 1, 1): fan_out = 1280
    std = math.sqrt(2.0 / 1280)
    assert abs(float(w.std()) - std) < 0.03 * std
    bound = 1.0 / math.sqrt(1000)
    assert np.abs(e.classifier[1].weight).max() <= bound
    assert float(np.abs(e.classifier[1].weight).max()) > 0.9 * bound
    assert (e.classifier[1].bias == 0).all()
    assert (e.features[8][1].weight == 1).all()
    assert (e.features[8][1].bias == 0).all()
    assert (e.features[1][0].block[1].fc1.bias == 0).all()  # SE conv bias

    r = models.regnet_x_400mf()
    w = r.trunk_output.block4[0].f.b[0].weight  # 3x3, 400 outputs
    std = math.sqrt(2.0 / (9 * 400))
    assert abs(float(w.std()) - std) < 0.03 * std
    assert abs(float(r.fc.weight.std()) - 0.01) < 0.001
    assert (r.fc.bias == 0).all()

    c = models.convnext_tiny()
    w = c.features[5][0].block[3].weight  # (1536, 384)
    assert abs(float(w.std()) - 0.02) < 0.001
    assert np.abs(w).max() <= 2.0
    assert (c.features[5][0].block[3].bias == 0).all()
    assert (c.features[0][0].bias == 0).all()
    assert (c.classifier[0].weight == 1).all()


def test_seeded_models_are_identical():
    featx.manual_seed(7)
    a = models.regnet_y_400mf()
    featx.manual_seed(7)
    b = models.regnet_y_400mf()
    for (k, v), w in zip(a.state_dict().items(), b.state_dict().values(),
                          strict=True):
        np.testing.assert_array_equal(v, w, err_msg=k)


# ---- weights ----------------------------------------------------------------

def test_weights_arguments(tmp_path):
    with pytest.raises(ValueError, match="NOPE"):
        models.efficientnet_b0(weights="NOPE")
    with pytest.raises(ValueError, match="num_classes"):
        models.regnet_y_400mf(weights="DEFAULT", num_classes=10)
    with pytest.raises(ValueError, match="num_classes"):
        models.convnext_tiny(weights="IMAGENET1K_V1", num_classes=10)
    with pytest.raises(TypeError):
        models.efficientnet_b0(weights=models.ConvNeXt_Tiny_Weights.DEFAULT)
    src = models.regnet_x_400mf()
    path = tmp_path / "regnet_x_400mf.npz"
    np.savez(path, **src.state_dict())
    loaded = models.regnet_x_400mf(weights=str(path))
    for (k, v), w in zip(src.state_dict().items(),
                          loaded.state_dict().values(), strict=True):
        np.testing.assert_array_equal(v, w, err_msg=k)


# ---- running: eager == extractor, names, train mode -------------------------

SMALL = ["efficientnet_b0", "efficientnet_v2_s", "regnet_y_400mf",
         "regnet_x_400mf", "convnext_tiny"]


@pytest.mark.parametrize("name", SMALL)
def test_eager_equals_extractor(name):
    model = getattr(models, name)().eval()
    x = _x((2, 3, 64, 64), seed=1)
    keep = x.copy()
    train, eval_ = _names(model)
    assert train == eval_
    picks = [eval_[1], eval_[len(eval_) // 3], eval_[2 * len(eval_) // 3],
             eval_[-1]]
    out = create_feature_extractor(model, return_nodes=picks)(x)
    y = model(x)
    np.testing.assert_array_equal(x, keep)
    assert y.shape == (2, 1000) and y.dtype == np.float32
    assert np.isfinite(y).all()
    np.testing.assert_array_equal(out[eval_[-1]], y)
    for k in picks:
        assert np.isfinite(out[k]).all(), k


def test_node_names_spot_checks():
    # torchvision 0.29.1 get_graph_node_names (train == eval), measured.
    _, ev = _names(models.convnext_tiny())
    assert len(ev) == 226
    assert ev[:14] == [
        "x", "features.0", "features.1.0.features_1_0_layer_scale",
        "features.1.0.block.0", "features.1.0.block.1",
        "features.1.0.block.2", "features.1.0.block.3",
        "features.1.0.block.4", "features.1.0.block.5",
        "features.1.0.block.6", "features.1.0.mul",
        "features.1.0.stochastic_depth", "features.1.0.add",
        "features.1.1.features_1_1_layer_scale"]
    i = ev.index("features.2.0.permute")
    assert ev[i:i + 6] == [
        "features.2.0.permute", "features.2.0.features_2_0_weight",
        "features.2.0.features_2_0_bias", "features.2.0.layer_norm",
        "features.2.0.permute_1", "features.2.1"]
    assert ev[-8:] == [
        "avgpool", "classifier.0.permute",
        "classifier.0.classifier_0_weight", "classifier.0.classifier_0_bias",
        "classifier.0.layer_norm", "classifier.0.permute_1",
        "classifier.1", "classifier.2"]
    _, ev = _names(models.efficientnet_b0())
    assert len(ev) == 88
    assert ev[:15] == [
        "x", "features.0", "features.1.0.block.0", "features.1.0.block.1",
        "features.1.0.block.2", "features.2.0.block.0",
        "features.2.0.block.1", "features.2.0.block.2",
        "features.2.0.block.3", "features.2.1.block.0",
        "features.2.1.block.1", "features.2.1.block.2",
        "features.2.1.block.3", "features.2.1.stochastic_depth",
        "features.2.1.add"]
    assert ev[-6:] == ["features.7.0.block.3", "features.8", "avgpool",
                       "flatten", "classifier.0", "classifier.1"]


def test_regnet_node_names():
    m = models.regnet_y_400mf()
    _, ev = _names(m)
    assert len(ev) == 105
    assert ev[:10] == [
        "x", "stem", "trunk_output.block1.block1-0.proj",
        "trunk_output.block1.block1-0.f.a",
        "trunk_output.block1.block1-0.f.b",
        "trunk_output.block1.block1-0.f.se",
        "trunk_output.block1.block1-0.f.c",
        "trunk_output.block1.block1-0.add",
        "trunk_output.block1.block1-0.activation",
        "trunk_output.block2.block2-0.proj"]
    assert ev[-3:] == ["avgpool", "flatten", "fc"]


def test_train_mode_without_randomness():
    # With no stochastic depth and no dropout, train mode is deterministic
    # (BatchNorm uses batch statistics), so eager == extractor there too.
    model = models.efficientnet_b0(stochastic_depth_prob=0.0, dropout=0.0)
    x = _x((2, 3, 32, 32), seed=4)
    ext = create_feature_extractor(model, return_nodes=["features.3",
                                                        "classifier.1"])
    assert ext.training and model.training
    featx.manual_seed(0)
    got = ext(x)
    model_copy = models.efficientnet_b0(stochastic_depth_prob=0.0,
                                        dropout=0.0)
    model_copy.load_state_dict(model.state_dict())
    model_copy.train()
    np.testing.assert_allclose(got["classifier.1"], model_copy(x),
                               rtol=1e-5, atol=1e-6)


def test_train_mode_stochastic_depth_runs():
    model = models.convnext_tiny(stochastic_depth_prob=0.5)
    ext = create_feature_extractor(model, return_nodes=["features.1",
                                                        "classifier.2"])
    out = ext(_x((2, 3, 32, 32), seed=5))
    assert out["features.1"].shape == (2, 96, 8, 8)
    assert out["classifier.2"].shape == (2, 1000)
    assert all(np.isfinite(v).all() for v in out.values())
