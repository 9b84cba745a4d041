"""Error messages a fresh user meets: each names what was wrong, the value
seen and what was expected (library and CLI)."""
from __future__ import annotations

import numpy as np
import pytest

import featx
import featx.nn as nn
from featx.cli import main
from featx.feature_extraction import (create_feature_extractor,
                                      get_graph_node_names)


class Block(nn.Module):
    """A user module that is a leaf of the extractor and holds a layer."""

    def __init__(self):
        super().__init__()
        self.inner = nn.Sequential(nn.Conv2d(3, 4, 5))

    def forward(self, x):
        return self.inner(x)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(Block(), nn.ReLU())

    def forward(self, x):
        return self.features(x)


def test_error_in_a_leaf_names_the_inner_module_by_its_full_path():
    m = Net().eval()
    x = np.zeros((1, 3, 2, 2), np.float32)
    with pytest.raises(ValueError) as direct:
        m(x)
    assert "in module 'features.0.inner.0' (Conv2d)" in str(direct.value)
    ex = create_feature_extractor(
        m, ["features.0"], tracer_kwargs={"leaf_modules": [Block]})
    with pytest.raises(ValueError) as e:
        ex(x)
    msg = str(e.value)
    assert msg.startswith("node 'features.0': ")
    assert "in module 'features.0.inner.0' (Conv2d)" in msg


@pytest.mark.parametrize("bad", [None, "image.jpg"])
def test_extractor_rejects_a_non_array_input_up_front(bad):
    ex = create_feature_extractor(featx.models.resnet18().eval(), ["layer1"])
    with pytest.raises(TypeError) as e:
        ex(bad)
    msg = str(e.value)
    assert "input 'x' must be a float array" in msg
    assert type(bad).__name__ in msg and "conv2d_bn" not in msg


def test_none_is_accepted_where_it_is_the_arguments_default():
    class Opt(nn.Module):
        def forward(self, x, scale=None):
            return x * 2

    out = create_feature_extractor(Opt(), ["mul"])(
        np.ones((1, 2), np.float32), None)
    np.testing.assert_array_equal(out["mul"], np.full((1, 2), 2.0))


def test_a_torch_model_is_named_by_its_qualified_type_with_a_remedy():
    class ResNet:  # stands in for torchvision.models.resnet.ResNet
        pass

    ResNet.__module__ = "torchvision.models.resnet"
    ResNet.__qualname__ = "ResNet"
    with pytest.raises(TypeError) as e:
        get_graph_node_names(ResNet())
    msg = str(e.value)
    assert "got torchvision.models.resnet.ResNet" in msg
    assert "featx.models.get_model(" in msg and "load_state_dict" in msg
    with pytest.raises(TypeError, match=r"got builtins\.|got int$"):
        get_graph_node_names(3)


@pytest.mark.parametrize("n,exc", [(-1, ValueError), (2.5, TypeError),
                                   (True, TypeError)])
def test_get_model_validates_num_classes(n, exc):
    with pytest.raises(exc) as e:
        featx.models.get_model("resnet18", num_classes=n)
    msg = str(e.value)
    assert "num_classes must be an int >= 0" in msg and repr(n) in msg


def test_load_state_dict_rejects_a_non_str_key():
    m = nn.Linear(2, 3)
    with pytest.raises(TypeError) as e:
        m.load_state_dict({5: np.zeros(3, np.float32)})
    assert "keys must be str" in str(e.value) and "got 5 (int)" in str(e.value)


def _cli_error(capsys, *argv):
    assert main(list(argv)) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("featx: error: ") and len(err.splitlines()) == 1
    return err


def test_cli_unknown_node_that_is_a_path_hints_at_argument_order(
        tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "photos").mkdir()
    err = _cli_error(capsys, "extract", "resnet18", "--nodes", "layer1",
                     "photos")
    assert "node 'photos' is not present" in err
    assert "give the inputs first" in err
    assert "featx extract resnet18 photos --nodes layer1" in err
    err = _cli_error(capsys, "extract", "resnet18", "--nodes", "nosuch")
    assert "inputs first" not in err


def test_cli_weights_directory_is_named_as_such(tmp_path, capsys):
    err = _cli_error(capsys, "extract", "resnet18", str(tmp_path),
                     "--nodes", "layer1", "--weights", str(tmp_path))
    assert err.startswith(f"featx: error: --weights={str(tmp_path)!r} is a folder; expected "
                          "a checkpoint file (.pth, .pt, .bin, .ckpt, .tar, .safetensors, "
                          ".npz)"), err
    assert err.endswith("; or a weights name such as DEFAULT"), err


def test_cli_unknown_model_points_to_featx_models(capsys):
    err = _cli_error(capsys, "nodes", "resnet1")
    assert "Unknown model 'resnet1'; did you mean " in err and "'resnet18'" in err
    assert "Run 'featx models'" in err and "list_models" not in err
    with pytest.raises(ValueError, match=r"list_models\(\)"):
        featx.models.get_model("resnet1")


def test_a_torchvision_model_featx_does_not_build_is_named_as_such(capsys):
    # 'Unknown model' / a plain AttributeError, though featx knows its weights
    n = len(featx.models.list_models())
    with pytest.raises(ValueError) as e:
        featx.models.get_model("vit_b_16")
    assert str(e.value) == (
        "'vit_b_16' is a torchvision model that featx does not build yet (featx "
        "builds torchvision's classification CNNs). See featx.models.list_models() "
        f"for the {n} available models.")
    with pytest.raises(AttributeError) as e:
        getattr(featx.models, "swin_t")  # noqa: B009
    assert str(e.value) == (
        "module 'featx.models' has no attribute 'swin_t' (swin_t is a torchvision "
        "model that featx does not build yet; list_models() names the ones it builds)")
    with pytest.raises(AttributeError) as e:
        getattr(featx.models, "resnet_18")  # noqa: B009
    assert str(e.value) == "module 'featx.models' has no attribute 'resnet_18'"
    err = _cli_error(capsys, "nodes", "maxvit_t")
    assert "'maxvit_t' is a torchvision model that featx does not build yet" in err
