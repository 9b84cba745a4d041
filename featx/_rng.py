"""The one random generator behind ``featx.manual_seed``.

Parameter initialisation (``featx.nn.init``) and dropout seeds draw from
here, so ``featx.manual_seed(s)`` makes both reproducible, like
``torch.manual_seed``. The streams are NumPy's (PCG64), not torch's: the same
seed gives different numbers than torch.
"""
from __future__ import annotations

import numpy as np

__all__ = ["manual_seed", "seed", "initial_seed", "default_generator",
           "draw_seed"]


class _State:
    """Holds the generator; the only mutable state of the module."""

    __slots__ = ("generator", "seed")

    def __init__(self) -> None:
        ss = np.random.SeedSequence()
        self.seed = int(ss.entropy) % (1 << 63)  # type: ignore[arg-type]
        self.generator = np.random.default_rng(self.seed)


_STATE = _State()


def manual_seed(seed: int) -> np.random.Generator:
    """Re-seeds featx's generator (``torch.manual_seed``).

    Args:
        seed: an int in [-2**63, 2**64) (negative values are mapped like
            torch does, modulo 2**64).

    Returns:
        The NumPy ``Generator`` now used by featx.

    Raises:
        TypeError: ``seed`` is not an int.
        ValueError: ``seed`` is outside [-2**63, 2**64) (torch raises too).
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(
            f"manual_seed: expected an int seed, got {type(seed).__name__}")
    if not -(1 << 63) <= int(seed) < (1 << 64):
        raise ValueError(
            f"manual_seed: seed must be in [-2**63, 2**64), got {seed}")
    s = int(seed) % (1 << 64)
    _STATE.seed = s
    _STATE.generator = np.random.default_rng(s)
    return _STATE.generator


def seed() -> int:
    """Seeds the generator from OS entropy and returns the seed."""
    s = int(np.random.SeedSequence().entropy) % (1 << 63)  # type: ignore
    manual_seed(s)
    return s


def initial_seed() -> int:
    """The seed the generator was last seeded with."""
    return _STATE.seed


def default_generator() -> np.random.Generator:
    """The NumPy ``Generator`` featx draws from."""
    return _STATE.generator


def draw_seed() -> int:
    """A fresh non-negative 63-bit seed for a kernel (e.g. dropout)."""
    return int(_STATE.generator.integers(0, 1 << 62))
