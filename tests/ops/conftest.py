"""Fixtures for the op tests: every test runs once per kernel ISA.

``isa`` is "scalar" (the reference kernels, the oracle for the fast ones),
"avx2" and "avx512"; an ISA this CPU lacks is skipped, as
``featx._core.cpu_features()`` reports it. Shared helpers live in
oputil.py.
"""
from __future__ import annotations

import pytest

from featx import _core

ISAS = ("scalar", "avx2", "avx512")


def _have(isa: str) -> bool:
    return isa == "scalar" or bool(_core.cpu_features().get(isa))


@pytest.fixture(params=[pytest.param(i, marks=pytest.mark.skipif(
    not _have(i), reason=f"CPU lacks {i}")) for i in ISAS])
def isa(request: pytest.FixtureRequest) -> str:
    return request.param
