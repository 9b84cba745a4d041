"""The check of an int argument of featx's Python API (sizes, counts, indices)."""
from __future__ import annotations

from typing import Any

import numpy as np


def int_arg(name: str, value: Any, low: int, high: int | None = None, *, unit: str = "",
            of: str = "") -> int:
    """``value`` as an int in ``[low, high]`` (``high=None``: no upper bound).

    Args:
        name: the argument's name, as the user wrote it.
        value: what was given.
        low, high: the bounds, both included.
        unit: what the int counts (``"pixels"``), for the messages.
        of: ends the range's description (``" for a batch of 2 feature maps"``).

    Raises:
        TypeError: ``value`` is not an int (a NumPy integer is one; a bool, ``2.0``, ``"2"``
            are not).
        ValueError: ``value`` is outside the bounds.
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        counts = f" number of {unit}" if unit else ""
        raise TypeError(f"{name} must be an int{counts}, got {value!r} ({type(value).__name__})")
    if value < low or (high is not None and value > high):
        if high is not None:
            bounds = f"in {low}..{high}"
        elif low == 1 and unit:
            bounds = f"a positive number of {unit}"
        else:
            bounds = f">= {low}"
        raise ValueError(f"{name} must be {bounds}{of}, got {value}")
    return int(value)
