"""Mixed precision (options ``train.precision`` and ``test.precision``): fp32, bf16 or fp16 subnets.

Only the subnets' hidden convolutions run in the low precision (autocast inside each coupling block's subnet call;
each subnet's output convolution, which writes s and t, runs in fp32: see ``DenseSubnet``). The coupling arithmetic
(exp of the clamped scale, the division of the reverse, the additions), the Haar / Conv downsampling with its matrix
inverse, the DWT and the quantization stay in fp32, so the networks stay invertible to fp32 rounding whatever the
subnets compute.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from models.modules.coupling import AffineCouplingBlock

PRECISIONS = {'fp32': None, 'bf16': torch.bfloat16, 'fp16': torch.float16}


def subnet_dtype(precision: str, device: torch.device, key: str = 'precision') -> torch.dtype | None:
    """The subnets' autocast dtype for ``precision`` on ``device`` (None for fp32).

    Raises ValueError naming ``key`` for an unknown precision, or fp16 off CUDA (fp16 needs a grad scaler and
    CUDA kernels; on the CPU use bf16).
    """
    if precision not in PRECISIONS:
        raise ValueError(f'{key} must be one of {list(PRECISIONS)}, got {precision!r}')
    if precision == 'fp16' and device.type != 'cuda':
        raise ValueError(f'{key}: fp16 runs only on CUDA (with a gradient scaler), not on {device}; '
                         f'use bf16 or fp32 there')
    return PRECISIONS[precision]


def set_subnet_precision(net: nn.Module, dtype: torch.dtype | None) -> None:
    """Make every coupling block of ``net`` run its subnets in ``dtype`` (None: fp32)."""
    for module in net.modules():
        if isinstance(module, AffineCouplingBlock):
            module.subnet_dtype = dtype


def grad_scaler(precision: str, device: torch.device) -> torch.amp.GradScaler | None:
    """A gradient scaler for fp16 training (None otherwise: fp32 and bf16 need none)."""
    return torch.amp.GradScaler(device.type) if precision == 'fp16' else None
