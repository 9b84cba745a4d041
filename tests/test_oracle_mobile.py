"""Live comparison of the mobile families with torchvision (skipped without torch).

MobileNetV2, MobileNetV3 small/large, MNASNet 0.5/0.75/1.0/1.3 and ShuffleNetV2
x0.5/x1.0/x1.5/x2.0: node names (train and eval), ``state_dict`` keys/shapes, and eval
outputs (the extractor at several nodes and the eager logits) with the same synthetic
weights, whose BatchNorm running statistics are random so that they matter.

Run with the oracle interpreter from the repository root::

    .venv-oracle/bin/python -m pytest tests/test_oracle_mobile.py
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")
torchvision = pytest.importorskip("torchvision")
from torchvision.models import feature_extraction as tv_fe  # noqa: E402

from synthetic import assert_close, state_dict_shapes, synthetic_input  # noqa: E402
from synthetic import synthetic_state_dict  # noqa: E402

pytestmark = pytest.mark.oracle

MODELS = ["mobilenet_v2", "mobilenet_v3_small", "mobilenet_v3_large", "mnasnet0_5",
          "mnasnet0_75", "mnasnet1_0", "mnasnet1_3", "shufflenet_v2_x0_5",
          "shufflenet_v2_x1_0", "shufflenet_v2_x1_5", "shufflenet_v2_x2_0"]
INPUT_SHAPE = (2, 3, 64, 64)


def _tv_names(model):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        train, eval_ = tv_fe.get_graph_node_names(model)
    return list(train), list(eval_)


def _load_tv(tv, sd: dict) -> None:
    """Loads numpy arrays into a torchvision model, keeping its state-dict metadata (MNASNet
    refuses a state dict without a version)."""
    state = tv.state_dict()
    for k, v in sd.items():
        state[k] = torch.from_numpy(v.copy())
    tv.load_state_dict(state)


_PAIRS: dict = {}


def _pair(name: str, seed: int = 0):
    """torchvision and featx models with the same synthetic weights, in eval mode (built
    once per model; eval runs do not change them)."""
    if name not in _PAIRS:
        _PAIRS[name] = _build_pair(name, seed)
    return _PAIRS[name]


def _build_pair(name: str, seed: int):
    import featx.models

    tv = getattr(torchvision.models, name)(weights=None)
    fx = getattr(featx.models, name)()
    sd = synthetic_state_dict(state_dict_shapes(tv.state_dict()), seed=seed)
    _load_tv(tv, sd)
    fx.load_state_dict({k: v.copy() for k, v in sd.items()})
    return tv.eval(), fx.eval()


def _return_nodes(eval_names: list) -> list:
    """A spread of nodes: the first op, a few inside, the module paths of the main
    stages, and the last node."""
    picks = [eval_names[1], eval_names[len(eval_names) // 3],
             eval_names[len(eval_names) // 2], eval_names[-3], eval_names[-1]]
    return list(dict.fromkeys(picks))


@pytest.mark.parametrize("name", MODELS)
def test_names_and_state_dict_live(name):
    import featx.models
    from featx.models.feature_extraction import get_graph_node_names

    tv = getattr(torchvision.models, name)(weights=None)
    fx = getattr(featx.models, name)()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        train, eval_ = get_graph_node_names(fx)
    assert (list(train), list(eval_)) == _tv_names(tv)
    assert state_dict_shapes(fx.state_dict()) == state_dict_shapes(tv.state_dict())
    assert list(fx.state_dict()) == list(tv.state_dict())
    assert sum(p.size for p in fx.parameters()) == sum(p.numel() for p in tv.parameters())


@pytest.mark.parametrize("name", MODELS)
def test_outputs_live(name):
    from featx.models.feature_extraction import create_feature_extractor

    tv, fx = _pair(name)
    nodes = _return_nodes(_tv_names(tv)[1])
    if name.startswith("shufflenet"):
        nodes += ["stage2.0", "stage3.1.chunk", "stage3.1.getitem_1", "stage4"]
    elif name.startswith("mobilenet_v3"):
        nodes += ["features.1", "features.4.block.2", "features.4.block"]
    elif name.startswith("mobilenet_v2"):
        nodes += ["features.3.add", "features.5"]
    else:
        nodes += ["layers.8", "layers.9.1.add", "mean"]
    nodes = list(dict.fromkeys(nodes))
    x = synthetic_input(INPUT_SHAPE, seed=1)
    with torch.no_grad():
        want = tv_fe.create_feature_extractor(tv, return_nodes=nodes)(
            torch.from_numpy(x.copy()))
    got = create_feature_extractor(fx, return_nodes=nodes)(x.copy())
    assert list(got) == list(want)
    for k in nodes:
        w = want[k]
        if isinstance(w, (tuple, list)):  # chunk: a tuple of arrays
            assert len(got[k]) == len(w)
            for i, (g, t) in enumerate(zip(got[k], w)):
                assert_close(g, t.numpy(), f"{name} {k!r}[{i}]")
        else:
            assert_close(got[k], w.numpy(), f"{name} eval {k!r}")


@pytest.mark.parametrize("name", MODELS)
def test_eager_live(name):
    tv, fx = _pair(name)
    x = synthetic_input(INPUT_SHAPE, seed=2)
    with torch.no_grad():
        want = tv(torch.from_numpy(x.copy())).numpy()
    got = fx(x.copy())
    assert_close(got, want, f"{name} eager logits")


@pytest.mark.parametrize("name", ["mobilenet_v3_small", "shufflenet_v2_x0_5", "mnasnet0_5"])
def test_train_mode_bn_live(name):
    """Train mode (batch statistics; dropout off by p=0) against torch in float64."""
    import featx.models
    from featx.models.feature_extraction import create_feature_extractor

    kw = {} if name.startswith("shufflenet") else {"dropout": 0.0}
    tv = getattr(torchvision.models, name)(weights=None, **kw)
    fx = getattr(featx.models, name)(**kw)
    sd = synthetic_state_dict(state_dict_shapes(tv.state_dict()), seed=3)
    _load_tv(tv, sd)
    fx.load_state_dict({k: v.copy() for k, v in sd.items()})
    tv.double().train()
    fx.train()
    x = synthetic_input((4, 3, 96, 96), seed=4)
    node = _tv_names(tv)[0][-3]
    with torch.no_grad():
        want = tv_fe.create_feature_extractor(tv, return_nodes=[node])(
            torch.from_numpy(x.copy()).double())[node].numpy()
    got = create_feature_extractor(fx, return_nodes=[node])(x.copy())[node]
    assert_close(got, want, f"{name} train {node!r}", rel_tol=1e-3)


@pytest.mark.parametrize("name,node,later", [
    ("mobilenet_v3_small", "classifier.0", "classifier.3"),
    ("shufflenet_v2_x0_5", "conv5.1", "fc"),
    ("mnasnet0_5", "layers.1", "layers.3"),
])
def test_inplace_activation_divergence_live(name, node, later):
    """torchvision returns, for a node followed by an in-place activation module
    (``ReLU(inplace=True)``, ``Hardswish(inplace=True)``), the activated values whenever a
    later node is computed too; featx returns the node's own output (SPEC 6: no later op
    changes a returned value). Requested alone, both agree."""
    import featx.nn.functional as F
    from featx.models.feature_extraction import create_feature_extractor

    act = F.hardswish if name.startswith("mobilenet_v3") else F.relu
    tv, fx = _pair(name)
    x = synthetic_input(INPUT_SHAPE, seed=5)
    with torch.no_grad():
        alone = tv_fe.create_feature_extractor(tv, [node])(torch.from_numpy(x.copy()))
        both = tv_fe.create_feature_extractor(tv, [node, later])(torch.from_numpy(x.copy()))
    got = create_feature_extractor(fx, [node, later])(x.copy())
    assert_close(got[node], alone[node].numpy(), f"{name} {node!r} alone")
    assert_close(act(got[node]), both[node].numpy(), f"{name} {node!r} clobbered")
    assert not np.allclose(got[node], both[node].numpy())
