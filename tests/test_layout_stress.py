"""Stress of the blocked layout pass (featx.fx.graph_module._blocked_layout)
beyond tests/test_layout.py: user models with separable (1xk, kx1)
depthwise convs, random return-node sets of a mobile net at odd input
sizes, batches that grow and shrink, in-place weight and BN attribute
edits between calls; every result equals the blocked=False plan's bit
for bit."""
from __future__ import annotations

import numpy as np
import pytest

import featx
from featx import models, nn
from featx.nn import functional as F
from featx.fx.graph_module import compile_plan
from featx.models.feature_extraction import (create_feature_extractor,
                                             get_graph_node_names)
from featx.ops import Conv2dNormActivation
from test_layout import (_assert_same, _isas, _ops, _plan, _randomize,  # noqa: F401
                         _steps, _x, restore_threads)


def _same_as_plain(ex, x):
    """ex(x) and every ISA's blocked plan equal the plain plan's results."""
    plain = compile_plan(ex._graphs["eval"], ex, False, featx._core.isa_mask(),
                         blocked=False)
    _assert_same(ex(x), plain.run((x,)))
    for isa in _isas():
        _assert_same(_plan(ex, isa).run((x,)),
                     _plan(ex, isa, blocked=False).run((x,)))


class Separable(nn.Module):
    """Factorised depthwise convs, 1x3 with padding (0, 1) and 3x1 with
    (1, 0), between pointwise ones, and a residual add."""

    def __init__(self, c=16):
        super().__init__()
        self.stem = Conv2dNormActivation(3, c, kernel_size=1)
        self.expand = Conv2dNormActivation(c, 2 * c, kernel_size=1)
        self.row = Conv2dNormActivation(2 * c, 2 * c, kernel_size=(1, 3),
                                        groups=2 * c)
        self.col = Conv2dNormActivation(2 * c, 2 * c, kernel_size=(3, 1),
                                        groups=2 * c)
        self.project = Conv2dNormActivation(2 * c, c, kernel_size=1,
                                            activation_layer=None)

    def forward(self, x):
        x = self.stem(x)
        return self.project(self.col(self.row(self.expand(x)))) + x


@pytest.mark.parametrize("shape", [(2, 3, 5, 40), (1, 3, 33, 37),
                                   (3, 3, 2, 70)], ids=str)
def test_separable_depthwise_convs_equal_the_plain_plan(shape):
    ex = create_feature_extractor(_randomize(Separable().eval()), ["add"])
    assert _ops(_steps(ex)).count("conv2d_bn_nchw8c") == 4
    for n in (1, 2):
        featx.set_num_threads(n)
        _same_as_plain(ex, _x(*shape))


def test_random_return_nodes_and_odd_sizes_equal_the_plain_plan():
    model = _randomize(models.mobilenet_v3_small().eval())
    nodes = get_graph_node_names(model)[1]
    rng = np.random.default_rng(0)
    for trial, shape in enumerate([(1, 3, 33, 47), (3, 3, 64, 64),
                                   (1, 3, 97, 129)]):
        picked = rng.choice(len(nodes), int(rng.integers(1, 5)),
                            replace=False)
        ex = create_feature_extractor(model,
                                      [nodes[i] for i in sorted(picked)])
        featx.set_num_threads(1 + trial % 2)
        _same_as_plain(ex, _x(*shape, seed=trial))


def test_growing_and_shrinking_batches_and_edits_between_calls():
    model = _randomize(models.mobilenet_v2().eval())
    ex = create_feature_extractor(model, ["features.3.conv.1",
                                          "features.6", "classifier.1"])
    xs = {b: _x(b, 3, 40, 56, seed=b) for b in (1, 4, 2)}
    for b in (1, 4, 2, 1, 4):
        _same_as_plain(ex, xs[b])
    before = ex(xs[2])
    model.features[3].conv[0][0].weight[...] *= 2   # a blocked conv's
    edited = ex(xs[2])
    assert not np.array_equal(edited["features.6"], before["features.6"])
    _same_as_plain(ex, xs[2])
    model.features[5].conv[0][1].eps = 0.5          # re-planned
    assert not np.array_equal(ex(xs[2])["features.6"], edited["features.6"])
    _same_as_plain(ex, xs[2])


class ComputedGate(nn.Module):
    """A squeeze-and-excitation-like gate whose 1x1 conv weight is computed
    from the pooled value (a slot of the plan, not a parameter)."""

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(
            Conv2dNormActivation(3, 16, kernel_size=1),
            Conv2dNormActivation(16, 32, kernel_size=1),
            Conv2dNormActivation(32, 32, groups=32),
            Conv2dNormActivation(32, 32, kernel_size=1),
            Conv2dNormActivation(32, 32, groups=32))
        self.head = Conv2dNormActivation(32, 32, kernel_size=1)
        self.fc = nn.Conv2d(32, 32, 1)
        self.pool = nn.AdaptiveAvgPool2d(1)

    def forward(self, x):
        y = self.body(x)
        p = self.pool(y)
        w = F.relu(self.fc.weight + p.mean())
        return self.head(y * F.sigmoid(F.conv2d(p, w)))


def test_gate_of_a_conv_with_a_computed_weight_plans_and_stays_plain():
    # planning looked up the weight's shape and raised AttributeError
    ex = create_feature_extractor(_randomize(ComputedGate().eval()),
                                  ["head"])
    ops = _ops(_steps(ex))
    assert "conv2d_bn_nchw8c" in ops and "reshape" not in ops
    _same_as_plain(ex, _x(2, 3, 9, 11))
