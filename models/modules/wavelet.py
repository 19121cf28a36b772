"""Orthonormal Haar DWT / IWT: the hiding network works on the wavelet coefficients of cover and secret tiles.

Output channels are subband-major: cat(LL, HL, LH, HH), each with the input's C channels. This differs from
the IIR Haar operation in scaling and layout.
"""
from __future__ import annotations

import torch


def dwt(x: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) -> (B, 4C, H/2, W/2)."""
    h, w = x.shape[-2:]
    if h % 2 or w % 2:
        raise ValueError(f'DWT needs even height and width, got {h} x {w}')
    a = x[:, :, 0::2, 0::2] / 2
    b = x[:, :, 1::2, 0::2] / 2
    c = x[:, :, 0::2, 1::2] / 2
    d = x[:, :, 1::2, 1::2] / 2
    return torch.cat((a + b + c + d, -a - b + c + d, -a + b - c + d, a - b - c + d), 1)


def iwt(x: torch.Tensor) -> torch.Tensor:
    """(B, 4C, h, w) -> (B, C, 2h, 2w), the exact inverse of :func:`dwt`."""
    bsz, c4, h, w = x.shape
    c = c4 // 4
    ll, hl, lh, hh = (x[:, i * c:(i + 1) * c] / 2 for i in range(4))
    out = x.new_empty(bsz, c, 2 * h, 2 * w)
    out[:, :, 0::2, 0::2] = ll - hl - lh + hh
    out[:, :, 1::2, 0::2] = ll - hl + lh - hh
    out[:, :, 0::2, 1::2] = ll + hl - lh - hh
    out[:, :, 1::2, 1::2] = ll + hl + lh + hh
    return out
