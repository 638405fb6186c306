"""Post-hoc re-balancing of a trained linear classifier: new weights, the same plain ``LinearClassifier``.

Both adjustments are folded into the layer's parameters, so the predictor, labelling and the ONNX
export use an adjusted classifier exactly like any other.

* ``tau_normalised`` (Kang et al. 2020): ``w_j <- w_j / ||w_j||^tau``; frequent classes grow larger
  weight vectors under instance sampling, and equalising their norms (tau = 1) removes that bias.
  Like the reference code (classifier-balancing's ``tau_norm.py``, logits ``x @ w.T``), the bias
  is dropped (set to 0).
* ``logit_adjusted`` (Menon et al. 2021): logits ``w_j x + b_j - tau * log prior_j``, i.e. the bias
  shifted by ``-tau * log prior_j``; tau = 1 is the Bayes-optimal rule for the balanced error.
"""

from __future__ import annotations

import copy

import torch

from scl_desktop.core.model.networks import LinearClassifier


def tau_normalised(classifier: LinearClassifier, tau: float) -> LinearClassifier:
    """A copy of ``classifier`` with each class's weight row divided by its L2 norm to the power ``tau``, bias 0."""
    adjusted = copy.deepcopy(classifier)
    with torch.no_grad():
        weight = adjusted.fc.weight
        norms = weight.norm(dim=1, keepdim=True).clamp_min(torch.finfo(weight.dtype).tiny)
        weight.div_(norms.pow(tau))
        adjusted.fc.bias.zero_()
    return adjusted


def logit_adjusted(classifier: LinearClassifier, log_prior: torch.Tensor, tau: float) -> LinearClassifier:
    """A copy of ``classifier`` whose logits are the original ones minus ``tau * log_prior`` (folded into the bias)."""
    adjusted = copy.deepcopy(classifier)
    with torch.no_grad():
        bias = adjusted.fc.bias
        bias.sub_(tau * log_prior.to(device=bias.device, dtype=bias.dtype))
    return adjusted


def adjusted(classifier: LinearClassifier, step: str | None, tau: float | None,
             log_prior: torch.Tensor) -> LinearClassifier:
    """``classifier`` after the post-hoc ``step`` "tau-norm" or "logit-adj" with ``tau`` (``None``: unchanged)."""
    if step is None:
        return classifier
    if tau is None:
        raise ValueError(f"the post-hoc step {step!r} needs a tau")
    if step == "tau-norm":
        return tau_normalised(classifier, tau)
    if step == "logit-adj":
        return logit_adjusted(classifier, log_prior, tau)
    raise ValueError(f"unknown post-hoc step {step!r}")
