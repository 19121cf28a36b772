"""Cutting a cover into a scale_H x scale_W grid of tiles (row-major) and putting stego tiles back."""
from __future__ import annotations

import torch

from models.config import NetworkConfig


def to_tiles(image: torch.Tensor, scale_h: int, scale_w: int) -> torch.Tensor:
    """(1, C, H, W) or (C, H, W) -> (scale_H * scale_W, C, H / scale_H, W / scale_W); tile i at row i // scale_W,
    column i % scale_W. H and W must obey the grid's size rule (:meth:`NetworkConfig.check_size`)."""
    if image.dim() == 3:
        image = image.unsqueeze(0)
    if image.dim() != 4 or image.shape[0] != 1:
        raise ValueError(f'to_tiles takes one image of shape (1, C, H, W), got {tuple(image.shape)}')
    _, c, height, width = image.shape
    NetworkConfig.of_grid(scale_h, scale_w).check_size(height, width)
    h, w = height // scale_h, width // scale_w
    tiles = image.reshape(c, scale_h, h, scale_w, w).permute(1, 3, 0, 2, 4)
    return tiles.reshape(scale_h * scale_w, c, h, w)


def from_tiles(tiles: torch.Tensor, scale_h: int, scale_w: int) -> torch.Tensor:
    """(scale_H * scale_W, C, h, w) -> (1, C, h * scale_H, w * scale_W), the inverse of :func:`to_tiles`."""
    n, c, h, w = tiles.shape
    if n != scale_h * scale_w:
        raise ValueError(f'a {scale_h} x {scale_w} grid needs {scale_h * scale_w} tiles, got {n}')
    image = tiles.reshape(scale_h, scale_w, c, h, w).permute(2, 0, 3, 1, 4)
    return image.reshape(1, c, scale_h * h, scale_w * w)
