#!/usr/bin/env python3
"""featx vs torchvision feature extraction on one model, side by side in one process.

Both extractors get the same weights (torchvision's random initialisation, copied into featx
with ``load_state_dict``), the same input (the bundled sample photo, preprocessed once) and the
same return nodes (``layer1`` .. ``layer4`` and ``fc`` by default). Repetitions are interleaved
(featx, torch, torch, featx, ...) so that drifting clock speed or a noisy neighbour hits both
alike; the median of each is reported, with the featx/torch ratio (> 1 means featx is slower).

Thread count: ``--threads`` (default 1) is applied to featx (``featx.set_num_threads``), to
torch (``torch.set_num_threads``) and to the OpenMP / MKL / OpenBLAS pools through their
environment variables, set before NumPy or torch are imported.

Without torch/torchvision installed, featx is timed alone and the script says so.

Usage:
    python benchmarks/bench_resnet50.py [--threads 1] [--repeats 20] [--warmup 3]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time

THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="resnet50", help="model name in both libraries")
    p.add_argument(
        "--threads", type=int, default=1, help="threads for featx and torch (default 1)"
    )
    p.add_argument(
        "--repeats", type=int, default=20, help="timed calls per library (default 20)"
    )
    p.add_argument(
        "--warmup", type=int, default=3, help="untimed calls per library first"
    )
    p.add_argument("--batch", type=int, default=1, help="batch size N (default 1)")
    p.add_argument(
        "--size", type=int, default=224, help="input height = width in pixels"
    )
    p.add_argument(
        "--nodes",
        nargs="+",
        default=["layer1", "layer2", "layer3", "layer4", "fc"],
        help="return nodes for both extractors",
    )
    p.add_argument(
        "--seed", type=int, default=0, help="seed of torch's weight initialisation"
    )
    args = p.parse_args(argv)
    if args.threads < 1 or args.repeats < 1 or args.warmup < 0 or args.batch < 1:
        p.error("--threads, --repeats and --batch must be >= 1, --warmup >= 0")
    return args


def _timed(fn, x) -> tuple[float, dict]:
    t0 = time.perf_counter()
    out = fn(x)
    return time.perf_counter() - t0, out


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    for var in THREAD_VARS:  # before numpy / torch create their pools
        os.environ[var] = str(args.threads)

    import numpy as np

    import featx
    from featx.models import get_model
    from featx.models.feature_extraction import create_feature_extractor
    from featx.transforms import ImageClassification, load_image, sample_image_path

    try:
        import torch
        import torchvision
        from torchvision.models.feature_extraction import (
            create_feature_extractor as tv_create_feature_extractor,
        )
    except ImportError as e:
        torch = None
        print(f"torch/torchvision not available ({e}); timing featx alone")

    nodes = {n: n for n in args.nodes}
    featx.set_num_threads(args.threads)
    fx_model = get_model(args.model)

    if torch is not None:
        torch.set_num_threads(args.threads)
        torch.manual_seed(args.seed)
        tv_model = torchvision.models.get_model(args.model, weights=None)
        # Non-trivial BatchNorm statistics, so that eval-mode BN is not close to identity.
        g = torch.Generator().manual_seed(args.seed + 1)
        with torch.no_grad():
            for m in tv_model.modules():
                if isinstance(m, torch.nn.BatchNorm2d):
                    m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
                    m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
                    m.weight.copy_(torch.rand(m.num_features, generator=g) + 0.5)
                    m.bias.copy_(torch.randn(m.num_features, generator=g) * 0.1)
        tv_model.eval()
        fx_model.load_state_dict(
            {k: v.detach().numpy() for k, v in tv_model.state_dict().items()}
        )
        tv_ext = tv_create_feature_extractor(tv_model, return_nodes=nodes)
    fx_model.eval()
    fx_ext = create_feature_extractor(fx_model, return_nodes=nodes)

    img = load_image(sample_image_path())
    resize = int(args.size * 256 / 224)
    x = ImageClassification(crop_size=args.size, resize_size=resize).batch(
        [img] * args.batch
    )

    runners = {"featx": fx_ext}
    if torch is not None:
        xt = torch.from_numpy(x.copy())

        def run_torch(_x):
            with torch.inference_mode():
                return tv_ext(xt)

        runners["torch"] = run_torch

    print(
        f"{args.model}, input {tuple(x.shape)} float32, nodes {', '.join(args.nodes)}; "
        f"{args.warmup} warm-up + {args.repeats} timed calls each, interleaved"
    )
    print(
        f"python {platform.python_version()}, numpy {np.__version__}, "
        f"featx {getattr(featx, '__version__', '?')} (single-threaded core)"
        + (
            f", torch {torch.__version__} with {torch.get_num_threads()} thread(s), "
            f"torchvision {torchvision.__version__}"
            if torch is not None
            else ""
        )
    )
    print(
        f"cpu: {platform.processor() or platform.machine()}, {os.cpu_count()} logical cores"
    )

    for _ in range(args.warmup):
        for fn in runners.values():
            fn(x)

    times: dict[str, list[float]] = {k: [] for k in runners}
    outputs: dict[str, dict] = {}
    order = list(runners)
    for i in range(args.repeats):
        for name in order if i % 2 == 0 else order[::-1]:
            dt, outputs[name] = _timed(runners[name], x)
            times[name].append(dt)

    med = {k: statistics.median(v) for k, v in times.items()}
    for k, v in times.items():
        print(
            f"{k:6s} median {1e3 * med[k]:9.2f} ms   min {1e3 * min(v):9.2f} ms   "
            f"max {1e3 * max(v):9.2f} ms"
        )

    if torch is not None:
        print(f"ratio featx/torch (median): {med['featx'] / med['torch']:.2f}")
        print("agreement (max |featx - torch| / max |torch| per node):")
        for n in args.nodes:
            a = np.asarray(outputs["featx"][n], dtype=np.float64)
            b = outputs["torch"][n].numpy().astype(np.float64)
            scale = max(float(np.abs(b).max()), 1e-30)
            print(
                f"  {n:10s} {tuple(a.shape)!s:20s} {float(np.abs(a - b).max()) / scale:.2e}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
