"""SupCon / CS-SCL / CE / CSCE / logit-adjusted CE against float64 references written from the formulas and
hand-computed cases."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from scl_desktop.core.errors import ConfigError
from scl_desktop.core.model.losses import (
    ce_loss,
    class_cost_weights,
    csce_loss,
    log_class_prior,
    logit_adjusted_loss,
    supcon_anchor_losses,
    supcon_loss,
    supcon_loss_from,
)


def reference_supcon(features, labels, tau, weights=None) -> float:
    """Eq. (1) with explicit loops in float64: sum of w_i * l_i over anchors with positives / sum of their w_i."""
    n, views, _ = features.shape
    z = [features[i, v].double() for v in range(views) for i in range(n)]
    y = [int(labels[i]) for _ in range(views) for i in range(n)]
    w = [1.0 if weights is None else float(weights[i]) for _ in range(views) for i in range(n)]
    total, anchors = 0.0, 0.0
    for i in range(len(z)):
        positives = [s for s in range(len(z)) if s != i and y[s] == y[i]]
        if not positives:
            continue
        denom = sum(math.exp(float(z[i] @ z[k]) / tau) for k in range(len(z)) if k != i)
        li = -sum(math.log(math.exp(float(z[i] @ z[s]) / tau) / denom) for s in positives) / len(positives)
        total += w[i] * li
        anchors += w[i]
    return total / anchors if anchors else 0.0


def _features(n=6, views=2, dim=5, seed=0, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    return F.normalize(torch.randn(n, views, dim, generator=g, dtype=torch.float64), dim=-1).to(dtype)


@pytest.mark.parametrize("tau", [0.1, 0.5, 1.0])
@pytest.mark.parametrize("views", [1, 2, 3])
def test_matches_float64_reference(tau, views):
    feats = _features(n=6, views=views, seed=views)
    labels = torch.tensor([0, 1, 0, 2, 1, 3])  # class 3 has one image: a no-positive anchor when views == 1
    expected = reference_supcon(feats, labels, tau)
    assert supcon_loss(feats, labels, tau).item() == pytest.approx(expected, rel=1e-5)
    assert supcon_loss(feats.double(), labels, tau).item() == pytest.approx(expected, rel=1e-12)


def test_hand_computed_three_samples():
    # z1 = (1, 0), z2 = (0, 1), z3 = (1, 0); labels 0, 0, 1; one view each; tau = 1.
    # anchor 1: positive z2 (z1.z2 = 0), others z2 (e^0 = 1), z3 (e^1)  -> l1 = -log(1 / (1 + e)) = log(1 + e)
    # anchor 2: positive z1 (0),          others z1 (1),     z3 (e^0 = 1) -> l2 = -log(1 / 2) = log 2
    # anchor 3: no positive -> left out.  loss = (log(1 + e) + log 2) / 2 = 1.0032045...
    feats = torch.tensor([[[1.0, 0.0]], [[0.0, 1.0]], [[1.0, 0.0]]])
    loss = supcon_loss(feats, torch.tensor([0, 0, 1]), temperature=1.0)
    assert loss.item() == pytest.approx((math.log(1 + math.e) + math.log(2)) / 2, rel=1e-6)
    assert loss.item() == pytest.approx(1.0032045, rel=1e-6)


def test_hand_computed_single_image_two_views_is_zero():
    # one image, two views: each view's only other view is its positive -> log(e^x / e^x) = 0.
    feats = F.normalize(torch.tensor([[[1.0, 2.0], [3.0, -1.0]]]), dim=-1)
    assert supcon_loss(feats, torch.tensor([4]), 0.1).item() == pytest.approx(0.0, abs=1e-6)


def test_hand_computed_two_classes_two_views_tau_half():
    # N=2, V=2: image a (label 0) views (1,0),(1,0); image b (label 1) views (0,1),(0,1); tau = 0.5.
    # every anchor: positive dot 1 -> e^2; others: that positive (e^2) and two negatives (e^0 = 1 each)
    # l = -log(e^2 / (e^2 + 2)) = log(1 + 2 e^-2) = 0.2395...
    feats = torch.tensor([[[1.0, 0.0], [1.0, 0.0]], [[0.0, 1.0], [0.0, 1.0]]])
    loss = supcon_loss(feats, torch.tensor([0, 1]), 0.5)
    assert loss.item() == pytest.approx(math.log(1 + 2 * math.exp(-2)), rel=1e-6)


def test_no_positive_anchors_give_zero_with_gradient_not_nan():
    feats = _features(n=3, views=1).requires_grad_(True)
    loss = supcon_loss(feats, torch.tensor([0, 1, 2]), 0.1)
    assert loss.item() == 0.0 and loss.dtype == torch.float32
    loss.backward()
    assert feats.grad is not None and torch.isfinite(feats.grad).all()
    single = _features(n=1, views=1).requires_grad_(True)  # contrast set of one: only itself
    out = supcon_loss(single, torch.tensor([0]), 0.1)
    out.backward()
    assert out.item() == 0.0 and torch.isfinite(single.grad).all()


def test_tiny_temperature_stays_finite():
    # without subtracting the max over k != i, exp(-2 / 0.005) underflows to 0 in float32 -> log(0)
    feats = torch.tensor([[[1.0, 0.0], [-1.0, 0.0]], [[0.0, 1.0], [0.0, -1.0]]]).requires_grad_(True)
    loss = supcon_loss(feats, torch.tensor([0, 1]), 0.005)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(feats.grad).all()
    assert loss.item() == pytest.approx(reference_supcon(feats.detach(), torch.tensor([0, 1]), 0.005), rel=1e-4)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_low_precision_inputs_give_float32_loss(dtype):
    feats = _features(dtype=dtype)
    labels = torch.tensor([0, 1, 0, 1, 2, 2])
    loss = supcon_loss(feats, labels, 0.1)
    assert loss.dtype == torch.float32
    assert loss.item() == pytest.approx(reference_supcon(feats.float(), labels, 0.1), rel=1e-5)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert supcon_loss(_features(), labels, 0.1).dtype == torch.float32
        assert ce_loss(torch.randn(4, 3), torch.tensor([0, 1, 2, 0])).dtype == torch.float32


def test_gradients_match_float64_and_are_finite():
    labels = torch.tensor([0, 1, 0, 2, 1, 0])
    f32 = _features().requires_grad_(True)
    f64 = _features(dtype=torch.float64).requires_grad_(True)
    supcon_loss(f32, labels, 0.1).backward()
    supcon_loss(f64, labels, 0.1).backward()
    assert torch.isfinite(f32.grad).all()
    assert torch.allclose(f32.grad.double(), f64.grad, atol=1e-5)


def test_cs_scl_weights_each_anchor():
    feats = _features(n=6, views=2)
    labels = torch.tensor([0, 0, 0, 0, 1, 1])
    weights = class_cost_weights([4, 2])[labels]  # 0.5 for class 0, 1 for class 1
    expected = reference_supcon(feats, labels, 0.1, weights)
    assert supcon_loss(feats, labels, 0.1, sample_weights=weights).item() == pytest.approx(expected, rel=1e-5)
    ones = supcon_loss(feats, labels, 0.1, sample_weights=torch.ones(6))
    assert ones.item() == pytest.approx(supcon_loss(feats, labels, 0.1).item(), rel=1e-6)


def test_distributed_form_sums_to_the_single_process_loss():
    """Two simulated ranks: local anchors against the gathered contrast set, normalised by the global weight sum."""
    feats = _features(n=8, views=2, seed=3).requires_grad_(True)
    labels = torch.tensor([0, 1, 0, 2, 1, 3, 3, 4])
    weights = class_cost_weights([2, 2, 1, 2, 1])[labels]
    single = supcon_loss(feats, labels, 0.1, weights)
    single_grad = torch.autograd.grad(single, feats)[0]

    world = 2
    shards = [feats[r * 4:(r + 1) * 4] for r in range(world)]  # each rank's [4, 2, D] projections
    label_shards = [labels[r * 4:(r + 1) * 4] for r in range(world)]
    # all-gather: contrast = all ranks' views, rank-major, views of one rank [V*n_local] flattened view-major
    contrast = torch.cat([s.transpose(0, 1).reshape(-1, 5) for s in shards])
    contrast_labels = torch.cat([ls.repeat(2) for ls in label_shards])
    contrast_weights = torch.cat([weights[r * 4:(r + 1) * 4].repeat(2) for r in range(world)])
    terms, counts = [], []
    for r in range(world):
        index = torch.arange(r * 8, (r + 1) * 8)
        losses, norm = supcon_anchor_losses(contrast[index], contrast_labels[index], contrast, contrast_labels,
                                            index, 0.1, contrast_weights[index])
        terms.append(losses.sum())
        counts.append(norm.sum())
    total = sum(terms) / sum(counts)
    assert total.item() == pytest.approx(single.item(), rel=1e-6)
    assert torch.allclose(torch.autograd.grad(total, feats)[0], single_grad, atol=1e-6)
    # one rank's anchors only, with its own count, is what supcon_loss_from gives
    index = torch.arange(0, 8)
    local = supcon_loss_from(contrast[index], contrast_labels[index], contrast, contrast_labels, index, 0.1,
                             contrast_weights[index])
    assert local.item() == pytest.approx((terms[0] / counts[0]).item(), rel=1e-6)


def test_class_cost_weights():
    w = class_cost_weights([100, 10, 0, 5])
    assert w.dtype == torch.float32
    assert torch.allclose(w, torch.tensor([0.05, 0.5, 0.0, 1.0]))
    assert torch.equal(class_cost_weights(torch.tensor([3, 3])), torch.ones(2))
    with pytest.raises(ConfigError, match="no class"):
        class_cost_weights([0, 0])
    with pytest.raises(ConfigError):
        class_cost_weights([-1, 2])


def test_csce_is_the_weighted_mean_of_ce():
    logits = torch.tensor([[2.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    labels = torch.tensor([0, 1, 1])
    weights = torch.tensor([0.25, 1.0])
    ce = [math.log(1 + math.exp(-2)), math.log(1 + math.exp(-1)), math.log(2)]  # -log softmax of the label
    expected = (0.25 * ce[0] + ce[1] + ce[2]) / (0.25 + 1 + 1)  # divided by the sum of the weights, not by N
    assert csce_loss(logits, labels, weights).item() == pytest.approx(expected, rel=1e-6)
    assert csce_loss(logits, labels, weights).item() == pytest.approx(
        F.cross_entropy(logits, labels, weight=weights).item(), rel=1e-6)
    assert ce_loss(logits, labels).item() == pytest.approx(sum(ce) / 3, rel=1e-6)
    assert csce_loss(logits.half(), labels, weights).dtype == torch.float32
    # the convention before (ablations only): the same weighted sum divided by the batch size
    assert csce_loss(logits, labels, weights, "count").item() == pytest.approx(
        (0.25 * ce[0] + ce[1] + ce[2]) / 3, rel=1e-6)


def _loss_and_grad(fn, x):
    x = x.clone().requires_grad_(True)
    loss = fn(x)
    return loss.detach(), torch.autograd.grad(loss, x)[0]


def test_csce_with_uniform_weights_is_ce_and_ignores_the_weights_scale():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(12, 4, generator=g)
    labels = torch.randint(0, 4, (12,), generator=g)
    weights = class_cost_weights([40, 10, 5, 20])
    ce = _loss_and_grad(lambda x: ce_loss(x, labels), logits)
    for uniform in (torch.ones(4), torch.full((4,), 0.05)):
        got = _loss_and_grad(lambda x, w=uniform: csce_loss(x, labels, w), logits)
        assert torch.allclose(got[0], ce[0], rtol=1e-6) and torch.allclose(got[1], ce[1], atol=1e-7)
    base = _loss_and_grad(lambda x: csce_loss(x, labels, weights), logits)
    for scale in (0.01, 7.0):
        scaled = _loss_and_grad(lambda x, s=scale: csce_loss(x, labels, weights * s), logits)
        assert torch.allclose(scaled[0], base[0], rtol=1e-6) and torch.allclose(scaled[1], base[1], atol=1e-7)


def test_cs_scl_with_uniform_weights_is_supcon_and_ignores_the_weights_scale():
    feats = _features(n=8, views=2, seed=4)
    labels = torch.tensor([0, 0, 0, 1, 1, 2, 2, 3])  # class 3 has no positive but its other view
    plain = _loss_and_grad(lambda x: supcon_loss(x, labels, 0.1), feats)
    for uniform in (torch.ones(8), torch.full((8,), 0.05)):
        got = _loss_and_grad(lambda x, w=uniform: supcon_loss(x, labels, 0.1, sample_weights=w), feats)
        assert torch.allclose(got[0], plain[0], rtol=1e-6) and torch.allclose(got[1], plain[1], atol=1e-6)
    weights = class_cost_weights([3, 2, 2, 1])[labels]
    base = _loss_and_grad(lambda x: supcon_loss(x, labels, 0.1, sample_weights=weights), feats)
    for scale in (0.01, 7.0):
        scaled = _loss_and_grad(lambda x, s=scale: supcon_loss(x, labels, 0.1, sample_weights=weights * s), feats)
        assert torch.allclose(scaled[0], base[0], rtol=1e-6) and torch.allclose(scaled[1], base[1], atol=1e-6)


def test_bad_arguments():
    with pytest.raises(ConfigError, match="temperature"):
        supcon_loss(_features(), torch.zeros(6, dtype=torch.long), 0.0)
    with pytest.raises(ValueError):
        supcon_loss(_features()[:, 0], torch.zeros(6, dtype=torch.long))
    with pytest.raises(ValueError):
        supcon_loss(_features(), torch.zeros(5, dtype=torch.long))


def test_log_class_prior_by_hand():
    prior = log_class_prior([2, 6, 0])  # N = 8; the empty class borrows the rarest prior, 2/8
    assert prior.dtype == torch.float32
    assert torch.allclose(prior, torch.tensor([math.log(0.25), math.log(0.75), math.log(0.25)]))
    with pytest.raises(ConfigError):
        log_class_prior([0, 0])
    with pytest.raises(ConfigError):
        log_class_prior([3, -1])


def test_logit_adjusted_loss_by_hand_and_its_limits():
    logits = torch.tensor([[2.0, 0.0], [0.0, 1.0]])
    labels = torch.tensor([0, 1])
    prior = torch.tensor([math.log(0.8), math.log(0.2)])
    tau = 0.5
    # -log softmax(z + tau * log p)_y, written out for two classes
    def term(z, y):
        shifted = [z[k] + tau * float(prior[k]) for k in range(2)]
        return -(shifted[y] - math.log(sum(math.exp(v) for v in shifted)))
    expected = (term([2.0, 0.0], 0) + term([0.0, 1.0], 1)) / 2
    assert logit_adjusted_loss(logits, labels, prior, tau).item() == pytest.approx(expected, rel=1e-6)
    assert logit_adjusted_loss(logits, labels, prior, 0.0).item() == pytest.approx(ce_loss(logits, labels).item())
    assert logit_adjusted_loss(logits.half(), labels, prior, tau).dtype == torch.float32


def test_balanced_softmax_is_the_logit_adjusted_loss_at_tau_one():
    """Ren et al.'s -log(n_y e^{z_y} / sum_j n_j e^{z_j}) from raw counts equals la-loss(tau 1) on log(n_j / N)."""
    g = torch.Generator().manual_seed(1)
    counts = torch.tensor([50.0, 20.0, 5.0, 2.0])
    logits = torch.randn(9, 4, generator=g, dtype=torch.float64)
    labels = torch.randint(0, 4, (9,), generator=g)
    weighted = counts.double() * logits.exp()
    balanced_softmax = -(weighted[torch.arange(9), labels] / weighted.sum(dim=1)).log().mean()
    got = logit_adjusted_loss(logits, labels, log_class_prior(counts), 1.0)
    assert got.item() == pytest.approx(balanced_softmax.item(), rel=1e-6)


def test_logit_adjusted_loss_gradient_is_the_shifted_softmax_minus_the_label():
    g = torch.Generator().manual_seed(2)
    logits = torch.randn(6, 3, generator=g, dtype=torch.float64)
    labels = torch.tensor([0, 1, 2, 2, 1, 0])
    prior = log_class_prior([30, 9, 1]).double()
    for tau in (0.0, 1.0, 1.5):
        _, grad = _loss_and_grad(lambda x, t=tau: logit_adjusted_loss(x, labels, prior, t), logits)
        expected = (torch.softmax(logits + tau * prior, dim=1) - F.one_hot(labels, 3).double()) / len(labels)
        assert torch.allclose(grad, expected, atol=1e-12)
    # the shift pushes rare-class logits up during training: their gradient is more negative than plain CE's
    _, plain = _loss_and_grad(lambda x: ce_loss(x, labels), logits)
    _, adjusted = _loss_and_grad(lambda x: logit_adjusted_loss(x, labels, prior, 1.0), logits)
    assert bool((adjusted[:, 2] < plain[:, 2]).all())
