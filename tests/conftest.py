"""Shared pytest fixtures for featx's tests.

Puts ``tests/`` on ``sys.path`` so test modules can ``import synthetic`` (the deterministic
weight generator shared with ``tools/make_golden.py``), and provides fixtures for the golden
data that ``tools/make_golden.py`` wrote from torchvision. Every test runs with an empty
temporary torch cache (``TORCH_HOME``), so no test can find a user's downloaded weights or
start a real download, and kernels split even small arrays across threads.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

TESTS_DIR = Path(__file__).resolve().parent
if str(TESTS_DIR) not in sys.path:
    sys.path.insert(0, str(TESTS_DIR))

GOLDEN_DIR = TESTS_DIR / "golden"


@pytest.fixture(scope="session")
def golden_dir() -> Path:
    """``tests/golden``: names/, state_dict/, outputs/, scenarios.json, manifest.json."""
    return GOLDEN_DIR


@pytest.fixture(scope="session")
def golden_manifest(golden_dir: Path) -> dict:
    """``tests/golden/manifest.json``: versions, seeds and return nodes of the outputs."""
    return json.loads((golden_dir / "manifest.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def golden_scenarios(golden_dir: Path) -> dict:
    """``tests/golden/scenarios.json``: torchvision's names for the small test modules."""
    return json.loads((golden_dir / "scenarios.json").read_text(encoding="utf-8"))


@pytest.fixture(autouse=True)
def _private_torch_cache(tmp_path_factory, monkeypatch) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path_factory.mktemp("torch_home")))
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)


@pytest.fixture(autouse=True, scope="session")
def _every_thread_split() -> None:
    """Kernel calls on small arrays normally run on the calling thread alone
    (``FX_POOL_SERIAL_BELOW``, a speed rule); the tests' arrays are small, so
    it is switched off here and every thread-count test really splits the work.
    Subprocesses the tests start keep the default."""
    from featx import _core

    _core._set_serial_below(0)
