#!/usr/bin/env python3
"""featx vs torchvision vs onnxruntime: stage-output extraction, one command.

Runs, in one process and interleaved, with the same thread count and the
same weights, for each model x batch x thread count:

* featx: ``featx.models.<name>()`` with the torchvision model's weights
  (``load_state_dict({k: v.numpy()})``) and
  ``featx.models.feature_extraction.create_feature_extractor``;
* torch: torchvision's ``create_feature_extractor`` under
  ``torch.inference_mode()``;
* onnxruntime: the torchvision extractor exported to ONNX (every return node
  is a graph output), CPU execution provider.

The torchvision model is randomly initialised (seeded) with randomised
BatchNorm statistics, so that BN is not near the identity; the agreement of
the three (``max |x - torch| / max |torch|`` per returned node) is checked
and printed before anything is timed.

Then, for the issue's other targets: featx's GFLOP/s against the machine's
measured FMA peak (``fma_peak.c``, compiled at run time), resnet50's time in
convolutions, ``layer2``-only vs all stages (pruning), 2 vs 1 threads,
peak resident memory of each library (fresh subprocesses) and import time
(fresh subprocesses). It ends with a Markdown table and PASS/FAIL lines.

Without torch/torchvision (or onnxruntime) installed, the missing libraries
are skipped and featx is timed alone (it needs no weights from torch).

Usage (see benchmarks/README.md):
    python benchmarks/bench.py                       # full matrix, ~15 min
    python benchmarks/bench.py --quick --models resnet18 --sections matrix
    python benchmarks/bench.py --json results.json
"""
from __future__ import annotations

import argparse
import contextlib
import gc
import hashlib
import io
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent

#: Return nodes per model: the stage outputs. ResNets: ``layer1..layer4``.
#: The others: the last ``features`` block at each spatial size (where the
#: next block halves it), as torchvision's detection backbones pick them;
#: for densenet121 the dense blocks (the transitions halve the size) and
#: the final ``relu`` after ``features.norm5`` (not ``features.norm5``
#: itself: torchvision's in-place ``F.relu(features, inplace=True)`` changes
#: that returned tensor afterwards, featx's does not, so the two would
#: return different values). Every model also returns its classifier
#: output.
STAGES: dict[str, tuple[str, ...]] = {
    "resnet18": ("layer1", "layer2", "layer3", "layer4", "fc"),
    "resnet50": ("layer1", "layer2", "layer3", "layer4", "fc"),
    "mobilenet_v3_large": ("features.1", "features.3", "features.6",
                           "features.12", "features.16", "classifier.3"),
    "efficientnet_b0": ("features.1", "features.2", "features.3",
                        "features.5", "features.8", "classifier.1"),
    "convnext_tiny": ("features.1", "features.3", "features.5",
                      "features.7", "classifier.2"),
    "densenet121": ("features.denseblock1", "features.denseblock2",
                    "features.denseblock3", "relu", "classifier"),
}

#: The model, pruned return nodes and batch of the targets on resnet50.
TARGET_MODEL = "resnet50"
PRUNED_NODES = ("layer2",)
TARGET_BATCH = 8

#: Issue 5's targets.
MAX_RATIO_TORCH = 0.8      # featx time / torch time, every row
MAX_RATIO_ORT = 1.0        # featx time / onnxruntime time, every row
MIN_CONV_PEAK = 0.55       # resnet50 B8: conv GFLOP/s / FMA peak
MAX_PRUNED_SHARE = 0.35    # resnet50: layer2-only time / all stages time
MIN_SCALING = 1.7          # resnet50 B8: 1-thread time / 2-thread time
MAX_IMPORT_SHARE = 0.05    # import featx / import torch, torchvision

#: Untimed pause before each timed call (s), see :func:`interleaved`.
PAUSE = 0.01

#: Prefix of the ONNX graph outputs' names (then the node name).
ONNX_OUTPUT = "output:"

#: Cores other processes may keep busy during a timed block before its
#: numbers are flagged as disturbed.
QUIET = 0.25

#: Relative error above which the libraries are said to disagree.
AGREEMENT_TOL = 1e-3

SECTIONS = ("peak", "matrix", "convs", "prune", "scaling", "rss", "import")
LIBS = ("featx", "torch", "ort")
THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
INPUT_SIZE = 224


# --------------------------------------------------------------------------
# Command line and environment


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", nargs="+", default=list(STAGES),
                   choices=list(STAGES), metavar="MODEL",
                   help=f"models (default: all of {', '.join(STAGES)})")
    p.add_argument("--batch", nargs="+", type=int, default=[1, 8],
                   help="batch sizes (default: 1 8)")
    p.add_argument("--threads", nargs="+", type=int, default=[1, 2],
                   help="thread counts (default: 1 2)")
    p.add_argument("--repeats", type=int, default=None,
                   help="timed calls per library and row (default 9; "
                        "--quick: 3)")
    p.add_argument("--warmup", type=int, default=None,
                   help="untimed calls per library first (default 2; "
                        "--quick: 1)")
    p.add_argument("--max-wait", type=float, default=10.0,
                   help="seconds to wait, before each timed block, for other "
                        "processes to leave the CPUs idle (default 10)")
    p.add_argument("--quick", action="store_true",
                   help="few repeats, for development")
    p.add_argument("--sections", nargs="+", default=list(SECTIONS),
                   choices=SECTIONS, metavar="SECTION",
                   help=f"what to run (default: all of {', '.join(SECTIONS)})")
    p.add_argument("--seed", type=int, default=0,
                   help="seed of the weights and the input")
    p.add_argument("--cache-dir", type=Path, default=_default_cache(),
                   help="where exported ONNX files are kept "
                        "(default: %(default)s)")
    p.add_argument("--json", type=Path, metavar="PATH",
                   help="also save every raw number here")
    # Internal: one library's peak-memory run in a fresh process.
    p.add_argument("--rss-child", choices=LIBS, help=argparse.SUPPRESS)
    p.add_argument("--onnx", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.repeats is None:
        args.repeats = 3 if args.quick else 9
    if args.warmup is None:
        args.warmup = 1 if args.quick else 2
    if (min(args.batch) < 1 or min(args.threads) < 1 or args.repeats < 1
            or args.warmup < 0):
        p.error("--batch, --threads and --repeats must be >= 1, "
                "--warmup >= 0")
    args.batch = sorted(set(args.batch))
    args.threads = sorted(set(args.threads))
    return args


def _default_cache() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "featx-bench"


def set_thread_env(n: int) -> None:
    """Caps the OpenMP / MKL / OpenBLAS pools at ``n`` threads; must run
    before NumPy, torch or onnxruntime are imported. The per-row thread
    count is then set through each library's own call."""
    for var in THREAD_VARS:
        os.environ[var] = str(n)


@dataclass
class Libs:
    """The imported libraries; ``torch``/``ort`` are None when missing."""

    np: Any
    featx: Any
    torch: Any = None
    torchvision: Any = None
    ort: Any = None
    notes: list[str] = field(default_factory=list)


def import_libs() -> Libs:
    import numpy as np

    import featx
    libs = Libs(np=np, featx=featx)
    try:
        import torch
        import torchvision
        libs.torch, libs.torchvision = torch, torchvision
        torch.set_num_interop_threads(1)
    except ImportError as e:
        libs.notes.append(f"torch/torchvision not available ({e}): "
                          f"timing featx alone")
    try:
        import onnxruntime
        libs.ort = onnxruntime
    except ImportError as e:
        libs.notes.append(f"onnxruntime not available ({e})")
    if libs.ort is not None and libs.torch is None:
        libs.notes.append("onnxruntime needs torch to export the models: "
                          "skipped")
        libs.ort = None
    return libs


def set_threads(libs: Libs, n: int) -> None:
    """featx and torch thread counts (onnxruntime's is per session)."""
    libs.featx.set_num_threads(n)
    if libs.torch is not None:
        libs.torch.set_num_threads(n)


def describe_machine(libs: Libs) -> list[str]:
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    versions = [f"python {platform.python_version()}",
                f"numpy {libs.np.__version__}",
                (f"featx {getattr(libs.featx, '__version__', '?')} "
                 f"({Path(libs.featx.__file__).parent.parent})")]
    if libs.torch is not None:
        versions += [f"torch {libs.torch.__version__}",
                     f"torchvision {libs.torchvision.__version__}"]
    if libs.ort is not None:
        versions.append(f"onnxruntime {libs.ort.__version__}")
    load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    return [", ".join(versions),
            (f"cpu: {cpu}, {os.cpu_count()} logical cores, "
             f"load average {load}")]


# --------------------------------------------------------------------------
# Timing


def interleaved(runners: dict[str, Callable[[], Any]], warmup: int,
                repeats: int,
                before: dict[str, Callable[[], None]] | None = None,
                ) -> dict[str, list[float]]:
    """Wall times (s) of ``repeats`` calls of each runner, interleaved.

    Each round calls every runner once, in an order rotated by one each
    round, so that each runner follows every other equally often (a
    noisy neighbour or another library's cache footprint then hit all
    alike), with an untimed pause of ``PAUSE`` s before each call, so that
    the previous library's worker threads stop spinning (torch's OpenMP
    threads spin a few ms after each parallel region and would slow the
    next library down). ``before[name]``, if given, runs untimed before
    each call.
    """
    names = list(runners)
    before = before or {}
    for _ in range(warmup):
        for name in names:
            before.get(name, _noop)()
            runners[name]()
    times: dict[str, list[float]] = {n: [] for n in names}
    for i in range(repeats):
        k = i % len(names)
        for name in names[k:] + names[:k]:
            before.get(name, _noop)()
            time.sleep(PAUSE)
            t0 = time.perf_counter()
            runners[name]()
            times[name].append(time.perf_counter() - t0)
    return times


def _noop() -> None:
    pass


class OthersLoad:
    """Context manager: how many cores other processes kept busy while it
    was open (``self.cores``; None where /proc/stat is missing), from the
    machine's busy time in /proc/stat minus this process's CPU time. Above
    ~0.2 on a 2-core machine, timings are disturbed."""

    def __enter__(self) -> OthersLoad:
        self.cores = None
        self._start = (self._busy(), self._own(), time.perf_counter())
        return self

    def __exit__(self, *exc: object) -> None:
        busy, own, wall = self._busy(), self._own(), time.perf_counter()
        if busy is not None and self._start[0] is not None:
            dt = wall - self._start[2]
            others = (busy - self._start[0]) - (own - self._start[1])
            self.cores = max(0.0, others / dt) if dt > 0 else None

    @staticmethod
    def _busy() -> float | None:
        """CPU seconds all processes used since boot (not idle, iowait)."""
        try:
            fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()
        except OSError:
            return None
        ticks = [int(v) for v in fields[1:9]]  # user .. steal
        return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")

    @staticmethod
    def _own() -> float:
        t = os.times()
        return t.user + t.system


def wait_for_quiet(max_wait: float, threshold: float = QUIET) -> float | None:
    """Waits (at most ``max_wait`` s, in 0.5 s samples) until other
    processes keep fewer than ``threshold`` cores busy; returns the last
    sample (None without /proc/stat)."""
    deadline = time.perf_counter() + max_wait
    while True:
        with OthersLoad() as load:
            time.sleep(0.5)
        if (load.cores is None or load.cores < threshold
                or time.perf_counter() >= deadline):
            return load.cores


def measure(args: argparse.Namespace, runners: dict[str, Callable[[], Any]],
            before: dict[str, Callable[[], None]] | None = None,
            repeats: int | None = None,
            ) -> tuple[dict[str, list[float]], float | None]:
    """:func:`interleaved` with ``args``' warm-up and repeats, after
    waiting for a quiet machine; also returns how many cores other
    processes kept busy meanwhile (:class:`OthersLoad`)."""
    wait_for_quiet(args.max_wait)
    with OthersLoad() as load:
        times = interleaved(runners, args.warmup,
                            args.repeats if repeats is None else repeats,
                            before)
    return times, load.cores


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


# --------------------------------------------------------------------------
# FMA peak


def measure_fma_peak(threads: Sequence[int]) -> tuple[dict[int, float], str]:
    """GFLOP/s of ``fma_peak.c`` per thread count (over each thread's CPU
    time, so other processes do not lower it), compiled now with gcc
    (``$CC``), and a note with the wall-time figures; an empty dict and the
    reason if it cannot be built or run."""
    cc = os.environ.get("CC", "gcc")
    if shutil.which(cc) is None:
        return {}, f"no C compiler ({cc}) to build fma_peak.c"
    with tempfile.TemporaryDirectory(prefix="featx-bench-") as tmp:
        exe = Path(tmp) / "fma_peak"
        build = subprocess.run(
            [cc, "-O2", "-mavx2", "-mfma", "-pthread",
             str(HERE / "fma_peak.c"), "-o", str(exe)],
            check=False, capture_output=True, text=True)
        if build.returncode != 0:
            return {}, f"fma_peak.c did not build: {build.stderr.strip()}"
        run = subprocess.run([str(exe), *map(str, threads)],
                             check=False, capture_output=True, text=True)
        if run.returncode != 0:
            return {}, f"fma_peak failed: {run.stderr.strip()}"
    peak, wall = {}, {}
    for line in run.stdout.splitlines():
        _, t, _, g, _, w = line.split()
        peak[int(t)], wall[int(t)] = float(g), float(w)
    return peak, ("over wall time (lower if the cores are shared): "
                  + ", ".join(f"{t} thread(s) {w:.1f}"
                              for t, w in wall.items()))


# --------------------------------------------------------------------------
# Models, FLOPs, ONNX


def torch_model(libs: Libs, name: str, seed: int) -> Any:
    """torchvision's ``name``, seeded random weights, randomised BatchNorm
    statistics and affine parameters, in eval mode."""
    torch = libs.torch
    torch.manual_seed(seed)
    model = libs.torchvision.models.get_model(name, weights=None)
    g = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                n = m.num_features
                m.running_mean.copy_(torch.randn(n, generator=g) * 0.1)
                m.running_var.copy_(torch.rand(n, generator=g) + 0.5)
                m.weight.copy_(torch.rand(n, generator=g) + 0.5)
                m.bias.copy_(torch.randn(n, generator=g) * 0.1)
    return model.eval()


def featx_model(libs: Libs, name: str, tv_model: Any = None) -> Any:
    """featx's ``name`` in eval mode, with ``tv_model``'s weights if given
    (else featx's own random initialisation)."""
    model = libs.featx.models.get_model(name)
    if tv_model is not None:
        model.load_state_dict({k: v.detach().numpy()
                               for k, v in tv_model.state_dict().items()})
    return model.eval()


@dataclass
class Layer:
    """One convolution or linear layer as run on a batch-1 input."""

    name: str
    module: Any
    in_shape: tuple[int, ...]
    flops: int  # 2 per multiply-add, batch 1

    @property
    def is_conv(self) -> bool:
        return len(self.in_shape) == 4 and hasattr(self.module, "groups")


def trace_layers(libs: Libs, model: Any, size: int = INPUT_SIZE
                 ) -> list[Layer]:
    """Every ``featx.nn.Conv2d`` / ``Linear`` call of one eager batch-1
    forward, in call order, with its input shape and FLOPs (2 per
    multiply-add; bias, BN and activations not counted)."""
    nn, np = libs.featx.nn, libs.np
    layers: list[Layer] = []
    patched = []

    def recorder(name: str, module: Any, forward: Callable) -> Callable:
        def record(x: Any, *args: Any, **kwargs: Any) -> Any:
            y = forward(x, *args, **kwargs)
            if isinstance(module, nn.Conv2d):
                kh, kw = module.kernel_size
                per_out = module.in_channels // module.groups * kh * kw
            else:
                per_out = module.in_features
            layers.append(Layer(name, module, tuple(x.shape),
                                2 * int(np.prod(y.shape)) * per_out))
            return y
        return record

    for name, m in model.named_modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            m.__dict__["forward"] = recorder(name, m, m.forward)
            patched.append(m)
    try:
        model(np.zeros((1, 3, size, size), np.float32))
    finally:
        for m in patched:
            del m.__dict__["forward"]
    return layers


def export_onnx(libs: Libs, tv_ext: Any, nodes: Sequence[str], x: Any,
                path: Path) -> str:
    """Exports ``tv_ext`` (a torchvision feature extractor) to ``path``
    with one graph output per node, in ``nodes`` order and named
    ``ONNX_OUTPUT + node`` (a bare node name can clash with an inner
    value's name, e.g. densenet's ``relu``), for the input shape
    of ``x``; returns which exporter worked (the dynamo one first, then the
    TorchScript one)."""
    torch = libs.torch

    class Outputs(torch.nn.Module):
        """The extractor's dict of outputs as a tuple, for ONNX."""

        def __init__(self) -> None:
            super().__init__()
            self.ext = tv_ext

        def forward(self, inp: Any) -> tuple:
            out = self.ext(inp)
            return tuple(out[n] for n in nodes)

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    errors = []
    for dynamo in (True, False):
        log = io.StringIO()
        try:
            with contextlib.redirect_stdout(log), \
                    contextlib.redirect_stderr(log):
                import warnings
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    torch.onnx.export(
                        Outputs().eval(), (torch.from_numpy(x),), str(tmp),
                        dynamo=dynamo, external_data=False,
                        input_names=["x"],
                        output_names=[ONNX_OUTPUT + n for n in nodes])
        except Exception as e:  # noqa: BLE001  (report, try the other)
            errors.append(f"dynamo={dynamo}: {type(e).__name__}: "
                          f"{str(e)[:300]}")
            continue
        os.replace(tmp, path)
        return "dynamo" if dynamo else "torchscript"
    raise RuntimeError("ONNX export failed: " + "; ".join(errors))


def onnx_path(args: argparse.Namespace, libs: Libs, name: str, batch: int,
              nodes: Sequence[str]) -> Path:
    """Cache file of one (model, batch, nodes, seed, torch version)."""
    key = json.dumps([name, batch, list(nodes), args.seed, ONNX_OUTPUT,
                      libs.torch.__version__, libs.torchvision.__version__])
    digest = hashlib.sha256(key.encode()).hexdigest()[:12]
    return args.cache_dir / f"{name}_b{batch}_{digest}.onnx"


def ort_session(libs: Libs, path: Path, threads: int) -> Any:
    """CPU execution provider, ``threads`` intra-op threads, 1 inter-op,
    default (all) graph optimisations; worker threads do not spin once
    idle (spinning ones would keep both cores busy after each run and slow
    the next library down ~2x; onnxruntime's own speed is unchanged)."""
    so = libs.ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = libs.ort.ExecutionMode.ORT_SEQUENTIAL
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return libs.ort.InferenceSession(str(path), so,
                                     providers=["CPUExecutionProvider"])


def max_rel_error(np: Any, a: Any, ref: Any) -> float:
    """``max |a - ref| / max |ref|`` in float64."""
    a = np.asarray(a, np.float64)
    ref = np.asarray(ref, np.float64)
    if a.shape != ref.shape:
        return float("inf")
    return float(np.abs(a - ref).max()) / max(float(np.abs(ref).max()),
                                              1e-30)


# --------------------------------------------------------------------------
# One model at one batch size


@dataclass
class Case:
    """One (model, batch): the three extractors on the same weights and
    input, as zero-argument runners returning {node: array}."""

    name: str
    batch: int
    nodes: tuple[str, ...]
    x: Any
    fx_model: Any
    layers: list[Layer]
    runners: dict[str, Callable[[], dict]]
    tv_model: Any = None
    onnx: Path | None = None
    exporter: str = ""

    @property
    def flops(self) -> int:
        return self.batch * sum(layer.flops for layer in self.layers)

    @property
    def conv_layers(self) -> list[Layer]:
        return [layer for layer in self.layers if layer.is_conv]


def build_case(args: argparse.Namespace, libs: Libs, name: str,
               batch: int) -> Case:
    """Builds featx's and torch's extractors and exports the ONNX file
    (cached); the onnxruntime runner is added per thread count
    (:func:`with_ort`)."""
    np = libs.np
    from featx.models.feature_extraction import create_feature_extractor
    nodes = STAGES[name]
    rng = np.random.default_rng(args.seed)
    x = rng.standard_normal((batch, 3, INPUT_SIZE, INPUT_SIZE),
                            dtype=np.float32)
    tv_model = torch_model(libs, name, args.seed) if libs.torch else None
    fx_model = featx_model(libs, name, tv_model)
    fx_ext = create_feature_extractor(fx_model, list(nodes))
    case = Case(name, batch, nodes, x, fx_model, trace_layers(libs, fx_model),
                {"featx": lambda: fx_ext(x)}, tv_model)
    if libs.torch is None:
        return case
    torch = libs.torch
    from torchvision.models.feature_extraction import (
        create_feature_extractor as tv_create_feature_extractor,
    )
    tv_ext = tv_create_feature_extractor(tv_model, list(nodes))
    xt = torch.from_numpy(x)

    def run_torch() -> dict:
        with torch.inference_mode():
            return tv_ext(xt)

    case.runners["torch"] = run_torch
    if libs.ort is not None:
        path = onnx_path(args, libs, name, batch, nodes)
        if path.exists():
            case.exporter = "cached"
        else:
            t0 = time.perf_counter()
            case.exporter = export_onnx(libs, tv_ext, nodes, x, path)
            case.exporter += f" exporter, {time.perf_counter() - t0:.0f} s"
        case.onnx = path
    return case


def with_ort(libs: Libs, case: Case, threads: int) -> dict[str, Callable]:
    """The case's runners plus onnxruntime with ``threads`` threads."""
    runners = dict(case.runners)
    if case.onnx is not None:
        sess = ort_session(libs, case.onnx, threads)
        feed = {sess.get_inputs()[0].name: case.x}
        names = [o.name.removeprefix(ONNX_OUTPUT)
                 for o in sess.get_outputs()]
        if names != list(case.nodes):
            raise RuntimeError(f"{case.onnx}: outputs {names}, expected "
                               f"{list(case.nodes)}")
        runners["ort"] = lambda: dict(zip(names, sess.run(None, feed),
                                          strict=True))
    return runners


def agreement(libs: Libs, case: Case, runners: dict[str, Callable]
              ) -> dict[str, dict[str, float]]:
    """{library: {node: max relative error vs torch}} for featx and ort
    (vs featx's own output when torch is missing: all zeros)."""
    outs = {lib: run() for lib, run in runners.items()}
    ref = outs.get("torch", outs["featx"])
    return {lib: {n: max_rel_error(libs.np, _numpy(out[n]), _numpy(ref[n]))
                  for n in case.nodes}
            for lib, out in outs.items() if lib != "torch"}


def _numpy(value: Any) -> Any:
    return value.numpy() if hasattr(value, "numpy") else value


def format_agreement(errors: dict[str, dict[str, float]]) -> list[str]:
    lines = []
    for lib, per_node in errors.items():
        worst = max(per_node.values())
        flag = "ok" if worst <= AGREEMENT_TOL else "MISMATCH"
        cells = ", ".join(f"{n} {e:.1e}" for n, e in per_node.items())
        lines.append(f"  {lib:5s} vs torch [{flag}]: {cells}")
    return lines


# --------------------------------------------------------------------------
# Sections


@dataclass
class Row:
    model: str
    batch: int
    threads: int
    times: dict[str, list[float]]
    flops: int
    peak: float | None  # FMA peak at this thread count, GFLOP/s
    others: float | None = None  # cores other processes kept busy

    def ms(self, lib: str) -> float | None:
        t = self.times.get(lib)
        return 1e3 * median(t) if t else None

    def ratio(self, lib: str) -> float | None:
        a, b = self.ms("featx"), self.ms(lib)
        return a / b if a is not None and b is not None else None

    @property
    def gflops(self) -> float:
        return self.flops / 1e6 / self.ms("featx")

    @property
    def share_of_peak(self) -> float | None:
        return self.gflops / self.peak if self.peak else None


def run_matrix(args: argparse.Namespace, libs: Libs, case: Case,
               peak: dict[int, float], out: dict) -> list[Row]:
    """Times the case at each thread count (after the agreement check)."""
    rows = []
    for threads in args.threads:
        set_threads(libs, threads)
        runners = with_ort(libs, case, threads)
        if threads == args.threads[0]:
            errors = agreement(libs, case, runners)
            out["agreement"][f"{case.name} B{case.batch}"] = errors
            for line in format_agreement(errors):
                print(line)
        times, others = measure(args, runners)
        row = Row(case.name, case.batch, threads, times, case.flops,
                  peak.get(threads), others)
        rows.append(row)
        print("  " + "   ".join(
            f"T{threads} {lib} {row.ms(lib):8.1f} ms" for lib in times)
            + f"   (others' load {_fmt(others, '.2f')} cores)")
        del runners
        gc.collect()
    return rows


def time_call(fn: Callable[[], Any], warmup: int, repeats: int
              ) -> tuple[float, float]:
    """Median wall time and median CPU time of this process (all its
    threads) of ``fn()``, in seconds."""
    for _ in range(warmup):
        fn()
    wall, cpu = [], []
    for _ in range(repeats):
        c0, t0 = time.process_time(), time.perf_counter()
        fn()
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return median(wall), median(cpu)


def run_convs(args: argparse.Namespace, libs: Libs, case: Case,
              peak: dict[int, float], out: dict) -> None:
    """Times each convolution of the case alone (featx's eager Conv2d on a
    random input of its shape, the model's weights, no BN/ReLU epilogue) and
    reports conv FLOPs over the sum of the per-conv medians: over wall time
    against the FMA peak at the same thread count, and over CPU time (per
    core busy; featx's idle workers sleep, they do not spin) against the
    1-thread peak. The CPU-time figure holds on a shared machine, where
    wall times stretch while other processes run; both agree on an idle
    one at 1 thread."""
    np = libs.np
    rng = np.random.default_rng(args.seed)
    convs = case.conv_layers
    inputs = [rng.standard_normal((case.batch, *c.in_shape[1:]),
                                  dtype=np.float32) for c in convs]
    flops = sum(c.flops for c in convs) * case.batch
    result = out["convs"][f"{case.name} B{case.batch}"] = {}
    for threads in args.threads:
        set_threads(libs, threads)
        wall, cpu = [], []
        wait_for_quiet(args.max_wait)
        with OthersLoad() as load:
            for c, x in zip(convs, inputs, strict=True):
                w, u = time_call(lambda c=c, x=x: c.module(x), warmup=1,
                                 repeats=max(3, args.repeats // 2))
                wall.append(w)
                cpu.append(u)
        r = result[threads] = {
            "wall": wall, "cpu": cpu, "others": load.cores,
            "gflops": flops / 1e9 / sum(wall),
            "cpu_gflops": flops / 1e9 / sum(cpu)}
        r["share_of_peak"] = (r["gflops"] / peak[threads]
                              if threads in peak else None)
        r["cpu_share_of_peak"] = r["cpu_gflops"] / peak[1] if 1 in peak \
            else None
        print(f"  T{threads}: {len(convs)} convolutions, "
              f"{flops / 1e9:.1f} GFLOP in {1e3 * sum(wall):.1f} ms "
              f"(sum of medians) = {r['gflops']:.1f} GFLOP/s"
              + _pct(r["share_of_peak"], f" = {{}} of the {threads}-thread "
                     f"FMA peak")
              + f"; {r['cpu_gflops']:.1f} GFLOP per CPU-second"
              + _pct(r["cpu_share_of_peak"], " = {} of the 1-thread peak")
              + f" (others' load {_fmt(load.cores, '.2f')} cores)")
        total = sum(wall)
        for i in sorted(range(len(convs)), key=lambda i: -wall[i])[:5]:
            c = convs[i]
            kh, kw = c.module.kernel_size
            print(f"      {c.name:24s} {c.module.in_channels:4d}->"
                  f"{c.module.out_channels:<4d} {kh}x{kw} "
                  f"s{c.module.stride[0]} g{c.module.groups} @"
                  f"{c.in_shape[2]}x{c.in_shape[3]}: "
                  f"{1e3 * wall[i]:6.2f} ms ({100 * wall[i] / total:4.1f}%),"
                  f" {c.flops * case.batch / 1e9 / wall[i]:5.1f} GFLOP/s")


def _pct(share: float | None, template: str) -> str:
    """``template`` with ``share`` as a percentage, or "" if None."""
    return "" if share is None else template.format(f"{100 * share:.0f}%")


def run_prune(args: argparse.Namespace, libs: Libs, case: Case,
              out: dict) -> None:
    """featx (and torch) time of the ``PRUNED_NODES`` extractor vs the
    all-stages one, interleaved, at the first thread count; also the share
    of the FLOPs the pruned graph keeps (its convolution and linear
    layers), what the time share would be at equal speed everywhere."""
    from featx.models.feature_extraction import create_feature_extractor
    threads = args.threads[0]
    set_threads(libs, threads)
    x = case.x
    fx_small = create_feature_extractor(case.fx_model, list(PRUNED_NODES))
    kept = {n.target for n in fx_small.graph.info()
            if n.op == "call_module"}
    flop_share = (sum(la.flops for la in case.layers if la.name in kept)
                  / sum(la.flops for la in case.layers))
    runners = {"featx all": case.runners["featx"],
               "featx pruned": lambda: fx_small(x)}
    if libs.torch is not None:
        torch = libs.torch
        from torchvision.models.feature_extraction import (
            create_feature_extractor as tv_create_feature_extractor,
        )
        tv_small = tv_create_feature_extractor(case.tv_model,
                                               list(PRUNED_NODES))
        xt = torch.from_numpy(x)

        def run_torch_small() -> dict:
            with torch.inference_mode():
                return tv_small(xt)

        runners["torch all"] = case.runners["torch"]
        runners["torch pruned"] = run_torch_small
    times, others = measure(args, runners)
    med = {k: median(v) for k, v in times.items()}
    result = {"threads": threads, "times": times, "others": others,
              "flop_share": flop_share}
    for lib in ("featx", "torch"):
        if f"{lib} all" in med:
            share = med[f"{lib} pruned"] / med[f"{lib} all"]
            result[f"{lib}_share"] = share
            print(f"  {lib}: {'+'.join(PRUNED_NODES)} only "
                  f"{1e3 * med[f'{lib} pruned']:.1f} ms vs all stages "
                  f"{1e3 * med[f'{lib} all']:.1f} ms = {100 * share:.0f}%"
                  f" (T{threads}, others' load {_fmt(others, '.2f')})")
    print(f"  the pruned graph keeps {100 * flop_share:.0f}% of the FLOPs")
    out["prune"][f"{case.name} B{case.batch}"] = result


def run_scaling(args: argparse.Namespace, libs: Libs, case: Case,
                out: dict) -> None:
    """featx (and torch) at the lowest vs the highest thread count,
    interleaved call by call."""
    lo, hi = args.threads[0], args.threads[-1]
    runners, before = {}, {}
    for lib in ("featx", "torch"):
        if lib not in case.runners:
            continue
        for t in (lo, hi):
            key = f"{lib} T{t}"
            runners[key] = case.runners[lib]
            before[key] = (lambda t=t: set_threads(libs, t))
    times, others = measure(args, runners, before)
    med = {k: median(v) for k, v in times.items()}
    result = {"threads": [lo, hi], "times": times, "others": others}
    for lib in ("featx", "torch"):
        if f"{lib} T{lo}" in med:
            speedup = med[f"{lib} T{lo}"] / med[f"{lib} T{hi}"]
            result[f"{lib}_speedup"] = speedup
            print(f"  {lib}: T{lo} {1e3 * med[f'{lib} T{lo}']:.1f} ms, "
                  f"T{hi} {1e3 * med[f'{lib} T{hi}']:.1f} ms = "
                  f"{speedup:.2f}x (others' load {_fmt(others, '.2f')})")
    out["scaling"][f"{case.name} B{case.batch}"] = result


def rss_child(args: argparse.Namespace) -> int:
    """Peak-memory run of one library, in this fresh process: prints JSON
    {baseline, total} peak RSS in MiB after the imports and after building
    the model and extracting twice."""

    name, batch = TARGET_MODEL, args.batch[0]
    nodes = list(STAGES[TARGET_MODEL])
    threads = args.threads[0]
    import numpy as np
    if args.rss_child == "featx":
        import featx
        from featx.models.feature_extraction import create_feature_extractor
        featx.set_num_threads(threads)
        base = peak_mib()
        ext = create_feature_extractor(
            featx.models.get_model(name).eval(), nodes)
        x = np.zeros((batch, 3, INPUT_SIZE, INPUT_SIZE), np.float32)

        def run() -> Any:
            return ext(x)
    elif args.rss_child == "torch":
        import torch
        import torchvision
        from torchvision.models.feature_extraction import (
            create_feature_extractor,
        )
        torch.set_num_threads(threads)
        base = peak_mib()
        ext = create_feature_extractor(
            torchvision.models.get_model(name, weights=None).eval(), nodes)
        xt = torch.zeros((batch, 3, INPUT_SIZE, INPUT_SIZE))

        def run() -> Any:
            with torch.inference_mode():
                return ext(xt)
    else:
        import onnxruntime
        base = peak_mib()
        so = onnxruntime.SessionOptions()
        so.intra_op_num_threads, so.inter_op_num_threads = threads, 1
        sess = onnxruntime.InferenceSession(
            str(args.onnx), so, providers=["CPUExecutionProvider"])
        x = np.zeros((batch, 3, INPUT_SIZE, INPUT_SIZE), np.float32)

        def run() -> Any:
            return sess.run(None, {"x": x})
    for _ in range(2):
        result = run()
    del result
    print(json.dumps({"baseline": base, "total": peak_mib()}))
    return 0


def peak_mib() -> float:
    """This process's peak resident set size, MiB: ``VmHWM`` of
    /proc/self/status on Linux (``ru_maxrss`` would include the parent's
    size at fork + exec), else ``ru_maxrss``."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    import resource
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return maxrss / (2 ** 20 if sys.platform == "darwin" else 1024)


def run_rss(args: argparse.Namespace, libs: Libs, onnx: Path | None,
            out: dict) -> None:
    """Peak RSS of each library in a fresh subprocess (resnet50, batch
    ``TARGET_BATCH``, the highest thread count)."""
    threads = args.threads[-1]
    libs_here = ["featx"] + (["torch"] if libs.torch else []) + (
        ["ort"] if onnx is not None else [])
    for lib in libs_here:
        cmd = [sys.executable, str(Path(__file__).resolve()), "--rss-child",
               lib, "--batch", str(TARGET_BATCH), "--threads", str(threads)]
        if lib == "ort":
            cmd += ["--onnx", str(onnx)]
        proc = subprocess.run(cmd, check=False, capture_output=True,
                              text=True, env=_child_env(threads))
        if proc.returncode != 0:
            print(f"  {lib}: failed: {proc.stderr.strip()[-500:]}")
            continue
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        out["rss"][lib] = r
        print(f"  {lib:5s}: peak RSS {r['total']:7.0f} MiB total, "
              f"{r['total'] - r['baseline']:7.0f} MiB over the interpreter "
              f"after its imports ({r['baseline']:.0f} MiB)")
    out["rss_config"] = {"model": TARGET_MODEL, "batch": TARGET_BATCH,
                         "threads": threads}


def _child_env(threads: int) -> dict[str, str]:
    env = dict(os.environ)
    for var in THREAD_VARS:
        env[var] = str(threads)
    return env


def run_import(args: argparse.Namespace, libs: Libs, out: dict) -> None:
    """Median time of ``import featx`` vs ``import torch, torchvision``,
    each in fresh interpreters (time inside the process, interpreter start
    excluded), alternating."""
    stmts = {"featx": "import featx", "numpy": "import numpy"}
    if libs.torch is not None:
        stmts["torch+torchvision"] = "import torch, torchvision"
    runs = 2 if args.quick else 7
    times: dict[str, list[float]] = {k: [] for k in stmts}
    for _ in range(runs):
        for name, stmt in stmts.items():
            code = ("import time; t = time.perf_counter(); " + stmt +
                    "; print(time.perf_counter() - t)")
            proc = subprocess.run([sys.executable, "-c", code],
                                  capture_output=True, text=True, check=True,
                                  env=_child_env(args.threads[-1]))
            times[name].append(float(proc.stdout.split()[-1]))
    out["import"] = times
    for name, t in times.items():
        print(f"  import {name:18s} median {1e3 * median(t):7.1f} ms "
              f"(min {1e3 * min(t):.1f}, max {1e3 * max(t):.1f}, {runs} runs)")


# --------------------------------------------------------------------------
# Report


def _fmt(value: float | None, spec: str) -> str:
    return "–" if value is None else format(value, spec)


def markdown_table(rows: list[Row]) -> str:
    """The matrix as a Markdown table (– where a library is missing)."""
    head = ["model", "batch", "threads", "featx ms", "torch ms", "ort ms",
            "featx/torch", "featx/ort", "featx GFLOP/s", "% of peak",
            "others' load"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        share = r.share_of_peak
        cells = [r.model, str(r.batch), str(r.threads),
                 _fmt(r.ms("featx"), ".1f"), _fmt(r.ms("torch"), ".1f"),
                 _fmt(r.ms("ort"), ".1f"), _fmt(r.ratio("torch"), ".2f"),
                 _fmt(r.ratio("ort"), ".2f"), f"{r.gflops:.1f}",
                 _fmt(None if share is None else 100 * share, ".0f"),
                 _fmt(r.others, ".2f")]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _verdict(ok: bool | None) -> str:
    return "n/a " if ok is None else ("PASS" if ok else "FAIL")


def summary(rows: list[Row], out: dict, peak: dict[int, float]
            ) -> list[str]:
    """One PASS/FAIL line per target of issue 5 (n/a: not measured)."""
    lines = []
    for lib, limit in (("torch", MAX_RATIO_TORCH), ("ort", MAX_RATIO_ORT)):
        ratios = [(r.ratio(lib), r) for r in rows if r.ratio(lib) is not None]
        if not ratios:
            lines.append(f"n/a  featx/{lib} <= {limit} everywhere: "
                         f"not measured")
            continue
        worst, r = max(ratios, key=lambda p: p[0])
        fails = sum(v > limit for v, _ in ratios)
        lines.append(
            f"{_verdict(fails == 0)} featx/{lib} <= {limit} everywhere: "
            f"{len(ratios) - fails}/{len(ratios)} rows pass; worst "
            f"{worst:.2f} ({r.model} B{r.batch} T{r.threads})")

    key = f"{TARGET_MODEL} B{TARGET_BATCH}"
    conv = out["convs"].get(key, {})
    t1 = conv.get(1)
    if t1 is not None and t1["cpu_share_of_peak"] is not None:
        full = next((r for r in rows if (r.model, r.batch, r.threads) ==
                     (TARGET_MODEL, TARGET_BATCH, 1)), None)
        lower = (f"; whole forward {full.gflops:.1f} GFLOP/s = "
                 f"{100 * full.share_of_peak:.0f}%, a lower bound"
                 if full is not None and full.share_of_peak else "")
        lines.append(
            f"{_verdict(t1['cpu_share_of_peak'] >= MIN_CONV_PEAK)} {key} T1 "
            f">= {100 * MIN_CONV_PEAK:.0f}% of FMA peak over its "
            f"convolutions: {t1['cpu_gflops']:.1f} GFLOP per CPU-second = "
            f"{100 * t1['cpu_share_of_peak']:.0f}% of {peak[1]:.1f} (convs "
            f"timed one by one; over wall time {t1['gflops']:.1f} GFLOP/s = "
            f"{100 * t1['share_of_peak']:.0f}%{lower})")
    else:
        lines.append(f"n/a  {key} >= {100 * MIN_CONV_PEAK:.0f}% of FMA peak "
                     f"over its convolutions: not measured")

    shares = [(k, v["featx_share"]) for k, v in out["prune"].items()]
    if shares:
        worst = max(v for _, v in shares)
        lines.append(
            f"{_verdict(worst <= MAX_PRUNED_SHARE)} {TARGET_MODEL} "
            f"{'+'.join(PRUNED_NODES)}-only <= {100 * MAX_PRUNED_SHARE:.0f}% "
            f"of all stages: " + ", ".join(
                f"{k} {100 * v:.0f}%" for k, v in shares)
            + " (FLOP share " + ", ".join(
                f"{100 * v['flop_share']:.0f}%"
                for v in out["prune"].values()) + ")")
    else:
        lines.append(f"n/a  {TARGET_MODEL} pruning: not measured")

    sc = out["scaling"].get(key)
    if sc is not None and sc["threads"] == [1, 2]:
        s = sc["featx_speedup"]
        lines.append(f"{_verdict(s >= MIN_SCALING)} {key} 2 threads >= "
                     f"{MIN_SCALING}x 1 thread: {s:.2f}x"
                     + (f" (torch {sc['torch_speedup']:.2f}x"
                        if "torch_speedup" in sc else "")
                     + (f", FMA peak {peak[2] / peak[1]:.2f}x)"
                        if 1 in peak and 2 in peak else ")"))
    else:
        lines.append(f"n/a  {key} thread scaling 1 -> 2: not measured")

    rss = out["rss"]
    if "featx" in rss and "torch" in rss:
        f, t = rss["featx"], rss["torch"]
        lines.append(
            f"{_verdict(f['total'] <= t['total'])} {key} peak RSS <= torch's:"
            f" featx {f['total']:.0f} MiB vs torch {t['total']:.0f} MiB "
            f"(increments {f['total'] - f['baseline']:.0f} vs "
            f"{t['total'] - t['baseline']:.0f} MiB)")
    else:
        lines.append(f"n/a  {key} peak RSS: not measured")

    imp = out["import"]
    if "featx" in imp and "torch+torchvision" in imp:
        share = median(imp["featx"]) / median(imp["torch+torchvision"])
        lines.append(
            f"{_verdict(share <= MAX_IMPORT_SHARE)} import featx <= "
            f"{100 * MAX_IMPORT_SHARE:.0f}% of import torch, torchvision: "
            f"{1e3 * median(imp['featx']):.0f} ms vs "
            f"{1e3 * median(imp['torch+torchvision']):.0f} ms = "
            f"{100 * share:.1f}%")
    else:
        lines.append("n/a  import time: not measured")
    disturbed = [r for r in rows if r.others is not None
                 and r.others > QUIET]
    if disturbed:
        lines.append(
            f"WARNING: {len(disturbed)}/{len(rows)} rows ran while other "
            f"processes kept more than {QUIET} cores busy (column others' "
            f"load): their times are inflated, at 2 threads torch's most "
            f"(its OpenMP threads spin at barriers); rerun on an idle "
            f"machine for numbers to quote")
    return lines


# --------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    set_thread_env(max(args.threads))
    if args.rss_child:
        return rss_child(args)
    t_start = time.perf_counter()
    libs = import_libs()
    for line in describe_machine(libs) + libs.notes:
        print(line)
    print(f"{args.warmup} warm-up + {args.repeats} timed calls per library "
          f"and row, interleaved; times are medians")
    out: dict[str, Any] = {
        "machine": describe_machine(libs), "args": {
            k: (str(v) if isinstance(v, Path) else v)
            for k, v in vars(args).items()},
        "stages": {m: list(STAGES[m]) for m in args.models},
        "agreement": {}, "rows": [], "convs": {}, "prune": {},
        "scaling": {}, "rss": {}, "import": {}}

    peak: dict[int, float] = {}
    if "peak" in args.sections:
        peak, note = measure_fma_peak(args.threads)
        print("\nFMA peak (fma_peak.c): " + ", ".join(
            f"{t} thread(s) {g:.1f} GFLOP/s" for t, g in peak.items())
            + ("; " if peak else "") + note)
    out["fma_peak"] = peak

    rows: list[Row] = []
    target_onnx = None
    extras = {"convs", "prune", "scaling"} & set(args.sections)
    for name in args.models:
        for batch in args.batch:
            is_target = name == TARGET_MODEL
            if "matrix" not in args.sections and not (is_target and extras):
                continue
            t0 = time.perf_counter()
            case = build_case(args, libs, name, batch)
            print(f"\n{name} B{batch}: nodes {', '.join(case.nodes)}; "
                  f"{case.flops / 1e9:.2f} GFLOP"
                  + (f"; ONNX: {case.exporter}" if case.exporter else "")
                  + f" (set up in {time.perf_counter() - t0:.0f} s)")
            if "matrix" in args.sections:
                rows += run_matrix(args, libs, case, peak, out)
            if is_target and batch == TARGET_BATCH:
                target_onnx = case.onnx
                if "convs" in args.sections:
                    print(f" convolutions of {name} B{batch}, one by one:")
                    run_convs(args, libs, case, peak, out)
                if "scaling" in args.sections and len(args.threads) > 1:
                    print(f" thread scaling {name} B{batch}:")
                    run_scaling(args, libs, case, out)
            if is_target and "prune" in args.sections:
                print(f" pruning {name} B{batch}:")
                run_prune(args, libs, case, out)
            del case
            gc.collect()
    out["rows"] = [vars(r) for r in rows]

    if "rss" in args.sections:
        print(f"\npeak resident memory, {TARGET_MODEL} B{TARGET_BATCH}, "
              f"T{args.threads[-1]}, fresh process each:")
        if target_onnx is None and libs.ort is not None:
            target_onnx = onnx_path(args, libs, TARGET_MODEL, TARGET_BATCH,
                                    STAGES[TARGET_MODEL])
            if not target_onnx.exists():
                target_onnx = None
        run_rss(args, libs, target_onnx, out)
    if "import" in args.sections:
        print("\nimport time, fresh process each:")
        run_import(args, libs, out)

    print(f"\n## Results ({time.perf_counter() - t_start:.0f} s)\n")
    if rows:
        print(markdown_table(rows) + "\n")
    for line in summary(rows, out, peak):
        print(line)
    if args.json:
        args.json.write_text(json.dumps(out, indent=1, default=str))
        print(f"\nraw numbers: {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
