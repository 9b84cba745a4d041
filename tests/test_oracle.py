"""Live comparison of featx with torch/torchvision (skipped when they are not installed).

For every model with a golden name list, builds the torchvision model and the featx model,
loads the same synthetic weights (``tests/synthetic.py``) into both and compares node names
and extractor outputs at 2x3x64x64. Also checks that the committed golden data still equals
what the installed torchvision gives (re-run ``tools/make_golden.py`` if not).

Run with the oracle interpreter from the repository root::

    .venv-oracle/bin/python -m pytest tests/test_oracle.py
"""
from __future__ import annotations

import importlib.util
import json
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
torchvision = pytest.importorskip("torchvision")
from torchvision.models import feature_extraction as tv_fe  # noqa: E402

from synthetic import REL_TOL, assert_close, state_dict_shapes, synthetic_input  # noqa: E402
from synthetic import synthetic_state_dict  # noqa: E402

pytestmark = pytest.mark.oracle

TESTS = Path(__file__).resolve().parent
GOLDEN = TESTS / "golden"
MODELS = sorted(p.stem for p in (GOLDEN / "names").glob("*.json"))
# Value checks here use ResNet node names; the other families have their own
# oracle files (test_oracle_classic.py, test_oracle_mobile.py,
# test_oracle_efficient.py).
RESNET_MODELS = [m for m in MODELS
                 if m.startswith(("resnet", "resnext", "wide_resnet"))]
RETURN_NODES = ["x", "conv1", "layer1", "layer2.0.downsample", "layer3.1.relu_1", "layer4",
                "flatten", "fc"]
INPUT_SHAPE = (2, 3, 64, 64)
TRAIN_MODELS = ["resnet18", "resnet50", "resnext50_32x4d"]  # train mode checked on these


def _tv_names(model, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        train, eval_ = tv_fe.get_graph_node_names(model, **kw)
    return {"train": list(train), "eval": list(eval_)}


def _pair(name: str, mode: str, seed: int = 0):
    """torchvision and featx models with the same synthetic weights, in ``mode``."""
    import featx.models

    tv = getattr(torchvision.models, name)(weights=None)
    fx = getattr(featx.models, name)()
    sd = synthetic_state_dict(state_dict_shapes(tv.state_dict()), seed=seed)
    tv.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in sd.items()})
    fx.load_state_dict({k: v.copy() for k, v in sd.items()})
    tv.train(mode == "train")
    fx.train(mode == "train")
    return tv, fx


@pytest.mark.parametrize("name", MODELS)
def test_golden_names_are_current(name):
    """The committed lists equal what the installed torchvision gives."""
    golden = json.loads((GOLDEN / "names" / f"{name}.json").read_text(encoding="utf-8"))
    assert _tv_names(getattr(torchvision.models, name)(weights=None)) == golden


@pytest.mark.parametrize("name", MODELS)
def test_names_live(name):
    import featx.models
    from featx.models.feature_extraction import get_graph_node_names

    tv = _tv_names(getattr(torchvision.models, name)(weights=None))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        train, eval_ = get_graph_node_names(getattr(featx.models, name)())
    assert {"train": list(train), "eval": list(eval_)} == tv


@pytest.mark.parametrize("name,mode", [(m, "eval") for m in RESNET_MODELS]
                         + [(m, "train") for m in TRAIN_MODELS if m in MODELS])
def test_outputs_live(name, mode):
    from featx.models.feature_extraction import create_feature_extractor

    tv, fx = _pair(name, mode)
    x = synthetic_input(INPUT_SHAPE, seed=1)
    with torch.no_grad():
        want = tv_fe.create_feature_extractor(tv, return_nodes=RETURN_NODES)(
            torch.from_numpy(x.copy()))
    got = create_feature_extractor(fx, return_nodes=RETURN_NODES)(x.copy())
    assert list(got) == list(want)
    if mode == "eval":
        for k in RETURN_NODES:
            assert_close(got[k], want[k].numpy(), f"{name} eval {k!r}")
    else:
        # Train-mode BatchNorm over few values per channel (layer4 of resnet50 at 64x64,
        # batch 2: 8 values) is ill-conditioned: torch's own float32 result is up to ~2e-4
        # (relative to max|output|) away from float64 there, more than SPEC's 1e-4. So compare
        # featx with torch in float64 and allow 3x torch's own float32 error (at least 1e-4).
        tv64 = getattr(torchvision.models, name)(weights=None)
        tv64.load_state_dict(tv.state_dict())  # running stats do not affect train outputs
        tv64.double().train()
        with torch.no_grad():
            ref = tv_fe.create_feature_extractor(tv64, return_nodes=RETURN_NODES)(
                torch.from_numpy(x.copy()).double())
        for k in RETURN_NODES:
            r = ref[k].numpy()
            scale = max(float(np.abs(r).max()), 1e-30)
            torch_err = float(np.abs(want[k].numpy() - r).max()) / scale
            assert_close(got[k], r, f"{name} train {k!r} vs torch float64 "
                         f"(torch float32 rel. error {torch_err:.2g})",
                         rel_tol=max(REL_TOL, 3.0 * torch_err))
    # the running statistics after the forward (train mode updates them in both)
    if mode == "train":
        tv_state = tv.state_dict()
        fx_state = fx.state_dict()
        for k in ("bn1.running_mean", "bn1.running_var", "layer4.0.bn1.running_var"):
            assert_close(fx_state[k], tv_state[k].numpy(), f"{name} model {k!r}")


@pytest.mark.parametrize("name", RESNET_MODELS)
def test_eager_live(name):
    tv, fx = _pair(name, "eval")
    x = synthetic_input(INPUT_SHAPE, seed=2)
    with torch.no_grad():
        want = tv(torch.from_numpy(x.copy())).numpy()
    assert_close(fx(x.copy()), want, f"{name} eager logits")


def _load_make_golden():
    spec = importlib.util.spec_from_file_location(
        "make_golden", TESTS.parent / "tools" / "make_golden.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("make_golden", mod)
    spec.loader.exec_module(mod)
    return mod


def test_golden_scenarios_are_current():
    """Re-trace the torch scenario modules of tools/make_golden.py with the installed
    torchvision and compare with tests/golden/scenarios.json."""
    mg = _load_make_golden()
    golden = json.loads((GOLDEN / "scenarios.json").read_text(encoding="utf-8"))
    for key, sc in mg.SCENARIOS.items():
        got = _tv_names(sc["build"](), **mg._resolve_kwargs(sc["kwargs"]))
        assert got == golden[key]["torchvision"], key
