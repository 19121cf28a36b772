"""What the web app's buttons do, as plain functions over the stego library (no Gradio here).

Each request writes its results into a fresh folder under the app's work folder and returns paths and text for
the page. Errors are the library's, as the command-line tools print them (:func:`readable`: one line, with the
upload folders stripped from the file names they quote).
"""
from __future__ import annotations

import os
import tempfile
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from utils.image_io import to_uint8
from models.config import NetworkConfig
from inference.stego_model import StegoModel
from stego import RevealResult, default_key_path, hide_images, reveal_image, save_stego, write_secrets
from stego.cover import apply_cover_plan, plan_cover
from stego.images import declared_size, load_rgb, read_image_head
from utils.messages import error_message

DIFFERENCE_GAIN = 10          # the difference panel shows |stego - cover| x 10
PANEL_HEIGHT = 384            # comparison panels are shown at most this high
SEPARATOR = 8                 # white pixels between comparison panels


@dataclass(frozen=True)
class HideOutcome:
    """A finished hide: the stego PNG and key files, the comparison picture and a Markdown report."""
    stego_png: Path
    key_file: Path
    comparison: np.ndarray
    report: str


@dataclass(frozen=True)
class RevealOutcome:
    """A finished reveal: the revealed secrets as PNG files, all of them in one zip, and a Markdown report."""
    secret_pngs: list[Path]
    zip_file: Path
    report: str


def readable(err: BaseException, uploads: Sequence[str | os.PathLike | None]) -> str:
    """The error's one-line message (as the command-line tools print it) with each uploaded file's temporary
    path replaced by its file name."""
    message = error_message(err)
    for upload in sorted((Path(u) for u in uploads if u), key=lambda p: -len(str(p))):
        message = message.replace(str(upload), upload.name)
    return message


def request_folder(work_root: str | os.PathLike) -> Path:
    """A fresh, empty folder under ``work_root`` for one request's results."""
    return Path(tempfile.mkdtemp(prefix='request-', dir=work_root))


def stego_size_note(config: NetworkConfig, cover: str | os.PathLike | None, mode: str, max_pixels: int) -> str:
    """What the page says about the stego size: the rule, and for an uploaded cover the size it will have.

    Reads only the cover's header; raises :class:`StegoError` for a cover too large, unreadable or too small.
    """
    multiple_h, multiple_w = config.size_multiple
    rule = (f'The stego has the cover\'s size, {"center-cropped" if mode == "crop" else "reflect-padded"} to a '
            f'multiple of {multiple_h} x {multiple_w} (H x W).')
    if not cover:
        return rule
    path = Path(cover)
    plan = plan_cover(config, *declared_size(path, read_image_head(path, 'cover'), max_pixels), mode)
    height, width = plan.stego_size
    return f'**Stego size: {height} x {width}** (H x W): {plan.describe()}.'


def comparison_strip(cover: np.ndarray, stego: np.ndarray) -> np.ndarray:
    """cover | stego | 10x |stego - cover|, uint8 RGB, each panel at most :data:`PANEL_HEIGHT` high."""
    difference = np.abs(stego.astype(np.int16) - cover.astype(np.int16)) * DIFFERENCE_GAIN
    panels = [cover, stego, np.clip(difference, 0, 255).astype(np.uint8)]
    height, width = cover.shape[:2]
    if height > PANEL_HEIGHT:
        size = (max(1, round(width * PANEL_HEIGHT / height)), PANEL_HEIGHT)
        panels = [cv2.resize(p, size, interpolation=cv2.INTER_AREA) for p in panels]
    gap = np.full((panels[0].shape[0], SEPARATOR, 3), 255, np.uint8)
    return np.concatenate([panels[0], gap, panels[1], gap, panels[2]], axis=1)


def hide_report(metrics: dict[str, float], messages: Sequence[str], names: Sequence[str],
                warnings: Sequence[str] = ()) -> str:
    """Markdown: the stego PSNR, the secrets' PSNR as the receiver will get them, what fitting did, and what
    was lost from the inputs (``warnings``)."""
    lines = [f'**Stego vs cover PSNR: {metrics["stego_psnr"]:.2f} dB**', '',
             f'**Recovered secrets PSNR: {metrics["secret_psnr"]:.2f} dB** (mean; revealed from the 8-bit PNG at '
             f'their original sizes, as the receiver will get them; {metrics["secret_psnr_float"]:.2f} dB from the '
             f'unrounded stego)', '']
    lines += [f'- {name}: {metrics[f"secret_psnr_{i:02d}"]:.2f} dB' for i, name in enumerate(names, 1)]
    lines += [''] + [f'- {message}' for message in messages]
    lines += [f'- Warning: {warning}' for warning in warnings]
    return '\n'.join(lines)


def hide(model: StegoModel, cover: str | os.PathLike, secrets: Sequence[str | os.PathLike], mode: str,
         work_root: str | os.PathLike, max_pixels: int) -> HideOutcome:
    """Hide the uploaded secrets in the uploaded cover; write ``stego.png`` and ``stego.key.json``.

    The secrets keep their uploaded file names in the key. Raises :class:`StegoError`.
    """
    cover_float, cover_warnings = load_rgb(cover, 'cover', max_pixels)
    cover_image = to_uint8(cover_float)
    result = hide_images(model, cover_image, list(secrets), mode=mode, verify=True, max_pixels=max_pixels)
    folder = request_folder(work_root)
    stego_png = save_stego(folder / 'stego.png', result.stego)
    key_file = result.key.save(default_key_path(stego_png))
    comparison = comparison_strip(apply_cover_plan(cover_image, result.key.cover), result.stego)
    return HideOutcome(stego_png, key_file, comparison,
                       hide_report(result.metrics, result.messages, result.key.secret_names,
                                   cover_warnings + result.warnings))


def reveal_report(result: RevealResult) -> str:
    """Markdown: how many secrets came back, at which sizes, and the library's warnings."""
    if result.key is None:
        sizes = 'at the stego size (no key: their original sizes and names are unknown)'
    else:
        sizes = 'at their original sizes'
    lines = [f'**{len(result.secrets)} secrets revealed** {sizes}.']
    lines += [f'- Warning: {warning}' for warning in result.warnings]
    return '\n'.join(lines)


def reveal(model: StegoModel, stego: str | os.PathLike, key: str | os.PathLike | None,
           work_root: str | os.PathLike, max_pixels: int) -> RevealOutcome:
    """Reveal the secrets of an uploaded stego PNG (with its key file, if given); write them and a zip.

    Raises :class:`StegoError`.
    """
    result = reveal_image(model, stego, key, max_pixels=max_pixels)
    folder = request_folder(work_root)
    pngs = write_secrets(result, folder / 'secrets')
    zip_file = folder / 'revealed_secrets.zip'
    with zipfile.ZipFile(zip_file, 'w', compression=zipfile.ZIP_STORED) as archive:
        for png in pngs:
            archive.write(png, png.name)
    return RevealOutcome(pngs, zip_file, reveal_report(result))
