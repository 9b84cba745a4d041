"""featx.models.resnet and the model registry.

Layout (state_dict keys, order, shapes, dtypes) is checked against the
torchvision 0.29.1 golden files in tests/golden/state_dict; values against
tests/golden/outputs (eager forward, eval and train mode).
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

import featx
from featx import models, nn
from featx.models import resnet

GOLDEN = Path(__file__).resolve().parent / "golden"
RESNETS = ["resnet18", "resnet34", "resnet50", "resnet101", "resnet152",
           "resnext50_32x4d", "resnext101_32x8d", "resnext101_64x4d",
           "wide_resnet50_2", "wide_resnet101_2"]


def _golden_rows(name):
    path = GOLDEN / "state_dict" / f"{name}.json"
    if not path.exists():
        pytest.skip(f"{path} not generated")
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.mark.parametrize("name", RESNETS)
def test_state_dict_matches_torchvision(name):
    golden = _golden_rows(name)
    model = getattr(models, name)()
    rows = [[k, list(np.shape(v)), str(np.asarray(v).dtype)]
            for k, v in model.state_dict().items()]
    assert [r[0] for r in rows] == [g[0] for g in golden]  # keys and order
    assert rows == golden  # shapes and dtypes


def test_registry():
    assert set(RESNETS) <= set(models.list_models())
    assert models.list_models(module=resnet) == sorted(RESNETS)
    assert models.list_models(include="resnext*") == [
        "resnext101_32x8d", "resnext101_64x4d", "resnext50_32x4d"]
    assert models.list_models(module=resnet, exclude="*101*") == sorted(
        n for n in RESNETS if "101" not in n)
    m = models.get_model("resnet18", num_classes=7)
    assert isinstance(m, resnet.ResNet) and m.fc.out_features == 7
    assert models.get_model_builder("ResNet18") is models.resnet18
    with pytest.raises(ValueError, match="resnet18") as e:
        models.get_model("resnet19")
    assert "list_models" in str(e.value)
    with pytest.raises(ValueError, match=r"register_model: the name "
                       r"'resnet18' is taken \(by featx.models.resnet."
                       r"resnet18\); expected a name not yet registered$"):
        models.register_model("resnet18")(lambda: None)


def test_weights_names_are_checked_before_any_download():
    # Pretrained loading itself is tested offline in test_weights.py / test_download.py.
    with pytest.raises(ValueError, match="IMAGENET1K_V1, IMAGENET1K_V2, DEFAULT"):
        models.resnet50(weights="IMAGENET1K_V3")


def test_builder_overrides_and_block_checks():
    with pytest.raises(ValueError, match="^groups=8 conflicts with this "
                       "model/weights, which fix groups=32; expected 32 or no "
                       "groups argument$"):
        models.resnext50_32x4d(groups=8)
    m = models.resnext50_32x4d(groups=32)  # same value is fine
    assert m.layer1[0].conv2.groups == 32
    assert m.layer1[0].conv2.weight.shape == (128, 4, 3, 3)
    with pytest.raises(ValueError, match=r"^BasicBlock \(resnet18/34\): expected "
                       r"groups=1 and base_width=64 .*, got groups=2, base_width=64$"):
        models.resnet18(groups=2)
    with pytest.raises(NotImplementedError, match=r"^BasicBlock \(resnet18/34\) "
                       r"dilation: expected 1 .*, got 2$"):
        models.resnet18(replace_stride_with_dilation=[False, False, True])
    with pytest.raises(ValueError, match=r"^ResNet replace_stride_with_dilation: "
                       r"expected None or 3 bools .*, got \[True\]$"):
        models.resnet50(replace_stride_with_dilation=[True])


def test_structure_and_attributes():
    m = models.resnet18()
    names = [n for n, _ in m.named_modules()]
    assert names[:12] == ["", "conv1", "bn1", "relu", "maxpool", "layer1",
                          "layer1.0", "layer1.0.conv1", "layer1.0.bn1",
                          "layer1.0.relu", "layer1.0.conv2", "layer1.0.bn2"]
    assert names[-2:] == ["avgpool", "fc"]
    assert m.layer1[0].downsample is None
    assert isinstance(m.layer2[0].downsample, nn.Sequential)
    assert m.inplanes == 512 and m.dilation == 1 and m.groups == 1
    assert m.base_width == 64 and m._norm_layer is nn.BatchNorm2d
    assert m.layer2[0].stride == 2 and resnet.BasicBlock.expansion == 1
    b = models.resnet50().layer3[0]
    assert isinstance(b, resnet.Bottleneck) and b.expansion == 4
    assert b.conv2.stride == (2, 2) and b.conv1.stride == (1, 1)
    w = models.wide_resnet50_2().layer1[0]
    assert w.conv1.out_channels == 128 and w.conv3.out_channels == 256


def test_dilation_keeps_resolution():
    m = models.resnet50(replace_stride_with_dilation=[False, True, True])
    assert m.layer4[1].conv2.dilation == (4, 4)
    assert m.layer4[1].conv2.padding == (4, 4)
    x = np.zeros((1, 3, 64, 64), np.float32)
    m.eval()
    feats = m.layer4(m.layer3(m.layer2(m.layer1(m.maxpool(m.relu(
        m.bn1(m.conv1(x))))))))
    assert feats.shape == (1, 2048, 8, 8)


def test_init_distributions():
    featx.manual_seed(0)
    m = models.resnet50()
    w = m.layer3[0].conv2.weight  # (256, 256, 3, 3), fan_out = 256 * 9
    std = math.sqrt(2.0 / (256 * 9))
    assert abs(float(w.std()) - std) < 0.03 * std
    assert (m.bn1.weight == 1).all() and (m.bn1.bias == 0).all()
    assert (m.layer1[0].bn3.weight == 1).all()
    bound = 1 / math.sqrt(2048)
    assert np.abs(m.fc.weight).max() <= bound
    assert np.abs(m.fc.bias).max() <= bound
    z = models.resnet50(zero_init_residual=True)
    assert all((blk.bn3.weight == 0).all() for layer in
               (z.layer1, z.layer2, z.layer3, z.layer4) for blk in layer)
    z18 = models.resnet18(zero_init_residual=True)
    assert (z18.layer2[1].bn2.weight == 0).all()
    assert (z18.layer2[1].bn1.weight == 1).all()


def test_seeded_models_are_identical():
    featx.manual_seed(5)
    a = models.resnet18()
    featx.manual_seed(5)
    b = models.resnet18()
    for (k, v), w in zip(a.state_dict().items(), b.state_dict().values(),
                          strict=True):
        np.testing.assert_array_equal(v, w, err_msg=k)


def test_eager_forward_resnet18_64x64():
    m = models.resnet18().eval()
    x = np.random.default_rng(0).random((2, 3, 64, 64), dtype=np.float32)
    keep = x.copy()
    y = m(x)
    assert isinstance(y, np.ndarray) and y.shape == (2, 1000)
    assert y.dtype == np.float32 and np.isfinite(y).all()
    np.testing.assert_array_equal(x, keep)
    assert models.resnet18(num_classes=10).eval()(x[:1]).shape == (1, 10)


def test_eager_forward_empty_batch():
    m = models.resnet18().eval()
    assert m(np.zeros((0, 3, 64, 64), np.float32)).shape == (0, 1000)


# ---------------------------------------------------------------- golden values

def _golden(name):
    path = GOLDEN / "outputs" / f"{name}.npz"
    if not path.exists():
        pytest.skip(f"{path} not generated")
    manifest = json.loads((GOLDEN / "manifest.json").read_text("utf-8"))
    with np.load(path) as z:
        return manifest["outputs"][name], {k: z[k] for k in z.files}


def _with_synthetic_weights(name, entry):
    from synthetic import synthetic_state_dict

    model = getattr(models, name)()
    shapes = {k: tuple(np.shape(v)) for k, v in model.state_dict().items()}
    result = model.load_state_dict(synthetic_state_dict(
        shapes, seed=entry["weight_seed"]))
    assert result.missing_keys == [] and result.unexpected_keys == []
    return model


@pytest.mark.parametrize("name", ["resnet18", "resnet50"])
def test_eager_matches_torchvision_eval(name):
    from synthetic import assert_close

    entry, golden = _golden(name)
    model = _with_synthetic_weights(name, entry).eval()
    assert_close(model(golden["input"].copy()), golden["fc"],
                 f"{name} eager eval logits")


def test_eager_matches_torchvision_train_mode():
    from synthetic import assert_close

    entry, golden = _golden("resnet18")
    if "train/fc" not in golden:
        pytest.skip("no train-mode golden data")
    model = _with_synthetic_weights("resnet18", entry).train()
    assert_close(model(golden["input"].copy()), golden["train/fc"],
                 "resnet18 eager train logits")
    state = model.state_dict()
    for key in entry["train_state_keys"]:
        want = golden["train_state/" + key]
        if key.endswith("num_batches_tracked"):
            assert int(state[key]) == int(want) == 1
        else:
            assert_close(state[key], want, f"running stat {key}")
