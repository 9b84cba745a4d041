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


def _seed_int(seed: object) -> int:
    """``seed`` as an int, converted where ``torch.manual_seed`` converts it.

    torch calls ``int(seed)``: featx does the same for ints (NumPy's too),
    whole-number floats (``42.0``) and strings of an int (``"42"``, e.g. an
    argparse value without ``type=int``), and refuses what would silently
    lose information or is most likely a mistake: a fraction (``1.5``, which
    torch truncates to 1) and a bool (a flag passed where a seed was meant).
    """
    if isinstance(seed, (bool, np.bool_)):
        raise TypeError(
            f"manual_seed: expected an int seed, got the bool {seed!r} "
            f"(torch reads it as {int(seed)}; pass an int)")
    if isinstance(seed, (int, np.integer)):
        return int(seed)
    if isinstance(seed, (float, np.floating)):
        if not float(seed).is_integer():
            hint = ("torch would truncate it; pass int(seed) if that is meant"
                    if np.isfinite(seed) else "torch refuses it too")
            raise TypeError(
                f"manual_seed: expected an int seed, got the "
                f"{type(seed).__name__} {seed!r}, which is not a whole number "
                f"({hint})")
        return int(seed)
    if isinstance(seed, str):
        try:
            return int(seed)
        except ValueError:
            raise TypeError(
                f"manual_seed: expected an int seed (or a string of one, "
                f"like '42'), got the string {seed!r}") from None
    raise TypeError(
        f"manual_seed: expected an int seed, got {type(seed).__name__} "
        f"{seed!r}")


def manual_seed(seed: int | float | str) -> np.random.Generator:
    """Re-seeds featx's generator (``torch.manual_seed``).

    Args:
        seed: an int in [-2**63, 2**64). Negative seeds are mapped as torch
            maps them, modulo 2**64 (``manual_seed(-1)`` then
            ``initial_seed()`` gives ``2**64 - 1``). As torch does, a
            whole-number float (``42.0``) or a string of an int (``"42"``)
            is converted with ``int()``.

    Returns:
        The NumPy ``Generator`` now used by featx.

    Raises:
        TypeError: ``seed`` is not an int, a whole-number float or a string
            of an int: a bool, a fraction such as ``1.5`` (torch truncates
            it), ``None``, ... .
        ValueError: ``seed`` is outside [-2**63, 2**64) (torch raises too).
    """
    s = _seed_int(seed)
    if not -(1 << 63) <= s < (1 << 64):
        raise ValueError(
            f"manual_seed: seed must be in [-2**63, 2**64), got {seed!r}")
    s %= 1 << 64
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
