"""Post-hoc adjustments of a linear layer against hand computations: tau-normalised norms, the bias shift."""

from __future__ import annotations

import math

import pytest
import torch

from scl_desktop.core.model.losses import log_class_prior
from scl_desktop.core.model.networks import LinearClassifier
from scl_desktop.core.model.posthoc import adjusted, logit_adjusted, tau_normalised


def _layer(seed: int = 0) -> LinearClassifier:
    torch.manual_seed(seed)
    layer = LinearClassifier(5, 3)
    with torch.no_grad():
        layer.fc.weight.mul_(torch.tensor([[4.0], [1.0], [0.25]]))  # norms far apart, as after imbalanced CE
    return layer


@pytest.mark.parametrize("tau", [0.0, 0.5, 1.0, 1.5])
def test_tau_norm_divides_each_row_by_its_norm_to_the_tau_and_drops_the_bias(tau):
    layer = _layer()
    before = layer.fc.weight.detach().clone()
    norms = before.norm(dim=1)
    out = tau_normalised(layer, tau)
    assert torch.allclose(out.fc.weight.norm(dim=1), norms ** (1 - tau), rtol=1e-5)  # ||w / ||w||^tau|| = ||w||^(1-tau)
    assert torch.allclose(out.fc.weight, before / norms[:, None] ** tau)
    assert torch.equal(out.fc.bias, torch.zeros(3))
    assert torch.equal(layer.fc.weight, before), "the original layer must stay as it was"
    if tau == 1.0:
        assert torch.allclose(out.fc.weight.norm(dim=1), torch.ones(3))


def test_logit_adjustment_folded_into_the_bias_equals_subtracting_tau_log_prior():
    layer = _layer(1)
    prior = log_class_prior([60, 30, 10])
    x = torch.randn(7, 5)
    for tau in (0.5, 1.0, 2.0):
        out = logit_adjusted(layer, prior, tau)
        with torch.no_grad():
            assert torch.allclose(out(x), layer(x) - tau * prior, atol=1e-6)
        assert torch.equal(out.fc.weight, layer.fc.weight)
        assert out.fc.bias[2].item() - layer.fc.bias[2].item() == pytest.approx(-tau * math.log(0.1), rel=1e-5)


def test_adjusted_dispatches_and_leaves_the_layer_alone_without_a_step():
    layer = _layer(2)
    prior = log_class_prior([5, 3, 2])
    assert adjusted(layer, None, None, prior) is layer
    assert torch.equal(adjusted(layer, "tau-norm", 1.0, prior).fc.weight, tau_normalised(layer, 1.0).fc.weight)
    assert torch.equal(adjusted(layer, "logit-adj", 1.0, prior).fc.bias, logit_adjusted(layer, prior, 1.0).fc.bias)
    with pytest.raises(ValueError):
        adjusted(layer, "tau-norm", None, prior)
    with pytest.raises(ValueError):
        adjusted(layer, "other", 1.0, prior)
