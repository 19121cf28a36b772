"""The one place where the compute device is decided."""
from __future__ import annotations

import torch


def select_device(gpu_ids: list[int] | None, local_rank: int | None = None) -> torch.device:
    """CUDA when ``gpu_ids`` is set and CUDA is present (``cuda:<local_rank>`` under a distributed launcher,
    else the first listed id), otherwise the CPU. ``CUDA_VISIBLE_DEVICES`` is left as the user set it."""
    if gpu_ids and torch.cuda.is_available():
        index = local_rank if local_rank is not None else gpu_ids[0]
        if index >= torch.cuda.device_count():
            raise ValueError(f'gpu_ids asks for cuda:{index} but only {torch.cuda.device_count()} CUDA '
                             f'device(s) are visible')
        return torch.device('cuda', index)
    return torch.device('cpu')
