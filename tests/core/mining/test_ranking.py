"""Ranking for review on hand-made probabilities and features: by class, by doubt, spread over feature space."""

from __future__ import annotations

import numpy as np
import pytest

from scl_desktop.core.errors import ConfigError
from scl_desktop.core.mining.diversity import farthest_first
from scl_desktop.core.mining.ranking import RankConfig, rank
from scl_desktop.core.mining.scores import entropies, margins, scores

PROBS = np.array([
    [0.70, 0.20, 0.10],  # sure of class 0
    [0.34, 0.33, 0.33],  # most doubtful
    [0.10, 0.80, 0.10],  # sure of class 1
    [0.45, 0.40, 0.15],  # doubtful between 0 and 1
    [0.05, 0.15, 0.80],  # sure of class 2
])


def test_margin_and_entropy_by_hand():
    assert margins(PROBS) == pytest.approx([0.5, 0.01, 0.7, 0.05, 0.65])
    assert entropies(np.array([[1 / 3] * 3, [1.0, 0.0, 0.0]])) == pytest.approx([1.0, 0.0])
    row = PROBS[0]
    assert entropies(PROBS)[0] == pytest.approx(-(row * np.log(row)).sum() / np.log(3))


def test_ranking_by_the_probability_of_a_class():
    plain = RankConfig(top=3, diverse=False)
    assert rank(scores(PROBS, 1, "margin"), None, plain).tolist() == [2, 3, 1]
    assert rank(scores(PROBS, 0, "margin"), None, plain).tolist() == [0, 3, 1]
    assert rank(scores(PROBS, 2, "margin"), None, RankConfig(top=10, diverse=False)).tolist() == [4, 1, 3, 0, 2]


@pytest.mark.parametrize("uncertainty,expected", [("margin", [1, 3, 0]), ("entropy", [1, 3, 0])])
def test_ranking_by_doubt(uncertainty, expected):
    ranked = rank(scores(PROBS, None, uncertainty), None, RankConfig(top=3, diverse=False, uncertainty=uncertainty))
    assert ranked.tolist() == expected


def test_margin_and_entropy_can_disagree():
    # row 0: two classes tied (margin 0) but no mass elsewhere; row 1: spread over all four classes
    probs = np.array([[0.5, 0.5, 0.0, 0.0], [0.4, 0.2, 0.2, 0.2]])
    assert rank(scores(probs, None, "margin"), None, RankConfig(top=1, diverse=False)).tolist() == [0]
    assert rank(scores(probs, None, "entropy"), None, RankConfig(top=1, diverse=False)).tolist() == [1]


def two_clusters() -> tuple[np.ndarray, np.ndarray]:
    """Ten candidates: five tight around (1, 0, 0) scoring highest, five tight around (0, 1, 0) below them."""
    rng = np.random.default_rng(0)
    a = np.array([1.0, 0.0, 0.0]) + rng.normal(0, 0.01, (5, 3))
    b = np.array([0.0, 1.0, 0.0]) + rng.normal(0, 0.01, (5, 3))
    return np.concatenate([a, b]), np.array([0.99, 0.98, 0.97, 0.96, 0.95, 0.90, 0.89, 0.88, 0.87, 0.86])


def test_diversity_takes_the_top_two_from_both_clusters():
    features, score = two_clusters()
    assert rank(score, features, RankConfig(top=2, diverse=False)).tolist() == [0, 1]  # one harbour twice
    diverse = rank(score, features, RankConfig(top=2, diverse=True, pool_factor=5))
    assert diverse.tolist() == [0, 5]  # the best of each cluster
    # the pool is the pool_factor x top best scores: a pool of the first cluster only cannot reach the second
    assert set(rank(score, features, RankConfig(top=2, diverse=True, pool_factor=2)).tolist()) <= {0, 1, 2, 3}


def test_farthest_first_spreads_every_prefix_and_falls_back_to_score_order():
    features, _ = two_clusters()
    picked = farthest_first(features, np.arange(10), 4).tolist()
    assert picked[0] == 0 and picked[1] >= 5  # each next one the farthest from those chosen
    assert {p >= 5 for p in picked[:2]} == {False, True}
    same = np.ones((6, 3))
    assert farthest_first(same, np.array([3, 1, 4, 0, 5, 2]), 3).tolist() == [3, 1, 4]
    assert sorted(farthest_first(features, np.arange(3), 10).tolist()) == [0, 1, 2]  # k beyond the pool: all of it


def test_rank_config_refuses_bad_values():
    for bad in (RankConfig(top=0), RankConfig(pool_factor=0), RankConfig(uncertainty="variance")):
        with pytest.raises(ConfigError):
            bad.validate()
