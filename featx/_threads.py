"""Threads that run featx's kernels (``featx.set_num_threads``).

Counterparts of ``torch.set_num_threads`` / ``torch.get_num_threads``. Each
kernel (a convolution, a pooling, ...) is split across the threads of one
pool owned by the C core; other work (Python steps, NumPy) is unaffected.
Results do not depend on the number of threads: every thread computes a
disjoint part of the output in the same order.

Environment:
    FEATX_NUM_THREADS: the initial number of threads, read once at import;
        default: the number of CPUs this process may run on.
"""
from __future__ import annotations

import operator
import os

import numpy as np

from . import _core
from ._env import warn_env

__all__ = ["get_num_threads", "set_num_threads"]


def set_num_threads(n: int) -> None:
    """Sets how many threads run each kernel (the calling thread included).

    Args:
        n: number of threads, 1 to 256.

    Raises:
        TypeError: ``n`` is not an int (a NumPy integer is one; bool is not).
        ValueError: ``n`` is outside [1, 256].

    Example:
        >>> import featx
        >>> featx.set_num_threads(1)
        >>> featx.get_num_threads()
        1
    """
    if isinstance(n, (bool, np.bool_)) or not hasattr(type(n), "__index__"):
        raise TypeError(f"set_num_threads expects an int, got {n!r}")
    n = operator.index(n)
    if not 1 <= n <= 256:  # also keeps a huge int from overflowing the C long
        raise ValueError(
            f"set_num_threads: the number of threads must be in [1, 256], got {n}")
    _core.set_num_threads(n)


def get_num_threads() -> int:
    """The number of threads that run each kernel."""
    return _core.get_num_threads()


def _available_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _init_from_env() -> None:
    text = os.environ.get("FEATX_NUM_THREADS", "").strip()
    n = _available_cpus()
    if text:
        try:
            n = int(text)
            if not 1 <= n <= 256:
                raise ValueError
        except ValueError:
            warn_env("FEATX_NUM_THREADS", text, "a number of threads in [1, 256]",
                     f"using {_available_cpus()}")
            n = _available_cpus()
    _core.set_num_threads(min(n, 256))


_init_from_env()
