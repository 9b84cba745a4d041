"""featx.nn.Module, Parameter, containers and init (torch.nn semantics)."""
from __future__ import annotations

import copy
import math
import pickle
from collections import OrderedDict

import numpy as np
import pytest

import featx
from featx import nn
from featx.fx import _context
from featx.nn import init


class Block(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(4)
        self.relu = nn.ReLU()

    def forward(self, x):
        return self.relu(self.bn(self.conv(x)))


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(np.ones((1,), np.float32))
        self.register_buffer("offset", np.zeros((1,), np.float32))
        self.register_buffer("scratch", np.zeros((2,), np.float32),
                             persistent=False)
        self.block = Block()
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(4 * 4 * 4, 5))

    def forward(self, x):
        return self.head(self.block(x))


# ---------------------------------------------------------------- registration

def test_setattr_routes_parameters_buffers_modules():
    m = Net()
    assert list(m._parameters) == ["scale"]
    assert list(m._buffers) == ["offset", "scratch"]
    assert list(m._modules) == ["block", "head"]
    assert "scale" not in m.__dict__ and "block" not in m.__dict__
    assert m.scale is m._parameters["scale"]
    assert isinstance(m.scale, nn.Parameter)
    assert m.offset is m._buffers["offset"]
    m.plain = 3
    assert m.__dict__["plain"] == 3


def test_assign_none_and_wrong_types():
    m = nn.Linear(2, 3)
    m.bias = None
    assert m.bias is None and "bias" in m._parameters
    with pytest.raises(TypeError, match="parameter 'weight'"):
        m.weight = np.zeros((3, 2), np.float32)
    b = Block()
    b.conv = None
    assert b.conv is None and "conv" in b._modules
    with pytest.raises(TypeError, match="child module 'bn'"):
        b.bn = 3
    bn = nn.BatchNorm2d(2)
    with pytest.raises(TypeError, match="buffer 'running_mean'"):
        bn.running_mean = [0.0, 0.0]
    bn.running_mean = np.full((2,), 5, np.float32)
    assert bn._buffers["running_mean"][0] == 5


def test_reassigning_kind_moves_the_name():
    m = nn.Module()
    m.register_buffer("x", np.zeros(2, np.float32))
    m.x = nn.Parameter(np.zeros(2))
    assert "x" in m._parameters and "x" not in m._buffers


def test_register_errors():
    m = nn.Module()
    with pytest.raises(KeyError, match=r"buffer name 'a\.b': expected no '\.' "):
        m.register_buffer("a.b", np.zeros(1))
    with pytest.raises(KeyError, match="parameter name: expected a "
                       "non-empty string, got ''"):
        m.register_parameter("", None)
    with pytest.raises(TypeError, match="^child module name: expected a str, "
                       "got int$"):
        m.add_module(3, nn.ReLU())
    m.foo = 1
    with pytest.raises(KeyError, match="buffer name 'foo': Module already "
                       "has an attribute of that name; expected a new name"):
        m.register_buffer("foo", np.zeros(1))
    with pytest.raises(TypeError, match="^child module 'x': expected a "
                       "featx.nn.Module or None, got int$"):
        m.add_module("x", 3)
    with pytest.raises(TypeError, match="^parameter 'p': expected a "
                       "featx.nn.Parameter or None, got numpy.ndarray$"):
        m.register_parameter("p", np.zeros(1))
    with pytest.raises(TypeError, match="^buffer 'b': expected a "
                       "numpy.ndarray or None, got list$"):
        m.register_buffer("b", [1.0])
    m.register_buffer("b", None)
    with pytest.raises(TypeError, match="^buffer 'b': expected a "
                       "numpy.ndarray or None, got str$"):
        m.b = "x"
    m.c = nn.ReLU()
    with pytest.raises(TypeError, match="^child module 'c': expected a "
                       "featx.nn.Module or None, got int$"):
        m.c = 3
    with pytest.raises(NotImplementedError, match=r"^Module has no forward\(\); "
                       r"expected every featx.nn.Module subclass to define"):
        m(1)
    with pytest.raises(AttributeError, match="has no attribute 'nope'"):
        _ = m.nope


def test_register_before_init_fails():
    class Bad(nn.Module):
        def __init__(self) -> None:
            self.w = nn.Parameter(np.zeros(1))

    with pytest.raises(AttributeError, match=r"^Bad: parameter 'w' set before "
                       r"Module.__init__\(\) ran; expected super\(\).__init__\(\) "
                       r"to be called first in __init__$"):
        Bad()

    class BadChild(nn.Module):
        def __init__(self) -> None:
            self.c = nn.ReLU()

    with pytest.raises(AttributeError, match="^BadChild: child module 'c' set "
                       "before Module.__init__"):
        BadChild()


def test_delattr_and_dir():
    m = Net()
    assert {"scale", "offset", "block", "head", "forward"} <= set(dir(m))
    del m.scale
    del m.offset
    del m.head
    assert "scale" not in m._parameters and "offset" not in m._buffers
    assert "head" not in m._modules


# ---------------------------------------------------------------- iteration

def test_named_modules_order_and_dedupe():
    shared = nn.ReLU()
    m = nn.Module()
    m.a = nn.Sequential(nn.Conv2d(1, 1, 1), shared)
    m.b = shared
    m.c = nn.Linear(1, 1)
    assert [n for n, _ in m.named_modules()] == ["", "a", "a.0", "a.1", "c"]
    assert [n for n, _ in m.named_modules(remove_duplicate=False)] == [
        "", "a", "a.0", "a.1", "b", "c"]
    assert [n for n, _ in m.named_modules(prefix="root")][:2] == [
        "root", "root.a"]
    assert [n for n, _ in m.named_children()] == ["a", "b", "c"]
    m.d = shared  # a second direct registration is listed once
    assert [n for n, _ in m.named_children()] == ["a", "b", "c"]
    assert len(list(m.modules())) == 5


def test_named_parameters_and_buffers():
    m = Net()
    assert [n for n, _ in m.named_parameters()] == [
        "scale", "block.conv.weight", "block.bn.weight", "block.bn.bias",
        "head.1.weight", "head.1.bias"]
    assert [n for n, _ in m.named_parameters(recurse=False)] == ["scale"]
    assert [n for n, _ in m.named_buffers()] == [
        "offset", "scratch", "block.bn.running_mean", "block.bn.running_var",
        "block.bn.num_batches_tracked"]
    assert len(list(m.parameters())) == 6 and len(list(m.buffers())) == 5
    # a shared parameter is listed once
    lin = nn.Linear(2, 2)
    m2 = nn.Module()
    m2.a, m2.b = lin, nn.Linear(2, 2)
    m2.b.weight = lin.weight
    assert [n for n, _ in m2.named_parameters()] == [
        "a.weight", "a.bias", "b.bias"]


def test_get_submodule_and_parameter():
    m = Net()
    assert m.get_submodule("block.bn") is m.block.bn
    assert m.get_submodule("") is m
    assert m.get_parameter("head.1.weight") is m.head[1].weight
    assert m.get_buffer("block.bn.running_var") is m.block.bn.running_var
    with pytest.raises(AttributeError, match=r"^get_submodule\('block.nope'\): "
                       r"the Block at 'block' has no attribute 'nope'$"):
        m.get_submodule("block.nope")
    with pytest.raises(AttributeError, match=r"^get_submodule\('block.bn.eps'\): "
                       r"'block.bn.eps' is a float; expected a featx.nn.Module$"):
        m.get_submodule("block.bn.eps")
    with pytest.raises(AttributeError, match=r"^get_parameter\('block.bn."
                       r"running_mean'\): 'running_mean' of BatchNorm2d is a "
                       r"numpy.ndarray; expected a featx.nn.Parameter$"):
        m.get_parameter("block.bn.running_mean")
    with pytest.raises(AttributeError, match=r"^get_parameter\('nope'\): the "
                       r"Net \(the root\) has no attribute 'nope'$"):
        m.get_parameter("nope")
    with pytest.raises(AttributeError, match=r"^get_buffer\('block.bn.weight'\):"
                       r" 'weight' of BatchNorm2d is a featx.nn.parameter."
                       r"Parameter, not one of its registered buffers"):
        m.get_buffer("block.bn.weight")


# ---------------------------------------------------------------- state_dict

def test_state_dict_keys_order_and_values():
    m = Net()
    sd = m.state_dict()
    assert isinstance(sd, OrderedDict)
    assert list(sd) == [
        "scale", "offset", "block.conv.weight", "block.bn.weight",
        "block.bn.bias", "block.bn.running_mean", "block.bn.running_var",
        "block.bn.num_batches_tracked", "head.1.weight", "head.1.bias"]
    assert sd["block.conv.weight"] is m.block.conv.weight  # the model's own
    nbt = sd["block.bn.num_batches_tracked"]
    assert nbt.dtype == np.int64 and nbt.shape == () and int(nbt) == 0
    assert "scratch" not in sd  # non-persistent


def test_state_dict_lists_a_shared_module_under_every_name():
    lin = nn.Linear(1, 1)
    m = nn.Module()
    m.a, m.b = lin, lin
    assert list(m.state_dict()) == ["a.weight", "a.bias", "b.weight",
                                    "b.bias"]


def test_load_state_dict_roundtrip_in_place_and_dtypes():
    src, dst = Net(), Net()
    held = dst.head[1].weight
    sd = {k: np.asarray(v).copy() for k, v in src.state_dict().items()}
    sd["head.1.weight"] = sd["head.1.weight"].astype(np.float64)
    sd["head.1.bias"] = sd["head.1.bias"].astype(np.float16)
    sd["block.bn.num_batches_tracked"] = np.array(7)
    sd["offset"] = np.array([3])  # int -> float32
    result = dst.load_state_dict(sd)
    assert result.missing_keys == [] and result.unexpected_keys == []
    assert held is dst.head[1].weight and held.dtype == np.float32
    np.testing.assert_array_equal(held, src.head[1].weight)
    np.testing.assert_allclose(dst.head[1].bias,
                               src.head[1].bias.astype(np.float16), rtol=0)
    assert int(dst.block.bn.num_batches_tracked) == 7
    assert dst.block.bn.num_batches_tracked.dtype == np.int64
    assert dst.offset[0] == 3.0 and dst.offset.dtype == np.float32


def test_load_state_dict_strict_errors():
    m = Net()
    sd = dict(m.state_dict())
    del sd["head.1.bias"]
    sd["head.1.extra"] = np.zeros(1)
    sd["nothere.weight"] = np.zeros(1)
    with pytest.raises(RuntimeError) as e:
        m.load_state_dict(sd)
    # in featx's words (it was torch's "Error(s) in loading state_dict for
    # Net: Missing key(s) in state_dict: ..." copied); torch's key order: the
    # root module's keys first, then each child's
    assert str(e.value) == (
        "Net.load_state_dict: the state dict does not fit (nothing was "
        "loaded):\n"
        "  1 missing (in the model, not in the state dict): 'head.1.bias'\n"
        "  2 unexpected (in the state dict, not in the model): "
        "'nothere.weight', 'head.1.extra'")
    res = m.load_state_dict(sd, strict=False)
    assert res.missing_keys == ["head.1.bias"]
    assert sorted(res.unexpected_keys) == ["head.1.extra", "nothere.weight"]
    assert res == (["head.1.bias"], res.unexpected_keys)
    # a plain named tuple (its repr was torch's "<All keys matched
    # successfully>" when nothing is left over)
    assert repr(m.load_state_dict(m.state_dict())) == (
        "_IncompatibleKeys(missing_keys=[], unexpected_keys=[])")


def test_load_state_dict_names_a_wrapper_prefix():
    # A checkpoint saved from DataParallel (keys "module.<key>") listed every key twice
    # and nothing else; the message now says what to strip.
    m = Net()
    sd = {"module." + k: v for k, v in m.state_dict().items()}
    with pytest.raises(RuntimeError) as e:
        m.load_state_dict(sd)
    msg = str(e.value)
    assert (f"The {len(sd)} unexpected keys all start with 'module.', and without it "
            "they hold every missing key") in msg
    assert "k.removeprefix('module.')" in msg
    m.load_state_dict({k.removeprefix("module."): v for k, v in sd.items()})
    # no hint when the keys under the prefix are not the missing ones
    sd = dict(m.state_dict())
    del sd["head.1.bias"]
    sd["other.head.1.weight"] = np.zeros(1)
    with pytest.raises(RuntimeError) as e:
        m.load_state_dict(sd)
    assert "unexpected keys all start" not in str(e.value)


def test_load_state_dict_size_mismatch_raises_even_non_strict():
    m = Net()
    sd = dict(m.state_dict())
    sd["head.1.weight"] = np.zeros((10, 64), np.float32)
    for strict in (True, False):
        with pytest.raises(RuntimeError) as e:
            m.load_state_dict(sd, strict=strict)
        assert str(e.value) == (
            "Net.load_state_dict: the state dict does not fit (nothing was "
            "loaded):\n  head.1.weight: the state dict has shape (10, 64), "
            "the model expects (5, 64)")


def test_failed_load_state_dict_leaves_the_module_unchanged():
    # torch copies every entry that fits before it raises; featx checks first.
    m = Net()
    before = {k: np.array(v, copy=True) for k, v in m.state_dict().items()}
    good = {k: np.full_like(v, 7) for k, v in m.state_dict().items()}
    wrong_shape = {**good, "head.1.weight": np.zeros((10, 64), np.float32)}
    missing = {k: v for k, v in good.items() if k != "head.1.bias"}
    unexpected = {**good, "nothere.weight": np.zeros(3, np.float32)}
    not_an_array = {**good, "scale": "x"}
    cases = [(wrong_shape, True), (wrong_shape, False), (missing, True),
             (unexpected, True), (not_an_array, True), (not_an_array, False)]
    for sd, strict in cases:
        with pytest.raises(RuntimeError):
            m.load_state_dict(sd, strict=strict)
        for k, v in m.state_dict().items():
            np.testing.assert_array_equal(v, before[k], err_msg=k)
    assert m.load_state_dict(missing, strict=False).missing_keys == ["head.1.bias"]
    for k, v in m.state_dict().items():
        np.testing.assert_array_equal(v, before[k] if k == "head.1.bias" else good[k])


def test_load_state_dict_type_errors():
    m = Net()
    with pytest.raises(TypeError, match="^load_state_dict: expected a mapping "
                       r"of names to arrays \(e.g. a dict\), got list$"):
        m.load_state_dict([1, 2])
    sd = dict(m.state_dict())
    sd["scale"] = "x"
    with pytest.raises(RuntimeError, match="scale: expected an array in the "
                       "state dict, got str"):
        m.load_state_dict(sd)
    sd["scale"] = np.array(["a"] * m.scale.size).reshape(m.scale.shape)
    with pytest.raises(RuntimeError, match=r"scale: the state dict's <U1 array "
                       r"of shape \(.*\) cannot be copied into the model's "
                       r"float32 array .*; expected a bool, integer or float "
                       r"array"):
        m.load_state_dict(sd)


def test_batchnorm_missing_counter_is_not_missing():
    bn = nn.BatchNorm2d(3)
    bn.num_batches_tracked[...] = 4
    sd = {k: v for k, v in bn.state_dict().items()
          if k != "num_batches_tracked"}
    assert bn.load_state_dict(sd).missing_keys == []
    assert int(bn.num_batches_tracked) == 4


# ---------------------------------------------------------------- modes

def test_train_eval_recursive_and_type_check():
    m = Net()
    assert all(x.training for x in m.modules())
    assert m.eval() is m
    assert not any(x.training for x in m.modules())
    m.train()
    assert all(x.training for x in m.modules())
    m.block.train(False)
    assert m.training and not m.block.bn.training
    with pytest.raises(ValueError, match=r"^train\(mode\): expected True or "
                       r"False, got str 'yes'$"):
        m.train("yes")
    with pytest.raises(ValueError, match="got int 1$"):
        m.train(1)
    s = nn.Sequential(nn.ReLU())
    with pytest.raises(ValueError, match="^Sequential \\+ x: expected x to be a "
                       "Sequential, got list$"):
        s + [nn.ReLU()]
    with pytest.raises(TypeError, match="^ModuleList.extend: expected an "
                       "iterable of modules, got int$"):
        nn.ModuleList().extend(3)
    with pytest.raises(TypeError, match=r"^ModuleDict.update: expected a "
                       r"mapping or an iterable of \(name, module\) pairs, got "
                       r"int$"):
        nn.ModuleDict().update(3)
    with pytest.raises(ValueError, match=r"^ModuleDict.update: item 0 expected "
                       r"a \(name, module\) pair, got 'ab'$"):
        nn.ModuleDict().update(["ab"])
    with pytest.raises(ValueError, match="kaiming_normal_: mode: expected "
                       "'fan_in' or 'fan_out', got 'fan_avg'$"):
        init.kaiming_normal_(np.zeros((2, 2), np.float32), mode="fan_avg")


def test_apply_visits_children_first():
    m = Net()
    seen = []
    assert m.apply(lambda x: seen.append(type(x).__name__)) is m
    assert seen == ["Conv2d", "BatchNorm2d", "ReLU", "Block", "Flatten",
                    "Linear", "Sequential", "Net"]


# ---------------------------------------------------------------- copies

def _run(m, x):
    return m.eval()(x)


def test_deepcopy_is_independent():
    m = Net().eval()
    x = np.random.default_rng(0).random((2, 3, 4, 4), dtype=np.float32)
    c = copy.deepcopy(m)
    np.testing.assert_array_equal(_run(m, x), _run(c, x))
    assert isinstance(c.scale, nn.Parameter)
    c.head[1].weight[...] = 0
    assert np.abs(m.head[1].weight).sum() > 0


def test_deepcopy_keeps_sharing():
    lin = nn.Linear(2, 2)
    m = nn.Module()
    m.a, m.b = lin, lin
    c = copy.deepcopy(m)
    assert c.a is c.b and c.a is not lin


def test_shallow_copy_shares_parameters():
    m = Net()
    c = copy.copy(m)
    assert c.head[1].weight is m.head[1].weight


def test_pickle_roundtrip():
    m = Net().eval()
    x = np.random.default_rng(1).random((1, 3, 4, 4), dtype=np.float32)
    c = pickle.loads(pickle.dumps(m))
    np.testing.assert_array_equal(_run(m, x), _run(c, x))
    assert isinstance(c.block.conv.weight, nn.Parameter)
    assert list(c.state_dict()) == list(m.state_dict())
    assert "scratch" in c._non_persistent_buffers_set


# ---------------------------------------------------------------- Parameter

def test_parameter_semantics():
    p = nn.Parameter(np.arange(6, dtype=np.float64).reshape(2, 3))
    assert isinstance(p, nn.Parameter) and p.dtype == np.float32
    assert p.flags.c_contiguous
    assert type(p * 2) is np.ndarray
    assert type(p[0]) is np.ndarray
    assert type(p.sum()) is not nn.Parameter
    q = p
    p += 1
    assert p is q and isinstance(p, nn.Parameter) and p[0, 0] == 1
    src = np.zeros(3, np.float32)
    assert np.shares_memory(nn.Parameter(src), src)
    r = pickle.loads(pickle.dumps(p))
    assert isinstance(r, nn.Parameter)
    np.testing.assert_array_equal(r, p)
    assert repr(nn.Parameter(np.zeros(1))).startswith("Parameter containing:")
    assert nn.Parameter().shape == (0,)
    with pytest.raises(TypeError):
        nn.Parameter(np.array(["a"]))


def test_parameter_runs_through_kernels():
    lin = nn.Linear(3, 2)
    y = featx.nn.functional.linear(np.ones((1, 3), np.float32), lin.weight,
                                   lin.bias)
    assert type(y) is np.ndarray and y.shape == (1, 2)


# ---------------------------------------------------------------- containers

def test_sequential():
    a, b, c = nn.ReLU(), nn.Identity(), nn.Flatten()
    s = nn.Sequential(a, b, c)
    assert len(s) == 3 and s[0] is a and s[-1] is c and list(s) == [a, b, c]
    sl = s[1:]
    assert isinstance(sl, nn.Sequential) and list(sl) == [b, c]
    assert list(sl._modules) == ["1", "2"]
    s.append(nn.ReLU())
    assert list(s._modules) == ["0", "1", "2", "3"]
    del s[1]
    assert list(s._modules) == ["0", "1", "2"] and s[1] is c
    s[0] = b
    assert s[0] is b
    with pytest.raises(IndexError, match="out of range"):
        s[5]
    named = nn.Sequential(OrderedDict([("conv", nn.Conv2d(1, 1, 1)),
                                       ("act", nn.ReLU())]))
    assert list(named._modules) == ["conv", "act"]
    x = np.array([[-1.0, 2.0]], np.float32)
    np.testing.assert_array_equal(nn.Sequential(nn.ReLU())(x), [[0, 2]])
    s = nn.Sequential(nn.ReLU())
    with pytest.raises(AssertionError, match="^Sequential.insert: expected a "
                       "featx.nn.Module, got int$"):
        s.insert(0, 3)
    with pytest.raises(IndexError, match=r"^Sequential.insert: index expected "
                       r"in \[-1, 1\] for 1 modules, got 2$"):
        s.insert(2, nn.ReLU())


def test_module_list_and_dict():
    ml = nn.ModuleList([nn.ReLU(), nn.ReLU()])
    ml.append(nn.Identity())
    ml += [nn.Flatten()]
    assert len(ml) == 4 and isinstance(ml[-1], nn.Flatten)
    assert isinstance(ml[1:3], nn.ModuleList)
    del ml[0]
    assert list(ml._modules) == ["0", "1", "2"]
    with pytest.raises(NotImplementedError, match="forward"):
        ml(np.zeros(1))
    md = nn.ModuleDict({"a": nn.ReLU(), "b": nn.Identity()})
    assert list(md) == ["a", "b"] and "a" in md and len(md) == 2
    md["c"] = nn.Flatten()
    assert list(md.keys()) == ["a", "b", "c"]
    assert md.pop("a") is not None and "a" not in md
    m = nn.Module()
    m.layers = ml
    assert [n for n, _ in m.named_modules()][:3] == ["", "layers",
                                                     "layers.0"]


# ---------------------------------------------------------------- repr

def test_repr_matches_torch_format():
    m = nn.Sequential(nn.Conv2d(3, 8, 3, stride=2, padding=1, bias=False),
                      nn.BatchNorm2d(8), nn.ReLU(inplace=True),
                      nn.MaxPool2d(3, 2, 1), nn.AdaptiveAvgPool2d((1, 1)),
                      nn.Flatten(), nn.Dropout(0.2), nn.Linear(8, 10))
    assert repr(m) == (
        "Sequential(\n"
        "  (0): Conv2d(3, 8, kernel_size=(3, 3), stride=(2, 2), "
        "padding=(1, 1), bias=False)\n"
        "  (1): BatchNorm2d(8, eps=1e-05, momentum=0.1, affine=True, "
        "bias=True, track_running_stats=True)\n"
        "  (2): ReLU(inplace=True)\n"
        "  (3): MaxPool2d(kernel_size=3, stride=2, padding=1, dilation=1, "
        "ceil_mode=False)\n"
        "  (4): AdaptiveAvgPool2d(output_size=(1, 1))\n"
        "  (5): Flatten(start_dim=1, end_dim=-1)\n"
        "  (6): Dropout(p=0.2, inplace=False)\n"
        "  (7): Linear(in_features=8, out_features=10, bias=True)\n"
        ")")
    assert repr(nn.ModuleList([nn.ReLU(), nn.ReLU()])) == (
        "ModuleList(\n  (0-1): 2 x ReLU()\n)")


# ---------------------------------------------------------------- tracer hooks

class _RecordingTracer:
    def __init__(self):
        self.calls, self.attrs = [], []

    def call_module(self, module, args, kwargs):
        self.calls.append((type(module).__name__, args, kwargs))
        return "traced"

    def get_attr(self, module, name, value):
        self.attrs.append((type(module).__name__, name))
        return ("attr", name)


def test_call_and_getattr_hand_over_to_the_tracer():
    m = nn.BatchNorm2d(2)
    t = _RecordingTracer()
    token = _context.activate(t)
    try:
        assert m(1, k=2) == "traced"
        assert m.weight == ("attr", "weight")
        assert isinstance(m.running_mean, np.ndarray)  # buffers: direct
    finally:
        _context.deactivate(token)
    assert t.calls == [("BatchNorm2d", (1,), {"k": 2})]
    assert t.attrs == [("BatchNorm2d", "weight")]
    assert isinstance(m.weight, nn.Parameter)  # no tracer: the value


def test_none_parameter_is_not_recorded():
    m = nn.Linear(2, 2, bias=False)
    t = _RecordingTracer()
    token = _context.activate(t)
    try:
        assert m.bias is None
    finally:
        _context.deactivate(token)
    assert t.attrs == []


# ---------------------------------------------------------------- init

def _std_ok(a, expected, rel=0.05):
    assert abs(float(np.std(a)) - expected) <= rel * expected, (
        float(np.std(a)), expected)
    assert abs(float(np.mean(a))) <= 5 * expected / math.sqrt(a.size)


def test_kaiming_normal_fan_out_relu():
    w = np.empty((256, 64, 3, 3), np.float32)
    assert init.kaiming_normal_(w, mode="fan_out", nonlinearity="relu") is w
    _std_ok(w, math.sqrt(2.0) / math.sqrt(256 * 9))


def test_kaiming_of_an_empty_tensor_warns_and_leaves_it():
    w = np.empty((0, 4, 3, 3), np.float32)
    with pytest.warns(UserWarning, match=r"kaiming_normal_: the tensor of "
                      r"shape \(0, 4, 3, 3\) has no elements"):
        assert init.kaiming_normal_(w) is w


def test_kaiming_uniform_default_and_layer_defaults():
    featx.manual_seed(0)
    conv = nn.Conv2d(64, 128, 3)
    fan_in = 64 * 9
    # kaiming_uniform_(a=sqrt(5)) gives bound = 1/sqrt(fan_in)
    bound = 1 / math.sqrt(fan_in)
    assert np.abs(conv.weight).max() <= bound
    _std_ok(conv.weight, bound / math.sqrt(3))
    assert np.abs(conv.bias).max() <= bound
    lin = nn.Linear(500, 300)
    b = 1 / math.sqrt(500)
    assert np.abs(lin.weight).max() <= b and np.abs(lin.bias).max() <= b
    _std_ok(lin.weight, b / math.sqrt(3))


def test_other_initialisers():
    w = np.empty((200, 300), np.float32)
    init.uniform_(w, -2, 3)
    assert w.min() >= -2 and w.max() < 3 and abs(w.mean() - 0.5) < 0.05
    init.normal_(w, 1.0, 0.5)
    _std_ok(w - 1.0, 0.5)
    init.xavier_uniform_(w)
    assert np.abs(w).max() <= math.sqrt(6 / 500)
    init.trunc_normal_(w, std=1.0, a=-1, b=1)
    assert np.abs(w).max() <= 1
    init.constant_(w, 3)
    assert (w == 3).all()
    init.zeros_(w)
    assert not w.any()
    init.ones_(w)
    assert (w == 1).all()
    assert init.calculate_gain("leaky_relu", math.sqrt(5)) == pytest.approx(
        math.sqrt(2 / 6))
    with pytest.raises(ValueError, match=r"expected a weight of at least 2 "
                       r"dimensions \(out, in, \*kernel\), got shape \(3,\)$"):
        init.kaiming_normal_(np.empty(3, np.float32))
    with pytest.raises(ValueError, match=r"^calculate_gain\('leaky_relu'\): "
                       r"param is the negative slope, expected an int or float, "
                       r"got 'x'$"):
        init.calculate_gain("leaky_relu", "x")
    with pytest.raises(ValueError, match="^calculate_gain: no gain known for "
                       "nonlinearity 'gelu'; expected one of linear, .*, selu$"):
        init.calculate_gain("gelu")
    with pytest.raises(ValueError, match="mode: expected 'fan_in' or "
                       "'fan_out', got 'fan_avg'$"):
        init.kaiming_normal_(w, mode="fan_avg")


def test_batchnorm_init():
    bn = nn.BatchNorm2d(5)
    assert (bn.weight == 1).all() and (bn.bias == 0).all()
    assert (bn.running_mean == 0).all() and (bn.running_var == 1).all()
    bn2 = nn.BatchNorm2d(5, affine=False, track_running_stats=False)
    assert bn2.weight is None and bn2.running_mean is None
    assert list(bn2.state_dict()) == []


def test_manual_seed_reproducibility():
    featx.manual_seed(123)
    a = Net()
    featx.manual_seed(123)
    b = Net()
    featx.manual_seed(124)
    c = Net()
    for k, v in a.state_dict().items():
        np.testing.assert_array_equal(v, b.state_dict()[k])
    assert not np.array_equal(a.head[1].weight, c.head[1].weight)
    assert featx.initial_seed() == 124


def test_device_and_dtype_noops():
    m = Net()
    assert m.to("cpu") is m and m.to(np.float32) is m and m.cpu() is m
    assert m.float() is m and m.to(device="cpu", dtype="float32") is m
    with pytest.raises(NotImplementedError, match="CPU only"):
        m.to("cuda")
    with pytest.raises(NotImplementedError):
        m.to(np.float16)
    assert m.to("cpu:0") is m and m.to("cpu", non_blocking=True) is m
    assert repr(nn.Conv2d(2, 2, 3, padding="same")) == (
        "Conv2d(2, 2, kernel_size=(3, 3), stride=(1, 1), padding=same)")


# torch.nn.Module's device and dtype conversions: featx returns self for the ones that change
# nothing in featx and refuses the others with one message naming what it accepts.
_SAME = ("cpu()", "float()", "to('cpu')", "to(np.float32)")
_REFUSED = ("half()", "bfloat16()", "double()", "cuda()", "cuda(0)", "to('cuda:1')",
            "to(np.float64)", "to('mps')")


@pytest.mark.parametrize("call", _REFUSED)
def test_unsupported_device_and_dtype_changes_name_what_featx_accepts(call):
    from featx.models.feature_extraction import create_feature_extractor

    for m in (Net(), nn.ReLU(), create_feature_extractor(Net(), ["block"])):
        with pytest.raises(NotImplementedError) as e:
            eval(f"m.{call}", {"m": m, "np": np})
        assert str(e.value) == (
            f"{type(m).__name__}.{call.replace('np.', 'numpy.')}: featx runs float32 on the "
            f"CPU only; what it accepts (returning the module unchanged) is "
            f".{', .'.join(_SAME[2:])}, .{_SAME[0]} and .{_SAME[1]}")
        for same in _SAME:
            assert eval(f"m.{same}", {"m": m, "np": np}) is m


@pytest.mark.oracle
def test_oracle_torch_modules_have_the_same_conversions():
    torch = pytest.importorskip("torch")
    for call in _SAME + _REFUSED:
        name = call.split("(")[0]
        assert callable(getattr(torch.nn.Module, name)), name
        assert callable(getattr(nn.Module, name)), name


@pytest.mark.parametrize("method", ["register_forward_hook", "register_forward_pre_hook"])
def test_hooks_point_to_the_feature_extractor(method):
    m = Net()
    with pytest.raises(NotImplementedError) as e:
        getattr(m.block, method)(lambda *a: None)
    assert str(e.value).startswith(
        f"Block.{method}: featx modules have no hooks. To get the outputs of inner modules, "
        "use featx.feature_extraction.create_feature_extractor(model, return_nodes=[...])")


@pytest.mark.oracle
def test_oracle_torch_modules_have_the_hook_methods():
    torch = pytest.importorskip("torch")
    for name in ("register_forward_hook", "register_forward_pre_hook"):
        assert callable(getattr(torch.nn.Module, name)) and callable(getattr(nn.Module, name))


@pytest.mark.parametrize("p,error,says", [
    ("0.5", TypeError, "expected a number in [0, 1], got '0.5' (str)"),
    (None, TypeError, "expected a number in [0, 1], got None (NoneType)"),
    (1.5, ValueError, "expected a value in [0, 1], got 1.5"),
])
def test_dropout_probability_is_checked(p, error, says):
    import featx.nn.functional as F

    x = np.ones((2, 3), np.float32)
    for make in (lambda: nn.Dropout(p), lambda: F.dropout(x, p)):
        with pytest.raises(error) as e:
            make()
        assert str(e.value) == "dropout: p is the probability of zeroing an element, " + says
