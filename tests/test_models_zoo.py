"""Every registered model: the eager forward equals the extractor's output
of the model's last node (SPEC section 8), in eval mode, on random weights."""
from __future__ import annotations

import gc
import warnings

import numpy as np
import pytest

import featx
from featx.models.feature_extraction import (create_feature_extractor,
                                             get_graph_node_names)

#: The smallest square input each family accepts comfortably, in pixels.
SIZES = {"inception_v3": 80}


@pytest.mark.parametrize("name", featx.models.list_models())
def test_eager_equals_extractor(name):
    featx.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        model = featx.models.get_model(name).eval()
    size = SIZES.get(name, 64)
    x = np.random.default_rng(0).standard_normal(
        (1, 3, size, size)).astype(np.float32)
    last = get_graph_node_names(model, suppress_diff_warning=True)[1][-1]
    out = create_feature_extractor(model, [last],
                                   suppress_diff_warning=True)(x)[last]
    eager = model(x)
    assert isinstance(eager, np.ndarray) and eager.dtype == np.float32
    if name.startswith("densenet"):
        # the extractor's transitions pool before their 1x1 conv
        # (tests/test_densenet_plan.py): the same values within rounding
        err = np.abs(eager - out).max()
        assert err <= 1e-5 * np.abs(eager).max(), err
    else:
        np.testing.assert_array_equal(eager, out)
    assert np.isfinite(out).all()
    del model
    gc.collect()


@pytest.mark.parametrize("name", ["alexnet", "resnet18", "squeezenet1_1",
                                  "mobilenet_v3_small", "googlenet"])
def test_num_classes_zero_gives_an_empty_head(name):
    # torchvision builds these with num_classes=0 and returns (N, 0) logits,
    # except SqueezeNet: its forward refuses the final convolution with no
    # output channels, which featx computes (an empty output; README)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = featx.models.get_model(name, num_classes=0).eval()
    x = np.random.default_rng(0).standard_normal(
        (2, 3, 64, 64)).astype(np.float32)
    last = get_graph_node_names(model, suppress_diff_warning=True)[1][-1]
    out = create_feature_extractor(model, [last],
                                   suppress_diff_warning=True)(x)[last]
    assert model(x).shape == out.shape == (2, 0)


def test_num_classes_zero_efficientnet_is_a_clear_error():
    # torchvision's EfficientNet cannot be built with it (ZeroDivisionError)
    with pytest.raises(ValueError, match=r"num_classes must be >= 1, got 0"):
        featx.models.efficientnet_b0(num_classes=0)
