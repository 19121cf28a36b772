"""Datasets and data loaders: a batch is one cover image followed by N secret images."""

from __future__ import annotations

import logging
import random
from types import MappingProxyType
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, default_collate

from utils.image_io import ImageReadError
from data.sampler import ResumableSampler
from data.steg_dataset import StegDataset

__all__ = ["DATASET_MODES", "ImageReadError", "StegDataset", "create_dataloader", "create_dataset"]

DATASET_MODES = MappingProxyType({"Steg": StegDataset, "LQGT": StegDataset})
"""Dataset classes by ``dataset_opt['mode']``."""

logger = logging.getLogger("invmihnet.data")


def create_dataset(dataset_opt: dict) -> StegDataset:
    """Build the dataset named by ``dataset_opt['mode']`` ('Steg' or 'LQGT')."""
    opt_key = dataset_opt.get("opt_key") or "dataset"
    mode = dataset_opt.get("mode")
    dataset_class = DATASET_MODES.get(mode) if isinstance(mode, str) else None
    if dataset_class is None:
        raise ValueError(f"{opt_key}.mode: unknown dataset mode {mode!r}; "
                         f"known modes: {', '.join(sorted(DATASET_MODES))}")
    dataset = dataset_class(dataset_opt)
    logger.info("Dataset [%s - %s] created with %d images.", dataset_class.__name__,
                dataset_opt.get("name"), len(dataset))
    return dataset


def seed_worker(worker_id: int) -> None:
    """DataLoader ``worker_init_fn``: seed ``random`` and numpy from the worker's torch seed.

    A worker's torch seed derives from the loader's generator, so a loader built with a
    seed gives the same random crops on every run.
    """
    seed = torch.initial_seed() % 2**32
    random.seed(seed)
    np.random.seed(seed)


def collate_same_size(samples: list[dict[str, Any]]) -> dict[str, Any]:
    """``default_collate`` that first checks that every image of the batch has one size."""
    shapes = {tuple(sample["GT"].shape) for sample in samples}
    if len(shapes) > 1:
        listing = ", ".join(f"{sample['GT_path']} {tuple(sample['GT'].shape[1:])}"
                            for sample in samples)
        raise ValueError(f"images of one batch must have the same size, got: {listing}; "
                         f"use center_crop or images of one size")
    return default_collate(samples)


def _replicas(dist: bool, rank: int | None, world_size: int | None) -> tuple[int, int]:
    """(number of processes, this process's rank) sharing the training set."""
    if not dist:
        return 1, 0
    if world_size is None:
        world_size = torch.distributed.get_world_size()
    if rank is None:
        rank = torch.distributed.get_rank()
    return world_size, rank


def create_dataloader(dataset: Dataset, dataset_opt: dict, num_images: int, dist: bool = False,
                      seed: int | None = None, rank: int | None = None,
                      world_size: int | None = None) -> DataLoader:
    """A loader whose batches hold ``num_images + 1`` samples: image 0 is the cover (in training
    ``sets_per_batch`` such sets one after another).

    Train: a ``ResumableSampler`` (``data.sampler``; shuffled unless ``use_shuffle`` is false), whose order is a
    function of (seed, epoch): the caller calls ``loader.sampler.set_epoch(epoch)`` (as
    for a ``DistributedSampler``) and may skip batches on resume. With ``dist`` each of
    ``world_size`` processes (default: from ``torch.distributed``) gets its own share.
    ``dataset_opt['n_workers']`` worker processes (default 0); only whole batches. Without
    ``seed`` the order is seeded from torch's global generator.
    Val/test: dataset order, last incomplete batch dropped, no worker processes unless
    ``n_workers`` is given. With ``seed`` the workers' ``random``/numpy seeds are
    reproducible too (from ``seed + rank``, so that ranks crop differently); without
    worker processes the crops use the process-wide ``random`` state, which the caller
    seeds.
    """
    opt_key = dataset_opt.get("opt_key") or "dataset"
    if isinstance(num_images, bool) or not isinstance(num_images, int) or num_images < 1:
        raise ValueError(f"num_images must be a positive integer, got {num_images!r}")
    phase = dataset_opt.get("phase")
    batch_size = (num_images + 1) * (dataset_opt.get("sets_per_batch", 1) if phase == "train" else 1)
    num_workers = int(dataset_opt.get("n_workers") or 0)
    if num_workers < 0:
        raise ValueError(f"{opt_key}.n_workers must be >= 0, got {num_workers}")

    sampler = None
    replicas, my_rank = 1, 0
    if phase == "train":
        replicas, my_rank = _replicas(dist, rank, world_size)
        order_seed = seed if seed is not None else int(torch.randint(0, 2**31 - 1, ()).item())
        sampler = ResumableSampler(len(dataset), batch_size, shuffle=dataset_opt.get("use_shuffle", True),
                                   seed=order_seed,
                                   num_replicas=replicas, rank=my_rank)

    generator = None
    if seed is not None:
        generator = torch.Generator()
        generator.manual_seed(seed + my_rank)

    if len(dataset) < batch_size * replicas:
        shared = f" shared by {replicas} processes" if replicas > 1 else ""
        raise ValueError(f"{opt_key}.dataroot_GT: {len(dataset)} images{shared}, fewer than one "
                         f"batch of {batch_size} (num_images + 1 per image set)" +
                         (" per process" if replicas > 1 else ""))

    return DataLoader(dataset, batch_size=batch_size, shuffle=False, sampler=sampler,
                      num_workers=num_workers, drop_last=True, generator=generator,
                      worker_init_fn=seed_worker, collate_fn=collate_same_size,
                      persistent_workers=num_workers > 0 and phase == "train")
