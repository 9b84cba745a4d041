"""featx's node names equal torchvision's, model by model (SPEC sections 3 and 5).

The golden lists in ``tests/golden/names/<model>.json`` are
``torchvision.models.feature_extraction.get_graph_node_names(model)`` for torchvision 0.29.1
(``tools/make_golden.py``). Models are built without loading weights. Runs without torch.
"""
from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest

GOLDEN_NAMES = Path(__file__).resolve().parent / "golden" / "names"
MODELS = sorted(p.stem for p in GOLDEN_NAMES.glob("*.json"))


def _golden(name: str) -> dict:
    return json.loads((GOLDEN_NAMES / f"{name}.json").read_text(encoding="utf-8"))


def _first_difference(got: list, want: list) -> str:
    for i, (g, w) in enumerate(zip(got, want)):
        if g != w:
            return (f"first difference at index {i}: featx {g!r} vs torchvision {w!r}; "
                    f"context featx {got[max(0, i - 2):i + 3]} vs torchvision "
                    f"{want[max(0, i - 2):i + 3]}")
    return (f"lengths differ: featx {len(got)} vs torchvision {len(want)}; extra: "
            f"{got[len(want):][:5] or want[len(got):][:5]}")


def test_golden_names_present():
    assert MODELS, f"no golden name lists in {GOLDEN_NAMES}; run tools/make_golden.py"


@pytest.mark.parametrize("name", MODELS)
def test_node_names_equal_torchvision(name):
    from featx.models.feature_extraction import get_graph_node_names
    from test_golden_models import _new_model  # asserts googlenet's FutureWarning

    golden = _golden(name)
    model = _new_model(name)
    assert model.training  # a fresh model is in train mode, as in torch
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        train, eval_ = get_graph_node_names(model)
    assert list(train) == golden["train"], "train: " + _first_difference(
        list(train), golden["train"])
    assert list(eval_) == golden["eval"], "eval: " + _first_difference(
        list(eval_), golden["eval"])
    # SPEC 5: one UserWarning exactly when the two lists differ.
    diff_warnings = [w for w in caught if issubclass(w.category, UserWarning)]
    if golden["train"] == golden["eval"]:
        assert not diff_warnings, [str(w.message) for w in diff_warnings]
    else:
        assert len(diff_warnings) == 1, [str(w.message) for w in diff_warnings]
    # SPEC 2 [featx]: tracing leaves the model's mode flags as they were.
    assert model.training
    assert all(m.training for m in model.modules())


@pytest.mark.parametrize("name", MODELS[:1])
def test_node_names_from_eval_mode_model(name):
    """The lists do not depend on the mode the model is in when traced."""
    import featx.models
    from featx.models.feature_extraction import get_graph_node_names

    golden = _golden(name)
    model = getattr(featx.models, name)().eval()
    train, eval_ = get_graph_node_names(model, suppress_diff_warning=True)
    assert list(train) == golden["train"]
    assert list(eval_) == golden["eval"]
    assert not model.training
    assert not any(m.training for m in model.modules())


@pytest.mark.parametrize("name", MODELS)
def test_golden_names_unique(name):
    """Sanity check of the golden data itself (no featx needed)."""
    golden = _golden(name)
    for mode in ("train", "eval"):
        assert len(set(golden[mode])) == len(golden[mode]), mode
        assert golden[mode][0] == "x"
