"""Live comparison of featx's EfficientNet, RegNet and ConvNeXt with torchvision.

Skipped unless torch and torchvision are installed. For each model: the node names (train and
eval), the state_dict layout, and, with the same synthetic weights (``tests/synthetic.py``), the
value of every eval-mode node at 2x3x64x64 and the eager logits. Run with the oracle interpreter
from the repository root::

    .venv-oracle/bin/python -m pytest tests/test_oracle_efficient.py

By default the values are compared for a representative subset (``VALUE_MODELS``, ~2 min on two
cores); ``FEATX_ORACLE_ALL=1`` compares every model. regnet_y_128gf (645M parameters, ~8 GB
while both copies exist) runs only with ``FEATX_ORACLE_BIG=1``.
"""
from __future__ import annotations

import contextlib
import os
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")
torchvision = pytest.importorskip("torchvision")
from torchvision.models import feature_extraction as tv_fe  # noqa: E402

from synthetic import REL_TOL, assert_close, state_dict_shapes, synthetic_input  # noqa: E402
from synthetic import synthetic_state_dict  # noqa: E402

pytestmark = pytest.mark.oracle

EFFICIENTNETS = [f"efficientnet_b{i}" for i in range(8)] + [
    "efficientnet_v2_s", "efficientnet_v2_m", "efficientnet_v2_l"]
REGNETS = [f"regnet_y_{s}" for s in ("400mf", "800mf", "1_6gf", "3_2gf", "8gf", "16gf", "32gf",
                                     "128gf")] + [
    f"regnet_x_{s}" for s in ("400mf", "800mf", "1_6gf", "3_2gf", "8gf", "16gf", "32gf")]
CONVNEXTS = ["convnext_tiny", "convnext_small", "convnext_base", "convnext_large"]
BIG = {"regnet_y_128gf"}
VALUE_MODELS = ["efficientnet_b0", "efficientnet_b5", "efficientnet_v2_s", "regnet_y_400mf",
                "regnet_x_400mf", "regnet_x_8gf", "convnext_tiny"]
INPUT_SHAPE = (2, 3, 64, 64)


def _selected(names):
    big = os.environ.get("FEATX_ORACLE_BIG") == "1"
    return [pytest.param(n, marks=pytest.mark.skip(reason="set FEATX_ORACLE_BIG=1"))
            if n in BIG and not big else n for n in names]


ALL = _selected(EFFICIENTNETS + REGNETS + CONVNEXTS)
VALUES = ALL if os.environ.get("FEATX_ORACLE_ALL") == "1" else _selected(VALUE_MODELS)


@contextlib.contextmanager
def _featx_no_init():
    """Skip featx's random init: the weights are overwritten by load_state_dict anyway."""
    from featx.nn import init
    fns = ("uniform_", "normal_", "trunc_normal_", "constant_", "ones_", "zeros_",
           "kaiming_uniform_", "kaiming_normal_", "xavier_uniform_", "xavier_normal_")
    saved = {f: getattr(init, f) for f in fns}
    try:
        for f in fns:
            setattr(init, f, lambda t, *a, **k: t)
        yield
    finally:
        for f, v in saved.items():
            setattr(init, f, v)


def _featx_model(name, **kw):
    import featx.models
    with _featx_no_init():
        return getattr(featx.models, name)(**kw)


def _names(get, model):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        train, eval_ = get(model)
    return {"train": list(train), "eval": list(eval_)}


@pytest.mark.parametrize("name", ALL)
def test_names_and_layout(name):
    from featx.models.feature_extraction import get_graph_node_names

    tv = getattr(torchvision.models, name)(weights=None)
    fx = _featx_model(name)
    tv_rows = [(k, tuple(v.shape)) for k, v in tv.state_dict().items()]
    fx_rows = [(k, tuple(np.shape(v))) for k, v in fx.state_dict().items()]
    assert fx_rows == tv_rows
    assert (sum(p.size for p in fx.parameters())
            == sum(p.numel() for p in tv.parameters()))
    want = _names(tv_fe.get_graph_node_names, tv)
    del tv
    assert _names(get_graph_node_names, fx) == want


def _pair(name, seed=0, **kw):
    tv = getattr(torchvision.models, name)(weights=None, **kw)
    fx = _featx_model(name, **kw)
    sd = synthetic_state_dict(state_dict_shapes(tv.state_dict()), seed=seed)
    tv.load_state_dict({k: torch.from_numpy(v) for k, v in sd.items()})
    fx.load_state_dict(sd)
    # torchvision's extractor returns tensors that a later in-place ReLU overwrote
    # (RegNet's `add` is followed by ReLU(inplace=True)); compute torch's reference without
    # in-place ops so every node keeps its own value.
    for m in tv.modules():
        if hasattr(m, "inplace"):
            m.inplace = False
    return tv, fx


@pytest.mark.parametrize("name", VALUES)
def test_values_eval(name):
    from featx.models.feature_extraction import create_feature_extractor, get_graph_node_names

    tv, fx = _pair(name)
    tv.eval()
    fx.eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        nodes = list(get_graph_node_names(fx)[1])[1:]
    # on featx's names (equal to torchvision's)
    tv_nodes = list(tv_fe.get_graph_node_names(tv)[1])[1:]
    common = [n for n in nodes if n in set(tv_nodes)]
    assert len(common) >= len(nodes) - 3
    x = synthetic_input(INPUT_SHAPE, seed=1)
    with torch.no_grad():
        want = tv_fe.create_feature_extractor(tv, return_nodes=common)(torch.from_numpy(x.copy()))
        logits = tv(torch.from_numpy(x.copy())).numpy()
    got = create_feature_extractor(fx, return_nodes=common)(x.copy())
    assert list(got) == list(want)
    worst, where = 0.0, None
    for k in common:
        w = want[k].detach().numpy()
        assert_close(got[k], w, f"{name} eval {k!r}")
        rel = float(np.abs(got[k].astype(np.float64) - w).max()) / max(
            float(np.abs(w).max()), 1e-30)
        if rel > worst:
            worst, where = rel, k
    eager = fx(x.copy())
    assert_close(eager, logits, f"{name} eager logits")
    np.testing.assert_array_equal(eager, got[common[-1]])
    print(f"\n{name}: {len(common)} nodes, max rel. diff {worst:.2e} at {where}; logits "
          f"{float(np.abs(eager - logits).max()) / float(np.abs(logits).max()):.2e}")


@pytest.mark.parametrize("name,kw", [
    ("convnext_tiny", {"stochastic_depth_prob": 0.0}),
    ("efficientnet_b0", {"stochastic_depth_prob": 0.0, "dropout": 0.0}),
    ("regnet_x_400mf", {}),
])
def test_values_train_deterministic(name, kw):
    """Train mode without randomness (no stochastic depth, no dropout): batch-statistics
    BatchNorm. Compared with torch in float64, allowing 3x torch's own float32 error (as
    tests/test_oracle.py does), because train-mode BN over few values is ill-conditioned."""
    from featx.models.feature_extraction import create_feature_extractor

    tv, fx = _pair(name, **kw)
    tv.train()
    fx.train()
    nodes = {"convnext_tiny": ["features.1", "features.5.4.add", "classifier.2"],
             "efficientnet_b0": ["features.2.1.add", "features.6", "classifier.1"],
             "regnet_x_400mf": ["trunk_output.block2", "trunk_output.block4.block4-11.f.b",
                                "fc"]}[name]
    x = synthetic_input(INPUT_SHAPE, seed=3)
    with torch.no_grad():
        want = tv_fe.create_feature_extractor(tv, return_nodes=nodes)(torch.from_numpy(x.copy()))
    tv64 = getattr(torchvision.models, name)(weights=None, **kw)
    tv64.load_state_dict(tv.state_dict())
    tv64.double().train()
    with torch.no_grad():
        ref = tv_fe.create_feature_extractor(tv64, return_nodes=nodes)(
            torch.from_numpy(x.copy()).double())
    got = create_feature_extractor(fx, return_nodes=nodes)(x.copy())
    for k in nodes:
        r = ref[k].numpy()
        scale = max(float(np.abs(r).max()), 1e-30)
        torch_err = float(np.abs(want[k].numpy() - r).max()) / scale
        assert_close(got[k], r, f"{name} train {k!r} vs torch float64",
                     rel_tol=max(REL_TOL, 3.0 * torch_err))
