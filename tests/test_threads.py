"""The kernel thread pool (featx.set_num_threads): results never depend on
the thread count, concurrent callers are safe, forked children work."""
from __future__ import annotations

import multiprocessing
import threading

import numpy as np
import pytest

import featx
from featx import _core
from featx.models.feature_extraction import create_feature_extractor


@pytest.fixture(autouse=True)
def restore_threads():
    n = featx.get_num_threads()
    yield
    featx.set_num_threads(n)


def _rand(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(
        np.float32)


# One call per op family, big enough that every thread gets work.
CASES = [
    ("conv2d", (_rand(2, 5, 13, 11), _rand(7, 5, 3, 3), _rand(7)),
     dict(stride=(1, 2), padding=(1, 1), dilation=(1, 1), groups=1)),
    ("conv2d", (_rand(1, 64, 9, 9), _rand(32, 64, 1, 1), None),
     dict(stride=1, padding=0, dilation=1, groups=1)),
    # 13 panels (the last of 4 columns): threads share a panel's rows
    ("conv2d", (_rand(1, 40, 14, 14), _rand(20, 40, 1, 1), _rand(20)),
     dict(stride=1, padding=0, dilation=1, groups=1)),
    ("conv2d", (_rand(2, 12, 9, 9), _rand(18, 6, 3, 3), None),
     dict(stride=2, padding=1, dilation=1, groups=2)),
    # stride 2, 10 output columns: panels hold pieces of 2-3 rows and
    # cross images; K = 297 > 256
    ("conv2d", (_rand(2, 33, 20, 19), _rand(17, 33, 3, 3), _rand(17)),
     dict(stride=2, padding=1, dilation=1, groups=1)),
    ("conv2d", (_rand(1, 6, 8, 8), _rand(6, 1, 3, 3), None),
     dict(stride=1, padding=1, dilation=1, groups=6)),
    ("linear", (_rand(3, 37), _rand(45, 37), _rand(45)), {"act": 5}),
    # Few floats but enough work to split (fx_op_cost): a squeeze-excite
    # 1x1 conv on a 1x1 plane (rows split in groups of 8), a 5x5
    # depthwise and a 3x3 Winograd conv on 7x7 planes, a classifier row.
    ("conv2d", (_rand(1, 96, 1, 1), _rand(20, 96, 1, 1), _rand(20)),
     dict(stride=1, padding=0, dilation=1, groups=1)),
    ("conv2d", (_rand(1, 24, 7, 7), _rand(24, 1, 5, 5), None),
     dict(stride=1, padding=2, dilation=1, groups=24)),
    ("conv2d", (_rand(1, 32, 7, 7), _rand(48, 32, 3, 3), None),
     dict(stride=1, padding=1, dilation=1, groups=1)),
    ("linear", (_rand(1, 70), _rand(40, 70), _rand(40)), {"act": 0}),
    ("batch_norm", (_rand(2, 4, 5, 5), _rand(4), np.abs(_rand(4)), None,
                    None), dict(eps=1e-5, act=1)),
    ("relu", (_rand(3, 4, 5, 6),), {}),
    ("max_pool2d", (_rand(2, 3, 9, 9),),
     dict(kernel_size=3, stride=2, padding=1, dilation=1, ceil_mode=True)),
    ("avg_pool2d", (_rand(2, 3, 9, 9),),
     dict(kernel_size=3, stride=2, padding=1, ceil_mode=False,
          count_include_pad=True, divisor_override=0)),
    # densenet's transition pool: 7 output columns, one masked block
    ("avg_pool2d", (_rand(1, 24, 14, 14),),
     dict(kernel_size=2, stride=2, padding=0, ceil_mode=False,
          count_include_pad=True, divisor_override=0)),
    ("adaptive_avg_pool2d", (_rand(2, 3, 9, 7),), dict(output_size=(4, 3))),
    ("add", (_rand(2, 3, 4, 5), _rand(3, 1, 5)), {}),
    ("add", (_rand(2, 3, 4, 5), _rand(2, 3, 4, 5, seed=1)), {}),
    ("add_relu", (_rand(2, 3, 4, 5), _rand(2, 3, 4, 5, seed=1)), {}),
    ("cat", (_rand(2, 3, 4), _rand(2, 5, 4)), dict(dim=1)),
    ("flatten", (_rand(2, 3, 4, 5),), dict(start_dim=1, end_dim=-1)),
    ("dropout", (_rand(4, 100),), dict(p=0.3, seed=7)),
]


@pytest.mark.parametrize("isa", ["scalar", "avx2"])
@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_results_do_not_depend_on_thread_count(case, isa):
    if isa != "scalar" and not _core.cpu_features().get(isa):
        pytest.skip(f"CPU lacks {isa}")
    name, inputs, attrs = case
    featx.set_num_threads(1)
    ref = _core.call(name, inputs, attrs, isa=isa)
    for n in (2, 3, 7):
        featx.set_num_threads(n)
        np.testing.assert_array_equal(
            _core.call(name, inputs, attrs, isa=isa), ref,
            err_msg=f"{name} with {n} threads")


def test_set_num_threads_checks_its_argument():
    featx.set_num_threads(3)
    assert featx.get_num_threads() == 3
    for bad in (0, -1, 257):
        with pytest.raises(ValueError, match=r"\[1, 256\]"):
            featx.set_num_threads(bad)
    for bad in ("2", 2.0, True, np.bool_(True), np.float32(2)):
        with pytest.raises(TypeError, match="int"):
            featx.set_num_threads(bad)
    with pytest.raises(ValueError, match=rf"set_num_threads: .*\[1, 256\], got {2 ** 70}$"):
        featx.set_num_threads(2 ** 70)  # not an OverflowError without context
    assert featx.get_num_threads() == 3
    featx.set_num_threads(np.int64(2))  # as torch.set_num_threads takes it
    assert featx.get_num_threads() == 2
    featx.set_num_threads(3)


@pytest.mark.parametrize("name, nodes", [
    ("resnet18", ["layer1", "layer3", "fc"]),
    ("mobilenet_v3_small", ["features.1", "features.6", "classifier.3"])])
def test_concurrent_extractor_calls_equal_serial_calls(name, nodes):
    model = getattr(featx.models, name)().eval()
    ex = create_feature_extractor(model, nodes)
    xs = [_rand(2, 3, 48, 48, seed=i) for i in range(6)]
    featx.set_num_threads(2)
    serial = [ex(x) for x in xs]
    results: list = [None] * len(xs)
    errors: list = []

    def work(i):
        try:
            for _ in range(2):
                results[i] = ex(xs[i])
        except Exception as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(i,))
               for i in range(len(xs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors
    for got, want in zip(results, serial):
        assert list(got) == list(want)
        for k in want:
            np.testing.assert_array_equal(got[k], want[k])


def _child(queue):
    x = _rand(2, 8, 16, 16)
    w = _rand(4, 8, 3, 3)
    y = _core.call("conv2d", (x, w, None),
                   dict(stride=1, padding=1, dilation=1, groups=1))
    queue.put(float(np.abs(y).sum()))


def test_kernels_run_in_a_forked_child():
    featx.set_num_threads(2)
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    p = ctx.Process(target=_child, args=(queue,))
    p.start()
    p.join(timeout=60)
    assert p.exitcode == 0
    x = _rand(2, 8, 16, 16)
    w = _rand(4, 8, 3, 3)
    y = _core.call("conv2d", (x, w, None),
                   dict(stride=1, padding=1, dilation=1, groups=1))
    assert queue.get(timeout=5) == pytest.approx(float(np.abs(y).sum()))


def test_serial_below_rejects_negative_counts():
    with pytest.raises(ValueError, match="expected a number of floats >= 0, got -1"):
        _core._set_serial_below(-1)


@pytest.mark.parametrize("name, inputs, attrs", [
    ("conv2d", ((1, 8, 9, 9), (8, 8, 3, 3)),
     dict(stride=1, padding=1, dilation=1, groups=1)),
    # few floats, much work: split under the default rule
    ("conv2d", ((1, 256, 7, 7), (256, 1, 5, 5)),
     dict(stride=1, padding=2, dilation=1, groups=256)),
    ("conv2d", ((1, 480, 1, 1), (120, 480, 1, 1)),
     dict(stride=1, padding=0, dilation=1, groups=1)),
    ("max_pool2d", ((1, 16, 9, 9),),
     dict(kernel_size=3, stride=2, padding=1, dilation=1, ceil_mode=False)),
], ids=["conv", "depthwise", "squeeze_excite", "max_pool"])
def test_the_serial_rule_changes_no_value(name, inputs, attrs):
    """The speed rule (calls with little work run on one thread) changes
    no value."""
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal(s).astype(np.float32) for s in inputs]
    before = featx.get_num_threads()
    try:
        featx.set_num_threads(2)
        split = _core.call(name, arrays, attrs)
        _core._set_serial_below(1 << 17)
        default = _core.call(name, arrays, attrs)
        _core._set_serial_below(1 << 62)
        serial = _core.call(name, arrays, attrs)
    finally:
        _core._set_serial_below(0)
        featx.set_num_threads(before)
    np.testing.assert_array_equal(split, serial)
    np.testing.assert_array_equal(default, serial)


@pytest.mark.parametrize("threads", [2, 3, 5])
def test_back_to_back_calls_run_every_part_once(threads):
    """Many short calls in a row (workers still spinning, or just woken,
    or asleep after a pause): every part of every call runs exactly once,
    so each result equals NumPy's."""
    import time

    featx.set_num_threads(threads)
    rng = np.random.default_rng(5)
    for i in range(300):
        x = rng.standard_normal(int(rng.integers(1, 3000))).astype(np.float32)
        y = _rand(x.size, seed=i)
        np.testing.assert_array_equal(_core.call("add", [x, y], {}), x + y)
        if i % 50 == 49:
            time.sleep(0.002)  # past the spin: the workers sleep
