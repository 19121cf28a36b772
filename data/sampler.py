"""A resumable, distributable sampler: the order of every epoch is a function of (seed, epoch) alone, so a run
resumed in the middle of an epoch sees exactly the batches an uninterrupted run would."""
from __future__ import annotations

from typing import Iterator

import torch
from torch.utils.data import Sampler


class ResumableSampler(Sampler[int]):
    """Indices for whole batches of ``batch_size``; with ``num_replicas > 1`` every rank gets its own share of the
    same permutation and the same number of batches (like DistributedSampler, with drop_last)."""

    def __init__(self, data_len: int, batch_size: int, shuffle: bool = True, seed: int = 0,
                 num_replicas: int = 1, rank: int = 0) -> None:
        if not 0 <= rank < num_replicas:
            raise ValueError(f'rank {rank} must lie in [0, {num_replicas})')
        self.data_len = data_len
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed
        self.num_replicas = num_replicas
        self.rank = rank
        self.epoch = 0
        self.start_batch = 0

    @property
    def batches_per_epoch(self) -> int:
        """Whole batches each rank sees in one epoch."""
        return self.data_len // (self.batch_size * self.num_replicas)

    def set_epoch(self, epoch: int, start_batch: int = 0) -> None:
        """Select the epoch's permutation and skip its first ``start_batch`` batches (for resuming)."""
        self.epoch = epoch
        self.start_batch = start_batch

    def __iter__(self) -> Iterator[int]:
        if self.shuffle:
            generator = torch.Generator().manual_seed(self.seed + self.epoch)
            order = torch.randperm(self.data_len, generator=generator).tolist()
        else:
            order = list(range(self.data_len))
        used = self.batches_per_epoch * self.batch_size * self.num_replicas
        mine = order[:used][self.rank::self.num_replicas]
        return iter(mine[self.start_batch * self.batch_size:])

    def __len__(self) -> int:
        return (self.batches_per_epoch - self.start_batch) * self.batch_size
