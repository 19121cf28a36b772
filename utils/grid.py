"""The size rule of a scale_H x scale_W grid: a cover / stego splits into N = scale_H * scale_W tiles of even size.

Every tile is halved by the wavelet transform, so a stego's height and width must be multiples of 2 x scale_H and
2 x scale_W. The datasets (crop sizes), the tiling and the network configuration all ask a :class:`Grid`.
"""
from __future__ import annotations

from dataclasses import dataclass


class SizeError(ValueError):
    """An image size that a grid cannot split into even tiles."""


@dataclass(frozen=True)
class Grid:
    """A ``scale_h x scale_w`` grid of tiles (N = scale_h * scale_w secrets)."""
    scale_h: int
    scale_w: int

    def __post_init__(self) -> None:
        if self.scale_h < 1 or self.scale_w < 1:
            raise ValueError(f'the grid must be at least 1 x 1, got {self.scale_h} x {self.scale_w}')

    @property
    def num_images(self) -> int:
        """N, the number of secrets one stego holds."""
        return self.scale_h * self.scale_w

    @property
    def size_multiple(self) -> tuple[int, int]:
        """(height, width) multiples every cover / stego size must have."""
        return 2 * self.scale_h, 2 * self.scale_w

    def valid_size(self, height: int, width: int) -> bool:
        """Whether an H x W cover / stego splits into the grid's tiles of even size."""
        mh, mw = self.size_multiple
        return height > 0 and width > 0 and height % mh == 0 and width % mw == 0

    def largest_valid_size(self, height: int, width: int) -> tuple[int, int]:
        """The largest valid size not above H x W; SizeError when H x W is below the smallest valid size."""
        mh, mw = self.size_multiple
        new_h, new_w = height // mh * mh, width // mw * mw
        if new_h == 0 or new_w == 0:
            raise SizeError(f'{height} x {width} (H x W) is smaller than the smallest valid size {mh} x {mw} '
                            f'of a {self.scale_h} x {self.scale_w} grid')
        return new_h, new_w

    def smallest_valid_size(self, height: int, width: int) -> tuple[int, int]:
        """The smallest valid size not below H x W."""
        mh, mw = self.size_multiple
        return max(mh, -(-height // mh) * mh), max(mw, -(-width // mw) * mw)

    def check_size(self, height: int, width: int, what: str = 'image') -> None:
        """Raise :class:`SizeError` (naming ``what`` and nearby valid sizes) unless H x W is valid."""
        if self.valid_size(height, width):
            return
        mh, mw = self.size_multiple
        near_h, near_w = max(mh, height - height % mh), max(mw, width - width % mw)
        raise SizeError(
            f'{what} size {height} x {width} (H x W) does not fit a {self.scale_h} x {self.scale_w} grid: height '
            f'must be a multiple of {mh} and width a multiple of {mw} (2 x scale_H, 2 x scale_W), for example '
            f'{near_h} x {near_w} or {near_h + mh} x {near_w + mw}')
