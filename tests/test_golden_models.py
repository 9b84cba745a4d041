"""featx models against torchvision's golden data (SPEC sections 5, 7 and 8).

* ``tests/golden/state_dict/<model>.json``: state_dict keys, order, shapes and dtypes.
* ``tests/golden/outputs/<model>.npz``: extractor outputs of torchvision with the synthetic
  weights of ``tests/synthetic.py`` (input shape per model, see the manifest), eval mode, and
  (resnet18) train mode with
  BatchNorm batch statistics, plus BatchNorm running statistics after that train forward.

Runs without torch. Regenerate the data with ``tools/make_golden.py``.
"""
from __future__ import annotations

import functools
import json
from pathlib import Path

import numpy as np
import pytest

from synthetic import assert_close, fingerprint, synthetic_state_dict

GOLDEN = Path(__file__).resolve().parent / "golden"
SD_MODELS = sorted(p.stem for p in (GOLDEN / "state_dict").glob("*.json"))
OUT_MODELS = sorted(p.stem for p in (GOLDEN / "outputs").glob("*.npz"))


def _manifest() -> dict:
    return json.loads((GOLDEN / "manifest.json").read_text(encoding="utf-8"))


def _golden_sd(name: str) -> list:
    return json.loads((GOLDEN / "state_dict" / f"{name}.json").read_text(encoding="utf-8"))


def _new_model(name: str):
    """``featx.models.<name>()`` with its defaults. GoogLeNet and Inception v3 warn, as
    torchvision's builders do, that their default init_weights=None will change meaning:
    asserted here, not left to leak into the test summary."""
    import featx.models

    if name not in ("googlenet", "inception_v3"):
        return getattr(featx.models, name)()
    with pytest.warns(FutureWarning, match=r"init_weights=None currently means True"):
        return getattr(featx.models, name)()


@functools.lru_cache(maxsize=None)
def _featx_rows(name: str) -> tuple:
    """[(key, shape, dtype)] of a freshly built featx model (built once for both tests)."""
    model = _new_model(name)
    return tuple((k, list(np.shape(v)), str(np.asarray(v).dtype))
                 for k, v in model.state_dict().items())


def _build(name: str, mode: str):
    """A fresh featx model with the golden synthetic weights, in ``mode``."""
    entry = _manifest()["outputs"][name]
    model = _new_model(name)
    shapes = {k: tuple(np.shape(v)) for k, v in model.state_dict().items()}
    sd = synthetic_state_dict(shapes, seed=entry["weight_seed"])
    assert fingerprint(sd) == pytest.approx(entry["weights_fingerprint"], rel=1e-9), (
        "tests/synthetic.py no longer reproduces the weights used for the golden outputs; "
        "regenerate with tools/make_golden.py")
    model.load_state_dict(sd)
    model.train(mode == "train")
    return model


def _golden_arrays(name: str) -> dict:
    with np.load(GOLDEN / "outputs" / f"{name}.npz") as z:
        return {k: z[k] for k in z.files}


# ----------------------------------------------------------------- state_dict layout

@pytest.mark.parametrize("name", SD_MODELS)
def test_state_dict_keys_shapes_dtypes(name):
    golden = {k: (shape, dtype) for k, shape, dtype in _golden_sd(name)}
    got = {k: (shape, dtype) for k, shape, dtype in _featx_rows(name)}
    missing = [k for k in golden if k not in got]
    extra = [k for k in got if k not in golden]
    assert not missing and not extra, f"missing {missing[:10]}, unexpected {extra[:10]}"
    wrong = {k: (got[k], golden[k]) for k in golden if got[k] != golden[k]}
    assert not wrong, ("(featx, torchvision) shape/dtype mismatches: "
                       f"{dict(list(wrong.items())[:10])}")


@pytest.mark.parametrize("name", SD_MODELS)
def test_state_dict_order(name):
    golden = [k for k, _, _ in _golden_sd(name)]
    got = [k for k, _, _ in _featx_rows(name)]
    assert got == golden


def test_golden_dtypes_are_float32_or_counter():
    """Golden data sanity: every entry is float32 except int64 num_batches_tracked."""
    for name in SD_MODELS:
        for k, _, dtype in _golden_sd(name):
            want = "int64" if k.endswith("num_batches_tracked") else "float32"
            assert dtype == want, (name, k, dtype)


# ----------------------------------------------------------------- values

@pytest.mark.parametrize("name", OUT_MODELS)
def test_eval_outputs_match_torchvision(name):
    from featx.models.feature_extraction import create_feature_extractor

    entry = _manifest()["outputs"][name]
    golden = _golden_arrays(name)
    model = _build(name, "eval")
    extractor = create_feature_extractor(model, return_nodes=list(entry["return_nodes"]),
                                         suppress_diff_warning=True)
    assert not extractor.training
    x = golden["input"].copy()
    out = extractor(x)
    np.testing.assert_array_equal(x, golden["input"])  # input never modified
    assert list(out) == entry["return_nodes"]  # execution order = this list's order
    for k in entry["return_nodes"]:
        assert isinstance(out[k], np.ndarray) and out[k].dtype == np.float32, (k, type(out[k]))
        assert_close(out[k], golden[k], f"{name} eval {k!r}")


@pytest.mark.parametrize("name", OUT_MODELS)
def test_eager_equals_extractor_and_golden(name):
    from featx.models.feature_extraction import create_feature_extractor

    golden = _golden_arrays(name)
    node = _manifest()["outputs"][name].get("logits_node", "fc")
    model = _build(name, "eval")
    x = golden["input"].copy()
    logits = model(x)
    assert isinstance(logits, np.ndarray) and logits.dtype == np.float32
    assert_close(logits, golden[node], f"{name} eager logits vs torchvision")
    out = create_feature_extractor(model, return_nodes=[node],
                                   suppress_diff_warning=True)(x)
    assert_close(logits, out[node], f"{name} eager logits vs extractor {node}")


@pytest.mark.parametrize("name", [n for n in OUT_MODELS
                                  if "train_shapes" in _manifest()["outputs"].get(n, {})])
def test_train_outputs_match_torchvision(name):
    """Train mode: BatchNorm uses batch statistics and updates its running statistics."""
    from featx.models.feature_extraction import create_feature_extractor

    entry = _manifest()["outputs"][name]
    golden = _golden_arrays(name)
    model = _build(name, "train")
    extractor = create_feature_extractor(model, return_nodes=list(entry["return_nodes"]))
    assert extractor.training
    out = extractor(golden["input"].copy())
    assert list(out) == entry["return_nodes"]
    for k in entry["return_nodes"]:
        assert_close(out[k], golden["train/" + k], f"{name} train {k!r}")
    # one forward in train mode updated the running statistics as torch does
    state = extractor.state_dict()
    for k in entry["train_state_keys"]:
        want = golden["train_state/" + k]
        if k.endswith("num_batches_tracked"):
            assert int(np.asarray(state[k])) == int(want), k
        else:
            assert_close(state[k], want, f"{name} running stat {k!r} after one train forward")


@pytest.mark.parametrize("name", [n for n in OUT_MODELS
                                  if "train_shapes" in _manifest()["outputs"].get(n, {})])
def test_train_eager_matches_torchvision(name):
    entry = _manifest()["outputs"][name]
    golden = _golden_arrays(name)
    model = _build(name, "train")
    logits = model(golden["input"].copy())
    assert_close(logits, golden["train/fc"], f"{name} eager train-mode logits")
    state = model.state_dict()
    for k in entry["train_state_keys"]:
        want = golden["train_state/" + k]
        if k.endswith("num_batches_tracked"):
            assert int(np.asarray(state[k])) == int(want), k
        else:
            assert_close(state[k], want, f"{name} eager running stat {k!r}")


@pytest.mark.parametrize("name", [n for n in OUT_MODELS
                                  if "train_shapes" in _manifest()["outputs"].get(n, {})])
def test_train_then_eval_switch(name):
    """An extractor built in train mode and switched with .eval() gives the eval golden
    values once the running statistics are the golden (unchanged) ones."""
    from featx.models.feature_extraction import create_feature_extractor

    entry = _manifest()["outputs"][name]
    golden = _golden_arrays(name)
    model = _build(name, "train")
    extractor = create_feature_extractor(model, return_nodes=list(entry["return_nodes"]))
    extractor.eval()
    assert model.training  # SPEC 5 [featx]: the model's flags are untouched
    out = extractor(golden["input"].copy())
    for k in entry["return_nodes"]:
        assert_close(out[k], golden[k], f"{name} train->eval {k!r}")


# ----------------------------------------------------------------- golden sanity (no featx)

@pytest.mark.parametrize("name", OUT_MODELS)
def test_golden_outputs_well_formed(name):
    entry = _manifest()["outputs"][name]
    golden = _golden_arrays(name)
    assert golden["input"].shape == tuple(entry["input_shape"])
    if "x" in entry["return_nodes"]:
        np.testing.assert_array_equal(golden["x"], golden["input"])
    for k in entry["return_nodes"]:
        assert golden[k].dtype == np.float32
        assert list(golden[k].shape) == entry["eval_shapes"][k]
        assert np.isfinite(golden[k]).all()
        assert 1e-2 < np.abs(golden[k]).max() < 1e3, (k, np.abs(golden[k]).max())
    assert (GOLDEN / "outputs" / f"{name}.npz").stat().st_size < 2_000_000


def test_synthetic_input_reproduces_golden_input():
    from synthetic import synthetic_input

    m = _manifest()["outputs"]
    for name, entry in m.items():
        golden = _golden_arrays(name)
        x = synthetic_input(tuple(entry["input_shape"]), seed=entry["input_seed"])
        np.testing.assert_array_equal(x, golden["input"])
