"""Runs the examples in featx's docstrings (STYLE: examples are doctests)."""
from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import featx

MODULES = sorted(
    m.name for m in pkgutil.walk_packages(featx.__path__, "featx.")
    if not m.name.endswith("__main__"))


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(
        module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE,
        verbose=False)
    assert result.failed == 0, f"{result.failed} doctest(s) failed in {name}"
