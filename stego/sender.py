"""The sender's side: fit a cover and N secrets to the grid, hide, and describe what was done."""
from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from inference.round_trip import round_trip
from inference.stego_model import StegoModel
from stego.cover import COVER_MODES, apply_cover_plan, plan_cover
from stego.errors import CoverSizeError, SecretCountError
from stego.images import DEFAULT_MAX_PIXELS, ImageSource, load_rgb
from stego.key import StegoKey, pixels_sha256, weights_sha256
from stego.model import model_reference
from utils.image_io import hwc_to_chw, resize_image, to_uint8
from utils.metrics import psnr

ASPECT_TOLERANCE = 0.01      # a relative change of W / H below this is not reported


@dataclass
class HideResult:
    """The stego (HxWx3 uint8 RGB), its key, what hiding did to the cover and each secret, and metrics.

    ``metrics`` always holds ``stego_psnr`` (dB, stego vs the cropped / padded cover). With ``verify=True`` it
    also holds ``secret_psnr`` (mean PSNR of the secrets revealed from the 8-bit stego, measured at their
    original sizes against the originals, as the receiver gets them), ``secret_psnr_float`` (the same revealed
    from the unquantized stego) and per secret ``secret_psnr_01`` ... / ``secret_psnr_float_01`` ...
    ``warnings`` says what was silently lost from the inputs (an alpha channel).
    """
    stego: np.ndarray
    key: StegoKey
    messages: list[str] = field(default_factory=list)
    metrics: dict[str, float] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def describe_fit(index: int, name: str, original: tuple[int, int], fitted: tuple[int, int]) -> str:
    """One line saying what fitting a secret to the stego size did to it."""
    (oh, ow), (h, w) = original, fitted
    label = f'secret {index:02d} {name}: {oh} x {ow} (H x W)'
    if (oh, ow) == (h, w):
        return f'{label}, hidden at its own size'
    if h <= oh and w <= ow:
        change = f'shrunk to {h} x {w} ({100 * h * w / (oh * ow):.1f}% of its pixels; the detail lost does not come back)'
    elif h >= oh and w >= ow:
        change = f'enlarged to {h} x {w}'
    else:
        change = f'resized to {h} x {w} (shrunk along one axis, so some detail is lost)'
    before, after = ow / oh, w / h
    if abs(after / before - 1) > ASPECT_TOLERANCE:
        change += f'; aspect ratio changed from {before:.3f} to {after:.3f} (W / H)'
    return f'{label} {change} to fit the stego; reveal restores {oh} x {ow}'


def _secret_names(secrets: Sequence[ImageSource], names: Sequence[str] | None) -> list[str]:
    if names is not None:
        if len(names) != len(secrets) or not all(isinstance(n, str) for n in names):
            raise SecretCountError(f'secret_names must give {len(secrets)} strings, got {names!r}')
        return list(names)
    return [f'secret_{i:02d}.png' if isinstance(s, np.ndarray) else Path(s).name for i, s in enumerate(secrets, 1)]


def hide_images(model: StegoModel, cover: ImageSource, secrets: Sequence[ImageSource], *,
                secret_names: Sequence[str] | None = None, mode: str = 'crop', verify: bool = False,
                max_pixels: int = DEFAULT_MAX_PIXELS, seed: int = 0) -> HideResult:
    """Hide N secrets (files or HxWx3 uint8 RGB arrays) in a cover of any size.

    The cover is fitted to the grid by a centred crop (``mode='crop'``) or reflect padding (``'pad'``); the
    secrets are resized to the stego size. ``verify`` also reveals (noise seeded by ``seed``) from the 8-bit and
    the float stego and reports the secrets' PSNR at their original sizes. Raises :class:`StegoError`
    subclasses for a wrong secret count, a cover too small for the grid, an image over ``max_pixels`` or an
    unreadable image. Nothing is written: see :func:`stego.save_stego` and :meth:`StegoKey.save`.
    """
    config = model.network_config
    if isinstance(secrets, (str, os.PathLike, np.ndarray)):
        raise SecretCountError(f'secrets must be a sequence of {config.num_images} images, got one {type(secrets)}')
    if len(secrets) != config.num_images:
        raise SecretCountError(f'{config.describe()} hides exactly N={config.num_images} secrets, got {len(secrets)}')
    if mode not in COVER_MODES:
        raise CoverSizeError(f'mode must be one of {list(COVER_MODES)}, got {mode!r}')
    names = _secret_names(secrets, secret_names)
    cover_image, found = load_rgb(cover, 'cover', max_pixels)
    originals = []
    for i, secret in enumerate(secrets, 1):
        image, secret_warnings = load_rgb(secret, f'secret {i}', max_pixels)
        originals.append(image)
        found += secret_warnings
    plan = plan_cover(config, *cover_image.shape[:2], mode)
    fitted_cover = apply_cover_plan(cover_image, plan)
    height, width = plan.stego_size
    sizes = [(s.shape[0], s.shape[1]) for s in originals]
    fitted = [resize_image(s, height, width) for s in originals]

    cover_tensor = hwc_to_chw(fitted_cover)[None]
    secret_tensor = torch.stack([hwc_to_chw(s) for s in fitted])
    hidden = model.hide(cover_tensor, secret_tensor)
    stego = to_uint8(hidden.stego[0])
    key = StegoKey(config=config, stego_size=(height, width), stego_sha256=pixels_sha256(stego),
                   secret_sizes=tuple(sizes), secret_names=tuple(names), cover=plan,
                   iir_sha256=weights_sha256(model.net.iir), iih_sha256=weights_sha256(model.net.iih),
                   model=model_reference(model))
    messages = [plan.describe()] + [describe_fit(i, n, s, (height, width))
                                    for i, (n, s) in enumerate(zip(names, sizes), 1)]
    metrics = {'stego_psnr': psnr(to_uint8(fitted_cover), stego)}
    for label, reveal_from in (('secret_psnr', 'png'), ('secret_psnr_float', 'float')) if verify else ():
        values = round_trip(model, cover_tensor, secret_tensor, originals=originals, reveal_from=reveal_from,
                            generator=torch.Generator().manual_seed(seed), hidden=hidden).psnrs()
        metrics[label] = float(np.mean(values)) if all(map(math.isfinite, values)) else math.inf
        metrics.update({f'{label}_{i:02d}': v for i, v in enumerate(values, 1)})
    return HideResult(stego=stego, key=key, messages=messages, metrics=metrics, warnings=found)
