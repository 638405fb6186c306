"""The weighted kNN vote of the encoder probe on hand-made features."""

from __future__ import annotations

import math

import torch

from scl_desktop.core.model.probe import KNN_TEMPERATURE, knn_predict


def test_neighbours_vote_with_their_similarity():
    bank = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.1, 1.0]])  # class 0 on the x axis, class 1 near the y axis
    labels = torch.tensor([0, 1, 1])
    query = torch.tensor([[1.0, 0.05]])
    assert knn_predict(bank, labels, query, k=3, num_classes=2).tolist() == [0]  # one near vote beats two far ones
    close_pair = torch.tensor([[1.0, 0.0], [0.99, 0.141], [0.99, -0.141]])  # class 0, then two of class 1
    x_axis = torch.tensor([[1.0, 0.0]])
    assert knn_predict(close_pair, labels, x_axis, k=1, num_classes=2).tolist() == [0]  # the nearest alone
    assert knn_predict(close_pair, labels, x_axis, k=3, num_classes=2).tolist() == [1]  # two almost as near win
    assert 2 * math.exp(0.99 / KNN_TEMPERATURE) > math.exp(1.0 / KNN_TEMPERATURE)  # why


def test_cosine_similarity_ignores_the_length_of_the_features():
    bank = torch.tensor([[10.0, 0.0], [0.0, 0.01]])
    labels = torch.tensor([0, 1])
    assert knn_predict(bank, labels, torch.tensor([[0.01, 1.0], [5.0, 0.1]]), k=1, num_classes=2).tolist() == [1, 0]


def test_k_is_capped_at_the_bank_and_chunks_do_not_change_the_answer():
    generator = torch.Generator().manual_seed(0)
    bank = torch.randn(30, 8, generator=generator)
    labels = torch.randint(0, 4, (30,), generator=generator)
    queries = torch.randn(50, 8, generator=generator)
    whole = knn_predict(bank, labels, queries, k=5, num_classes=4)
    assert torch.equal(knn_predict(bank, labels, queries, k=5, num_classes=4, chunk=7), whole)
    assert whole.shape == (50,) and whole.dtype == torch.int64
    everyone = knn_predict(bank, labels, queries, k=1000, num_classes=4)  # every bank feature votes
    assert torch.equal(everyone, knn_predict(bank, labels, queries, k=30, num_classes=4))
    assert knn_predict(bank, labels, queries[:0], k=5, num_classes=4).shape == (0,)
