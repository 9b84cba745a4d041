"""Warnings pointed at the user's code: those about FEATX_* environment
variables, and the stack level that attributes any warning to its caller.

They are raised inside featx's own modules (the environment's while
``import featx`` runs); a warning attributed to one of those lines would say
nothing to the user, so it is attributed to the first frame outside featx:
the user's import line, or the line calling an extractor.
"""
from __future__ import annotations

import os
import sys
import warnings

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep


def _is_import_machinery(filename: str) -> bool:
    # The frames warnings.warn itself skips when it counts stacklevel.
    return "importlib" in filename and "_bootstrap" in filename


def user_stacklevel() -> int:
    """The ``stacklevel`` for a ``warnings.warn`` made by this function's
    caller that attributes the warning to the first frame outside featx
    (1, the caller, if every frame is featx's)."""
    level = 1
    frame = sys._getframe(1)
    while frame is not None and (
            os.path.abspath(frame.f_code.co_filename).startswith(_PACKAGE_DIR)
            or _is_import_machinery(frame.f_code.co_filename)):
        if not _is_import_machinery(frame.f_code.co_filename):
            level += 1
        frame = frame.f_back  # type: ignore[assignment]
    return level if frame is not None else 1


def warn_env(name: str, value: str, expected: str, instead: str) -> None:
    """Warns (RuntimeWarning) that ``name=value`` is not ``expected``.

    Args:
        name: the variable, e.g. ``"FEATX_ISA"``.
        value: its text, as read.
        expected: what it should be, e.g. ``"one of ['avx2', 'scalar']"``.
        instead: what featx does instead, e.g. ``"ignored"``.
    """
    warnings.warn(f"{name}={value!r} is not {expected}; {instead}", RuntimeWarning,
                  stacklevel=user_stacklevel())
