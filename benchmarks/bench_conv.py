"""Standalone conv2d throughput of featx's kernels (one thread).

Usage: python benchmarks/bench_conv.py [isa]   (isa: scalar | avx2 | avx512)

Reports the best of 7 runs in thread CPU time (robust to a loaded machine)
and GFLOP/s = 2 * N * OC * OH * OW * C/G * KH * KW / time.
"""
from __future__ import annotations

import sys
import time

import numpy as np

from featx import _core

ISA = sys.argv[1] if len(sys.argv) > 1 else None

# (C, OC, H, K, stride, padding): resnet50 layers
CASES = [(256, 256, 56, 3, 1, 1), (1024, 256, 14, 1, 1, 0),
         (64, 64, 56, 3, 1, 1), (64, 256, 56, 1, 1, 0),
         (3, 64, 224, 7, 2, 3), (512, 512, 7, 3, 1, 1),
         (2048, 512, 7, 1, 1, 0)]


def main() -> None:
    rng = np.random.default_rng(0)
    for c, oc, h, k, s, p in CASES:
        x = rng.standard_normal((1, c, h, h)).astype(np.float32)
        w = rng.standard_normal((oc, c, k, k)).astype(np.float32)
        b = rng.standard_normal(oc).astype(np.float32)
        attrs = dict(stride=s, padding=p, dilation=1, groups=1)
        y = _core.call("conv2d", [x, w, b], attrs, isa=ISA)
        best = float("inf")
        for _ in range(7):
            t = time.thread_time()
            _core.call("conv2d", [x, w, b], attrs, isa=ISA)
            best = min(best, time.thread_time() - t)
        flop = 2.0 * oc * y.shape[2] * y.shape[3] * c * k * k
        print(f"conv2d {c}->{oc} {k}x{k} s{s} @{h}x{h}: {best * 1e3:7.2f} ms"
              f" {flop / best / 1e9:6.1f} GFLOP/s"
              f" [{_core.kernel_name('conv2d', isa=ISA)}]")


if __name__ == "__main__":
    main()
