"""Warnings about FEATX_* environment variables, pointed at the user's code.

They are raised while ``import featx`` runs, inside featx's own modules; a
warning attributed to one of those lines would say nothing to the user, so
it is attributed to the first frame outside featx: the user's import line.
"""
from __future__ import annotations

import os
import sys
import warnings

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep


def _is_import_machinery(filename: str) -> bool:
    # The frames warnings.warn itself skips when it counts stacklevel.
    return "importlib" in filename and "_bootstrap" in filename


def warn_env(name: str, value: str, expected: str, instead: str) -> None:
    """Warns (RuntimeWarning) that ``name=value`` is not ``expected``.

    Args:
        name: the variable, e.g. ``"FEATX_ISA"``.
        value: its text, as read.
        expected: what it should be, e.g. ``"one of ['avx2', 'scalar']"``.
        instead: what featx does instead, e.g. ``"ignored"``.
    """
    level = 1
    frame = sys._getframe(0)
    while frame is not None and (
            os.path.abspath(frame.f_code.co_filename).startswith(_PACKAGE_DIR)
            or _is_import_machinery(frame.f_code.co_filename)):
        if not _is_import_machinery(frame.f_code.co_filename):
            level += 1
        frame = frame.f_back  # type: ignore[assignment]
    warnings.warn(f"{name}={value!r} is not {expected}; {instead}", RuntimeWarning,
                  stacklevel=level if frame is not None else 1)
