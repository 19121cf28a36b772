"""How a cover of any size becomes a stego of a size the grid accepts: a centred crop or a reflect padding.

The size rule itself is :class:`models.config.NetworkConfig`'s; this module only places the box. In ``crop`` mode
the box is the part of the original cover that was kept (in the original cover's pixels; its size is the stego
size). In ``pad`` mode it is where the whole original cover lies inside the stego (in the stego's pixels; its
size is the original size), the rest being reflect padding. Sizes are height x width.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from models.config import NetworkConfig, SizeError
from stego.errors import CoverSizeError

COVER_MODES = ('crop', 'pad')


@dataclass(frozen=True)
class Box:
    """A rectangle in pixels."""
    top: int
    left: int
    height: int
    width: int


@dataclass(frozen=True)
class CoverPlan:
    """How a cover of ``original_size`` becomes a stego of ``stego_size`` (see the module docstring for ``box``)."""
    mode: str
    original_size: tuple[int, int]
    stego_size: tuple[int, int]
    box: Box

    @property
    def changed(self) -> bool:
        """False when the cover already had a valid size and is used as it is."""
        return self.original_size != self.stego_size

    def describe(self) -> str:
        """One line for the user: original and used sizes, and where the cut or the padding is."""
        (oh, ow), (sh, sw), b = self.original_size, self.stego_size, self.box
        if not self.changed:
            return f'cover {oh} x {ow} (H x W) already fits the grid; used as it is'
        if self.mode == 'crop':
            return (f'cover {oh} x {ow} (H x W) center-cropped to {sh} x {sw}: kept rows {b.top}..{b.top + sh - 1}'
                    f', columns {b.left}..{b.left + sw - 1} (cut {b.top} top, {oh - sh - b.top} bottom, '
                    f'{b.left} left, {ow - sw - b.left} right)')
        return (f'cover {oh} x {ow} (H x W) reflect-padded to {sh} x {sw}: the cover lies at rows '
                f'{b.top}..{b.top + oh - 1}, columns {b.left}..{b.left + ow - 1} of the stego (padded {b.top} top, '
                f'{sh - oh - b.top} bottom, {b.left} left, {sw - ow - b.left} right)')

    def to_json(self) -> dict[str, Any]:
        """As stored in the key file."""
        b = self.box
        return {'mode': self.mode, 'original_size': {'height': self.original_size[0], 'width': self.original_size[1]},
                'box': {'top': b.top, 'left': b.left, 'height': b.height, 'width': b.width}}


def plan_cover(config: NetworkConfig, height: int, width: int, mode: str = 'crop') -> CoverPlan:
    """The largest centred crop (``crop``) or smallest centred reflect padding (``pad``) to a valid size."""
    if mode not in COVER_MODES:
        raise CoverSizeError(f'cover mode must be one of {list(COVER_MODES)}, got {mode!r}')
    if mode == 'crop':
        try:
            new_h, new_w = config.largest_valid_size(height, width)
        except SizeError as err:
            raise CoverSizeError(f'the cover is too small: {err}; use --mode pad (mode="pad") or a larger cover') \
                from err
        box = Box((height - new_h) // 2, (width - new_w) // 2, new_h, new_w)
    else:
        new_h, new_w = config.smallest_valid_size(height, width)
        box = Box((new_h - height) // 2, (new_w - width) // 2, height, width)
    return CoverPlan(mode, (height, width), (new_h, new_w), box)


def apply_cover_plan(image: np.ndarray, plan: CoverPlan) -> np.ndarray:
    """Crop or reflect-pad an HWC cover as ``plan`` says."""
    if tuple(image.shape[:2]) != plan.original_size:
        raise CoverSizeError(f'the plan is for a {plan.original_size} cover, got {image.shape[:2]}')
    b = plan.box
    if plan.mode == 'crop':
        return np.ascontiguousarray(image[b.top:b.top + b.height, b.left:b.left + b.width])
    (sh, sw), (oh, ow) = plan.stego_size, plan.original_size
    pads = ((b.top, sh - oh - b.top), (b.left, sw - ow - b.left), (0, 0))
    return np.pad(image, pads, mode='reflect' if min(oh, ow) > 1 else 'edge')
