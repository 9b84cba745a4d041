"""The feature-extraction API: SPEC sections 1-7, every [featx] rule.

Expected node names here are written from the SPEC's rules; the names of
real torchvision models are compared against torchvision's own output in
test_golden_names.py.
"""
from __future__ import annotations

import copy
import inspect
import pickle
import re
import warnings

import numpy as np
import pytest

import featx
import featx.nn as nn
import featx.nn.functional as F
from featx.fx import TraceError, wrap
from featx.models.feature_extraction import (create_feature_extractor,
                                             get_graph_node_names)


def _x(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(
        np.float32)


class Block(nn.Module):
    def __init__(self, c=4):
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, padding=1)
        self.relu = nn.ReLU()

    def forward(self, x):
        out = self.relu(self.conv(x))
        out = out + x
        return self.relu(out)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 4, 3, padding=1)
        self.layer1 = nn.Sequential(Block(), Block())
        self.drop = nn.Dropout(0.5)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(4, 5)

    def forward(self, x):
        x = self.stem(x)
        x = self.layer1(x)
        x = self.drop(x)
        x = featx.flatten(self.pool(x), 1)
        return self.fc(x)


def _extract(model, nodes, x, **kw):
    return create_feature_extractor(model, nodes, **kw)(x)


# -- names (SPEC section 3) ------------------------------------------------

def test_names_follow_the_scope_and_suffix_rules():
    names = get_graph_node_names(Net())[1]
    assert names == [
        "x", "stem",
        "layer1.0.conv", "layer1.0.relu", "layer1.0.add", "layer1.0.relu_1",
        "layer1.1.conv", "layer1.1.relu", "layer1.1.add", "layer1.1.relu_1",
        "drop", "pool", "flatten", "fc"]


class Stems(nn.Module):
    def forward(self, x):
        a = 2 * x            # reflected operator: mul
        b = x // 2           # floordiv
        c = -x               # neg
        n, ch, h, w = x.shape   # getattr + getitem x4 (tuple unpacking)
        d = x.flatten(1)     # method: flatten
        e = featx.flatten(x, 1)  # function with the same stem: flatten_1
        f = x.view(n, -1)    # method
        return a, b, c, d, e, f, x < 1


def test_operator_method_and_function_stems():
    names = get_graph_node_names(Stems())[1]
    assert names == ["x", "mul", "floordiv", "neg", "getattr", "getitem",
                     "getitem_1", "getitem_2", "getitem_3", "flatten",
                     "flatten_1", "view", "lt"]


class SubclassedConv(nn.Conv2d):
    """Defined outside featx.nn: traced through, as in torchvision."""


class WithSubclassedConv(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = SubclassedConv(3, 4, 3)

    def forward(self, x):
        return self.conv(x)


def test_traced_through_conv2d_is_named_conv2d_in_both_modes():
    # nn.Conv2d's train mode calls F._conv2d_direct (no Winograd): the node
    # was 'conv._conv2d_direct' in the train graph, so the two lists
    # differed (with a warning) and 'conv.conv2d' was refused in train mode
    names = ["x", "conv.conv_weight", "conv.conv_bias", "conv.conv2d"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert get_graph_node_names(WithSubclassedConv()) == (names, names)
        m = WithSubclassedConv()
        ex = create_feature_extractor(m, ["conv.conv2d"])
    x = _x(2, 3, 8, 8)
    np.testing.assert_array_equal(ex(x)["conv.conv2d"], m(x))
    ex.eval()
    np.testing.assert_array_equal(ex(x)["conv.conv2d"], m.eval()(x))


class SubclassedBN(nn.BatchNorm2d):
    pass


class WithSubclassedBN(nn.Module):
    def __init__(self):
        super().__init__()
        self.bn = SubclassedBN(3)

    def forward(self, x):
        return self.bn(x)


def test_traced_through_batch_norm_is_named_batch_norm_in_both_modes():
    # the train node was 'bn._batch_norm_train_step' (torchvision cannot
    # trace a BatchNorm2d subclass at all)
    train, eval_ = get_graph_node_names(WithSubclassedBN(),
                                        suppress_diff_warning=True)
    assert train == ["x", "bn.batch_norm"]
    assert eval_ == ["x", "bn.bn_weight", "bn.bn_bias", "bn.batch_norm"]
    m = WithSubclassedBN()
    ex = create_feature_extractor(m, ["bn.batch_norm"],
                                  suppress_diff_warning=True)
    x = _x(4, 3, 5, 5)
    np.testing.assert_allclose(
        ex(x)["bn.batch_norm"],
        (x - x.mean((0, 2, 3), keepdims=True))
        / np.sqrt(x.var((0, 2, 3), keepdims=True) + 1e-5), atol=1e-5)
    assert int(m.bn.num_batches_tracked) == 1


class LateShape(nn.Module):
    def __init__(self):
        super().__init__()
        self.c = nn.Conv2d(3, 4, 3)

    def forward(self, x):
        unused = x.shape     # never used: no node (torch.fx records none)
        early = x.shape      # read here, first used after the conv
        y = self.c(x)
        h = y.shape[2]
        return featx.reshape(y, (early[0], -1)) * h, unused is not None


def test_data_attribute_reads_are_recorded_at_first_use():
    # x.shape was recorded when read: an unused read took the name
    # 'getattr', so ['getattr'] returned x's shape where torchvision returns
    # y's, and every later getattr was numbered one higher
    names = ["x", "c", "getattr", "getitem", "getattr_1", "getitem_1",
             "reshape", "mul"]   # torchvision's list for this module
    assert get_graph_node_names(LateShape()) == (names, names)
    out = create_feature_extractor(
        LateShape(), ["getattr", "getattr_1", "getitem"])(_x(2, 3, 8, 8))
    assert out == {"getattr": (2, 4, 6, 6), "getitem": 6,
                   "getattr_1": (2, 3, 8, 8)}   # torchvision's values


class Numbered(nn.Module):
    """Module names that end in _<digits> (ViT's ln_1/ln_2, a user fc_1)."""

    def __init__(self):
        super().__init__()
        self.ln_1 = nn.ReLU()
        self.ln_2 = nn.ReLU()
        self.fc_1 = nn.Linear(3, 3)
        self.fc = nn.Linear(3, 3)

    def forward(self, x):
        x = self.ln_2(self.ln_1(x))
        x = self.fc(self.fc_1(x))
        x = self.fc(x)          # a second call of fc: the suffix skips fc_1
        return self.fc(x)


def test_module_paths_are_never_rewritten_and_suffixes_skip_real_names():
    names = get_graph_node_names(Numbered())[1]
    assert names == ["x", "ln_1", "ln_2", "fc_1", "fc", "fc_2", "fc_3"]
    assert len(set(names)) == len(names)


def test_each_listed_name_returns_exactly_that_node():
    m = Numbered().eval()
    x = _x(2, 3)
    out = _extract(m, ["fc_1", "fc", "fc_2"], x)
    after_fc_1 = F.linear(np.maximum(x, 0), m.fc_1.weight, m.fc_1.bias)
    np.testing.assert_allclose(out["fc_1"], after_fc_1, rtol=1e-5)
    first_fc = F.linear(after_fc_1, m.fc.weight, m.fc.bias)
    np.testing.assert_allclose(out["fc"], first_fc, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        out["fc_2"], F.linear(first_fc, m.fc.weight, m.fc.bias), rtol=1e-5,
        atol=1e-6)


def test_queries_are_literal_not_regular_expressions():
    m = Net()
    with pytest.raises(ValueError, match="la.er1"):
        create_feature_extractor(m, ["la.er1"])
    with pytest.raises(ValueError, match=r"layer1\("):
        create_feature_extractor(m, ["layer1("])


class Shared(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.ReLU()
        self.b = self.a

    def forward(self, x):
        return self.b(self.a(x))


def test_module_registered_twice_uses_its_first_name():
    assert get_graph_node_names(Shared())[1] == ["x", "a", "a_1"]


# -- choosing nodes (SPEC section 4) ---------------------------------------

def test_module_prefix_selects_the_module_output():
    m = Net().eval()
    x = _x(1, 3, 8, 8)
    out = _extract(m, ["layer1", "layer1.1.relu_1", "layer1.0"], x)
    np.testing.assert_array_equal(out["layer1"], out["layer1.1.relu_1"])
    assert list(out) == ["layer1.0", "layer1", "layer1.1.relu_1"]


def test_prefix_must_end_at_a_dot():
    with pytest.raises(ValueError, match="'layer'"):
        create_feature_extractor(Net(), ["layer"])


def test_overlapping_queries_each_get_their_own_node():
    m = Net().eval()
    x = _x(1, 3, 8, 8)
    out = _extract(m, {"layer1": "a", "layer1.1.relu_1": "b",
                       "layer1.0": "c", "stem": "d"}, x)
    assert set(out) == {"a", "b", "c", "d"}
    np.testing.assert_array_equal(out["a"], out["b"])
    stem = F.conv2d(x, m.stem.weight, m.stem.bias, padding=1)
    np.testing.assert_allclose(out["d"], stem, rtol=1e-5, atol=1e-6)


class ComputesAfterResult(nn.Module):
    def __init__(self):
        super().__init__()
        self.inner = Inner()

    def forward(self, x):
        return self.inner(x) * 3


class Inner(nn.Module):
    def forward(self, x):
        y = x + 1
        _ = y * 100     # computed after the result, not returned
        return y


def test_module_returning_an_earlier_node_returns_what_it_returned():
    x = _x(2, 3)
    out = _extract(ComputesAfterResult(), ["inner"], x)
    np.testing.assert_allclose(out["inner"], x + 1, rtol=1e-6)


def test_unknown_query_names_mode_close_names_and_the_helper():
    with pytest.raises(ValueError) as e:
        create_feature_extractor(Net(), ["layer1.0.relu_2"])
    msg = str(e.value)
    assert "layer1.0.relu_2" in msg and "train" in msg
    assert "Did you mean 'layer1.0.relu_1'" in msg
    assert "get_graph_node_names" in msg


def test_unknown_query_inside_a_leaf_module_names_the_leaf_node():
    # nn.Conv2d is a leaf: "0.weight" has no node of its own, "0" has
    m = nn.Sequential(nn.Conv2d(3, 3, 1), nn.ReLU())
    m[1].inner = nn.Identity()  # a submodule of a leaf is inside it too
    for query in ("0.weight", "1.inner", "1.inner.x"):
        leaf = query.split(".")[0]
        with pytest.raises(ValueError, match=f"'{leaf}' is a leaf module: the graph "
                           f"calls it as one node, '{leaf}', and has no nodes "
                           "inside it") as e:
            create_feature_extractor(m, [query])
        assert "get_graph_node_names" in str(e.value)
    again = pickle.loads(pickle.dumps(e.value))  # e.g. raised in a multiprocessing worker
    assert type(again) is type(e.value) and str(again) == str(e.value)


def test_unknown_query_that_is_a_second_name_of_a_module_names_the_first():
    # self.b = self.a: the graph uses 'a', and 'b' was "not present" with no hint
    m = nn.Sequential(nn.Sequential(nn.Conv2d(3, 3, 1), nn.ReLU()))
    m.add_module("alias", m[0])
    for query, first in (("alias", "'0'"), ("alias.1", "'0.1'")):
        with pytest.raises(ValueError, match=f"'alias' is the module '0' registered a "
                           f"second time; its nodes carry the first name: ask for "
                           f"{first}"):
            create_feature_extractor(m, [query])
    with pytest.raises(ValueError) as e:  # no such node under the first name either
        create_feature_extractor(m, ["alias.5"])
    assert "registered a second time" not in str(e.value)
    assert list(create_feature_extractor(m, ["0.1"])(_x(1, 3, 2, 2))) == ["0.1"]


def test_output_order_is_execution_order():
    out = _extract(Net().eval(), ["fc", "x", "layer1"], _x(1, 3, 8, 8))
    assert list(out) == ["x", "layer1", "fc"]


# -- arguments (SPEC section 1) ----------------------------------------------

def test_argument_checks():
    m = Net()
    with pytest.raises(ValueError, match="either return_nodes"):
        create_feature_extractor(m)
    with pytest.raises(ValueError, match="together"):
        create_feature_extractor(m, train_return_nodes=["fc"])
    with pytest.raises(ValueError, match="together"):
        create_feature_extractor(m, ["fc"], eval_return_nodes=["fc"])
    with pytest.raises(ValueError, match="mutually exclusive"):
        create_feature_extractor(m, ["fc"], ["fc"], ["fc"])


@pytest.mark.parametrize("spec", [("fc",), {"fc"}, "fc"])
def test_spec_of_wrong_type_is_a_type_error(spec):
    with pytest.raises(TypeError, match="list of node names or a dict"):
        create_feature_extractor(Net(), spec)


def test_repeated_query_or_output_key_is_an_error():
    with pytest.raises(ValueError, match="more than once"):
        create_feature_extractor(Net(), ["fc", "fc"])
    with pytest.raises(ValueError, match="same output name 'a'"):
        create_feature_extractor(Net(), {"fc": "a", "stem": "a"})
    with pytest.raises(ValueError, match="node '1' more than once"):
        create_feature_extractor(Net(), {1: "a", "1": "b"})


def test_keys_and_values_are_converted_with_str():
    class One(nn.Module):
        def forward(self, x):
            return x

    ex = create_feature_extractor(One(), {"x": 0})
    assert list(ex(_x(1))) == ["0"]


def test_empty_spec_returns_an_empty_dict():
    assert create_feature_extractor(Net(), [])(_x(1, 3, 8, 8)) == {}


def test_unknown_tracer_kwarg_is_a_type_error():
    with pytest.raises(TypeError, match="param_shapes"):
        get_graph_node_names(Net(), tracer_kwargs={"param_shapes": True})


def test_callers_objects_are_not_mutated():
    m = Net()
    spec = {"layer1": "a"}
    nodes = ["fc"]
    tk = {"leaf_modules": [Block]}
    before = copy.deepcopy(m.state_dict())
    create_feature_extractor(m, spec, tracer_kwargs=tk)
    create_feature_extractor(m, train_return_nodes=nodes,
                             eval_return_nodes=nodes)
    assert spec == {"layer1": "a"} and nodes == ["fc"]
    assert tk == {"leaf_modules": [Block]}
    for k, v in m.state_dict().items():
        np.testing.assert_array_equal(v, before[k])


# -- modes (SPEC sections 2 and 5) -------------------------------------------

def _flags(m):
    return [mod.training for mod in m.modules()]


def test_mixed_mode_flags_are_restored_exactly():
    m = Net()
    m.layer1[0].train(False)
    m.drop.eval()
    before = _flags(m)
    get_graph_node_names(m)
    assert _flags(m) == before
    ex = create_feature_extractor(m, ["fc"])
    assert _flags(m) == before
    ex.eval()
    ex(_x(1, 3, 8, 8))
    ex.train()
    assert _flags(m) == before


class FlagProbe(nn.Module):
    """Records, while it is being traced, the mode flags of the model the
    user holds (``owner``), as another thread would see them."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.bn = nn.BatchNorm2d(4)
        self.__dict__["seen"] = []

    def forward(self, x):
        owner = self.__dict__["owner"]
        self.seen.append((self.training, owner.training, owner.bn.training))
        return self.bn(self.conv(x))


def test_tracing_never_writes_the_models_mode_flags():
    # A direct model(x) in another thread during tracing must keep running
    # in the mode the user set: the trace reads a view, not the model.
    m = FlagProbe().eval()
    m.__dict__["owner"] = m
    get_graph_node_names(m)
    create_feature_extractor(m, ["bn"])
    assert m.seen and all(s[1:] == (False, False) for s in m.seen)
    assert {t for t, *_ in m.seen} == {True, False}   # both modes traced
    m.seen.clear()
    m.train()
    create_feature_extractor(m, ["bn"])
    assert all(s[1:] == (True, True) for s in m.seen)


class Untraceable(nn.Module):
    def __init__(self):
        super().__init__()
        self.inner = Branchy()

    def forward(self, x):
        return self.inner(x)


class Branchy(nn.Module):
    def forward(self, x):
        if self.training:
            return x
        if x.sum() > 0:    # data-dependent control flow
            return x
        return -x


def test_flags_are_restored_when_tracing_fails_and_trace_error_names_module():
    m = Untraceable()
    m.inner.train(False)
    before = _flags(m)
    with pytest.raises(TraceError) as e:
        get_graph_node_names(m)
    assert _flags(m) == before
    msg = str(e.value)
    assert "module 'inner'" in msg
    assert "leaf_modules" in msg and "concrete_args" in msg
    assert isinstance(e.value, ValueError)


def test_leaf_modules_make_untraceable_code_work():
    m = Untraceable().eval()
    names = get_graph_node_names(m, tracer_kwargs={"leaf_modules": [Branchy]},
                                 suppress_diff_warning=True)
    assert names == (["x", "inner"], ["x", "inner"])
    x = _x(2, 3)
    out = create_feature_extractor(
        m, ["inner"], tracer_kwargs={"leaf_modules": [Branchy]})(x)
    np.testing.assert_array_equal(out["inner"], m(x))


@pytest.mark.parametrize("op", [len, int, float, list])
def test_concrete_value_uses_raise_trace_error(op):
    class Bad(nn.Module):
        def forward(self, x):
            return op(x)

    with pytest.raises(TraceError, match="the root module"):
        get_graph_node_names(Bad())


def test_item_assignment_raises_trace_error():
    class Bad(nn.Module):
        def forward(self, x):
            x[0] = 1
            return x

    with pytest.raises(TraceError, match="item assignment"):
        get_graph_node_names(Bad())


def test_train_eval_difference_warns_once_unless_suppressed():
    class Aux(nn.Module):
        def __init__(self):
            super().__init__()
            self.aux = nn.ReLU()

        def forward(self, x):
            if self.training:
                return self.aux(x)
            return x

    with pytest.warns(UserWarning, match="eval node names are a subsequence"):
        train, eval_ = get_graph_node_names(Aux())
    assert train == ["x", "aux"] and eval_ == ["x"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        get_graph_node_names(Aux(), suppress_diff_warning=True)
        ex = create_feature_extractor(Aux(), train_return_nodes=["aux"],
                                      eval_return_nodes=["x"],
                                      suppress_diff_warning=True)
    x = _x(3)
    assert list(ex.train()(x)) == ["aux"]
    assert list(ex.eval()(x)) == ["x"]
    with pytest.raises(ValueError, match="eval-mode"):
        create_feature_extractor(Aux(), ["aux"], suppress_diff_warning=True)


def test_extractor_starts_in_the_models_mode_and_switches_graphs():
    m = Net()
    m.eval()
    ex = create_feature_extractor(m, ["drop"])
    assert ex.training is False
    x = np.ones((64, 3, 8, 8), np.float32)
    ev = ex(x)["drop"]
    ex.train()
    tr = ex(x)["drop"]
    assert m.training is False and m.drop.training is False
    assert (tr == 0).mean() > 0.3         # dropout active in train
    np.testing.assert_array_equal(ev, _extract(m, ["layer1"], x)["layer1"])
    with pytest.raises(ValueError, match=r"^train\(mode\): expected True or "
                       r"False, got str 'yes'$"):
        ex.train("yes")


def test_model_eval_after_creating_the_extractor_warns_and_does_not_switch_it():
    # README: the extractor's mode is its own, both ways; extractor.eval() switches it.
    m = Net().train()
    ex = create_feature_extractor(m, ["drop"])
    x = np.ones((64, 3, 8, 8), np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ex(x)                                      # modes agree: silent
    m.eval()
    with pytest.warns(UserWarning, match=r"mode-dependent modules that the "
                      r"extractor calls \(BatchNorm, Dropout, ...\) are in "
                      r"eval mode, but the extractor runs its train "
                      r"graph.*extractor\.eval\(\)") as record:
        line = inspect.currentframe().f_lineno + 1
        out = ex(x)
    # attributed to the line calling the extractor, not to featx's own code
    assert [(w.filename, w.lineno) for w in record] == [(__file__, line)]
    assert ex.training is True
    assert (out["drop"] == 0).mean() > 0.3         # still dropping
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ex(x)                                      # once per change
        ex.eval()
        np.testing.assert_array_equal(ex(x)["drop"],
                                      _extract(m, ["layer1"], x)["layer1"])
        ex.train()                                 # the user's own choice
        ex(x)


def test_frozen_batchnorm_in_a_training_model_warns_once():
    m = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU()).train()
    m[1].eval()
    ex = create_feature_extractor(m, ["2"])
    x = _x(4, 3, 8, 8)
    with pytest.warns(UserWarning, match=r"1 of the model's 1 mode-dependent "
                      r"modules .* are in eval mode, but the extractor runs "
                      r"its train"):
        ex(x)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ex(x)


def test_leaves_whose_mode_does_not_matter_do_not_warn():
    class Scale(nn.Module):                        # no self.training
        def forward(self, x):
            return x * 2.0

    m = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU()).eval()
    m.append(Scale())                              # left in train mode
    m[0].train()                                   # conv: same values
    ex = create_feature_extractor(m, ["3"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ex(_x(2, 3, 8, 8))


def test_batchnorm_train_mode_uses_batch_stats_and_updates_running_stats():
    class BN(nn.Module):
        def __init__(self):
            super().__init__()
            self.bn = nn.BatchNorm2d(3)

        def forward(self, x):
            return self.bn(x)

    m = BN().train()
    x = _x(4, 3, 5, 5) * 3 + 1
    out = create_feature_extractor(m, ["bn"])(x)["bn"]
    mean = x.astype(np.float64).mean(axis=(0, 2, 3))
    var = x.astype(np.float64).var(axis=(0, 2, 3))
    ref = (x - mean[None, :, None, None]) / np.sqrt(
        var[None, :, None, None] + 1e-5)
    np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(m.bn.running_mean, 0.1 * mean, rtol=1e-5)
    with pytest.raises(ValueError, match="at least 2 values"):
        create_feature_extractor(m, ["bn"])(_x(1, 3, 1, 1))


# -- concrete_args, autowrap, guards ---------------------------------------

class Flagged(nn.Module):
    def __init__(self):
        super().__init__()
        self.relu = nn.ReLU()

    def forward(self, x, flag=True):
        if flag:
            return self.relu(x)
        return -x


def test_concrete_args_fix_control_flow():
    with pytest.raises(TraceError):
        get_graph_node_names(Flagged())
    names = get_graph_node_names(Flagged(), concrete_args={"flag": False})[1]
    assert names == ["x", "flag", "eq", "_assert", "neg"]
    x = _x(2, 2)
    ex = create_feature_extractor(Flagged(), ["neg"],
                                  concrete_args={"flag": False})
    np.testing.assert_array_equal(ex(x)["neg"], -x)
    with pytest.raises(TypeError, match="not arguments"):
        get_graph_node_names(Flagged(), concrete_args={"nope": 1})


class KeywordOnly(nn.Module):
    def forward(self, x, *, scale=2.0, bias=None):
        y = x * scale
        if bias is not None:
            y = y + bias
        return y


def test_keyword_only_forward_arguments_are_traced():
    # forward(self, x, *, scale=...) was called with every placeholder
    # positionally: "forward() takes 2 positional arguments but 4 were given"
    names = ["x", "scale", "bias", "_assert_is_none", "mul"]
    assert get_graph_node_names(KeywordOnly(), concrete_args={"bias": None}) \
        == (names, names)   # torchvision's lists for this module
    ex = create_feature_extractor(KeywordOnly(), ["mul"],
                                  concrete_args={"bias": None})
    x = _x(2, 3)
    np.testing.assert_array_equal(ex(x)["mul"], x * np.float32(2.0))
    np.testing.assert_array_equal(ex(x, scale=3.0)["mul"], x * np.float32(3.0))
    assert get_graph_node_names(KeywordOnly())[1] == [
        "x", "scale", "bias", "mul", "add"]


class NoForward(nn.Module):
    pass


def test_a_module_without_forward_is_named_as_such():
    # the tracer read Module.forward(*args, **kwargs) and said
    # "NoForward.forward takes *args; give its arguments explicitly ..."
    for fn in (get_graph_node_names,
               lambda m: create_feature_extractor(m, ["x"])):
        with pytest.raises(NotImplementedError) as e:
            fn(NoForward())
        assert str(e.value) == ("NoForward has no forward(); expected every "
                                "featx.nn.Module subclass to define "
                                "forward(...)")


def opaque(n):
    return int(n) + 0        # would fail on a traced value


class UsesOpaque(nn.Module):
    def forward(self, x):
        return x * opaque(x.shape[0])


@wrap
def wrapped_opaque(n):
    return int(n) * 2


class UsesWrapped(nn.Module):
    def forward(self, x):
        return x * wrapped_opaque(x.shape[0])


def test_autowrap_functions_and_wrap_decorator():
    with pytest.raises(TraceError):
        get_graph_node_names(UsesOpaque())
    names = get_graph_node_names(
        UsesOpaque(), tracer_kwargs={"autowrap_functions": [opaque]})[1]
    assert names == ["x", "getattr", "getitem", "opaque", "mul"]
    assert globals()["opaque"] is opaque    # patch undone
    x = _x(3, 2)
    out = create_feature_extractor(
        UsesOpaque(), ["mul"],
        tracer_kwargs={"autowrap_functions": [opaque]})(x)
    np.testing.assert_array_equal(out["mul"], x * 3)
    out = create_feature_extractor(UsesWrapped(), ["mul"])(x)
    np.testing.assert_array_equal(out["mul"], x * 6)
    # torch.fx.wrap("opaque") by name returned a wrapper of the str, which
    # wrapped nothing and failed only when called
    with pytest.raises(TypeError, match=r"takes the function itself.*got str "
                       r"'opaque'; torch.fx.wrap's string form"):
        wrap("opaque")


class Guarded(nn.Module):
    """A ViT-like stem: conv_proj, then an assert on the input size, then
    an expensive encoder."""

    def __init__(self):
        super().__init__()
        self.conv_proj = nn.Conv2d(3, 4, 2, stride=2)
        self.encoder = nn.Sequential(nn.Conv2d(4, 4, 1), nn.ReLU())
        self.calls = 0

    def forward(self, x):
        n, c, h, w = x.shape
        featx.fx.tracer._assert(h == 8, "wrong height")
        return self.encoder(self.conv_proj(x))


def test_guards_do_not_keep_unneeded_work_alive():
    ex = create_feature_extractor(Guarded().eval(), ["conv_proj"])
    names = [n.name for n in ex.graph.info()]
    # the cheap shape check stays, the encoder does not
    assert names == ["x", "getattr", "getitem_2", "eq", "_assert", "conv_proj"]
    assert set(ex.state_dict()) == {"conv_proj.weight", "conv_proj.bias"}
    assert ex(_x(1, 3, 8, 8))["conv_proj"].shape == (1, 4, 4, 4)
    with pytest.raises(AssertionError, match="wrong height"):
        ex(_x(1, 3, 6, 8))


class GuardAfterWork(nn.Module):
    def __init__(self):
        super().__init__()
        self.c = nn.Conv2d(3, 3, 1)
        self.d = nn.Conv2d(3, 3, 1)
        self.e = nn.Conv2d(3, 3, 1)

    def forward(self, x):
        y = self.c(x)
        featx.fx.tracer._assert(y.shape[2] == 8, "need 8 rows")
        z = self.d(y)
        featx.fx.tracer._assert(self.e(z).shape[2] == 8, "expensive check")
        return z


def test_guards_on_computed_values_still_run():
    ex = create_feature_extractor(GuardAfterWork().eval(), ["d"])
    names = [n.name for n in ex.graph.info()]
    assert "_assert" in names and "e" not in names and "_assert_1" not in names
    with pytest.raises(AssertionError, match="need 8 rows"):
        ex(_x(1, 3, 6, 8))


# -- the extractor object (SPEC section 6) -----------------------------------

def test_state_dict_holds_exactly_the_used_parameters_shared():
    m = Net().eval()
    ex = create_feature_extractor(m, ["layer1.0.conv"])
    assert list(ex.state_dict()) == ["stem.weight", "stem.bias",
                                     "layer1.0.conv.weight",
                                     "layer1.0.conv.bias"]
    assert ex.state_dict()["stem.weight"] is m.stem.weight


def test_weights_loaded_into_the_model_reach_the_extractor():
    m = Net().eval()
    ex = create_feature_extractor(m, ["stem"])
    x = _x(1, 3, 8, 8)
    new = {k: np.zeros_like(v) for k, v in m.state_dict().items()}
    m.load_state_dict(new)
    assert not ex(x)["stem"].any()


@pytest.mark.parametrize("roundtrip", [copy.deepcopy,
                                       lambda e: pickle.loads(pickle.dumps(e))])
def test_deepcopy_and_pickle_keep_both_graphs(roundtrip):
    m = Net()
    ex = create_feature_extractor(m, train_return_nodes=["drop"],
                                  eval_return_nodes=["layer1", "fc"])
    x = np.ones((8, 3, 8, 8), np.float32)
    ex2 = roundtrip(ex)
    assert ex2.training is True
    assert list(ex2(x)) == ["drop"]
    ex.eval()
    ex2.eval()
    a, b = ex(x), ex2(x)
    assert list(b) == ["layer1", "fc"]
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])
    assert ex2.state_dict()["fc.weight"] is not m.fc.weight


def test_graph_and_return_nodes_are_inspectable():
    ex = create_feature_extractor(Net().eval(), {"layer1": "feat"})
    text = str(ex.graph)
    assert "layer1.0.conv" in text and "call_module" in text
    assert "fc" not in [n.name for n in ex.graph.info()]
    assert ex.return_nodes == {"feat": "layer1.1.relu_1"}


def test_returned_arrays_are_fresh_and_never_alias():
    class Views(nn.Module):
        def __init__(self):
            super().__init__()
            self.id = nn.Identity()

        def forward(self, x):
            y = self.id(x)
            return x.view(-1), y

    x = _x(2, 3)
    keep = x.copy()
    ex = create_feature_extractor(Views(), ["x", "id", "view"])
    out = ex(x)
    arrays = list(out.values())
    for i, a in enumerate(arrays):
        assert not np.shares_memory(a, x)
        for b in arrays[i + 1:]:
            assert not np.shares_memory(a, b)
    out["x"][...] = 7
    np.testing.assert_array_equal(ex(x)["id"], keep)
    np.testing.assert_array_equal(x, keep)
    assert ex(x) is not ex(x)


def test_returned_tuples_never_alias_other_outputs():
    """A returned tuple's arrays (here x.max(1)'s (values, indices), both
    fresh arrays) are copied where another output is the same array."""
    class Max(nn.Module):
        def forward(self, x):
            m = x.max(1)
            return m[0]

    out = create_feature_extractor(Max(), ["max", "getitem"])(_x(2, 3, 4))
    assert isinstance(out["max"], tuple) and hasattr(out["max"], "values")
    np.testing.assert_array_equal(out["max"][0], out["getitem"])
    assert not np.shares_memory(out["max"][0], out["getitem"])


# -- inputs (SPEC section 7) -------------------------------------------------

def test_input_dtypes_and_layouts():
    m = Net().eval()
    ex = create_feature_extractor(m, ["fc"])
    x = _x(2, 3, 8, 8)
    ref = ex(x)["fc"]
    for variant in (x.astype(np.float64), x.astype(np.float16),
                    np.asfortranarray(x), x[:, :, ::-1, :], x[:, ::-1]):
        got = ex(variant)["fc"]
        assert got.dtype == np.float32
        np.testing.assert_allclose(got, ex(np.ascontiguousarray(
            variant, dtype=np.float32))["fc"], rtol=1e-6)
    ro = x.copy()
    ro.setflags(write=False)
    np.testing.assert_array_equal(ex(ro)["fc"], ref)
    for bad in (x.astype(np.int64), x > 0, x.astype(np.complex64)):
        with pytest.raises(TypeError, match="featx.transforms"):
            ex(bad)


def test_shape_errors_name_the_node():
    ex = create_feature_extractor(Net().eval(), ["fc"])
    with pytest.raises(ValueError, match="node 'stem'"):
        ex(_x(2, 4, 8, 8))
    # named, and still the op's OpError: torch code catches RuntimeError
    with pytest.raises(featx.OpError, match="node 'stem'") as e:
        ex(_x(3, 8, 8))
    assert isinstance(e.value, RuntimeError)


def test_too_small_input_names_the_layer():
    class Pooly(nn.Module):
        def __init__(self):
            super().__init__()
            self.pool = nn.MaxPool2d(3, stride=2)

        def forward(self, x):
            return self.pool(x)

    with pytest.raises(ValueError, match="node 'pool'"):
        create_feature_extractor(Pooly(), ["pool"])(_x(1, 1, 2, 2))


def test_batch_of_zero_gives_empty_outputs():
    out = create_feature_extractor(Net().eval(), ["layer1", "fc"])(
        np.zeros((0, 3, 8, 8), np.float32))
    assert out["layer1"].shape == (0, 4, 8, 8)
    assert out["fc"].shape == (0, 5)


def test_eager_forward_equals_extractor():
    m = Net().eval()
    x = _x(2, 3, 8, 8)
    np.testing.assert_allclose(m(x), _extract(m, ["fc"], x)["fc"],
                               rtol=1e-6, atol=1e-6)


def test_extractor_call_errors_are_type_errors():
    ex = create_feature_extractor(Net(), ["fc"])
    with pytest.raises(TypeError, match="expected arguments"):
        ex()
    with pytest.raises(TypeError, match="expected arguments"):
        ex(_x(1, 3, 8, 8), _x(1))


def test_reassigned_weights_and_settings_reach_the_extractor():
    m = Net().eval()
    ex = create_feature_extractor(m, ["stem", "fc"])
    x = _x(2, 3, 8, 8)
    ex(x)
    m.fc.weight = nn.Parameter(np.zeros((5, 4), np.float32))
    m.fc.bias = nn.Parameter(np.ones(5, np.float32))
    np.testing.assert_array_equal(ex(x)["fc"], np.ones((2, 5), np.float32))
    m.stem.stride = (2, 2)
    assert ex(x)["stem"].shape == (2, 4, 4, 4)
    np.testing.assert_array_equal(ex(x)["stem"], m.stem(x))


class ReadsParam(nn.Module):
    def __init__(self):
        super().__init__()
        self.inner = Scaled()

    def forward(self, x):
        return self.inner(x)


class Scaled(nn.Module):
    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(np.full(3, 2.0, np.float32))

    def forward(self, x):
        return x * self.scale


def test_parameter_reads_are_nodes_and_follow_reassignment():
    m = ReadsParam()
    assert get_graph_node_names(m)[1] == ["x", "inner.inner_scale",
                                          "inner.mul"]
    ex = create_feature_extractor(m, ["inner.mul", "inner.inner_scale"])
    x = _x(2, 3)
    np.testing.assert_array_equal(ex(x)["inner.mul"], x * 2)
    assert list(ex.state_dict()) == ["inner.scale"]
    m.inner.scale = nn.Parameter(np.full(3, 5.0, np.float32))
    out = ex(x)
    np.testing.assert_array_equal(out["inner.mul"], x * 5)
    np.testing.assert_array_equal(out["inner.inner_scale"], m.inner.scale)
    assert not np.shares_memory(out["inner.inner_scale"], m.inner.scale)


def test_bad_models_and_tracer_kwargs_are_type_errors():
    for bad in (None, lambda x: x):
        with pytest.raises(TypeError, match="featx.nn.Module"):
            create_feature_extractor(bad, ["x"])
    ex = create_feature_extractor(Net(), ["layer1", "fc"])
    with pytest.raises(TypeError, match="original model"):
        create_feature_extractor(ex, ["layer1"])
    with pytest.raises(TypeError, match="must be a dict"):
        get_graph_node_names(Net(), tracer_kwargs=[1])
    with pytest.raises(TypeError, match="list of module classes, got the "
                                        "class Block"):
        get_graph_node_names(Net(), tracer_kwargs={"leaf_modules": Block})
    with pytest.raises(TypeError, match="got a Block instance"):
        get_graph_node_names(Net(), tracer_kwargs={"leaf_modules": [Block()]})
    # These raised bare "'NoneType' object is not iterable", "vars() argument must
    # have __dict__ attribute" and "dictionary update sequence element #0 ...".
    import math
    for tk, msg in (({"autowrap_functions": None}, r"\['autowrap_functions'\] must be a "
                     r"list of functions .*got a NoneType instance"),
                    ({"autowrap_functions": [3]}, r"must hold functions .*got a int instance"),
                    ({"autowrap_modules": [math, "os"]},
                     r"\['autowrap_modules'\] must hold modules .*got a str instance"),
                    ({"autowrap_modules": math}, r"must be a list of modules .*got a module")):
        with pytest.raises(TypeError, match=msg):
            get_graph_node_names(Net(), tracer_kwargs=tk)
    for bad in ("x", [("x", 1)]):
        with pytest.raises(TypeError, match="concrete_args must be a dict"):
            create_feature_extractor(Net(), ["fc"], concrete_args=bad)
    assert get_graph_node_names(Net(), tracer_kwargs={
        "autowrap_modules": (math,), "autowrap_functions": [len]})[1]


def test_manual_seed_range():
    featx.manual_seed(2**64 - 1)
    featx.manual_seed(-2**63)
    for bad in (2**64, -2**63 - 1):
        with pytest.raises(ValueError, match=r"\[-2\*\*63, 2\*\*64\)"):
            featx.manual_seed(bad)


# Seeds torch.manual_seed converts with int() and featx converts the same way.
_SEEDS_AS_TORCH = (-1, -(2**63), 2**64 - 1, 42.0, np.float32(7.0), np.int64(5), "42", " 9 ")
# Seeds torch int()s with a loss (a fraction) or that are most likely a mistake (a flag).
_SEEDS_REFUSED = (1.5, np.float64(-0.25), True, np.bool_(False))


def test_manual_seed_converts_as_torch_does():
    for value in _SEEDS_AS_TORCH:
        featx.manual_seed(value)
        got = (featx.initial_seed(), featx._rng.default_generator().integers(0, 1 << 62))
        featx.manual_seed(int(value))
        want = (featx.initial_seed(), featx._rng.default_generator().integers(0, 1 << 62))
        assert got == want, value
    featx.manual_seed(-1)
    assert featx.initial_seed() == 2**64 - 1


def test_manual_seed_refuses_fractions_bools_and_non_numbers():
    for value, says in [*((v, "not a whole number") for v in _SEEDS_REFUSED[:2]),
                        *((v, "got the bool") for v in _SEEDS_REFUSED[2:]),
                        (float("nan"), "torch refuses it too"), (None, "NoneType None"),
                        ("abc", "string 'abc'"), ([1], "list")]:
        with pytest.raises(TypeError, match=f"expected an int seed.*{re.escape(says)}"):
            featx.manual_seed(value)


@pytest.mark.oracle
def test_oracle_manual_seed_conversions():
    torch = pytest.importorskip("torch")
    for value in _SEEDS_AS_TORCH:
        torch.manual_seed(value)
        featx.manual_seed(value)
        assert featx.initial_seed() == torch.initial_seed(), value
    for value in _SEEDS_REFUSED:  # torch takes them, as int(value)
        torch.manual_seed(value)
        assert torch.initial_seed() == int(value)
        assert isinstance(value, (bool, np.bool_)) or int(value) != value


def test_unknown_node_is_reported_for_the_models_current_mode():
    with pytest.raises(ValueError, match="eval-mode"):
        create_feature_extractor(Net().eval(), ["nope"])
    with pytest.raises(ValueError, match="train-mode"):
        create_feature_extractor(Net().train(), ["nope"])


def test_eager_shape_errors_name_the_module():
    with pytest.raises(ValueError, match=r"in module 'stem' \(Conv2d\): conv2d"):
        Net().eval()(_x(1, 4, 8, 8))
    with pytest.raises(ValueError, match=r"in module '0\.conv' \(Conv2d\)"):
        Net().layer1(_x(1, 3, 8, 8))
    m = featx.models.alexnet().eval()
    with pytest.raises(ValueError, match=r"in module 'features\.12' \(MaxPool2d\)"):
        m(_x(1, 3, 32, 32))
