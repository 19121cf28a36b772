"""Cutting a cover into a scale_H x scale_W grid of tiles (row-major) and putting stego tiles back."""
from __future__ import annotations

import torch

from utils.grid import Grid


def to_tiles(image: torch.Tensor, scale_h: int, scale_w: int) -> torch.Tensor:
    """(B, C, H, W) or (C, H, W) -> (B * scale_H * scale_W, C, H / scale_H, W / scale_W); tile i of image b at
    index b * N + i, row i // scale_W, column i % scale_W (N = scale_H * scale_W). H and W must obey the grid's size
    rule (:meth:`utils.grid.Grid.check_size`)."""
    if image.dim() == 3:
        image = image.unsqueeze(0)
    if image.dim() != 4:
        raise ValueError(f'to_tiles takes images of shape (B, C, H, W), got {tuple(image.shape)}')
    b, c, height, width = image.shape
    Grid(scale_h, scale_w).check_size(height, width)
    h, w = height // scale_h, width // scale_w
    tiles = image.reshape(b, c, scale_h, h, scale_w, w).permute(0, 2, 4, 1, 3, 5)
    return tiles.reshape(b * scale_h * scale_w, c, h, w)


def from_tiles(tiles: torch.Tensor, scale_h: int, scale_w: int) -> torch.Tensor:
    """(B * scale_H * scale_W, C, h, w) -> (B, C, h * scale_H, w * scale_W), the inverse of :func:`to_tiles`."""
    n, c, h, w = tiles.shape
    if n == 0 or n % (scale_h * scale_w):
        raise ValueError(f'a {scale_h} x {scale_w} grid needs {scale_h * scale_w} tiles per image, got {n}')
    image = tiles.reshape(n // (scale_h * scale_w), scale_h, scale_w, c, h, w).permute(0, 3, 1, 4, 2, 5)
    return image.reshape(n // (scale_h * scale_w), c, scale_h * h, scale_w * w)
