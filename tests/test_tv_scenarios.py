"""torchvision's own feature-extraction test scenarios, rebuilt with featx.nn.

``tests/golden/scenarios.json`` holds the names torchvision 0.29.1 gives for small torch
modules (written by ``tools/make_golden.py``, which also stores their torch source). The
classes below rebuild the same structures with ``featx.nn``; featx's names must equal
torchvision's, except where SPEC marks featx as different (scenario ``digit_suffixed_modules``:
SPEC section 3, rule 3). The behaviour tests follow the ideas of torchvision's
``TestFxFeatureExtraction`` (train/eval switching, leaf modules and functions, argument
checks). Runs without torch.
"""
from __future__ import annotations

import copy
import json
import warnings
from pathlib import Path

import numpy as np
import pytest

import featx
import featx.nn as nn
import featx.nn.functional as F
from featx.models.feature_extraction import create_feature_extractor, get_graph_node_names

from synthetic import synthetic_input

SCENARIOS = json.loads((Path(__file__).resolve().parent / "golden" / "scenarios.json")
                       .read_text(encoding="utf-8"))


# ----------------------------------------------------------------- the modules

class NamingSub(nn.Module):
    """(a) inner: `+ 1` twice, then one ReLU module called twice."""

    def __init__(self):
        super().__init__()
        self.relu = nn.ReLU()

    def forward(self, x):
        x = x + 1
        x = x + 1
        x = self.relu(x)
        return self.relu(x)


class NamingTop(nn.Module):
    """(a) outer: the submodule, then the same four ops at the root."""

    def __init__(self):
        super().__init__()
        self.submodule = NamingSub()
        self.relu = nn.ReLU()

    def forward(self, x):
        x = self.submodule(x)
        x = x + 1
        x = x + 1
        x = self.relu(x)
        return self.relu(x)


class DropoutNet(nn.Module):
    """(b) Linear(4, 8) -> Dropout(0.5) -> ReLU -> Linear(8, 2)."""

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(4, 8)
        self.dropout = nn.Dropout(p=0.5)
        self.relu = nn.ReLU()
        self.fc2 = nn.Linear(8, 2)

    def forward(self, x):
        return self.fc2(self.relu(self.dropout(self.fc1(x))))


class OpaqueBlock(nn.Module):
    """(c) a user module that cannot be traced through: int() of a traced shape."""

    def forward(self, x):
        int(x.shape[0])
        return F.relu(x + 4)


def opaque_fn(n):
    """(c) a user function that cannot be traced through: int() of a traced value."""
    return int(n)


class LeafNet(nn.Module):
    """(c) opaque_fn(x.shape[0]) with its result unused, Conv2d(3, 1, 3), the leaf block."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 1, 3)
        self.leaf_module = OpaqueBlock()

    def forward(self, x):
        opaque_fn(x.shape[0])
        x = self.conv(x)
        return self.leaf_module(x)


LEAF_KWARGS = {"leaf_modules": [OpaqueBlock], "autowrap_functions": [opaque_fn]}


class DigitNames(nn.Module):
    """(d) leaf modules named ln_1, fc_1, ln_2, fc; fc is called twice."""

    def __init__(self):
        super().__init__()
        # The names do not depend on the leaf class; LayerNorm is what ViT uses.
        norm = getattr(nn, "LayerNorm", None)
        self.ln_1 = norm(8) if norm else nn.Identity()
        self.fc_1 = nn.Linear(8, 8)
        self.ln_2 = norm(8) if norm else nn.Identity()
        self.fc = nn.Linear(8, 8)

    def forward(self, x):
        x = self.ln_1(x)
        x = self.fc_1(x)
        x = self.ln_2(x)
        x = self.fc(x)
        return self.fc(x)


class TrainEvalNet(nn.Module):
    """(e) Dropout(p=1.0); `+= 100` in train mode, `*= 0` in eval mode; then `-= 0`."""

    def __init__(self):
        super().__init__()
        self.dropout = nn.Dropout(p=1.0)

    def forward(self, x):
        x = self.dropout(x)
        if self.training:
            x += 100
        else:
            x *= 0
        x -= 0
        return x


class FlattenStems(nn.Module):
    """(f) method and function flatten share one counter; F.relu after a relu leaf.
    (x.flatten(1) is a traced-method call; this module is for names only.)"""

    def __init__(self):
        super().__init__()
        self.relu = nn.ReLU()

    def forward(self, x):
        a = x.flatten(1)
        b = featx.flatten(x, 1)
        c = self.relu(a)
        d = F.relu(b)
        return c + d


class SharedModule(nn.Module):
    """(g) one ReLU object registered as `a` and as `b`, called through `b` then `a`."""

    def __init__(self):
        super().__init__()
        self.a = nn.ReLU()
        self.b = self.a

    def forward(self, x):
        x = self.b(x)
        return self.a(x)


class Blk(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(4, 4)

    def forward(self, x):
        return 2 * F.relu(self.lin(x))


class Repeated(nn.Module):
    """(h) a traced-through block called twice, then a sibling of the same class."""

    def __init__(self):
        super().__init__()
        self.blk = Blk()
        self.other = Blk()

    def forward(self, x):
        x = self.blk(x)
        x = self.blk(x)
        return self.other(x)


BUILDERS = {
    "naming_conventions": (NamingTop, {}),
    "dropout": (DropoutNet, {}),
    "leaf_module_and_function": (LeafNet, {"tracer_kwargs": LEAF_KWARGS}),
    "digit_suffixed_modules": (DigitNames, {}),
    "train_eval_control_flow": (TrainEvalNet, {}),
    "flatten_stems": (FlattenStems, {}),
    "shared_module": (SharedModule, {}),
    "repeated_block": (Repeated, {}),
}

SAME_AS_TORCHVISION = [k for k, v in SCENARIOS.items()
                       if isinstance(v, dict) and v.get("featx_expected") == "same"]


def _names(key, **extra):
    cls, kwargs = BUILDERS[key]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        train, eval_ = get_graph_node_names(cls(), **copy.deepcopy(kwargs), **extra)
    return {"train": list(train), "eval": list(eval_)}


# ----------------------------------------------------------------- names

def test_every_golden_scenario_has_a_featx_module():
    golden = {k for k, v in SCENARIOS.items() if isinstance(v, dict)}
    assert golden == set(BUILDERS)


@pytest.mark.parametrize("key", SAME_AS_TORCHVISION)
def test_scenario_names_equal_torchvision(key):
    assert _names(key) == SCENARIOS[key]["torchvision"]


def test_naming_conventions_literal():
    """torchvision's test_node_name_conventions expectation, spelled out."""
    want = ["x", "submodule.add", "submodule.add_1", "submodule.relu", "submodule.relu_1",
            "add", "add_1", "relu", "relu_1"]
    assert _names("naming_conventions") == {"train": want, "eval": want}


# SPEC section 3, rule 3 [featx]: module paths are never rewritten, so ln_1/fc_1/ln_2 keep
# their names; the first fc call is the free stem "fc"; the second call would be "fc_1",
# which is a real module name, so counting continues to "fc_2".
DIGIT_FEATX = ["x", "ln_1", "fc_1", "ln_2", "fc", "fc_2"]


def test_digit_suffixed_module_names_are_kept():
    got = _names("digit_suffixed_modules")
    assert got == {"train": DIGIT_FEATX, "eval": DIGIT_FEATX}
    assert SCENARIOS["digit_suffixed_modules"]["featx_expected"] == got


def test_digit_suffixed_torchvision_differs_exactly_where_expected():
    """torchvision strips `_<digits>` from module paths: ln_1 -> ln, fc_1 -> fc, ln_2 -> ln_1,
    and then the module fc is listed as fc_1. Only the renamed positions differ."""
    tv = SCENARIOS["digit_suffixed_modules"]["torchvision"]
    assert tv["train"] == tv["eval"] == ["x", "ln", "fc", "ln_1", "fc_1", "fc_2"]
    differing = [i for i, (a, b) in enumerate(zip(DIGIT_FEATX, tv["train"])) if a != b]
    assert differing == [1, 2, 3, 4]


def test_digit_suffixed_names_return_their_own_module():
    """Each featx name returns exactly that node's value (torchvision's `fc_1` would be
    the module `fc`)."""
    m = DigitNames().eval()
    x = synthetic_input((2, 8), seed=3)
    nodes = ["ln_1", "fc_1", "ln_2", "fc", "fc_2"]
    out = create_feature_extractor(m, return_nodes=nodes)(x.copy())
    assert list(out) == nodes
    a = m.ln_1(x.copy())
    b = m.fc_1(a)
    c = m.ln_2(b)
    d = m.fc(c)
    e = m.fc(d)
    for k, want in zip(nodes, [a, b, c, d, e]):
        np.testing.assert_allclose(out[k], want, rtol=1e-5, atol=1e-6, err_msg=k)
    # the module path `fc` is the module called twice: its last call
    np.testing.assert_allclose(create_feature_extractor(m, ["fc"])(x.copy())["fc"], d,
                               rtol=1e-5, atol=1e-6)


# ----------------------------------------------------------------- train / eval

TRAIN_NODES = ["dropout", "add", "sub"]
EVAL_NODES = ["dropout", "mul", "sub"]


def _check_train_eval_outputs(out, x, training):
    if training:
        assert set(out) == {"dropout", "add", "sub"}
        np.testing.assert_array_equal(out["dropout"], np.zeros_like(x))  # p=1 drops all
        np.testing.assert_array_equal(out["sub"], np.full_like(x, 100.0))
    else:
        assert set(out) == {"dropout", "mul", "sub"}
        np.testing.assert_array_equal(out["dropout"], x)  # Dropout is identity in eval
        np.testing.assert_array_equal(out["sub"], np.zeros_like(x))


@pytest.mark.parametrize("start_training", [True, False])
def test_train_eval_switching(start_training):
    """torchvision's test_train_eval idea, from both starting modes."""
    model = TrainEvalNet()
    model.train(start_training)
    x = np.abs(synthetic_input((2, 3, 4, 4), seed=5)) + 1.0
    x0 = x.copy()
    fx = create_feature_extractor(model, train_return_nodes=TRAIN_NODES,
                                  eval_return_nodes=EVAL_NODES, suppress_diff_warning=True)
    assert fx.training == start_training
    assert model.training == start_training
    _check_train_eval_outputs(fx(x), x0, start_training)
    np.testing.assert_array_equal(x, x0)  # `x += 100` is not in-place on the caller's input

    fx.eval()
    assert not fx.training
    _check_train_eval_outputs(fx(x), x0, False)
    fx.train()
    assert fx.training
    _check_train_eval_outputs(fx(x), x0, True)
    fx.eval()
    _check_train_eval_outputs(fx(x), x0, False)
    # SPEC 5 [featx]: switching the extractor never touches the model's flags
    assert model.training == start_training
    assert model.dropout.training == start_training
    np.testing.assert_array_equal(x, x0)


def test_train_eval_names_differ_and_warn():
    tv = SCENARIOS["train_eval_control_flow"]["torchvision"]
    assert tv == {"train": ["x", "dropout", "add", "sub"], "eval": ["x", "dropout", "mul", "sub"]}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        get_graph_node_names(TrainEvalNet())
    assert len([w for w in caught if issubclass(w.category, UserWarning)]) == 1
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        get_graph_node_names(TrainEvalNet(), suppress_diff_warning=True)
    assert not [w for w in caught if issubclass(w.category, UserWarning)]


def test_return_nodes_must_exist_in_both_modes():
    with pytest.raises(ValueError, match="add"):
        create_feature_extractor(TrainEvalNet(), return_nodes=["add"],
                                 suppress_diff_warning=True)


def test_eval_only_mode_spec_may_be_empty():
    fx = create_feature_extractor(TrainEvalNet().eval(), train_return_nodes=["add"],
                                  eval_return_nodes=[], suppress_diff_warning=True)
    assert fx(np.ones((1, 2), np.float32)) == {}
    fx.train()
    out = fx(np.ones((1, 2), np.float32))
    assert list(out) == ["add"]
    np.testing.assert_array_equal(out["add"], np.full((1, 2), 100.0, np.float32))


@pytest.mark.parametrize("start_training", [True, False])
def test_dropout_module_train_and_eval(start_training):
    featx.manual_seed(0)
    model = DropoutNet()
    model.train(start_training)
    x = synthetic_input((16, 4), seed=7)
    names = ["fc1", "dropout", "relu", "fc2"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # identical train/eval lists: no warning
        fx = create_feature_extractor(model, return_nodes=names)
    assert fx.training == start_training
    fx.eval()
    out = fx(x)
    np.testing.assert_array_equal(out["dropout"], out["fc1"])
    np.testing.assert_allclose(out["fc2"], model.fc2(F.relu(model.fc1(x))),
                               rtol=1e-5, atol=1e-6)
    fx.train()
    out = fx(x)
    kept = out["dropout"] != 0
    assert 0 < kept.sum() < kept.size  # p=0.5 on 128 values
    np.testing.assert_allclose(out["dropout"][kept], 2.0 * out["fc1"][kept], rtol=1e-6)
    np.testing.assert_array_equal(out["relu"], np.maximum(out["dropout"], 0))
    assert model.training == start_training


# ----------------------------------------------------------------- leaf module / function

def test_leaf_module_and_function_names():
    got = _names("leaf_module_and_function")
    assert "relu" not in got["train"] and "leaf_module.relu" not in got["train"]
    assert "leaf_module" in got["train"] and "opaque_fn" in got["train"]


def test_leaf_module_and_function_values_equal_eager():
    model = LeafNet().eval()
    kwargs = {"leaf_modules": [OpaqueBlock], "autowrap_functions": [opaque_fn]}
    before = copy.copy(kwargs), [list(v) for v in kwargs.values()]
    fx = create_feature_extractor(model, return_nodes=["conv", "leaf_module"],
                                  tracer_kwargs=kwargs)
    assert (copy.copy(kwargs), [list(v) for v in kwargs.values()]) == before  # not mutated
    x = synthetic_input((2, 3, 8, 8), seed=11)
    out = fx(x)
    conv = model.conv(x)
    np.testing.assert_allclose(out["conv"], conv, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out["leaf_module"], model(x), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out["leaf_module"], np.maximum(conv + 4, 0),
                               rtol=1e-5, atol=1e-6)


def test_untraceable_without_leaf_kwargs():
    """Without tracer_kwargs, int() of a traced value is a TraceError (a ValueError)."""
    with pytest.raises(ValueError) as info:
        get_graph_node_names(LeafNet())
    trace_error = getattr(getattr(featx, "fx", None), "TraceError", None)
    if trace_error is not None:
        assert isinstance(info.value, trace_error)


# ----------------------------------------------------------------- argument checks

def test_argument_validation():
    m = NamingTop()
    with pytest.raises(ValueError):
        create_feature_extractor(m)
    with pytest.raises(ValueError):
        create_feature_extractor(m, train_return_nodes=["add"])
    with pytest.raises(ValueError):
        create_feature_extractor(m, eval_return_nodes=["add"])
    with pytest.raises(ValueError):
        create_feature_extractor(m, return_nodes=["add"], train_return_nodes=["add"])
    with pytest.raises(ValueError, match="(?i)exclusive"):
        create_feature_extractor(m, return_nodes=["add"], train_return_nodes=["add"],
                                 eval_return_nodes=["add"])
    with pytest.raises(TypeError):
        create_feature_extractor(m, return_nodes=("add",))
    with pytest.raises(ValueError):
        create_feature_extractor(m, return_nodes=["add", "add"])
    with pytest.raises(TypeError, match="bogus"):
        get_graph_node_names(m, tracer_kwargs={"bogus": 1})
    assert m.training and all(mod.training for mod in m.modules())


@pytest.mark.parametrize("query", ["l", "submod", "sub.odule", "relu_9", "submodule.add_5"])
def test_unknown_node(query):
    """Prefixes match at `.` boundaries only, literally; unknown queries name
    get_graph_node_names."""
    with pytest.raises(ValueError) as info:
        create_feature_extractor(NamingTop(), return_nodes=[query])
    msg = str(info.value)
    assert query in msg and "get_graph_node_names" in msg


def test_naming_conventions_values_and_prefix_query():
    m = NamingTop()
    x = synthetic_input((2, 5), seed=13)
    nodes = {"submodule.add": "a", "submodule": "s", "add_1": "b", "relu_1": "out"}
    out = create_feature_extractor(m, return_nodes=nodes)(x)
    assert list(out) == ["a", "s", "b", "out"]  # execution order
    s = np.maximum(x + 2, 0)
    np.testing.assert_allclose(out["a"], x + 1, rtol=1e-6)
    np.testing.assert_allclose(out["s"], s, rtol=1e-6)  # module -> its output
    np.testing.assert_allclose(out["b"], s + 2, rtol=1e-6)
    np.testing.assert_allclose(out["out"], np.maximum(s + 2, 0), rtol=1e-6)
    np.testing.assert_allclose(out["out"], m(x), rtol=1e-6)
