"""The classic families without torch: AlexNet, VGG, SqueezeNet, DenseNet,
GoogLeNet, Inception v3.

Structure (parameter / state_dict / node counts measured from torchvision),
constructor arguments and their errors, eager == extractor for every model at
a small input, and the train/eval differences of GoogLeNet and Inception v3
(aux heads, namedtuple outputs, ``transform_input``), and pretrained weights
without network (local checkpoints, torch checkpoints placed in the empty
temporary ``$TORCH_HOME``, or ``WeightsEnum.get_state_dict`` replaced). The live
comparison with torchvision is in ``tests/test_oracle_classic.py``.
"""
from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from checkpoint_craft import (p_dict, p_pickle, p_storage, p_str, p_tensor,
                              write_torch_zip)

import featx
import featx.models as M
from featx import nn
from featx.hub import download as dl
from featx.models import _weights as W
from featx.models.feature_extraction import (create_feature_extractor,
                                             get_graph_node_names)

# Measured from torchvision 0.29.1 (torch 2.14.1, CPU) with default
# arguments (googlenet/inception_v3 with init_weights=False, which does not
# change the structure): (sum(p.numel() for p in m.parameters()),
# len(train names), len(eval names), len(m.state_dict())), names from
# torchvision.models.feature_extraction.get_graph_node_names(m).
TV_FACTS = {
    "alexnet": (61100840, 23, 23, 16),
    "vgg11": (132863336, 31, 31, 22),
    "vgg11_bn": (132868840, 39, 39, 62),
    "vgg13": (133047848, 35, 35, 26),
    "vgg13_bn": (133053736, 45, 45, 76),
    "vgg16": (138357544, 41, 41, 32),
    "vgg16_bn": (138365992, 54, 54, 97),
    "vgg19": (143667240, 47, 47, 38),
    "vgg19_bn": (143678248, 63, 63, 118),
    "squeezenet1_0": (1248424, 67, 67, 52),
    "squeezenet1_1": (1235496, 67, 67, 52),
    "densenet121": (7978856, 432, 432, 727),
    "densenet161": (28681000, 572, 572, 967),
    "densenet169": (14149480, 600, 600, 1015),
    "densenet201": (20013928, 712, 712, 1207),
    "googlenet": (13004888, 216, 198, 364),
    "inception_v3": (27161264, 325, 315, 580),
}
# Also measured there: the models without their aux heads.
TV_PARAMS_NO_AUX = {"googlenet": 6624904, "inception_v3": 23834568}

MODELS = sorted(TV_FACTS)
VGGS = [m for m in MODELS if m.startswith("vgg")]
OTHERS = [m for m in MODELS if m not in VGGS]
# Small inputs every model accepts (featx and torch).
SIZE = {"alexnet": 63, "inception_v3": 75}
NO_INIT_WARNING = {"googlenet": {"init_weights": False},
                   "inception_v3": {"init_weights": False}}


def _build(name: str, **kwargs) -> nn.Module:
    """A model in eval mode. VGG's linear layers are left uninitialised
    (initialising 120M weights costs seconds) and never run here: the live
    comparison with torchvision runs them."""
    kwargs = {**NO_INIT_WARNING.get(name, {}), **kwargs}
    if name.startswith("vgg"):
        kwargs.setdefault("init_weights", False)
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(nn.Linear, "reset_parameters", lambda self: None)
            model = getattr(M, name)(**kwargs)
    else:
        model = getattr(M, name)(**kwargs)
    return model.eval()


@pytest.fixture(scope="module")
def models():
    """Each model built once for the whole module (lazily); only the last
    VGG is kept (each holds 0.5 GB of parameters)."""
    cache: dict[str, nn.Module] = {}

    def get(name: str) -> nn.Module:
        if name not in cache:
            if name.startswith("vgg"):
                for k in [k for k in cache if k.startswith("vgg")]:
                    del cache[k]
            cache[name] = _build(name)
        return cache[name]

    return get


def _input(name: str, batch: int = 2, seed: int = 0) -> np.ndarray:
    s = SIZE.get(name, 32)
    return np.random.default_rng(seed).standard_normal(
        (batch, 3, s, s)).astype(np.float32)


def _names(model: nn.Module) -> tuple[list[str], list[str]]:
    train, eval_ = get_graph_node_names(model, suppress_diff_warning=True)
    return list(train), list(eval_)


# ---------------------------------------------------------------- structure

def _check_structure(model: nn.Module, name: str) -> None:
    n_params, n_train, n_eval, n_keys = TV_FACTS[name]
    assert sum(p.size for p in model.parameters()) == n_params
    assert len(model.state_dict()) == n_keys
    train, eval_ = _names(model)
    assert (len(train), len(eval_)) == (n_train, n_eval)
    assert len(set(train)) == len(train)
    assert model.training is False  # tracing restores the mode


def _check_eager(model: nn.Module, name: str) -> None:
    x = _input(name)
    _, eval_ = _names(model)
    want = model(x)
    assert isinstance(want, np.ndarray) and want.shape == (2, 1000)
    assert np.isfinite(want).all()
    # the logits and an inner node that exercises the family's cat/pool
    inner = {"alexnet": "features.12", "squeezenet1_0": "features.12.cat",
             "squeezenet1_1": "features.12.cat",
             "googlenet": "inception5b.cat",
             "inception_v3": "Mixed_7c.cat_2"}.get(name, "features")
    got = create_feature_extractor(model, [inner, eval_[-1]],
                                   suppress_diff_warning=True)(x)
    if name.startswith("densenet"):
        # the extractor's transitions pool before their 1x1 conv
        # (tests/test_densenet_plan.py): the same values within rounding
        err = np.abs(got[eval_[-1]] - want).max()
        assert err <= 1e-5 * np.abs(want).max(), err
    else:
        np.testing.assert_array_equal(got[eval_[-1]], want)
    assert got[inner].ndim == 4


@pytest.mark.parametrize("name", OTHERS)
def test_structure_matches_torchvision_counts(models, name):
    _check_structure(models(name), name)


@pytest.mark.parametrize("name", OTHERS)
def test_eager_equals_extractor(models, name):
    _check_eager(models(name), name)


@pytest.mark.parametrize("name", VGGS)
def test_vgg(models, name):
    """Structure, layer configuration, and eager == extractor on the trunk
    (the classifier's weights are not initialised here)."""
    model = models(name)
    _check_structure(model, name)
    cfg = M.vgg.cfgs[{"11": "A", "13": "B", "16": "D", "19": "E"}[
        name[3:5]]]
    convs = [m for m in model.features if isinstance(m, nn.Conv2d)]
    assert [c.out_channels for c in convs] == [v for v in cfg if v != "M"]
    assert any(isinstance(m, nn.BatchNorm2d) for m in model.features) \
        == name.endswith("_bn")
    x = _input(name)
    last = f"features.{len(model.features) - 1}"
    got = create_feature_extractor(model, ["features", "avgpool"])(x)
    np.testing.assert_array_equal(got["features"], model.features(x))
    assert got["avgpool"].shape == (2, 512, 7, 7)
    assert last in _names(model)[1]


def test_registry_lists_all_classic_models():
    assert set(MODELS) <= set(M.list_models())
    assert M.get_model_builder("densenet121") is M.densenet121


def test_list_models_module_filter_as_torchvision():
    # torchvision: list_models(module=torchvision.models) is every classification model.
    import featx.models.resnet
    assert M.list_models(module=M) == M.list_models()
    assert M.list_models(module=featx.models.resnet) == [
        "resnet101", "resnet152", "resnet18", "resnet34", "resnet50", "resnext101_32x8d",
        "resnext101_64x4d", "resnext50_32x4d", "wide_resnet101_2", "wide_resnet50_2"]
    assert M.list_models(module=featx.nn) == []
    with pytest.raises(TypeError, match="module must be a module"):
        M.list_models(module="featx.models")


def test_expected_node_names(models):
    _, ev = _names(models("densenet121"))
    for n in ("features.denseblock1.denselayer1.cat",
              "features.denseblock1.cat", "features.transition1.pool",
              "features.norm5", "relu", "adaptive_avg_pool2d", "flatten",
              "classifier"):
        assert n in ev
    _, ev = _names(models("squeezenet1_0"))
    assert ev[:4] == ["x", "features.0", "features.1", "features.2"]
    assert "features.3.cat" in ev and ev[-1] == "flatten"
    _, ev = _names(models("inception_v3"))
    assert ev.index("Mixed_7b.cat") < ev.index("Mixed_7b.cat_1") \
        < ev.index("Mixed_7b.avg_pool2d") < ev.index("Mixed_7b.cat_2")
    assert ev[-4:] == ["avgpool", "dropout", "flatten", "fc"]
    _, ev = _names(models("alexnet"))
    assert ev[-10:] == ["features.12", "avgpool", "flatten"] + [
        f"classifier.{i}" for i in range(7)]


# ------------------------------------------------- GoogLeNet / Inception v3

AUX = {"googlenet": ("aux1", "aux2"), "inception_v3": ("AuxLogits",)}


@pytest.mark.parametrize("name", ["googlenet", "inception_v3"])
def test_aux_heads_only_in_train_graph(models, name):
    model = models(name)
    with pytest.warns(UserWarning, match="subsequence"):
        get_graph_node_names(model)
    train, eval_ = _names(model)
    aux = [n for n in train if n.split(".")[0] in AUX[name]]
    assert aux and not any(n.split(".")[0] in AUX[name] for n in eval_)
    assert [n for n in train if n not in aux] == eval_
    with pytest.raises(ValueError):
        create_feature_extractor(model, [AUX[name][0]],
                                 suppress_diff_warning=True)
    ex = create_feature_extractor(model, train_return_nodes=[AUX[name][0]],
                                  eval_return_nodes=["fc"],
                                  suppress_diff_warning=True)
    assert list(ex(_input(name))) == ["fc"]


def test_googlenet_train_outputs():
    model = M.googlenet(init_weights=False, dropout=0.0, dropout_aux=0.0)
    x = _input("googlenet", seed=3)
    out = model(x)
    assert isinstance(out, M.GoogLeNetOutputs)
    assert out._fields == ("logits", "aux_logits2", "aux_logits1")
    assert all(v.shape == (2, 1000) for v in out)
    ex = create_feature_extractor(
        model, train_return_nodes=["aux1", "aux2", "fc"],
        eval_return_nodes=["fc"], suppress_diff_warning=True)
    got = ex(x)
    np.testing.assert_allclose(got["fc"], out.logits, rtol=1e-5,
                               atol=1e-6)
    np.testing.assert_allclose(got["aux1"], out.aux_logits1, rtol=1e-5,
                               atol=1e-6)
    np.testing.assert_allclose(got["aux2"], out.aux_logits2, rtol=1e-5,
                               atol=1e-6)
    model.eval()
    assert isinstance(model(x), np.ndarray)


class _SmallAux(nn.Module):
    """A stand-in aux head that accepts any grid: the real one needs a
    299x299 input (tests/test_oracle_classic.py runs that)."""

    def __init__(self, in_channels: int, num_classes: int) -> None:
        super().__init__()
        self.fc = nn.Linear(in_channels, num_classes)

    def forward(self, x):
        x = nn.functional.adaptive_avg_pool2d(x, (1, 1))
        return self.fc(featx.flatten(x, 1))


def test_inception_train_outputs():
    inc = M.inception
    blocks = [inc.BasicConv2d, inc.InceptionA, inc.InceptionB,
              inc.InceptionC, inc.InceptionD, inc.InceptionE, _SmallAux]
    model = M.inception_v3(init_weights=False, dropout=0.0, num_classes=10,
                           inception_blocks=blocks)
    x = _input("inception_v3", seed=4)
    out = model(x)
    assert isinstance(out, M.InceptionOutputs)
    assert out._fields == ("logits", "aux_logits")
    assert out.logits.shape == out.aux_logits.shape == (2, 10)
    got = create_feature_extractor(
        model, train_return_nodes=["AuxLogits", "fc"],
        eval_return_nodes=["fc"], suppress_diff_warning=True)(x)
    np.testing.assert_allclose(got["AuxLogits"], out.aux_logits,
                               rtol=1e-5, atol=1e-6)
    model.eval()
    assert model(x).shape == (2, 10)
    assert M.inception_v3(init_weights=False).AuxLogits.conv1.conv \
        .kernel_size == (5, 5)


@pytest.mark.parametrize("name", ["googlenet", "inception_v3"])
def test_without_aux_heads(name):
    model = getattr(M, name)(aux_logits=False, init_weights=False)
    assert sum(p.size for p in model.parameters()) == TV_PARAMS_NO_AUX[name]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        train, eval_ = get_graph_node_names(model)
    assert list(train) == list(eval_)
    assert all(getattr(model, a) is None for a in AUX[name])
    assert not any(k.split(".")[0] in AUX[name] for k in model.state_dict())
    x = _input(name)
    assert isinstance(model(x), np.ndarray)  # train mode, no aux: logits


@pytest.mark.parametrize("name", ["googlenet", "inception_v3"])
def test_transform_input(name):
    model = getattr(M, name)(transform_input=True, init_weights=False,
                             aux_logits=False).eval()
    _, eval_ = _names(model)
    assert eval_[:14] == [
        "x", "getitem", "unsqueeze", "mul", "add", "getitem_1",
        "unsqueeze_1", "mul_1", "add_1", "getitem_2", "unsqueeze_2",
        "mul_2", "add_2", "cat"]
    x = _input(name, seed=5)
    got = create_feature_extractor(model, ["cat", "fc"])(x)
    std = np.array([0.229, 0.224, 0.225], np.float32).reshape(1, 3, 1, 1)
    mean = np.array([0.485, 0.456, 0.406], np.float32).reshape(1, 3, 1, 1)
    np.testing.assert_allclose(got["cat"], x * std / 0.5 + (mean - 0.5) / 0.5,
                               rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(got["fc"], model(x))
    plain = getattr(M, name)(init_weights=False, aux_logits=False).eval()
    plain.load_state_dict(model.state_dict())
    np.testing.assert_allclose(plain(got["cat"]), model(x), rtol=1e-5,
                               atol=1e-5)


@pytest.mark.parametrize("name", ["googlenet", "inception_v3"])
def test_init_weights_default_warns(name):
    with pytest.warns(FutureWarning, match="init_weights"):
        model = getattr(M, name)(aux_logits=False)
    bn = next(m for m in model.modules() if isinstance(m, nn.BatchNorm2d))
    assert bn.eps == 0.001
    np.testing.assert_array_equal(bn.weight, 1)
    conv = model.Conv2d_1a_3x3.conv if name == "inception_v3" \
        else model.conv1.conv
    std = 0.1 if name == "inception_v3" else 0.01
    assert abs(float(conv.weight.std()) - std) < 0.2 * std


def test_inception_aux_fc_stddev():
    model = M.inception_v3(init_weights=True)
    assert model.AuxLogits.fc.stddev == 0.001
    assert model.AuxLogits.conv1.stddev == 0.01  # set, unused (as torch)
    assert abs(float(model.AuxLogits.fc.weight.std()) - 0.001) < 2e-4
    assert abs(float(model.AuxLogits.conv1.conv.weight.std()) - 0.1) < 0.02


def test_block_list_lengths():
    with pytest.raises(ValueError, match=r"GoogLeNet blocks: expected 3 block classes .*, got 0$"):
        M.GoogLeNet(blocks=[], init_weights=False)
    with pytest.raises(ValueError, match=r"Inception3 inception_blocks: "
                       r"expected 7 block classes .*, got 1$"):
        M.Inception3(inception_blocks=[nn.Identity], init_weights=False)


@pytest.mark.parametrize("name", ["googlenet", "inception_v3"])
def test_pretrained_rule_checks_aux_logits(name):
    # torchvision: with weights, aux_logits must be True and init_weights
    # False; other values are a ValueError before anything is loaded.
    with pytest.raises(ValueError, match="^aux_logits=False conflicts with "
                       "this model/weights, which fix aux_logits=True"):
        getattr(M, name)(weights="DEFAULT", aux_logits=False)
    with pytest.raises(ValueError, match="init_weights"):
        getattr(M, name)(weights="DEFAULT", init_weights=True)


# ---------------------------------------------------------------- DenseNet

def test_densenet_layer_accepts_array_or_list(models):
    layer = models("densenet121").features.denseblock1.denselayer1
    x = _input("densenet121")
    feats = models("densenet121").features[:4](x)
    np.testing.assert_array_equal(layer(feats), layer([feats]))


def test_densenet_memory_efficient_has_no_effect(models):
    ref = models("densenet121")
    model = M.densenet121(memory_efficient=True).eval()
    model.load_state_dict(ref.state_dict())
    assert all(m.memory_efficient for m in model.modules()
               if type(m).__name__ == "_DenseLayer")
    x = _input("densenet121")
    np.testing.assert_array_equal(model(x), ref(x))
    assert _names(model) == _names(ref)


def test_densenet_drop_rate_adds_dropout_nodes():
    model = M.densenet121(drop_rate=0.2, num_classes=5).eval()
    train, eval_ = _names(model)
    assert train == eval_ and len(eval_) == 432 + 58  # one per layer
    assert "features.denseblock1.denselayer1.dropout" in eval_
    x = _input("densenet121")
    np.testing.assert_array_equal(model(x), model(x))  # identity in eval
    assert model(x).shape == (2, 5)
    model.train()
    featx.manual_seed(0)
    a = model(x)
    featx.manual_seed(0)
    np.testing.assert_array_equal(model(x), a)


# ----------------------------------------------- VGG / SqueezeNet / AlexNet

def test_vgg_init_weights(monkeypatch):
    calls = []
    real_normal = nn.init.normal_

    def normal_spy(tensor, mean=0.0, std=1.0, generator=None):
        calls.append((tensor.shape, mean, std))
        if tensor.size < 10**6:  # skip filling the 100M-element weights
            real_normal(tensor, mean, std)
        return tensor

    monkeypatch.setattr(nn.Linear, "reset_parameters", lambda self: None)
    monkeypatch.setattr(nn.init, "normal_", normal_spy)
    model = M.vgg11_bn(num_classes=3)  # init_weights=True by default
    linear_calls = [c for c in calls if len(c[0]) == 2]  # not the convs'
    assert linear_calls == [((4096, 25088), 0, 0.01),
                            ((4096, 4096), 0, 0.01), ((3, 4096), 0, 0.01)]
    conv = model.features[0]
    assert abs(float(conv.weight.std()) - np.sqrt(2 / (64 * 9))) < 0.01
    np.testing.assert_array_equal(conv.bias, 0)
    np.testing.assert_array_equal(model.features[1].weight, 1)
    np.testing.assert_array_equal(model.features[1].bias, 0)
    fc = model.classifier[6]
    assert abs(float(fc.weight.std()) - 0.01) < 2e-3
    np.testing.assert_array_equal(fc.bias, 0)


def test_classifier_arguments():
    model = M.alexnet(num_classes=7, dropout=0.25)
    assert model.classifier[0].p == 0.25
    assert model.classifier[6].out_features == 7
    model = M.squeezenet1_1(num_classes=4, dropout=0.1).eval()
    assert model.classifier[0].p == 0.1 and model.num_classes == 4
    assert model(_input("squeezenet1_1")).shape == (2, 4)
    model = M.googlenet(num_classes=6, dropout=0.3, dropout_aux=0.6,
                        init_weights=False)
    assert model.dropout.p == 0.3 and model.aux1.dropout.p == 0.6
    assert model.aux2.fc2.out_features == 6


def test_squeezenet_version_error():
    with pytest.raises(ValueError, match="^SqueezeNet version: expected "
                       "'1_0' or '1_1', got '1_2'$"):
        M.SqueezeNet("1_2")


def test_squeezenet_final_conv_init():
    model = M.squeezenet1_0()
    final = model.classifier[1]
    assert abs(float(final.weight.std()) - 0.01) < 1e-3
    np.testing.assert_array_equal(final.bias, 0)
    np.testing.assert_array_equal(model.features[0].bias, 0)


def test_unknown_kwarg_is_type_error():
    with pytest.raises(TypeError):
        M.alexnet(not_an_argument=1)
    with pytest.raises(TypeError):
        M.densenet121(not_an_argument=1)


# -------------------------------------------------------------- unsqueeze

def test_unsqueeze():
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    assert featx.unsqueeze(x, 0).shape == (1, 2, 3)
    assert featx.unsqueeze(x, 2).shape == (2, 3, 1)
    assert featx.unsqueeze(x, -1).shape == (2, 3, 1)
    assert featx.unsqueeze(x, -3).shape == (1, 2, 3)
    np.testing.assert_array_equal(featx.unsqueeze(x, 1)[:, 0], x)
    assert featx.unsqueeze(x.astype(np.float64), 0).dtype == np.float32
    with pytest.raises(IndexError):
        featx.unsqueeze(x, 3)
    with pytest.raises(IndexError):
        featx.unsqueeze(x, -4)
    with pytest.raises(TypeError):
        featx.unsqueeze(x, 1.0)
    with pytest.raises(TypeError):
        featx.unsqueeze(x.astype(np.int64), 0)


def test_unsqueeze_traces():
    class Net(nn.Module):
        def forward(self, x):
            return featx.unsqueeze(x[:, 0], 1)

    x = np.random.default_rng(0).standard_normal((2, 3, 4)).astype(
        np.float32)
    _, eval_ = _names(Net())
    assert eval_ == ["x", "getitem", "unsqueeze"]
    got = create_feature_extractor(Net(), ["unsqueeze"])(x)["unsqueeze"]
    np.testing.assert_array_equal(got, x[:, None, 0])


@pytest.mark.parametrize("name,size", [("squeezenet1_0", 21),
                                       ("squeezenet1_1", 17),
                                       ("googlenet", 15)])
def test_smallest_torch_inputs(models, name, size):
    # the smallest inputs torchvision 0.29.1 accepts (measured)
    x = np.zeros((1, 3, size, size), np.float32)
    assert models(name)(x).shape == (1, 1000)


# ------------------------------------------------------- pretrained weights

# torchvision 0.29.1: the weights enum of each builder, and the names each
# module adds to its __all__.
ENUM_OF = {
    "alexnet": "AlexNet_Weights",
    "vgg11": "VGG11_Weights", "vgg11_bn": "VGG11_BN_Weights",
    "vgg13": "VGG13_Weights", "vgg13_bn": "VGG13_BN_Weights",
    "vgg16": "VGG16_Weights", "vgg16_bn": "VGG16_BN_Weights",
    "vgg19": "VGG19_Weights", "vgg19_bn": "VGG19_BN_Weights",
    "squeezenet1_0": "SqueezeNet1_0_Weights",
    "squeezenet1_1": "SqueezeNet1_1_Weights",
    "densenet121": "DenseNet121_Weights",
    "densenet161": "DenseNet161_Weights",
    "densenet169": "DenseNet169_Weights",
    "densenet201": "DenseNet201_Weights",
    "googlenet": "GoogLeNet_Weights",
    "inception_v3": "Inception_V3_Weights",
}
_STORAGE = {"float32": "FloatStorage", "int64": "LongStorage"}


class _Resolved(Exception):
    """Raised by the spy on resolve_weights: stops the builder there."""


def _module_of(name: str):
    return sys.modules[getattr(M, name).__module__]


def _state(model) -> dict[str, np.ndarray]:
    return {k: np.array(v) for k, v in model.state_dict().items()}


def _recognisable(model, seed: int) -> dict[str, np.ndarray]:
    """The model's state dict with every float entry replaced by
    seeded values, so that a load is told apart from an initialisation."""
    rng = np.random.default_rng(seed)
    return {k: (rng.standard_normal(v.shape).astype(v.dtype)
                if v.dtype.kind == "f" else v)
            for k, v in _state(model).items()}


def _assert_loaded(model, sd: dict[str, np.ndarray]) -> None:
    got = model.state_dict()
    assert sorted(got) == sorted(sd)
    for k, v in sd.items():
        np.testing.assert_array_equal(np.asarray(got[k]), v, err_msg=k)


def _write_torch_state_dict(path: Path, sd: dict[str, np.ndarray]) -> None:
    """``sd`` as ``torch.save(state_dict)`` writes it (zip), without torch."""
    items, storages = [], {}
    for i, (name, value) in enumerate(sd.items()):
        a = np.ascontiguousarray(value)
        strides = tuple(st // a.itemsize for st in a.strides)
        ref = p_storage(_STORAGE[a.dtype.name], str(i), a.size)
        items.append((p_str(name), p_tensor(ref, 0, a.shape, strides)))
        storages[str(i)] = a.astype(a.dtype.newbyteorder("<")).tobytes()
    write_torch_zip(path, p_pickle(p_dict(items)), storages)


def _old_style(sd: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """A DenseNet state dict as torchvision's files hold it: dense-layer
    keys ``norm.1.weight`` (not ``norm1.weight``), no
    ``num_batches_tracked``."""
    out = {}
    for k, v in sd.items():
        if k.endswith("num_batches_tracked"):
            continue
        for part in ("norm", "relu", "conv"):
            for i in ("1", "2"):
                k = k.replace(f".{part}{i}.", f".{part}.{i}.")
        out[k] = v
    return out


@pytest.fixture()
def checkpoints(tmp_path, monkeypatch) -> Path:
    """The (empty, temporary) torch cache's checkpoints directory."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    monkeypatch.setattr(dl, "_hub_dir", None)
    path = tmp_path / "torch_home" / "hub" / "checkpoints"
    path.mkdir(parents=True)
    return path


@pytest.fixture()
def served(monkeypatch):
    """Replaces WeightsEnum.get_state_dict: ``served[member] = sd`` makes
    that member's weights ``sd``; the members asked for are in
    ``served.asked``."""
    class Served(dict):
        asked: list

    table = Served()
    table.asked = []

    def get_state_dict(self, progress=True, check_hash=True, **kwargs):
        table.asked.append(self)
        return dict(table[self])

    monkeypatch.setattr(W.WeightsEnum, "get_state_dict", get_state_dict)
    return table


def test_weights_enums_are_exported():
    for name, enum_name in ENUM_OF.items():
        enum = getattr(M, enum_name)
        assert enum is M.get_model_weights(name)
        assert enum is getattr(W, enum_name)
        assert enum_name in M.__all__
        module = _module_of(name)
        assert getattr(module, enum_name) is enum
        assert enum_name in module.__all__
        # googlenet's count is of the model without its aux heads
        assert enum.IMAGENET1K_V1.meta["num_params"] == (
            TV_PARAMS_NO_AUX[name] if name == "googlenet"
            else TV_FACTS[name][0])
    assert list(M.VGG16_Weights.__members__) == [
        "IMAGENET1K_V1", "IMAGENET1K_FEATURES", "DEFAULT"]


@pytest.mark.parametrize("name", MODELS)
def test_weights_forms_resolve_to_the_builders_enum(name, monkeypatch):
    enum = getattr(M, ENUM_OF[name])
    module = _module_of(name)
    real = module.resolve_weights
    seen = []

    def spy(weights, weights_enum, kwargs, **kw):
        w = real(weights, weights_enum, kwargs, **kw)
        seen.append((w.enum, w.path, dict(kwargs)))
        raise _Resolved

    monkeypatch.setattr(module, "resolve_weights", spy)
    forms = [enum.IMAGENET1K_V1, enum.DEFAULT, "IMAGENET1K_V1", "DEFAULT",
             f"{enum.__name__}.IMAGENET1K_V1"]
    for form in forms:
        with pytest.raises(_Resolved):
            getattr(M, name)(weights=form)
    assert seen == [(enum.IMAGENET1K_V1, None, {"num_classes": 1000})] * 5
    with pytest.raises(_Resolved), pytest.warns(UserWarning,
                                                match="deprecated"):
        getattr(M, name)(pretrained=True)
    assert seen[-1][0] is enum.IMAGENET1K_V1
    with pytest.raises(TypeError, match=f"expected a {enum.__name__} member, "
                       rf"one of its names or None, got ResNet18_Weights\."
                       rf"IMAGENET1K_V1 \(of type ResNet18_Weights\)$"):
        getattr(M, name)(weights=M.ResNet18_Weights.DEFAULT)
    with pytest.raises(KeyError, match=f"^{enum.__name__} has no weights "
                       "'IMAGENET1K_V9'; choose one of IMAGENET1K_V1"):
        getattr(M, name)(weights="IMAGENET1K_V9")


@pytest.mark.parametrize("name", MODELS)
def test_num_classes_conflict_with_weights(name):
    with pytest.raises(ValueError,
                       match="^num_classes=10 conflicts with this model/weights, "
                       "which fix num_classes=1000; expected 1000 or no "
                       "num_classes argument$"):
        getattr(M, name)(weights="DEFAULT", num_classes=10)


@pytest.mark.parametrize("name,kwargs", [
    ("squeezenet1_0", {}),
    ("squeezenet1_1", {"num_classes": 10}),
    ("densenet121", {"num_classes": 10}),
    ("googlenet", {"aux_logits": False, "num_classes": 10}),
])
def test_weights_from_local_path(name, kwargs, tmp_path):
    featx.manual_seed(0)
    sd = _recognisable(getattr(M, name)(init_weights=False, **kwargs)
                       if name == "googlenet"
                       else getattr(M, name)(**kwargs), seed=1)
    path = tmp_path / f"{name}.npz"
    np.savez(path, **sd)
    for form in (path, str(path)):
        model = getattr(M, name)(weights=form, **kwargs)
        _assert_loaded(model, sd)
        assert model.training
    if name == "googlenet":
        # a local file is loaded into the model the arguments describe:
        # torchvision's pretrained defaults apply to the enum only
        assert model.transform_input is False and model.aux1 is None


def test_weights_path_that_does_not_fit(tmp_path):
    path = tmp_path / "sq.npz"
    np.savez(path, **_state(M.squeezenet1_0()))
    with pytest.raises(RuntimeError, match="the state dict has shape"):
        M.squeezenet1_1(weights=path)
    with pytest.raises(FileNotFoundError, match="nope.pth"):
        M.alexnet(weights=str(tmp_path / "nope.pth"))


def test_enum_weights_from_the_torch_cache(checkpoints):
    featx.manual_seed(0)
    sd = _recognisable(M.squeezenet1_1(), seed=2)
    enum = M.SqueezeNet1_1_Weights
    _write_torch_state_dict(checkpoints / enum.IMAGENET1K_V1.file_name, sd)
    assert enum.IMAGENET1K_V1.file_name == "squeezenet1_1-b8a52dc0.pth"
    for form in ("DEFAULT", enum.IMAGENET1K_V1,
                 "SqueezeNet1_1_Weights.IMAGENET1K_V1"):
        _assert_loaded(M.squeezenet1_1(weights=form), sd)
    with pytest.warns(UserWarning, match="deprecated"):
        _assert_loaded(M.squeezenet1_1(pretrained=True), sd)
    _assert_loaded(M.get_model("squeezenet1_1", weights="DEFAULT"), sd)
    assert sorted(p.name for p in checkpoints.iterdir()) == [
        "squeezenet1_1-b8a52dc0.pth"]  # nothing else was fetched


def test_densenet_old_style_keys_are_renamed(checkpoints, tmp_path):
    featx.manual_seed(0)
    new = _recognisable(M.densenet121(), seed=3)
    old = _old_style(new)
    assert "features.denseblock1.denselayer1.norm.1.weight" in old
    assert "features.denseblock4.denselayer16.conv.2.weight" in old
    assert "features.denseblock1.denselayer1.norm1.weight" not in old
    assert "features.transition1.norm.weight" in old  # untouched
    # what load_state_dict does with a missing num_batches_tracked
    want = {k: (np.zeros((), np.int64) if k.endswith("num_batches_tracked")
                else v) for k, v in new.items()}
    enum = M.DenseNet121_Weights
    _write_torch_state_dict(checkpoints / enum.IMAGENET1K_V1.file_name, old)
    _assert_loaded(M.densenet121(weights="DEFAULT"), want)
    path = tmp_path / "old.npz"
    np.savez(path, **old)
    _assert_loaded(M.densenet121(weights=path), want)
    path = tmp_path / "new.npz"
    np.savez(path, **new)
    _assert_loaded(M.densenet121(weights=path), new)


def test_googlenet_with_enum_weights(served):
    featx.manual_seed(0)
    sd = _recognisable(M.googlenet(init_weights=False), seed=4)
    assert any(k.startswith("aux1.") for k in sd)
    served[M.GoogLeNet_Weights.IMAGENET1K_V1] = sd
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no init_weights FutureWarning
        model = M.googlenet(weights="DEFAULT")
    assert served.asked == [M.GoogLeNet_Weights.IMAGENET1K_V1]
    # torchvision: transform_input on, aux heads loaded then removed
    assert model.transform_input is True
    assert model.aux_logits is False
    assert model.aux1 is None and model.aux2 is None
    _assert_loaded(model, {k: v for k, v in sd.items()
                           if not k.startswith(("aux1.", "aux2."))})
    train_names, _ = _names(model)
    assert not any(n.startswith("aux") for n in train_names)
    out = model.train()(_input("googlenet", batch=2))
    assert isinstance(out, np.ndarray) and out.shape == (2, 1000)

    model = M.googlenet(weights="DEFAULT", transform_input=False)
    assert model.transform_input is False and model.aux1 is None

    with pytest.warns(UserWarning, match="auxiliary heads"):
        model = M.googlenet(weights="DEFAULT", aux_logits=True)
    assert model.aux_logits is True and model.aux1 is not None
    _assert_loaded(model, sd)


def test_inception_v3_with_enum_weights(served):
    featx.manual_seed(0)
    sd = _recognisable(M.inception_v3(init_weights=False), seed=5)
    assert any(k.startswith("AuxLogits.") for k in sd)
    served[M.Inception_V3_Weights.IMAGENET1K_V1] = sd
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model = M.inception_v3(weights=M.Inception_V3_Weights.DEFAULT)
    assert served.asked == [M.Inception_V3_Weights.IMAGENET1K_V1]
    # torchvision: transform_input on; the aux head is kept (aux_logits
    # must be True with weights)
    assert model.transform_input is True
    assert model.aux_logits is True and model.AuxLogits is not None
    _assert_loaded(model, sd)
    model = M.inception_v3(weights="DEFAULT", transform_input=False,
                           aux_logits=True, init_weights=False)
    assert model.transform_input is False
    _assert_loaded(model, sd)


def test_alexnet_and_vgg_with_enum_weights(served, monkeypatch):
    # constant (broadcast) arrays: no memory for VGG's 138M values
    def constant_sd(model, value):
        return {k: np.broadcast_to(np.asarray(value, v.dtype), v.shape)
                for k, v in model.state_dict().items()}

    monkeypatch.setattr(nn.Linear, "reset_parameters", lambda self: None)
    featx.manual_seed(0)
    served[M.AlexNet_Weights.IMAGENET1K_V1] = constant_sd(M.alexnet(), 0.5)
    model = M.alexnet(weights="AlexNet_Weights.IMAGENET1K_V1")
    np.testing.assert_array_equal(model.features[0].weight, 0.5)
    np.testing.assert_array_equal(model.classifier[6].bias, 0.5)

    calls = []
    monkeypatch.setattr(nn.init, "kaiming_normal_",
                        lambda t, *a, **k: calls.append(t.shape))
    template = M.vgg11_bn(init_weights=False)
    served[M.VGG11_BN_Weights.IMAGENET1K_V1] = constant_sd(template, 0.25)
    del template
    # torchvision skips VGG's initialisation when loading weights, even
    # when init_weights=True is passed
    model = M.vgg11_bn(weights="DEFAULT", init_weights=True)
    assert calls == []
    np.testing.assert_array_equal(model.features[1].running_var, 0.25)
    np.testing.assert_array_equal(model.classifier[6].bias, 0.25)
    del model

    # IMAGENET1K_FEATURES has no categories: num_classes stays the caller's
    served[M.VGG16_Weights.IMAGENET1K_FEATURES] = {}
    with pytest.raises(RuntimeError, match="missing .in the model, not in the state dict"):
        M.vgg16(weights="IMAGENET1K_FEATURES", num_classes=7)
