"""Named distortions of a stego image: what may happen to it between the sender and the receiver.

One name describes one distortion, used in two places:

- ``test.attacks`` (``test.py``): :func:`attack` applies it to the saved 8-bit stego, with real encoders, and
  returns an 8-bit image again, as a receiver would get it;
- ``train.distortions``: :class:`TrainingDistortions` applies each listed distortion with its probability to the
  stego in the training forward, between hiding and revealing, with a gradient.

Names (``VALID_FORMS``): ``none``; ``jpeg<Q>`` (JPEG at quality Q, 4:2:0 chroma as common encoders write it);
``jpeg<Q>_444`` (full-resolution chroma); ``gaussian<sigma>`` (additive Gaussian noise, sigma on the 0-255
scale); ``resize<f>`` (bicubic down to f times the size and back); ``cropout<p>`` (keep the central p% of the
area, the border black, the size unchanged); ``brightness<d>`` (add d/255, clipped).
"""
from __future__ import annotations

import io
import math
import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from utils.image_io import hwc_to_chw, to_uint8

VALID_FORMS = ('none', 'jpeg<Q> (Q 1..100, 4:2:0 chroma)', 'jpeg<Q>_444 (Q 1..100, full chroma)',
               'gaussian<sigma> (sigma >= 0 on the 0-255 scale)', 'resize<f> (0 < f <= 1)',
               'cropout<p> (0 < p <= 100, percent of the area kept)', 'brightness<d> (-255 <= d <= 255)')

_NUMBER = r'(\d+(?:\.\d+)?|\.\d+)'
_PATTERNS = {
    'none': re.compile(r'none'),
    'jpeg': re.compile(r'jpeg(\d+)(_444)?'),
    'gaussian': re.compile(r'gaussian' + _NUMBER),
    'resize': re.compile(r'resize' + _NUMBER),
    'cropout': re.compile(r'cropout' + _NUMBER),
    'brightness': re.compile(r'brightness(-?(?:\d+(?:\.\d+)?|\.\d+))'),
}
_RANGES = {'jpeg': (1, 100, True), 'gaussian': (0, math.inf, True), 'resize': (0, 1, False),
           'cropout': (0, 100, False), 'brightness': (-255, 255, True)}


class DistortionError(ValueError):
    """A malformed distortion name or entry; the message lists the valid forms."""


@dataclass(frozen=True)
class Distortion:
    """One parsed distortion: ``kind`` (none, jpeg, gaussian, resize, cropout, brightness) and its ``value``."""
    name: str
    kind: str
    value: float = 0.0
    chroma_444: bool = False


def parse_distortion(name: Any) -> Distortion:
    """Parse a name such as ``jpeg90``, ``jpeg75_444``, ``gaussian2``, ``resize0.5``, ``cropout50``."""
    if isinstance(name, str):
        for kind, pattern in _PATTERNS.items():
            match = pattern.fullmatch(name)
            if match is None:
                continue
            if kind == 'none':
                return Distortion(name, kind)
            value = float(match.group(1))
            low, high, low_inclusive = _RANGES[kind]
            if value > high or value < low or (value == low and not low_inclusive):
                break
            return Distortion(name, kind, value, chroma_444=kind == 'jpeg' and match.group(2) is not None)
    raise DistortionError(f'malformed distortion name {name!r}; valid forms: {", ".join(VALID_FORMS)}')


# ---------------------------------------------------------------- the operations on a batch (B, 3, H, W)
def jpeg_codec(images: torch.Tensor, quality: int, chroma_444: bool = False) -> torch.Tensor:
    """Real JPEG encode / decode with Pillow (libjpeg) of images in [0, 1]; returns 8-bit levels k / 255."""
    out = []
    for image in images.detach():
        pixels = to_uint8(image)
        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, format='JPEG', quality=quality, subsampling=0 if chroma_444 else 2)
        decoded = np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert('RGB'))
        out.append(hwc_to_chw(decoded))
    return torch.stack(out).to(device=images.device, dtype=images.dtype)


def resize_and_back(images: torch.Tensor, factor: float) -> torch.Tensor:
    """Bicubic (antialiased) down to ``factor`` times the size and bicubic back: the shape is kept."""
    height, width = images.shape[-2:]
    small = (max(1, round(height * factor)), max(1, round(width * factor)))
    down = F.interpolate(images, size=small, mode='bicubic', align_corners=False, antialias=True)
    return F.interpolate(down, size=(height, width), mode='bicubic', align_corners=False)


def cropout_mask(height: int, width: int, percent: float, like: torch.Tensor) -> torch.Tensor:
    """1 on the central rectangle of ``percent`` % of the area (same aspect ratio), 0 on the border."""
    side = math.sqrt(percent / 100.0)
    keep_h, keep_w = max(1, round(height * side)), max(1, round(width * side))
    top, left = (height - keep_h) // 2, (width - keep_w) // 2
    mask = torch.zeros(1, 1, height, width, dtype=like.dtype, device=like.device)
    mask[..., top:top + keep_h, left:left + keep_w] = 1
    return mask


def _noise(images: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    if generator is None:
        return torch.randn_like(images)
    return torch.randn(images.shape, generator=generator, device=generator.device,
                       dtype=images.dtype).to(images.device)


def distort(images: torch.Tensor, distortion: Distortion, generator: torch.Generator | None = None) -> torch.Tensor:
    """Apply ``distortion`` to images (B, 3, H, W) in [0, 1] with a gradient (JPEG: straight-through).

    The result is not rounded; :func:`attack` rounds it, the training channel quantizes it when revealing from
    the PNG.
    """
    kind, value = distortion.kind, distortion.value
    if kind == 'none':
        return images
    if kind == 'jpeg':
        # Straight-through: the forward is the real JPEG codec, exactly what a receiver gets (and what
        # test.attacks measures); the gradient is the identity ("forward ASL" in robust watermarking). kornia's
        # jpeg_codec_differentiable models the codec instead: its output is measurably less lossy than
        # libjpeg's, it costs several times more per call (forward + backward), and it would be a new dependency.
        return images + (jpeg_codec(images, int(value), distortion.chroma_444) - images).detach()
    if kind == 'gaussian':
        return images + value / 255.0 * _noise(images, generator)
    if kind == 'resize':
        return resize_and_back(images, value)
    if kind == 'cropout':
        return images * cropout_mask(images.shape[-2], images.shape[-1], value, images)
    if kind == 'brightness':
        return torch.clamp(images + value / 255.0, 0, 1)
    raise DistortionError(f'unknown distortion kind {kind!r}')


def attack(stego: torch.Tensor, distortion: Distortion, generator: torch.Generator | None = None) -> torch.Tensor:
    """The test-time attack on an 8-bit stego (B, 3, H, W) or (3, H, W): distorted, rounded to 8-bit levels and
    clipped, as the receiver's file holds it. Noise is drawn from ``generator`` (seeded by the caller)."""
    batch = stego.unsqueeze(0) if stego.dim() == 3 else stego
    with torch.no_grad():
        out = torch.round(distort(batch, distortion, generator).clamp(0, 1) * 255.0) / 255.0
    return out[0] if stego.dim() == 3 else out


# ---------------------------------------------------------------- training
@dataclass(frozen=True)
class RandomDistortion:
    """A distortion applied with probability ``p`` in each training step."""
    distortion: Distortion
    p: float


def parse_training_distortions(entries: Any, key: str = 'train.distortions') -> list[RandomDistortion]:
    """Parse the ``train.distortions`` option: a list of ``{name: <distortion>, p: <probability>}``."""
    if not isinstance(entries, list):
        raise DistortionError(f'{key} must be a list of {{name: <distortion>, p: <probability>}}, got {entries!r}')
    parsed = []
    for index, entry in enumerate(entries):
        where = f'{key}[{index}]'
        if not isinstance(entry, dict) or set(entry) != {'name', 'p'}:
            raise DistortionError(f'{where} must be a mapping with exactly the keys name and p, got {entry!r}')
        p = entry['p']
        if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0 < p <= 1:
            raise DistortionError(f'{where}.p must be a probability in (0, 1], got {p!r}')
        try:
            distortion = parse_distortion(entry['name'])
        except DistortionError as err:
            raise DistortionError(f'{where}.name: {err}') from None
        parsed.append(RandomDistortion(distortion, float(p)))
    return parsed


class TrainingDistortions:
    """The training channel's distortions: each entry is applied, in order, with its probability.

    The draws come from Torch's global generator, so they are seeded by ``train.manual_seed`` and resumed with
    the training state.
    """

    def __init__(self, entries: list[RandomDistortion]) -> None:
        self.entries = list(entries)

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        for entry in self.entries:
            if torch.rand(()).item() < entry.p:
                images = distort(images, entry.distortion)
        return images

    def describe(self) -> str:
        """``jpeg90 (p=0.5), gaussian2 (p=0.5)``, or ``none``."""
        return ', '.join(f'{e.distortion.name} (p={e.p:g})' for e in self.entries) or 'none'
