"""Weights enums, ``weights=`` forms, legacy ``pretrained=`` and the builder helper.

No torch and no internet: enum checkpoints are hand-written torch zip files put in a temporary
``$TORCH_HOME`` (or served by the loopback server of ``test_download``). The facts are compared
with the committed ``featx/models/weights.json``; one ``oracle`` test compares that file with
torchvision itself when it is installed.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import warnings
from pathlib import Path

import numpy as np
import pytest
from checkpoint_craft import (
    p_dict,
    p_pickle,
    p_storage,
    p_str,
    p_tensor,
    write_torch_zip,
)

import featx
from featx import models
from featx.hub import download as dl
from featx.hub.download import DownloadError
from featx.models import (
    ResNet18_Weights,
    ResNet50_Weights,
    Weights,
    WeightsEnum,
    get_model_weights,
    get_weight,
)
from featx.models import _weights as W
from featx.transforms import ImageClassification

JSON_PATH = Path(models.__file__).parent / "weights.json"
FACTS = json.loads(JSON_PATH.read_text(encoding="utf-8"))

RESNET_ENUMS = {
    "resnet18": "ResNet18_Weights",
    "resnet34": "ResNet34_Weights",
    "resnet50": "ResNet50_Weights",
    "resnet101": "ResNet101_Weights",
    "resnet152": "ResNet152_Weights",
    "resnext50_32x4d": "ResNeXt50_32X4D_Weights",
    "resnext101_32x8d": "ResNeXt101_32X8D_Weights",
    "resnext101_64x4d": "ResNeXt101_64X4D_Weights",
    "wide_resnet50_2": "Wide_ResNet50_2_Weights",
    "wide_resnet101_2": "Wide_ResNet101_2_Weights",
}

_STORAGE = {"float32": "FloatStorage", "int64": "LongStorage"}


def write_torch_state_dict(path: Path, sd: dict[str, np.ndarray]) -> None:
    """Write ``sd`` as ``torch.save(state_dict)`` would (zip format), without torch."""
    items, storages = [], {}
    for i, (name, value) in enumerate(sd.items()):
        a = np.ascontiguousarray(value)
        strides = tuple(s // a.itemsize for s in a.strides)
        ref = p_storage(_STORAGE[a.dtype.name], str(i), a.size)
        items.append((p_str(name), p_tensor(ref, 0, a.shape, strides)))
        storages[str(i)] = a.astype(a.dtype.newbyteorder("<")).tobytes()
    write_torch_zip(path, p_pickle(p_dict(items)), storages)


def _state(model) -> dict[str, np.ndarray]:
    return {k: np.array(v) for k, v in model.state_dict().items()}


@pytest.fixture(scope="module")
def resnet18_sd() -> dict[str, np.ndarray]:
    """A resnet18 state dict with recognisable values (not the random init of any seed)."""
    featx.manual_seed(1234)
    sd = _state(models.resnet18())
    sd["fc.bias"] = np.arange(1000, dtype=np.float32) / 1000
    return sd


@pytest.fixture()
def torch_home(tmp_path, monkeypatch):
    """An empty $TORCH_HOME; returns its hub/checkpoints directory (created)."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    monkeypatch.setattr(dl, "_hub_dir", None)
    ckpt = tmp_path / "torch_home" / "hub" / "checkpoints"
    ckpt.mkdir(parents=True)
    return ckpt


@pytest.fixture()
def cached_resnet18(torch_home, resnet18_sd):
    """resnet18's IMAGENET1K_V1 file, as torchvision would have left it in the cache."""
    path = torch_home / ResNet18_Weights.IMAGENET1K_V1.file_name
    write_torch_state_dict(path, resnet18_sd)
    return path


def _assert_loaded(model, sd) -> None:
    got = model.state_dict()
    assert list(got) == list(sd)
    for k, v in sd.items():
        np.testing.assert_array_equal(np.asarray(got[k]), v)


# --------------------------------------------------------------------------- facts


def test_resnet50_enum_names_members_and_default():
    assert ResNet50_Weights.__name__ == "ResNet50_Weights"
    assert issubclass(ResNet50_Weights, WeightsEnum)
    assert list(ResNet50_Weights.__members__) == [
        "IMAGENET1K_V1",
        "IMAGENET1K_V2",
        "DEFAULT",
    ]
    assert [m.name for m in ResNet50_Weights] == ["IMAGENET1K_V1", "IMAGENET1K_V2"]
    assert ResNet50_Weights.DEFAULT is ResNet50_Weights.IMAGENET1K_V2
    assert ResNet50_Weights["IMAGENET1K_V1"] is ResNet50_Weights.IMAGENET1K_V1
    assert repr(ResNet50_Weights.DEFAULT) == "ResNet50_Weights.IMAGENET1K_V2"
    assert isinstance(ResNet50_Weights.IMAGENET1K_V1.value, Weights)


def test_resnet50_v2_facts():
    w = ResNet50_Weights.IMAGENET1K_V2
    assert w.url == "https://download.pytorch.org/models/resnet50-11ad3fa6.pth"
    assert w.file_name == "resnet50-11ad3fa6.pth" and w.hash_prefix == "11ad3fa6"
    assert w.meta["num_params"] == 25557032
    assert w.meta["_metrics"] == {"ImageNet-1K": {"acc@1": 80.858, "acc@5": 95.434}}
    assert w.meta["min_size"] == (1, 1)
    cats = w.meta["categories"]
    assert len(cats) == 1000 and cats[0] == "tench" and cats[-1] == "toilet tissue"
    assert ResNet50_Weights.IMAGENET1K_V1.url.endswith("/resnet50-0676ba61.pth")
    assert (
        ResNet50_Weights.IMAGENET1K_V1.meta["_metrics"]["ImageNet-1K"]["acc@1"] == 76.13
    )


def test_every_enum_equals_the_json_facts():
    enums = FACTS["enums"]
    assert W.list_weights_enums() == sorted(enums)
    for cls_name, spec in enums.items():
        cls = getattr(W, cls_name)
        assert cls.__name__ == cls_name
        names = list(spec["members"]) + (["DEFAULT"] if spec["DEFAULT"] else [])
        assert list(cls.__members__) == names
        if spec["DEFAULT"]:
            assert cls.DEFAULT is cls[spec["DEFAULT"]]
        for name, m in spec["members"].items():
            w = cls[name]
            assert w.url == m["url"]
            assert w.file_name == m["file_name"] == m["url"].rsplit("/", 1)[-1]
            assert w.hash_prefix == m["hash_prefix"]
            assert w.transforms.keywords == m["transforms"]
            meta = dict(m["meta"])
            cat = meta.pop("categories")
            assert w.meta["categories"] == (
                None if cat is None else FACTS["category_lists"][cat]
            )
            for k, v in meta.items():
                # json text, so that NaN accuracies compare equal
                assert json.dumps(w.meta[k]) == json.dumps(v), (cls_name, name, k)
            assert isinstance(w.meta["min_size"], tuple)
        for model in spec["models"]:
            assert get_model_weights(model) is cls


def test_resnet_enums_are_exported_and_match_builders():
    for name, cls_name in RESNET_ENUMS.items():
        cls = getattr(models, cls_name)
        assert cls_name in models.__all__
        assert get_model_weights(name) is cls
        assert get_model_weights(getattr(models, name)) is cls
        assert get_model_weights(name.upper()) is cls
    for name in ("Weights", "WeightsEnum", "get_model_weights", "get_weight"):
        assert name in models.__all__


def test_get_model_weights_unknown_name():
    with pytest.raises(ValueError, match="resnet50"):
        get_model_weights("resnet05")
    # a TypeError, as torchvision raises (its traceback showed a private class
    # _NotAModelError, a TypeError and ValueError)
    with pytest.raises(TypeError) as e:
        get_model_weights(3)
    assert type(e.value) is TypeError
    assert str(e.value) == ("get_model_weights: expected a model name or builder function, "
                            "got 3 (of type int)")


@pytest.mark.parametrize("fn", [models.get_model, models.get_model_builder])
def test_get_model_of_a_non_name_is_a_type_error(fn):
    # AttributeError "'function' object has no attribute 'lower'" before
    with pytest.raises(TypeError) as e:
        fn(models.resnet18)
    assert str(e.value).startswith("get_model: expected a model name (a str such as "
                                   "'resnet50'), got <function resnet18")
    assert str(e.value).endswith("(of type function); call resnet18() itself")
    with pytest.raises(TypeError, match=r"^get_model: expected a model name \(a str such "
                       r"as 'resnet50'\), got 3 \(of type int\)$"):
        fn(3)


def test_get_weight():
    assert (
        get_weight("ResNet50_Weights.IMAGENET1K_V1") is ResNet50_Weights.IMAGENET1K_V1
    )
    assert get_weight("ResNet50_Weights.DEFAULT") is ResNet50_Weights.IMAGENET1K_V2
    with pytest.raises(ValueError, match=r"^get_weight: expected '<EnumClass>\.<MEMBER>' "
                       r"\(one dot\), e\.g\. .*, got 'ResNet50_Weights'$"):
        get_weight("ResNet50_Weights")
    with pytest.raises(ValueError, match=r"^get_weight: no weights enum named "
                       r"'ResNet51_Weights' in 'ResNet51_Weights\.IMAGENET1K_V1'; "
                       r"expected one of list_weights_enums\(\) \(did you mean "
                       r"'ResNet50_Weights'"):
        get_weight("ResNet51_Weights.IMAGENET1K_V1")
    # an unknown member: KeyError as in torchvision, ValueError as featx documented
    for exc in (KeyError, ValueError, W.UnknownWeightsError):
        with pytest.raises(exc, match="^ResNet50_Weights has no weights 'IMAGENET1K_V9'; "
                           "choose one of IMAGENET1K_V1, IMAGENET1K_V2, DEFAULT$"):
            get_weight("ResNet50_Weights.IMAGENET1K_V9")


def test_verify():
    v1 = ResNet50_Weights.IMAGENET1K_V1
    assert ResNet50_Weights.verify(None) is None
    assert ResNet50_Weights.verify(v1) is v1
    assert ResNet50_Weights.verify("IMAGENET1K_V1") is v1
    assert ResNet50_Weights.verify("ResNet50_Weights.IMAGENET1K_V1") is v1
    assert ResNet50_Weights.verify("DEFAULT") is ResNet50_Weights.IMAGENET1K_V2
    with pytest.raises(
        TypeError, match=r"^ResNet50_Weights\.verify: expected a ResNet50_Weights member, "
        r"one of its names or None, got ResNet18_Weights\.IMAGENET1K_V1 \(of type "
        r"ResNet18_Weights\)$"
    ):
        ResNet50_Weights.verify(ResNet18_Weights.IMAGENET1K_V1)
    with pytest.raises(TypeError, match=r"got 3 \(of type int\)$"):
        ResNet50_Weights.verify(3)
    # torchvision raises KeyError here; featx documented ValueError: both catch it
    for exc in (KeyError, ValueError):
        with pytest.raises(exc, match="^ResNet50_Weights has no weights 'IMAGENET'; choose "
                           "one of IMAGENET1K_V1, IMAGENET1K_V2, DEFAULT$") as e:
            ResNet50_Weights.verify("IMAGENET")
        assert isinstance(e.value, W.UnknownWeightsError)
    with pytest.raises(KeyError, match="no such file: 'X'"):
        models.resnet50(weights="X")


def test_members_pickle():
    for w in (ResNet50_Weights.IMAGENET1K_V2, W.VGG16_Weights.IMAGENET1K_FEATURES):
        assert pickle.loads(pickle.dumps(w)) is w


def test_transforms_are_featx_presets():
    t = ResNet50_Weights.IMAGENET1K_V2.transforms()
    assert isinstance(t, ImageClassification)
    assert (t.crop_size, t.resize_size, t.interpolation) == (224, 232, "bilinear")
    assert t.mean == (0.485, 0.456, 0.406) and t.std == (0.229, 0.224, 0.225)
    assert ResNet50_Weights.IMAGENET1K_V1.transforms().resize_size == 256
    swag = W.ViT_H_14_Weights.IMAGENET1K_SWAG_E2E_V1.transforms()
    assert (swag.crop_size, swag.resize_size, swag.interpolation) == (
        518,
        518,
        "bicubic",
    )
    feats = W.VGG16_Weights.IMAGENET1K_FEATURES
    assert feats.meta["categories"] is None
    assert feats.transforms().std[0] == pytest.approx(1 / 255)
    assert ResNet50_Weights.IMAGENET1K_V2.transforms(crop_size=128).crop_size == 128


# --------------------------------------------------------------------------- weights= forms


def test_enum_string_and_default_forms_load_from_torch_cache(
    cached_resnet18, resnet18_sd
):
    for form in (
        ResNet18_Weights.IMAGENET1K_V1,
        ResNet18_Weights.DEFAULT,
        "IMAGENET1K_V1",
        "ResNet18_Weights.IMAGENET1K_V1",
        "DEFAULT",
    ):
        _assert_loaded(models.resnet18(weights=form), resnet18_sd)
    _assert_loaded(models.get_model("resnet18", weights="DEFAULT"), resnet18_sd)


def test_path_forms(tmp_path, resnet18_sd):
    pth = tmp_path / "mine.pth"
    write_torch_state_dict(pth, resnet18_sd)
    npz = tmp_path / "mine.npz"
    np.savez(npz, **resnet18_sd)
    for form in (str(pth), pth, str(npz), npz):
        _assert_loaded(models.resnet18(weights=form), resnet18_sd)


def test_path_keeps_num_classes_of_the_caller(tmp_path, resnet18_sd):
    sd = dict(resnet18_sd)
    sd["fc.weight"] = sd["fc.weight"][:10].copy()
    sd["fc.bias"] = sd["fc.bias"][:10].copy()
    path = tmp_path / "ten.npz"
    np.savez(path, **sd)
    _assert_loaded(models.resnet18(weights=path, num_classes=10), sd)


def test_bad_weights_arguments(tmp_path):
    with pytest.raises(ValueError, match="IMAGENET1K_V1, DEFAULT"):
        models.resnet18(weights="IMAGENET1K_V2")
    with pytest.raises(FileNotFoundError, match="nope.pth"):
        models.resnet18(weights=str(tmp_path / "nope.pth"))
    with pytest.raises(FileNotFoundError):
        models.resnet18(weights="nope.safetensors")
    with pytest.raises(TypeError, match=r"^ResNet18_Weights\.verify: expected a "
                       r"ResNet18_Weights member, one of its names or None, got "
                       r"ResNet50_Weights\.IMAGENET1K_V2 \(of type ResNet50_Weights\)$"):
        models.resnet18(weights=ResNet50_Weights.DEFAULT)
    with pytest.raises(TypeError, match=r"got 3 \(of type int\)$"):
        models.resnet18(weights=3)


def test_checkpoint_that_does_not_fit_gives_load_state_dict_error(
    tmp_path, resnet18_sd
):
    path = tmp_path / "r18.npz"
    np.savez(path, **resnet18_sd)
    with pytest.raises(
        RuntimeError, match=r"^ResNet\.load_state_dict: the state dict does not fit"
    ):
        models.resnet34(weights=path)
    with pytest.raises(RuntimeError, match="fc.weight: the state dict has shape"):
        models.resnet18(weights=path, num_classes=10)


def test_num_classes_conflict_with_weights_categories(torch_home):
    with pytest.raises(
        ValueError, match=r"^num_classes=10 conflicts with this model/weights, which fix "
        r"num_classes=1000; expected 1000 or no num_classes argument$"
    ):
        models.resnet50(weights=ResNet50_Weights.IMAGENET1K_V2, num_classes=10)
    kwargs = {"num_classes": 1000}
    W.resolve_weights("DEFAULT", ResNet50_Weights, kwargs)
    assert kwargs == {"num_classes": 1000}
    kwargs = {}
    W.resolve_weights("DEFAULT", ResNet50_Weights, kwargs)
    assert kwargs == {"num_classes": 1000}
    assert os.listdir(torch_home) == []  # resolving downloads nothing


def test_resolve_weights_without_categories_leaves_num_classes():
    kwargs = {"num_classes": 7}
    w = W.resolve_weights("IMAGENET1K_FEATURES", W.VGG16_Weights, kwargs)
    assert w.enum is W.VGG16_Weights.IMAGENET1K_FEATURES and kwargs == {
        "num_classes": 7
    }
    assert not W.resolve_weights(None, W.VGG16_Weights, {})


# --------------------------------------------------------------------------- pretrained=


def _warnings_of(fn):
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        out = fn()
    return out, [(w.category, str(w.message), w.filename) for w in rec]


def test_pretrained_true_means_first_imagenet_weights_and_warns(
    cached_resnet18, resnet18_sd
):
    model, rec = _warnings_of(lambda: models.resnet18(pretrained=True))
    _assert_loaded(model, resnet18_sd)
    # one warning in featx's words (the two of torchvision's were copied word for word)
    assert rec == [(UserWarning,
                    "resnet18(pretrained=True) is deprecated (replaced by weights= in "
                    "torchvision 0.13); it means weights=ResNet18_Weights.IMAGENET1K_V1. "
                    "Expected weights=ResNet18_Weights.IMAGENET1K_V1 (or "
                    "ResNet18_Weights.DEFAULT, the best ones).",
                    __file__)]  # attributed to the caller's line


def test_pretrained_true_on_resnet50_is_v1_not_default():
    kwargs = {"pretrained": True}
    w, rec = _warnings_of(lambda: W.resolve_weights(None, ResNet50_Weights, kwargs))
    assert w.enum is ResNet50_Weights.IMAGENET1K_V1
    assert kwargs == {"num_classes": 1000} and len(rec) == 1
    assert "it means weights=ResNet50_Weights.IMAGENET1K_V1." in rec[0][1]
    for name in (
        "regnet_y_128gf",
        "vit_h_14",
    ):  # torchvision has no legacy weights there
        with pytest.raises(ValueError, match=rf"^{name}\(pretrained=True\): torchvision has "
                           r"no legacy default weights for this model; expected "
                           r"pretrained=False, or weights= one of "):
            W.resolve_weights(None, get_model_weights(name), {"pretrained": True})


def test_pretrained_false_warns_and_means_random(torch_home):
    model, rec = _warnings_of(lambda: models.resnet18(pretrained=False))
    assert isinstance(model, models.ResNet)
    assert [(c, m) for c, m, _ in rec] == [(
        UserWarning,
        "resnet18(pretrained=False) is deprecated (replaced by weights= in torchvision "
        "0.13); it means weights=None (random initialisation). Expected weights=None.")]


def test_pretrained_and_weights_together_is_an_error():
    with pytest.raises(
        TypeError, match="both 'weights' and the deprecated 'pretrained'"
    ):
        models.resnet18(weights="DEFAULT", pretrained=True)


# --------------------------------------------------------------------------- download


def test_enum_downloads_into_torch_cache_over_loopback(
    torch_home, resnet18_sd, monkeypatch
):
    from test_download import _Server

    raw_path = torch_home.parent / "staging.pth"
    write_torch_state_dict(raw_path, resnet18_sd)
    data = raw_path.read_bytes()
    raw_path.unlink()
    name = f"resnet18-{hashlib.sha256(data).hexdigest()[:8]}.pth"
    server = _Server()
    try:
        server.files["/" + name] = data
        value = ResNet18_Weights.IMAGENET1K_V1.value
        monkeypatch.setattr(value, "url", server.url(name))
        model = models.resnet18(weights="DEFAULT", progress=False)
        _assert_loaded(model, resnet18_sd)
        assert os.listdir(torch_home) == [name]
        models.resnet18(weights="DEFAULT", progress=False)
        assert server.requests == ["/" + name]  # the second build read the cache
    finally:
        server.close()


def test_enum_offline_error_says_where_to_put_the_file(torch_home, monkeypatch):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    name = ResNet18_Weights.IMAGENET1K_V1.file_name
    value = ResNet18_Weights.IMAGENET1K_V1.value
    monkeypatch.setattr(value, "url", f"http://127.0.0.1:{port}/{name}")
    with pytest.raises(DownloadError) as info:
        models.resnet18(weights=ResNet18_Weights.IMAGENET1K_V1)
    assert str(torch_home / name) in str(info.value)
    assert os.listdir(torch_home) == []


# --------------------------------------------------------------------------- oracle


@pytest.mark.oracle
def test_json_matches_installed_torchvision():
    tv_models = pytest.importorskip("torchvision.models")
    for model_name in tv_models.list_models(module=tv_models):
        tv_enum = tv_models.get_model_weights(model_name)
        fx_enum = get_model_weights(model_name)
        assert fx_enum.__name__ == tv_enum.__name__
        assert list(fx_enum.__members__) == list(tv_enum.__members__)
        for name, tv in tv_enum.__members__.items():
            fx = fx_enum[name]
            assert fx.name == tv.name and fx.url == tv.url
            tv_meta = {k: v for k, v in tv.meta.items() if k != "_docs"}
            fx_meta = {k: v for k, v in fx.meta.items() if k != "_docs"}
            # json text: NaN (VGG16 IMAGENET1K_FEATURES accuracy) compares equal, tuples = lists
            assert json.dumps(fx_meta, sort_keys=True) == json.dumps(
                tv_meta, sort_keys=True
            )
            tv_t, fx_t = tv.transforms(), fx.transforms()
            assert fx_t.crop_size == tv_t.crop_size[0]
            assert fx_t.resize_size == tv_t.resize_size[0]
            assert fx_t.interpolation == tv_t.interpolation.value
            assert list(fx_t.mean) == list(tv_t.mean) and list(fx_t.std) == list(
                tv_t.std
            )


@pytest.mark.oracle
def test_file_saved_by_torch_in_torch_cache_is_used(torch_home):
    """A checkpoint torch wrote into $TORCH_HOME/hub/checkpoints (as torchvision's download
    would) is what resnet18(weights=DEFAULT) loads; outputs match torchvision's."""
    torch = pytest.importorskip("torch")
    tv_models = pytest.importorskip("torchvision.models")
    torch.manual_seed(0)
    tv = tv_models.resnet18().eval()
    torch.save(tv.state_dict(), torch_home / ResNet18_Weights.IMAGENET1K_V1.file_name)
    model = models.resnet18(weights=ResNet18_Weights.DEFAULT).eval()
    x = np.random.default_rng(0).standard_normal((1, 3, 64, 64)).astype(np.float32)
    with torch.no_grad():
        want = tv(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(np.asarray(model(x)), want, rtol=1e-4, atol=1e-4)


def test_weights_path_that_is_a_folder_says_so(tmp_path):
    folder = tmp_path / "resnet18.pth"
    folder.mkdir()
    with pytest.raises(IsADirectoryError, match="is a folder; expected a checkpoint file"):
        featx.models.resnet18(weights=str(folder))
