"""Ranking candidates for review: by score, optionally spread over feature space (``diversity``)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from scl_desktop.core.errors import ConfigError
from scl_desktop.core.mining.diversity import farthest_first
from scl_desktop.core.mining.scores import UNCERTAINTIES


@dataclass(frozen=True)
class RankConfig:
    """How a candidate list is ranked.

    ``top``: candidates in the list. ``diverse``: spread the list over the encoder's feature space
    (farthest-point selection among the ``pool_factor`` x ``top`` highest-scoring candidates);
    without it the list is the ``top`` highest scores. ``uncertainty``: "margin" or "entropy", for
    lists ranked by doubt rather than by a class.
    """

    top: int = 20
    diverse: bool = True
    pool_factor: int = 4
    uncertainty: str = "margin"

    def validate(self) -> None:
        """``ConfigError`` for values out of range."""
        if self.top < 1:
            raise ConfigError(f"The list must hold at least one candidate, not {self.top}.", "Use e.g. --top 20.")
        if self.pool_factor < 1:
            raise ConfigError(f"The diversity pool factor must be at least 1, not {self.pool_factor}.",
                              "Use e.g. 4 (farthest-point selection among the 4 x top best).")
        if self.uncertainty not in UNCERTAINTIES:
            raise ConfigError(f"Unknown uncertainty {self.uncertainty!r}.", f"Use one of {', '.join(UNCERTAINTIES)}.")


def rank(scores: np.ndarray, features: np.ndarray | None, config: RankConfig) -> np.ndarray:
    """Row indices of the list, first to review first: the ``config.top`` highest ``scores`` (ties: the
    earlier row), or with ``config.diverse`` (and ``features``) spread over feature space."""
    scores = np.asarray(scores, dtype=np.float64)
    order = np.argsort(-scores, kind="stable")
    if not config.diverse or features is None:
        return order[:config.top]
    return farthest_first(features, order[:config.top * config.pool_factor], config.top)
