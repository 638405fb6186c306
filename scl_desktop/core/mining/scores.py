"""Review scores from class probabilities: a class's probability, the top-two margin, the entropy.

Every function takes probabilities ``probs`` (float [N, C], rows summing to 1) and returns one
float64 value per row. Higher ``score`` means "review first".
"""

from __future__ import annotations

import numpy as np

UNCERTAINTIES = ("margin", "entropy")
"""How ``--uncertain`` measures doubt: 1 - (top-1 minus top-2 probability), or the normalised entropy."""


def margins(probs: np.ndarray) -> np.ndarray:
    """Top-1 minus top-2 probability of each row (the top-1 probability itself with one class)."""
    probs = np.asarray(probs, dtype=np.float64)
    if probs.shape[1] < 2:
        return probs[:, 0].copy()
    top2 = np.sort(probs, axis=1)[:, -2:]
    return top2[:, 1] - top2[:, 0]


def entropies(probs: np.ndarray) -> np.ndarray:
    """Entropy of each row divided by log(C): 0 for a certain prediction, 1 for a uniform one."""
    probs = np.clip(np.asarray(probs, dtype=np.float64), 0.0, 1.0)
    if probs.shape[1] < 2:
        return np.zeros(len(probs))
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(probs > 0, probs * np.log(probs), 0.0)
    return np.clip(-terms.sum(axis=1) / np.log(probs.shape[1]), 0.0, 1.0)


def scores(probs: np.ndarray, class_index: int | None, uncertainty: str = "margin") -> np.ndarray:
    """The review score of each row: the probability of class ``class_index``; with ``None``, the
    uncertainty (1 - margin, or the normalised entropy: ``uncertainty``)."""
    if class_index is not None:
        return np.asarray(probs, dtype=np.float64)[:, class_index].copy()
    if uncertainty == "margin":
        return 1.0 - margins(probs)
    if uncertainty == "entropy":
        return entropies(probs)
    raise ValueError(f"unknown uncertainty {uncertainty!r}; use one of {UNCERTAINTIES}")
