"""Class-balanced (eq. 2) and instance samplers: frequencies, determinism, epochs, DDP shards."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from scl_desktop.core.errors import ConfigError, DatasetError
from scl_desktop.core.model.samplers import ClassBalancedSampler, InstanceSampler

LABELS = np.array([0] * 100 + [1] * 10 + [2] * 2 + [5] * 8)  # imbalanced, with a gap in the label ids


def _chi_square(observed: np.ndarray, expected: np.ndarray) -> float:
    return float(((observed - expected) ** 2 / expected).sum())


def test_class_balanced_frequencies_are_uniform_over_classes():
    sampler = ClassBalancedSampler(LABELS, num_samples=4000, seed=0)
    idx = np.fromiter(sampler, dtype=np.int64)
    assert len(idx) == len(sampler) == 4000
    per_class = np.array([(LABELS[idx] == c).sum() for c in (0, 1, 2, 5)])
    assert _chi_square(per_class, np.full(4, 1000.0)) < 16.3  # chi2(3 dof), p = 0.001
    # within a class every image is equally likely: class 2's two images ~500 each
    in_class_2 = idx[LABELS[idx] == 2]
    counts = np.bincount(in_class_2 - 110, minlength=2)
    assert _chi_square(counts, np.full(2, counts.sum() / 2)) < 10.8  # chi2(1 dof), p = 0.001


def test_instance_sampler_is_a_permutation_with_class_proportional_frequencies():
    sampler = InstanceSampler(LABELS, seed=0)
    idx = list(sampler)
    assert sorted(idx) == list(range(len(LABELS)))
    assert idx != list(range(len(LABELS)))
    longer = np.fromiter(InstanceSampler(LABELS, num_samples=3 * len(LABELS) + 7, seed=1), dtype=np.int64)
    counts = np.bincount(longer, minlength=len(LABELS))
    assert counts.min() >= 3 and counts.max() <= 4  # whole permutations, then part of a fourth
    per_class = np.bincount(LABELS[longer])[[0, 1, 2, 5]]
    assert np.allclose(per_class / len(longer), np.array([100, 10, 2, 8]) / 120, atol=0.01)


@pytest.mark.parametrize("cls", [InstanceSampler, ClassBalancedSampler])
def test_determinism_and_set_epoch(cls):
    a, b = cls(LABELS, seed=3), cls(LABELS, seed=3)
    assert list(a) == list(b)
    assert list(a) == list(a)  # iterating again gives the same epoch
    first = list(a)
    a.set_epoch(1)
    assert list(a) != first
    b.set_epoch(1)
    assert list(a) == list(b)
    assert list(cls(LABELS, seed=4)) != first


@pytest.mark.parametrize("cls", [InstanceSampler, ClassBalancedSampler])
@pytest.mark.parametrize("world", [2, 3, 4])
def test_rank_shards_are_disjoint_equal_and_form_the_single_process_epoch(cls, world):
    total = 120  # divisible by 2, 3 and 4
    single = cls(LABELS, num_samples=total, seed=5)
    single.set_epoch(2)
    shards = []
    for rank in range(world):
        s = cls(LABELS, num_samples=total, seed=5, rank=rank, world_size=world)
        s.set_epoch(2)
        shards.append(list(s))
        assert len(s) == total // world == len(shards[-1])
    # positions r, r + W, ... of the global sequence: interleaving the shards gives it back
    rebuilt = [shards[p % world][p // world] for p in range(total)]
    assert rebuilt == list(single)


def test_uneven_split_pads_every_rank_to_the_same_length():
    shards = [list(InstanceSampler(LABELS, num_samples=7, seed=0, rank=r, world_size=3)) for r in range(3)]
    assert [len(s) for s in shards] == [3, 3, 3]


def test_works_with_a_dataloader_and_tensor_labels():
    labels = torch.tensor([0, 0, 0, 1])
    loader = DataLoader(TensorDataset(torch.arange(4)), batch_size=2, sampler=ClassBalancedSampler(labels, seed=0))
    batches = [b[0] for b in loader]
    assert sum(len(b) for b in batches) == 4


def test_bad_arguments():
    with pytest.raises(DatasetError):
        InstanceSampler([])
    with pytest.raises(ConfigError):
        ClassBalancedSampler(LABELS, num_samples=0)
    with pytest.raises(ConfigError):
        InstanceSampler(LABELS, rank=2, world_size=2)
