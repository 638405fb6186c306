"""Index samplers for both stages, per epoch and per distributed rank.

* :class:`InstanceSampler`: plain shuffling (every image equally likely; classes in proportion
  to their size). Epochs longer than the dataset chain several permutations.
* :class:`ClassBalancedSampler`: the paper's eq. (2), ``P(i) = 1/C * 1/n_{y_i}`` -- draw a class
  uniformly among the classes present, then an image of it uniformly (with replacement).

Both are ``torch.utils.data.Sampler`` objects yielding dataset indices. An epoch's global
sequence depends only on (seed, epoch); call :meth:`set_epoch` before each epoch. With
``world_size > 1`` rank ``r`` takes positions ``r, r + W, r + 2W, ...`` of that sequence, so the
ranks' shards are disjoint, equally long (``ceil(num_samples / W)``; the sequence is extended
by further draws when ``num_samples`` is not a multiple of W) and together form the
single-process sequence of the same length.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import Sampler

from scl_desktop.core.errors import ConfigError, DatasetError


class _EpochSampler(Sampler[int]):
    """Shared bookkeeping: labels, epoch length, seed/epoch, rank shard."""

    def __init__(self, labels: Sequence[int] | np.ndarray | torch.Tensor, num_samples: int | None = None,
                 seed: int = 0, rank: int = 0, world_size: int = 1) -> None:
        super().__init__()
        self.labels = np.asarray(labels.cpu() if isinstance(labels, torch.Tensor) else labels, dtype=np.int64).ravel()
        if self.labels.size == 0:
            raise DatasetError("there are no training images to sample from.",
                               "Check the split: its training part is empty.")
        self.num_samples = len(self.labels) if num_samples is None else int(num_samples)
        if self.num_samples < 1:
            raise ConfigError(f"samples per epoch {num_samples} is not positive.",
                              "Leave it empty (one pass over the data) or give a positive number.")
        if world_size < 1 or not 0 <= rank < world_size:
            raise ConfigError(f"rank {rank} of world size {world_size} is invalid.",
                              "Launch with torchrun, which sets RANK and WORLD_SIZE consistently.")
        self.seed, self.rank, self.world_size = int(seed), int(rank), int(world_size)
        self.epoch = 0
        self.total_size = math.ceil(self.num_samples / self.world_size) * self.world_size

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose order :meth:`__iter__` yields (same on every rank)."""
        self.epoch = int(epoch)

    def _global_indices(self, rng: np.random.Generator) -> np.ndarray:
        raise NotImplementedError

    def global_indices(self) -> np.ndarray:
        """The whole epoch's sequence over all ranks (``total_size`` indices)."""
        return self._global_indices(np.random.default_rng([self.seed, self.epoch]))

    def __iter__(self) -> Iterator[int]:
        return iter(self.global_indices()[self.rank::self.world_size].tolist())

    def __len__(self) -> int:
        return self.total_size // self.world_size


class InstanceSampler(_EpochSampler):
    """Uniform shuffling: a fresh random permutation of the dataset each epoch."""

    def _global_indices(self, rng: np.random.Generator) -> np.ndarray:
        n = len(self.labels)
        rounds = math.ceil(self.total_size / n)
        return np.concatenate([rng.permutation(n) for _ in range(rounds)])[: self.total_size]


class ClassBalancedSampler(_EpochSampler):
    """Class-balanced sampling (eq. 2): a uniformly drawn class, then a uniformly drawn image of it."""

    def __init__(self, labels: Sequence[int] | np.ndarray | torch.Tensor, num_samples: int | None = None,
                 seed: int = 0, rank: int = 0, world_size: int = 1) -> None:
        super().__init__(labels, num_samples, seed, rank, world_size)
        self._by_class = np.argsort(self.labels, kind="stable")  # indices grouped class by class
        _, self._counts = np.unique(self.labels, return_counts=True)
        self._starts = np.concatenate([[0], np.cumsum(self._counts)[:-1]])

    def _global_indices(self, rng: np.random.Generator) -> np.ndarray:
        cls = rng.integers(0, len(self._counts), size=self.total_size)
        within = np.minimum((rng.random(self.total_size) * self._counts[cls]).astype(np.int64), self._counts[cls] - 1)
        return self._by_class[self._starts[cls] + within]
