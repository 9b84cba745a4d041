"""The plan's memory reuse: elementwise kernel steps write into the buffer
of a dead intermediate (csrc/py/plan_py.c), never into a returned value,
a user's input, a weight, or an array something else still references;
intermediates only kernels read live in an arena the plan keeps from run
to run; returned arrays never alias each other (SPEC section 6)."""
from __future__ import annotations

import gc
import subprocess
import sys
import threading
import weakref
from pathlib import Path

import numpy as np
import pytest

import featx
from featx import _core, models
from featx.fx import graph_module as gm
from featx._op import SlotRef
from featx.models.feature_extraction import create_feature_extractor

ISA_MASKS = {"scalar": 1, "avx2": 3, "avx512": 7}


def _x(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(
        np.float32)


def _plan(steps, outputs, n_slots=8, isa="default"):
    mask = _core.isa_mask() if isa == "default" else ISA_MASKS[isa]
    return _core.Plan(n_slots=n_slots, input_slots=(0,), steps=steps,
                      outputs=tuple(outputs), slotref_type=SlotRef,
                      isa_mask=mask)


TWO = np.array(2.0, np.float32)


def test_elementwise_step_writes_into_a_dead_intermediate():
    seen = []

    def watch(v):
        seen.append(weakref.ref(v))  # no strong reference kept
        return None

    plan = _plan([(1, "kernel", "mul", (0, TWO), {}, "mul"),
                  (2, "python", watch, (SlotRef(1),), {}, "watch"),
                  (3, "kernel", "relu", (1,), {}, "relu")],
                 [("relu", 3)])
    assert plan._reuse() == [(3, (1,))]
    x = _x(3, 40)
    before = x.copy()
    out = plan.run((x,))
    assert seen[0]() is out["relu"]  # the mul's array, now the relu's
    np.testing.assert_array_equal(out["relu"], np.maximum(x * 2, 0))
    np.testing.assert_array_equal(x, before)  # the input is never reused


def test_value_kept_by_a_python_step_is_not_overwritten():
    kept = []

    plan = _plan([(1, "kernel", "mul", (0, TWO), {}, "mul"),
                  (2, "python", kept.append, (SlotRef(1),), {}, "keep"),
                  (3, "kernel", "relu", (1,), {}, "relu")],
                 [("relu", 3)])
    assert plan._reuse() == [(3, (1,))]  # allowed by liveness ...
    x = _x(3, 40)
    out = plan.run((x,))
    # ... but refused at run time: the list holds a reference
    assert kept[0] is not out["relu"]
    np.testing.assert_array_equal(kept[0], x * 2)
    assert (kept[0] < 0).any()


def test_never_reused_input_weight_returned_or_python_values():
    w = _x(3, 40, seed=1)
    w_before = w.copy()
    plan = _plan([(1, "kernel", "relu", (0,), {}, "relu0"),       # input
                  (2, "kernel", "add", (1, w), {}, "addw"),        # weight
                  (3, "python", np.negative, (SlotRef(2),), {}, "neg"),
                  (4, "kernel", "relu", (3,), {}, "relu1"),       # python
                  (5, "kernel", "mul", (1, TWO), {}, "mul")],     # returned
                 [("relu0", 1), ("relu1", 4), ("mul", 5)])
    assert plan._reuse() == []
    x = _x(3, 40)
    x_before = x.copy()
    out = plan.run((x,))
    np.testing.assert_array_equal(x, x_before)
    np.testing.assert_array_equal(w, w_before)
    np.testing.assert_array_equal(out["relu0"], np.maximum(x, 0))
    np.testing.assert_array_equal(out["mul"], np.maximum(x, 0) * 2)


def test_broadcast_input_is_not_the_output():
    # add(small, big): the dead small operand has the wrong shape
    plan = _plan([(1, "kernel", "mul", (0, TWO), {}, "small"),
                  (2, "kernel", "mul", (TWO, _x(4, 3, 5, seed=2)), {}, "big"),
                  (3, "kernel", "add", (1, 2), {}, "add")],
                 [("add", 3)])
    assert plan._reuse() == [(3, (1, 2))]
    x = _x(3, 5)
    out = plan.run((x,))
    assert out["add"].shape == (4, 3, 5)
    np.testing.assert_array_equal(out["add"],
                                  x * 2 + _x(4, 3, 5, seed=2) * 2)


# (op, extra constant inputs, attrs) for every op run in place
ELEMENTWISE = [
    ("relu", (), {}),
    ("add", (_x(2, 5, 37, seed=3),), {}),
    ("sub", (_x(2, 5, 37, seed=3),), {}),
    ("mul", (_x(2, 5, 37, seed=3),), {}),
    ("div", (_x(2, 5, 37, seed=3) + 4.0,), {}),
    ("add_relu", (_x(2, 5, 37, seed=3),), {}),
    ("batch_norm", (_x(5, seed=4), np.abs(_x(5, seed=5)) + 0.5,
                    _x(5, seed=6), _x(5, seed=7)), {"eps": 1e-5, "act": 0}),
    ("batch_norm", (_x(5, seed=4), np.abs(_x(5, seed=5)) + 0.5,
                    _x(5, seed=6), _x(5, seed=7)), {"eps": 1e-5, "act": 1}),
    ("batch_norm", (_x(5, seed=4), np.abs(_x(5, seed=5)) + 0.5,
                    _x(5, seed=6), _x(5, seed=7)), {"eps": 1e-5, "act": 2}),
    ("batch_norm", (_x(5, seed=4), np.abs(_x(5, seed=5)) + 0.5,
                    _x(5, seed=6), _x(5, seed=7)), {"eps": 1e-5, "act": 3}),
    ("batch_norm", (_x(5, seed=4), np.abs(_x(5, seed=5)) + 0.5,
                    _x(5, seed=6), _x(5, seed=7)), {"eps": 1e-5, "act": 4}),
    ("dropout", (), {"p": 0.3, "seed": 11}),
    ("hardswish", (), {}),
    ("hardsigmoid", (), {}),
    ("relu6", (), {}),
    ("silu", (), {}),
    ("sigmoid", (), {}),
    ("gelu", (), {"approximate": 0}),
    ("gelu", (), {"approximate": 1}),
]


@pytest.mark.parametrize("isa", ["scalar", "avx2", "avx512"])
@pytest.mark.parametrize("case", ELEMENTWISE, ids=lambda c: c[0])
def test_in_place_equals_out_of_place(case, isa):
    if isa != "scalar" and not _core.cpu_features().get(isa):
        pytest.skip(f"CPU lacks {isa}")
    name, extra, attrs = case
    n = featx.get_num_threads()
    try:
        for threads in (1, 3):
            featx.set_num_threads(threads)
            for cols in (1, 7, 8, 9, 37):  # every vector remainder
                x = _x(2, 5, cols) * 4
                ext = tuple(e[..., :cols] if e.ndim == 3 else e
                            for e in extra)
                plan = _plan([(1, "kernel", "mul", (0, TWO), {}, "mul"),
                              (2, "kernel", name, (1,) + ext, attrs, name)],
                             [(name, 2)], isa=isa)
                assert plan._reuse() == [(2, (1,))]
                want = _core.call(name, [x * 2, *ext], attrs, isa=isa)
                got = plan.run((x,))[name]
                np.testing.assert_array_equal(
                    got.view(np.uint32), want.view(np.uint32),
                    err_msg=f"{name} {cols} cols {threads} threads")
    finally:
        featx.set_num_threads(n)


def test_resnet_residual_runs_in_place():
    ex = create_feature_extractor(models.resnet50().eval(), ["fc"])
    reuse = dict(ex._plans["eval"]._reuse())
    ops = {slot: op for slot, op, _ in ex._plans["eval"].kernels()}
    assert sorted({ops[s] for s in reuse}) == ["add_relu"]
    assert len(reuse) == 16


def test_blocked_squeeze_excitation_scale_runs_in_place():
    """In mobilenet_v3_large's blocked plan (tests/test_layout.py) the SE
    block's x (N, C/8, H, W, 8) * gate (N, C/8, 1, 1, 8) writes into x's
    dead buffer as the plain layout's mul did; values equal a plan that
    reuses nothing, over calls of varied shapes."""
    ex = create_feature_extractor(models.mobilenet_v3_large().eval(),
                                  ["features.6", "features.16"])
    plan = ex._plans["eval"]
    ops = {slot: op for slot, op, _ in plan.kernels()}
    reuse = {s: ins for s, ins in plan._reuse() if ops[s] == "mul"}
    assert len(reuse) == 8  # one per SE block
    steps = {st[0]: st for st in gm.plan_steps(ex._graphs["eval"], ex,
                                               False)[0]}
    for out, ins in reuse.items():
        # x first (the gate, of another shape, can never be taken)
        assert ins[0] == steps[out][3][1]
        assert ops[ins[0]] == "conv2d_bn_nchw8c"
    real = _core.Plan
    gm._core.Plan = lambda **kw: real(**kw, reuse=False)
    try:
        fresh = gm.compile_plan(ex._graphs["eval"], ex, False,
                                _core.isa_mask())
    finally:
        gm._core.Plan = real
    for shape in SHAPES[:4]:
        x = _x(*shape)
        got, want = ex(x), fresh.run((x,))
        for k in want:
            np.testing.assert_array_equal(got[k], want[k])
    assert plan._arenas()[0][0] > 0


# resnet18: relu_1 is the ReLU after a block's residual add
NODES = ["layer1.0.relu", "layer1.0.add", "layer1.1.add", "layer1.1.relu_1",
         "layer1", "layer2.0.bn2", "layer2", "fc"]


@pytest.mark.parametrize("mode", ["eval", "train"])
def test_returned_arrays_never_alias_nor_change(mode):
    model = models.resnet18()
    ex = create_feature_extractor(model, NODES)
    ex.train(mode == "train")
    x = _x(2, 3, 48, 48)
    first = ex(x)
    copies = {k: v.copy() for k, v in first.items()}
    arrays = list(first.values())
    for i, a in enumerate(arrays):
        assert a.flags.owndata and a.flags.writeable
        for b in arrays[i + 1:]:
            assert not np.shares_memory(a, b)
    second = ex(x)  # a second run reuses nothing the first returned
    for k in first:
        np.testing.assert_array_equal(first[k], copies[k])
        np.testing.assert_array_equal(second[k], copies[k])
        assert not np.shares_memory(first[k], second[k])
    # modifying one returned array changes no other
    first["layer1.0.add"][...] = 123.0
    for k in first:
        if k != "layer1.0.add":
            np.testing.assert_array_equal(first[k], copies[k])


def test_resnet50_add_and_relu_both_returned():
    ex = create_feature_extractor(models.resnet50().eval(),
                                  ["layer1.0.add", "layer1.0.relu_2",
                                   "layer1.1.relu", "layer1.1.add", "layer1"])
    x = _x(1, 3, 40, 40)
    out = ex(x)
    snap = {k: v.copy() for k, v in out.items()}
    assert (out["layer1.0.add"] < 0).any()
    np.testing.assert_array_equal(out["layer1.0.relu_2"],
                                  np.maximum(out["layer1.0.add"], 0))
    out["layer1.0.relu_2"] += 1.0
    np.testing.assert_array_equal(out["layer1.0.add"], snap["layer1.0.add"])
    again = ex(x)
    for k in snap:
        np.testing.assert_array_equal(again[k], snap[k])
    gc.collect()


def test_python_step_templates_resolve_every_slot_ref():
    # nested tuple/list/dict/slice templates, kwargs, a slot used twice;
    # slot indices are read once when the plan is built
    def fn(*args, **kwargs):
        return (args, kwargs)

    args = (SlotRef(1), [SlotRef(0), {"a": SlotRef(1), "b": (SlotRef(3),)}],
            slice(None, SlotRef(3), 1))
    kwargs = {"z": [SlotRef(3), 5], "y": SlotRef(0)}
    plan = _core.Plan(n_slots=5, input_slots=(0, 3),
                      steps=[(1, "kernel", "relu", (0,), {}, "relu"),
                             (2, "python", fn, args, kwargs, "fn")],
                      outputs=(("fn", 2),), slotref_type=SlotRef,
                      isa_mask=_core.isa_mask())
    x = _x(2, 3)
    for n in (4, 7):  # twice: the templates are not consumed
        (a, kw) = plan.run((x, n))["fn"]
        r = a[0]
        np.testing.assert_array_equal(r, np.maximum(x, 0))
        assert a[1][0] is x and a[1][1]["a"] is r and a[1][1]["b"] == (n,)
        assert a[2] == slice(None, n, 1)
        assert kw["z"] == [n, 5] and kw["y"] is x


def test_reuse_switch_off_gives_the_same_results():
    ex = create_feature_extractor(models.resnet18().eval(), ["layer2", "fc"])
    g = ex._graphs["eval"]
    from featx.fx import graph_module as gm
    real = _core.Plan
    gm._core.Plan = lambda **kw: real(**kw, reuse=False)
    try:
        plain = gm.compile_plan(g, ex, False, _core.isa_mask())
    finally:
        gm._core.Plan = real
    assert plain._reuse() == [] and ex._plans["eval"]._reuse() != []
    x = _x(2, 3, 40, 40)
    got, want = ex(x), plain.run((x,))
    for k in want:
        np.testing.assert_array_equal(got[k], want[k])


# Calls of one extractor with input shapes that change from call to call:
# any memory a run keeps for the next must never serve a value of another
# size, be shared with a returned array, or be reused while a Python step
# still holds the value.
SHAPES = [(1, 3, 64, 64), (2, 3, 48, 80), (1, 3, 96, 96), (1, 3, 64, 64),
          (3, 3, 32, 32), (2, 3, 48, 80)]


def test_changing_input_shapes_give_the_values_of_fresh_extractors():
    model = models.densenet121().eval()  # concat: many sizes
    nodes = ["features.denseblock1", "features.transition2", "classifier"]
    ex = create_feature_extractor(model, nodes)
    got = [ex(_x(*s, seed=i)) for i, s in enumerate(SHAPES)]
    for i, s in enumerate(SHAPES):
        fresh = create_feature_extractor(model, nodes)(_x(*s, seed=i))
        for k in nodes:
            np.testing.assert_array_equal(got[i][k], fresh[k])


def test_returned_arrays_stay_independent_of_later_calls():
    ex = create_feature_extractor(models.resnet18().eval(),
                                  ["layer1", "layer3", "fc"])
    outs = [ex(_x(*s, seed=i)) for i, s in enumerate(SHAPES)]
    snaps = [{k: v.copy() for k, v in o.items()} for o in outs]
    for o in outs:
        for v in o.values():
            assert v.flags.owndata
            v[...] = -7.0  # the user writes into what was returned
    again = [ex(_x(*s, seed=i)) for i, s in enumerate(SHAPES)]
    for o, snap in zip(again, snaps):
        for k, v in snap.items():
            np.testing.assert_array_equal(o[k], v)
    for o in outs:
        for v in o.values():
            assert (v == -7.0).all()


def test_intermediates_kept_by_a_python_step_survive_later_calls():
    kept = []
    plan = _plan([(1, "kernel", "mul", (0, TWO), {}, "mul"),
                  (2, "python", kept.append, (SlotRef(1),), {}, "keep"),
                  (3, "kernel", "relu", (1,), {}, "relu"),
                  (4, "kernel", "mul", (3, TWO), {}, "mul_1"),
                  (5, "kernel", "relu", (4,), {}, "relu_1")],
                 [("relu_1", 5)])
    xs = [_x(*s, seed=i) for i, s in enumerate(SHAPES * 2)]
    for x in xs:
        np.testing.assert_array_equal(plan.run((x,))["relu_1"],
                                      np.maximum(x * 4, 0))
    assert len(kept) == len(xs)
    for k, x in zip(kept, xs):
        np.testing.assert_array_equal(k, x * 2)


class _Keep(featx.nn.Module):
    """A user leaf module that keeps every input it sees, and a copy."""

    def __init__(self):
        super().__init__()
        self.seen = []

    def forward(self, x):
        self.seen.append((x, x.copy()))
        return x * 1.0


def test_user_leaf_module_keeping_an_intermediate_over_calls():
    model = models.resnet18().eval()
    keep = _Keep()
    model.layer2 = featx.nn.Sequential(model.layer2, keep)
    ex = create_feature_extractor(
        model, ["layer1", "layer3"],
        tracer_kwargs={"leaf_modules": [_Keep]})
    for i, s in enumerate(SHAPES * 2):
        ex(_x(*s, seed=i))
    assert len(keep.seen) == 2 * len(SHAPES)
    for kept, copy in keep.seen:
        np.testing.assert_array_equal(kept, copy)


def test_memory_stays_bounded_over_many_calls_with_varied_shapes():
    ex = create_feature_extractor(models.resnet18().eval(),
                                  ["layer2", "fc"])

    def rss_mib():
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * 4096 / 2**20

    for i, s in enumerate(SHAPES):
        ex(_x(*s, seed=i))
    gc.collect()
    before = rss_mib()
    for i in range(5):
        for j, s in enumerate(SHAPES):
            ex(_x(*s, seed=i + j))
    gc.collect()
    assert rss_mib() - before < 32


# The arenas: a run lays intermediates out by the sizes the runs before it
# saw, so the first run of a shape allocates and the next ones do not.

def test_in_place_chain_takes_one_region_of_the_arena():
    plan = _plan([(1, "kernel", "mul", (0, TWO), {}, "mul"),
                  (2, "kernel", "relu", (1,), {}, "relu"),
                  (3, "kernel", "mul", (2, TWO), {}, "mul_1"),
                  (4, "kernel", "relu", (3,), {}, "relu_1"),
                  (5, "kernel", "relu", (4,), {}, "relu_2")],
                 [("relu_2", 5)])
    assert plan._arenas() == [(0, 0), (0, 0)]
    x = _x(3, 40)
    for i in range(3):
        np.testing.assert_array_equal(plan.run((x,))["relu_2"],
                                      np.maximum(x * 4, 0))
        # 3 * 40 floats, rounded up to 64 bytes; the returned value is
        # not in it
        assert plan._arenas()[0] == ((0, 0) if i == 0 else (512, 512))
    assert plan._arenas()[1] == (0, 0)  # no two runs at once


def test_values_live_at_once_get_separate_regions():
    w = _x(64, 64, seed=1) / 8
    plan = _plan([(1, "kernel", "linear", (0, w, None), {"act": 0}, "fc0"),
                  (2, "kernel", "linear", (1, w, None), {"act": 0}, "fc1"),
                  (3, "kernel", "add", (1, 2), {}, "add"),
                  (4, "kernel", "linear", (3, w, None), {"act": 0}, "fc2")],
                 [("fc2", 4)])
    x = _x(4, 64)
    want = np.asarray(x @ w.T, np.float64)
    want = want + want @ w.T
    for _ in range(3):
        np.testing.assert_allclose(plan.run((x,))["fc2"], want @ w.T,
                                   rtol=1e-4, atol=1e-4)
    # fc0 and fc1 are read together by the add, which writes in place
    assert plan._arenas()[0][0] >= 2 * 4 * 64 * 4


def test_plan_without_reuse_keeps_no_arena():
    plan = _core.Plan(n_slots=3, input_slots=(0,),
                      steps=[(1, "kernel", "mul", (0, TWO), {}, "mul"),
                             (2, "kernel", "relu", (1,), {}, "relu")],
                      outputs=(("relu", 2),), slotref_type=SlotRef,
                      isa_mask=_core.isa_mask(), reuse=False)
    x = _x(3, 5)
    for _ in range(2):
        np.testing.assert_array_equal(plan.run((x,))["relu"],
                                      np.maximum(x * 2, 0))
    assert plan._arenas() == []


class _Meet(featx.nn.Module):
    """A user leaf module where two calls wait for each other, so both
    hold an arena at once."""

    def __init__(self, barrier):
        super().__init__()
        self.barrier = barrier

    def forward(self, x):
        self.barrier.wait(timeout=60)
        return x


def test_an_extractor_keeps_two_arenas_per_mode():
    """README: at most two per mode, so four after two calls at once in
    both train and eval mode (the README said two per extractor)."""
    model = models.resnet18().eval()
    model.layer3 = featx.nn.Sequential(model.layer3,
                                       _Meet(threading.Barrier(2)))
    ex = create_feature_extractor(model, ["layer4"],
                                  tracer_kwargs={"leaf_modules": [_Meet]})
    x = _x(1, 3, 48, 48)

    def two_at_once():
        for _ in range(2):  # the second pair runs on laid-out arenas
            t = threading.Thread(target=ex, args=(x,))
            t.start()
            ex(x)
            t.join()

    two_at_once()
    ex.train()
    two_at_once()
    kept = [a for mode in ("eval", "train")
            for a in ex._plans[mode]._arenas() if a[1] > 0]
    assert len(kept) == 4
    for mode in ("eval", "train"):
        assert len(ex._plans[mode]._arenas()) == 2
    readme = (Path(__file__).parents[1] / "README.md").read_text(
        encoding="utf-8")
    assert "keeps at most two per mode" in " ".join(readme.split())


def test_a_deleted_extractor_frees_its_arenas_at_once():
    """The extractor referenced itself (its own entry in the list of
    modules whose versions trigger a re-plan), so `del ex` kept it, its
    plans and their arenas until the cyclic garbage collector ran."""
    ex = create_feature_extractor(models.resnet18().eval(), ["layer4"])
    x = _x(2, 3, 48, 48)
    ex(x)
    ex(x)
    assert ex._plans["eval"]._arenas()[0][1] > 0
    gone = weakref.ref(ex)
    enabled = gc.isenabled()
    gc.disable()
    try:
        del ex
        assert gone() is None
    finally:
        if enabled:
            gc.enable()


def test_setting_an_attribute_of_the_extractor_itself_still_replans():
    model = models.resnet18().eval()
    ex = create_feature_extractor(model, ["layer1"])
    x = _x(1, 3, 32, 32)
    before = ex(x)["layer1"]
    ex.conv1 = featx.nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
    ex.conv1.weight[...] = 0.0
    after = ex(x)["layer1"]
    assert not np.array_equal(before, after)
    model.conv1.weight[...] = 0.0  # the same change, in a fresh extractor
    np.testing.assert_array_equal(
        after, create_feature_extractor(model, ["layer1"])(x)["layer1"])


def test_results_of_a_run_are_unchanged_by_the_next_run():
    ex = create_feature_extractor(models.resnet18().eval(), NODES[:-1])
    x1, x2 = _x(2, 3, 48, 48, seed=1), _x(2, 3, 48, 48, seed=2)
    ex(x1)
    first = ex(x1)
    copies = {k: v.copy() for k, v in first.items()}
    second = ex(x2)  # same shapes: the arena laid out by the first runs
    assert ex._plans["eval"]._arenas()[0][0] > 0
    for k in first:
        assert first[k].flags.owndata  # not a view on an arena
        np.testing.assert_array_equal(first[k], copies[k])
        assert not np.shares_memory(first[k], second[k])
        assert not np.array_equal(first[k], second[k])


def test_concurrent_runs_with_varied_shapes_equal_serial_runs():
    ex = create_feature_extractor(models.resnet18().eval(),
                                  ["layer1", "layer3", "fc"])
    xs = [_x(*s, seed=i) for i, s in enumerate(SHAPES)][:4]
    serial = [ex(x) for x in xs]
    results: list = [[] for _ in xs]
    errors: list = []

    def work(i):
        try:
            for j in range(3):  # each thread also meets the others' shapes
                results[i].append(ex(xs[(i + j) % len(xs)]))
        except Exception as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(i,))
               for i in range(len(xs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not errors
    for i, got in enumerate(results):
        assert len(got) == 3
        for j, out in enumerate(got):
            want = serial[(i + j) % len(xs)]
            for k in want:
                np.testing.assert_array_equal(out[k], want[k])
    assert len(ex._plans["eval"]._arenas()) == 2


@pytest.mark.parametrize("where", ["kernel", "python"])
def test_a_failed_run_leaves_the_plan_usable(where):
    w = _x(3, 40, seed=1)

    def check(v):
        if v.shape != w.shape:
            raise ValueError(f"check: shape {v.shape}, expected {w.shape}")
        return v

    late = ((4, "kernel", "add", (3, w), {}, "addw") if where == "kernel"
            else (4, "python", check, (SlotRef(3),), {}, "check"))
    plan = _plan([(1, "kernel", "mul", (0, TWO), {}, "mul"),
                  (2, "kernel", "relu", (1,), {}, "relu"),
                  (3, "kernel", "mul", (2, TWO), {}, "mul_1"),
                  late,
                  (5, "kernel", "relu", (4,), {}, "relu_1")],
                 [("relu_1", 5)])
    good, bad = _x(3, 40, seed=2), _x(4, 9, seed=3)
    want = np.maximum(np.maximum(good * 2, 0) * 2
                      + (w if where == "kernel" else 0), 0)
    for x in (good, good, bad, good, bad, bad, good):
        if x is bad:
            with pytest.raises(ValueError, match="node '(addw|check)'"):
                plan.run((x,))
        else:
            np.testing.assert_array_equal(plan.run((x,))["relu_1"], want)


_ARENA_OOM = """
import resource
import numpy as np
from featx import _core
from featx._op import SlotRef
two = np.array(2.0, np.float32)
plan = _core.Plan(n_slots=4, input_slots=(0,),
                  steps=[(1, "kernel", "mul", (0, two), {}, "mul"),
                         (2, "kernel", "relu", (1,), {}, "relu"),
                         (3, "kernel", "mul", (2, two), {}, "mul_1")],
                  outputs=(("mul_1", 3),), slotref_type=SlotRef,
                  isa_mask=_core.isa_mask())
x = np.ones((1 << 24,), np.float32)  # 64 MiB
assert (plan.run((x,))["mul_1"] == 4).all()  # notes the sizes
with open("/proc/self/status") as f:
    vm = [int(l.split()[1]) * 1024 for l in f if l.startswith("VmSize")][0]
soft, hard = resource.getrlimit(resource.RLIMIT_AS)
resource.setrlimit(resource.RLIMIT_AS, (vm + (16 << 20), hard))
try:
    plan.run((x,))
except MemoryError as e:
    print(e)
resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
assert (plan.run((x,))["mul_1"] == 4).all()
print("ok", plan._arenas()[0])
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"),
                    reason="RLIMIT_AS and /proc/self/status are Linux's")
def test_arena_out_of_memory_names_the_bytes_and_recovers():
    out = subprocess.run([sys.executable, "-c", _ARENA_OOM],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    first, last = out.stdout.splitlines()
    # one region of 2**26 bytes, plus the 64 bytes of alignment
    assert first == ("Plan.run: cannot allocate 67108928 bytes for the "
                     "intermediate values")
    assert last == "ok (67108864, 67108864)"
