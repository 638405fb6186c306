"""Spreading a candidate list over feature space: greedy farthest-point (k-center) selection.

Among a pool of the highest-scoring candidates, the best-scoring one comes first; each next one is
the farthest from those chosen so far: its cosine distance to its nearest chosen candidate is the
largest, where distances within ``SLACK`` (10 %) of the largest count as equal and the better score
among them wins (so a far cluster is represented by its best-scoring member, not its outlier).
Every prefix of the list is spread out, so the first K are not K neighbouring windows of one
harbour; a pool of identical features falls back to score order.
"""

from __future__ import annotations

import numpy as np

SLACK = 0.1
"""Distances to the chosen set within this share of the largest one count as equal (the better score wins)."""


def unit_rows(features: np.ndarray) -> np.ndarray:
    """``features`` (float [N, D]) with every row scaled to length 1 (zero rows stay zero)."""
    features = np.asarray(features, dtype=np.float64)
    norms = np.linalg.norm(features, axis=1, keepdims=True)
    return features / np.where(norms > 0, norms, 1.0)


def farthest_first(features: np.ndarray, pool: np.ndarray, k: int) -> np.ndarray:
    """``k`` entries of ``pool`` (row indices of ``features``, best score first) in farthest-point order."""
    pool = np.asarray(pool, dtype=np.int64)
    k = min(int(k), len(pool))
    if k <= 0:
        return pool[:0]
    x = unit_rows(features[pool])
    free = np.ones(len(pool), dtype=bool)
    free[0] = False
    nearest = np.maximum(1.0 - x @ x[0], 0.0)  # cosine distance to the nearest chosen one
    chosen = [0]
    for _ in range(k - 1):
        far = free & (nearest >= nearest[free].max() * (1.0 - SLACK))
        best = int(np.argmax(far))  # the first of the farthest: pool order is score order
        chosen.append(best)
        free[best] = False
        nearest = np.minimum(nearest, np.maximum(1.0 - x @ x[best], 0.0))
    return pool[chosen]
