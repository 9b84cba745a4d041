"""Live comparison of the classic families with torchvision (skipped without torch).

For AlexNet, VGG, SqueezeNet, DenseNet, GoogLeNet and Inception v3: node names in train and
eval mode, ``state_dict`` keys and shapes, and the values of EVERY eval-mode node plus the
eager logits on the same weights (torchvision's initialisation, random BN statistics);
train-mode outputs of GoogLeNet / Inception v3 (namedtuples, aux heads) against torch in
float64; and the ``transform_input`` / ``aux_logits=False`` / ``drop_rate`` variants.

torch's in-place ReLUs overwrite the tensors of the nodes before them (a conv's output
requested from a torchvision extractor comes back ReLU'd), so the torch graph is rewritten
to out-of-place ReLUs before comparing every node.

Run with the oracle interpreter from the repository root::

    .venv-oracle/bin/python -m pytest tests/test_oracle_classic.py
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")
torchvision = pytest.importorskip("torchvision")
from torchvision.models import feature_extraction as tv_fe  # noqa: E402

from synthetic import REL_TOL, assert_close, synthetic_input  # noqa: E402

pytestmark = pytest.mark.oracle

MODELS = ["alexnet", "vgg11", "vgg11_bn", "vgg13", "vgg13_bn", "vgg16", "vgg16_bn",
          "vgg19", "vgg19_bn", "squeezenet1_0", "squeezenet1_1", "densenet121",
          "densenet161", "densenet169", "densenet201", "googlenet", "inception_v3"]
SIZE = {"inception_v3": 75}  # smallest input Inception v3 accepts in eval mode
QUIET = {"googlenet": {"init_weights": False}, "inception_v3": {"init_weights": False}}


def _tv_names(model):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        train, eval_ = tv_fe.get_graph_node_names(model)
    return list(train), list(eval_)


def _fx_names(model):
    from featx.models.feature_extraction import get_graph_node_names

    train, eval_ = get_graph_node_names(model, suppress_diff_warning=True)
    return list(train), list(eval_)


def _pair(name: str, seed: int = 0, **kwargs):
    """torchvision and featx models with the same weights (training mode): torchvision's
    own initialisation with random BatchNorm statistics and affine parameters (so that
    they matter), copied into featx."""
    import featx.models
    from featx import nn

    kwargs = {**QUIET.get(name, {}), **kwargs}
    torch.manual_seed(seed)
    tv = getattr(torchvision.models, name)(weights=None, **kwargs)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in tv.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                c = m.num_features
                m.running_mean.copy_(0.1 * torch.randn(c, generator=gen))
                m.running_var.copy_(0.5 + torch.rand(c, generator=gen))
                m.weight.copy_(0.35 + 0.5 * torch.rand(c, generator=gen))
                m.bias.copy_(0.1 * torch.randn(c, generator=gen))
    with pytest.MonkeyPatch.context() as mp:  # skip featx's init: the weights are loaded
        mp.setattr(nn.Linear, "reset_parameters", lambda self: None)
        mp.setattr(nn.Conv2d, "reset_parameters", lambda self: None)
        fx = getattr(featx.models, name)(
            **({"init_weights": False} if name.startswith("vgg") else {}), **kwargs)
    fx.load_state_dict({k: v.numpy().copy() for k, v in tv.state_dict().items()})
    return tv, fx


def _out_of_place(gm):
    """The torchvision extractor ``gm`` with every in-place ReLU made out-of-place."""
    for m in gm.modules():
        if hasattr(m, "inplace"):
            m.inplace = False
    for node in gm.graph.nodes:
        if node.kwargs.get("inplace"):
            node.kwargs = {**node.kwargs, "inplace": False}
    gm.recompile()
    return gm


@pytest.mark.parametrize("name", MODELS)
def test_model_live(name):
    """Names, state_dict, every eval node's value and the eager logits."""
    from featx.models.feature_extraction import create_feature_extractor

    tv, fx = _pair(name)
    tv_sd, fx_sd = tv.state_dict(), fx.state_dict()
    assert list(fx_sd) == list(tv_sd)
    assert [tuple(v.shape) for v in fx_sd.values()] == [tuple(v.shape) for v in tv_sd.values()]
    assert sum(p.size for p in fx.parameters()) == sum(p.numel() for p in tv.parameters())

    tv_train, tv_eval = _tv_names(tv)
    assert _fx_names(fx) == (tv_train, tv_eval)

    tv.eval()
    fx.eval()
    s = SIZE.get(name, 64)
    x = synthetic_input((2, 3, s, s), seed=1)
    nodes = tv_eval[1:]
    with torch.no_grad():
        want = _out_of_place(tv_fe.create_feature_extractor(tv, return_nodes=nodes))(
            torch.from_numpy(x.copy()))
        logits = tv(torch.from_numpy(x.copy())).numpy()
    got = create_feature_extractor(fx, return_nodes=nodes)(x.copy())
    assert list(got) == list(want)
    for k in nodes:
        assert_close(got[k], want[k].numpy(), f"{name} eval {k!r}")
    eager = fx(x.copy())
    assert_close(eager, logits, f"{name} eager logits")
    np.testing.assert_array_equal(eager, got[nodes[-1]])


@pytest.mark.parametrize("name,kwargs", [
    ("googlenet", {"transform_input": True}),
    ("inception_v3", {"transform_input": True}),
    ("googlenet", {"aux_logits": False}),
    ("inception_v3", {"aux_logits": False}),
    ("densenet121", {"drop_rate": 0.2}),
    ("squeezenet1_1", {"num_classes": 10, "dropout": 0.1}),
    ("alexnet", {"num_classes": 10, "dropout": 0.1}),
])
def test_variant_names_live(name, kwargs):
    import featx.models

    kwargs = {**QUIET.get(name, {}), **kwargs}
    tv = getattr(torchvision.models, name)(weights=None, **kwargs)
    fx = getattr(featx.models, name)(**kwargs)
    assert _fx_names(fx) == _tv_names(tv)
    assert list(fx.state_dict()) == list(tv.state_dict())


@pytest.mark.parametrize("name,size", [("googlenet", 64), ("inception_v3", 299)])
def test_train_outputs_live(name, size):
    """Train mode: aux heads and the namedtuple output, with transform_input, against
    torch in float64 (train-mode BN over few values is ill-conditioned in float32)."""
    from featx.models.feature_extraction import create_feature_extractor

    kw = {"transform_input": True, "dropout": 0.0}
    if name == "googlenet":
        kw["dropout_aux"] = 0.0
    tv, fx = _pair(name, **kw)
    x = synthetic_input((2, 3, size, size), seed=2)
    tv64 = getattr(torchvision.models, name)(weights=None, init_weights=False, **kw)
    tv64.load_state_dict(tv.state_dict())
    tv64.double().train()
    with torch.no_grad():
        want32 = tv(torch.from_numpy(x.copy()))
        want = tv64(torch.from_numpy(x.copy()).double())
    aux = ["aux1", "aux2"] if name == "googlenet" else ["AuxLogits"]
    ex = create_feature_extractor(fx, train_return_nodes=aux + ["fc"],
                                  eval_return_nodes=["fc"])
    got = fx(x.copy())
    assert type(got).__name__ == type(want).__name__
    assert got._fields == want._fields
    for field in got._fields:
        ref = getattr(want, field).numpy()
        torch_err = float(np.abs(getattr(want32, field).numpy() - ref).max()
                          / np.abs(ref).max())
        assert_close(getattr(got, field), ref, f"{name} train {field}",
                     rel_tol=max(REL_TOL, 3.0 * torch_err))
    out = ex(x.copy())  # train mode, as the model was
    assert list(out) == aux + ["fc"]
    assert_close(out["fc"], got.logits, f"{name} train extractor fc", rel_tol=1e-5)
    assert_close(out[aux[0]], got[-1], f"{name} train extractor {aux[0]}", rel_tol=1e-5)


def test_densenet_memory_efficient_traces():
    """torchvision cannot trace DenseNet with memory_efficient=True (a data-dependent
    ``requires_grad`` check); featx ignores the flag and gives the plain names."""
    import featx.models

    tv = torchvision.models.densenet121(weights=None, memory_efficient=True)
    with pytest.raises(torch.fx.proxy.TraceError):
        _tv_names(tv)
    fx = featx.models.densenet121(memory_efficient=True)
    assert _fx_names(fx) == _tv_names(torchvision.models.densenet121(weights=None))
