"""Losses of both stages: SupCon (and its cost-sensitive CS-SCL form), CE, cost-sensitive CE and the
logit-adjusted CE of stage 2's long-tail classifiers (which is also the balanced softmax).

SupCon is the paper's eq. (1), the "L_out" form of Khosla et al. (2020). For every anchor view
``i`` with positive set ``S(i)`` (the other views with the same label)::

    l_i = -1/|S(i)| * sum_{s in S(i)} log( exp(z_i.z_s / tau) / sum_{k != i} exp(z_i.z_k / tau) )

and the loss is the weighted mean ``sum_i w_i * l_i / sum_i w_i`` over the anchors that have at
least one positive (``w_i`` = 1, giving the plain mean, or ``n_min / n_{y_i}`` for CS-SCL).
Normalising by the sum of the weights (not by the number of anchors) keeps the loss's scale,
and so the meaning of the learning rate, the same with and without weights: scaling every
weight by a constant changes neither the loss nor its gradient. Anchors without positives are
left out; when no anchor has one the loss is 0 (still attached to the graph). There is no
``tau / base_temperature`` factor (the SupCon reference code has one, the paper's eq. does not).
Computed in float32 (float64 when given float64) with autocast switched off.

Distributed use: every rank gathers the projections and labels of all ranks into the contrast
set, calls :func:`supcon_anchor_losses` for its own anchors, and divides the sum of its anchor
terms by the sum of the anchor weights (of anchors with positives) over all ranks. Those per-rank results
add up to exactly the single-process loss of the global batch (multiply by the world size when
DDP averages gradients over ranks).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from scl_desktop.core.errors import ConfigError


def _work_dtype(t: torch.Tensor) -> torch.dtype:
    return torch.float64 if t.dtype == torch.float64 else torch.float32


def supcon_anchor_losses(anchor_feats: torch.Tensor, anchor_labels: torch.Tensor, contrast_feats: torch.Tensor,
                         contrast_labels: torch.Tensor, anchor_index: torch.Tensor, temperature: float = 0.1,
                         anchor_weights: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-anchor SupCon terms ``w_i * l_i`` [A] and the normalising weights [A]: ``w_i`` for the
    anchors that have a positive (1 without ``anchor_weights``), 0 for the others.

    The loss is ``terms.sum() / weights.sum()``. ``anchor_feats`` [A, D] and ``contrast_feats`` [K, D] are L2-normalised projections; the
    anchors are themselves members of the contrast set at positions ``anchor_index`` [A] (that
    entry is excluded from the anchor's sums). Terms of anchors without positives are 0.
    """
    if temperature <= 0:
        raise ConfigError(f"SupCon temperature {temperature} is not positive.", "Use e.g. 0.1 (the paper's).")
    if anchor_feats.dim() != 2 or contrast_feats.dim() != 2 or anchor_feats.shape[1] != contrast_feats.shape[1]:
        raise ValueError(f"expected anchors [A, D] and contrast [K, D], got {tuple(anchor_feats.shape)} "
                         f"and {tuple(contrast_feats.shape)}")
    n_anchor, n_contrast = anchor_feats.shape[0], contrast_feats.shape[0]
    if anchor_labels.shape != (n_anchor,) or anchor_index.shape != (n_anchor,) or contrast_labels.shape != (n_contrast,):
        raise ValueError("anchor_labels and anchor_index must be [A] and contrast_labels [K]")
    dtype = _work_dtype(anchor_feats)
    device = anchor_feats.device
    with torch.autocast(device.type, enabled=False):
        a = anchor_feats.to(dtype)
        c = contrast_feats.to(dtype)
        logits = (a @ c.T) / temperature
        is_self = torch.arange(n_contrast, device=device)[None, :] == anchor_index.to(device)[:, None]
        positive = (anchor_labels.to(device)[:, None] == contrast_labels.to(device)[None, :]) & ~is_self
        # Subtract each row's max over k != i: the denominator then holds exp(0) = 1, so it never
        # underflows, however small tau is.
        others = logits.masked_fill(is_self, float("-inf"))
        row_max = others.max(dim=1, keepdim=True).values.detach()
        row_max = torch.where(torch.isfinite(row_max), row_max, torch.zeros_like(row_max))
        shifted = logits - row_max
        denom = torch.exp(others - row_max).sum(dim=1, keepdim=True)
        log_prob = shifted - torch.log(denom.clamp_min(torch.finfo(dtype).tiny))
        n_pos = positive.sum(dim=1)
        has_pos = n_pos > 0
        mean_log_prob_pos = torch.where(positive, log_prob, torch.zeros_like(log_prob)).sum(dim=1) / n_pos.clamp_min(1)
        losses = torch.where(has_pos, -mean_log_prob_pos, torch.zeros_like(mean_log_prob_pos))
        norm = has_pos.to(dtype)
        if anchor_weights is not None:
            w = anchor_weights.to(device=device, dtype=dtype)
            losses, norm = losses * w, norm * w
    return losses, norm


def supcon_loss_from(anchor_feats: torch.Tensor, anchor_labels: torch.Tensor, contrast_feats: torch.Tensor,
                     contrast_labels: torch.Tensor, anchor_index: torch.Tensor, temperature: float = 0.1,
                     anchor_weights: torch.Tensor | None = None) -> torch.Tensor:
    """SupCon of these anchors against a contrast set: weighted mean of the anchor terms with a positive."""
    losses, norm = supcon_anchor_losses(anchor_feats, anchor_labels, contrast_feats, contrast_labels,
                                        anchor_index, temperature, anchor_weights)
    return losses.sum() / safe_total(norm.sum())


def safe_total(total: torch.Tensor) -> torch.Tensor:
    """A sum of weights to divide by, kept above 0 (an all-zero sum has all-zero terms: the loss is 0)."""
    return total.clamp_min(torch.finfo(total.dtype).tiny)


def supcon_loss(features: torch.Tensor, labels: torch.Tensor, temperature: float = 0.1,
                sample_weights: torch.Tensor | None = None) -> torch.Tensor:
    """SupCon (eq. 1) over all N*V views of ``features`` [N, V, D] (L2-normalised), ``labels`` [N].

    ``sample_weights`` [N] (e.g. ``class_cost_weights(counts)[labels]``) gives CS-SCL. Returns
    a float32 scalar (float64 for float64 features).
    """
    if features.dim() != 3:
        raise ValueError(f"expected features [N, V, D], got {tuple(features.shape)}")
    n, views, dim = features.shape
    if labels.shape != (n,):
        raise ValueError(f"expected labels [{n}], got {tuple(labels.shape)}")
    flat = features.transpose(0, 1).reshape(views * n, dim)  # view-major: all first views, then all second
    flat_labels = labels.repeat(views)
    weights = None if sample_weights is None else sample_weights.reshape(n).repeat(views)
    index = torch.arange(views * n, device=features.device)
    return supcon_loss_from(flat, flat_labels, flat, flat_labels, index, temperature, weights)


def class_cost_weights(counts: Sequence[int] | torch.Tensor) -> torch.Tensor:
    """Per-class weights ``n_min / n_c`` (float32) from training counts; classes with no samples get 0."""
    counts_t = torch.as_tensor(counts, dtype=torch.float64).flatten()
    if counts_t.numel() == 0 or bool((counts_t < 0).any()):
        raise ConfigError(f"class counts {list(counts_t.tolist())} are empty or negative.",
                          "Pass the number of training images of every class.")
    present = counts_t > 0
    if not bool(present.any()):
        raise ConfigError("no class has any training image.", "Check the split: its training part is empty.")
    n_min = counts_t[present].min()
    weights = torch.where(present, n_min / counts_t.clamp_min(1), torch.zeros_like(counts_t))
    return weights.float()


def ce_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Plain cross-entropy, mean over the batch, in float32."""
    with torch.autocast(logits.device.type, enabled=False):
        return F.cross_entropy(logits.to(_work_dtype(logits)), labels)


def csce_loss(logits: torch.Tensor, labels: torch.Tensor, class_weights: torch.Tensor,
              normalise: str = "weights") -> torch.Tensor:
    """Cost-sensitive CE (eq. 3): the weighted mean ``sum_i w_i CE_i / sum_i w_i`` over the batch,
    ``w_i = n_min / n_{y_i}``, in float32 (``normalise`` "count": ``sum_i w_i CE_i / N`` instead, the
    convention before, kept for ablations).

    ``class_weights`` comes from :func:`class_cost_weights`. Dividing by the sum of the batch's
    weights (as ``F.cross_entropy(weight=...)`` does), not by the batch size, keeps the loss's
    scale, and the meaning of the learning rate, that of plain CE: uniform weights give CE
    exactly and scaling all weights by a constant changes neither the loss nor its gradient.
    (Dividing by N would shrink the gradient by the mean weight, ~C * n_min / N.)
    """
    with torch.autocast(logits.device.type, enabled=False):
        dtype = _work_dtype(logits)
        per_sample = F.cross_entropy(logits.to(dtype), labels, reduction="none")
        w = class_weights.to(device=logits.device, dtype=dtype)[labels]
        if normalise == "count":
            return (per_sample * w).sum() / max(len(labels), 1)
        return (per_sample * w).sum() / safe_total(w.sum())


def log_class_prior(counts: Sequence[int] | torch.Tensor) -> torch.Tensor:
    """``log(n_c / N)`` per class (float32) from training counts: the prior that logit adjustment uses.

    A class without training images gets the prior of the rarest class that has some (a finite
    value: ``log 0`` would make every adjusted prediction that class).
    """
    counts_t = torch.as_tensor(counts, dtype=torch.float64).flatten()
    if counts_t.numel() == 0 or bool((counts_t < 0).any()) or not bool((counts_t > 0).any()):
        raise ConfigError(f"class counts {list(counts_t.tolist())} are empty, negative or all zero.",
                          "Pass the number of training images of every class.")
    filled = torch.where(counts_t > 0, counts_t, counts_t[counts_t > 0].min())
    return torch.log(filled / counts_t.sum()).float()


def logit_adjusted_loss(logits: torch.Tensor, labels: torch.Tensor, log_prior: torch.Tensor,
                        tau: float = 1.0) -> torch.Tensor:
    """The logit-adjusted loss (Menon et al. 2021): CE of ``logits + tau * log_prior``, in float32.

    Training against the prior-shifted logits makes the plain logits fit a class-balanced
    posterior, so the model predicts with ``logits`` unshifted. ``tau = 1`` is the balanced
    softmax of Ren et al. (2020), whose ``n_j exp(z_j)`` normaliser is the same shift by
    ``log n_j`` (the constant ``log N`` cancels); ``tau = 0`` is plain CE.
    """
    with torch.autocast(logits.device.type, enabled=False):
        dtype = _work_dtype(logits)
        shift = tau * log_prior.to(device=logits.device, dtype=dtype)
        return F.cross_entropy(logits.to(dtype) + shift, labels)
