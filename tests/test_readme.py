"""The README's examples run and say what they print."""

from __future__ import annotations

import os
import re

import pytest

README = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "README.md"
)


@pytest.fixture(scope="module")
def readme() -> str:
    if not os.path.isfile(README):
        pytest.skip("README.md is not beside tests/ (tests run outside a checkout)")
    with open(README, encoding="utf-8") as f:
        return f.read()


@pytest.fixture
def no_download(monkeypatch):
    """Pretrained weights without network: the README's weights example runs
    for real except that the file's contents come from a freshly built model
    of the same architecture (downloads are tested on loopback in
    test_download.py)."""
    import featx.models
    from featx.models._weights import WeightsEnum

    def fake(self, progress=True, check_hash=True):
        name = type(self).__name__.replace("_Weights", "").lower()
        return featx.models.get_model(name).state_dict()

    monkeypatch.setattr(WeightsEnum, "get_state_dict", fake)


def test_python_example_runs_and_prints_what_it_claims(readme, capsys,
                                                       no_download):
    blocks = re.findall(r"```python\n(.*?)```", readme, re.S)
    assert blocks, "README has no python example"
    for code in blocks:
        namespace: dict = {}
        exec(compile(code, README, "exec"), namespace)
        printed = capsys.readouterr().out.splitlines()
        # every `print(...)  # <expected>` comment is what that print writes
        claims = [
            m.group(1).strip()
            for line in code.splitlines()
            if line.startswith("print(") and (m := re.search(r"#\s*(.+)$", line))
        ]
        assert printed == claims


def test_readme_names_the_ci_test_command(readme):
    with open(
        os.path.join(os.path.dirname(README), ".ci", "run"), encoding="utf-8"
    ) as f:
        ci = f.read()
    cmd = re.search(r"^TEST_CMD='(.+)'$", ci, re.M).group(1)
    assert cmd in readme
