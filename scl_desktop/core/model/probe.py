"""A k-nearest-neighbour probe: how well an encoder's features separate the classes, with nothing trained.

Weighted kNN as in Wu et al. 2018 (instance discrimination; the usual probe of self-supervised
encoders): features are L2-normalised, each query's ``k`` most cosine-similar bank features vote
for their classes with weight ``exp(similarity / temperature)``, and the class with the largest
total wins. Torch only; works on whichever device the tensors are on.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

KNN_TEMPERATURE = 0.07
"""Temperature of the neighbours' vote weights (Wu et al. 2018)."""


def knn_predict(bank_features: torch.Tensor, bank_labels: torch.Tensor, query_features: torch.Tensor, k: int,
                num_classes: int, temperature: float = KNN_TEMPERATURE, chunk: int = 1024) -> torch.Tensor:
    """Predicted class index [M] of each query [M, D] by a weighted vote of its ``k`` nearest bank features [N, D].

    ``bank_labels`` [N] are class indices below ``num_classes``; ``k`` is capped at N. Queries are
    scored ``chunk`` at a time, so memory stays at ``chunk`` x N similarities.
    """
    bank = F.normalize(bank_features.float(), dim=1)
    labels = bank_labels.to(bank.device, torch.int64)
    k = max(1, min(int(k), bank.shape[0]))
    predicted = []
    for start in range(0, query_features.shape[0], chunk):
        queries = F.normalize(query_features[start:start + chunk].float().to(bank.device), dim=1)
        similarity, nearest = (queries @ bank.T).topk(k, dim=1)
        votes = torch.zeros(queries.shape[0], num_classes, device=bank.device)
        votes.scatter_add_(1, labels[nearest], (similarity / temperature).exp())
        predicted.append(votes.argmax(dim=1))
    return torch.cat(predicted) if predicted else torch.empty(0, dtype=torch.int64, device=bank.device)
