"""Stego PNG files: cover geometry, secret resizing, the metadata that ``hide.py`` writes and ``reveal.py`` reads.

A stego image is an 8-bit RGB PNG. Its text chunks carry everything the receiver needs; every key starts with
``InvMIHNet:`` and every value is JSON (ASCII):

==================================  =======================================================================
``InvMIHNet:format``                ``"InvMIHNet-stego"`` (the format tag)
``InvMIHNet:version``               ``1``
``InvMIHNet:num_images``            N, the number of hidden secrets
``InvMIHNet:scale_H`` / ``scale_W``   the tile grid (N = scale_H * scale_W)
``InvMIHNet:stego_size``            ``{"height": H, "width": W}``, the size of the stego image
``InvMIHNet:secret_sizes``          N x ``{"height": h, "width": w}``, each secret's original size
``InvMIHNet:secret_names``          N file names (no folders) of the secrets, in hiding order
``InvMIHNet:cover``                 ``{"mode": "crop" | "pad", "original_size": {...}, "box": {...}}``
``InvMIHNet:fingerprint``           the network configuration (see :func:`config_fingerprint`)
``InvMIHNet:hide_report``           what ``hide.py`` measured: seed, gaussian_scale, stego PSNR and the
                                    secrets' PSNR revealed from the 8-bit PNG and from the float stego
==================================  =======================================================================

The cover ``box`` is ``{"top", "left", "height", "width"}``. In ``crop`` mode it is the part of the original
cover that was kept (in the original cover's pixels; its size is the stego size). In ``pad`` mode it is where
the whole original cover lies inside the stego (in the stego's pixels; its size is the original size), the rest
being reflect padding. Sizes are always height x width.

The metadata is stored in the clear: it documents the stego, it does not protect it.
"""
from __future__ import annotations

import io
import json
import os
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from PIL import Image, PngImagePlugin

from data.image_io import decode_image_bytes, to_uint8
from utils.atomic_io import atomic_write_bytes

FORMAT_TAG = 'InvMIHNet-stego'
FORMAT_VERSION = 1
KEY_PREFIX = 'InvMIHNet:'
COVER_MODES = ('crop', 'pad')
PNG_SIGNATURE = b'\x89PNG\r\n\x1a\n'
_OTHER_FORMATS = ((b'\xff\xd8\xff', 'JPEG'), (b'GIF8', 'GIF'), (b'BM', 'BMP'), (b'RIFF', 'WebP'),
                  (b'II*\x00', 'TIFF'), (b'MM\x00*', 'TIFF'))


class StegoFormatError(ValueError):
    """A file that is not a usable stego PNG (wrong format, damaged metadata, invalid size); names the file."""


class StegoConfigError(ValueError):
    """A stego written by another InvMIHNet configuration than the one loaded; names both."""


class MissingMetadataWarning(UserWarning):
    """A PNG without InvMIHNet metadata: revealed with the option file's configuration, secrets at stego size."""


@dataclass(frozen=True)
class Box:
    """A rectangle in pixels."""
    top: int
    left: int
    height: int
    width: int

    def to_json(self) -> dict[str, int]:
        """As stored in the metadata."""
        return {'top': self.top, 'left': self.left, 'height': self.height, 'width': self.width}


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
        """As stored in the metadata."""
        return {'mode': self.mode, 'original_size': _size_json(self.original_size), 'box': self.box.to_json()}


@dataclass
class StegoMetadata:
    """Everything ``hide.py`` records in the stego PNG."""
    num_images: int
    scale_h: int
    scale_w: int
    stego_size: tuple[int, int]
    secret_sizes: list[tuple[int, int]]
    secret_names: list[str]
    cover: dict[str, Any]
    fingerprint: dict[str, Any]
    hide_report: dict[str, Any] = field(default_factory=dict)
    version: int = FORMAT_VERSION


@dataclass
class StegoFile:
    """A stego PNG as read: its pixels (HWC float32 RGB, exact k/255 levels) and its metadata, if any."""
    path: Path
    image: np.ndarray
    metadata: StegoMetadata | None


# ------------------------------------------------------------------------------------------ configuration
def config_fingerprint(opt: dict) -> dict[str, Any]:
    """The network configuration a stego depends on: grid, block counts, ConvDownsampling and channels."""
    net_g = opt['network_G']
    return {'scale_H': opt['scale_H'], 'scale_W': opt['scale_W'], 'iir_block_num': list(net_g['block_num']),
            'iih_block_num': opt['network_H']['block_num'],
            'use_ConvDownsampling': bool(net_g['which_model_G']['use_ConvDownsampling']),
            'in_nc': net_g['in_nc'], 'out_nc': net_g['out_nc']}


def describe_fingerprint(fp: dict[str, Any]) -> str:
    """A fingerprint as one readable line."""
    conv = ', ConvDownsampling' if fp.get('use_ConvDownsampling') else ''
    scale_h, scale_w = fp.get('scale_H'), fp.get('scale_W')
    n = scale_h * scale_w if isinstance(scale_h, int) and isinstance(scale_w, int) else '?'
    return (f'N={n} ({scale_h} x {scale_w} grid), IIR block_num={fp.get("iir_block_num")}'
            f'{conv}, IIH block_num={fp.get("iih_block_num")}')


def check_compatible(meta: StegoMetadata, opt: dict, stego_name: str | os.PathLike) -> None:
    """Raise :class:`StegoConfigError` unless the stego was made by the configuration in ``opt``."""
    ours = config_fingerprint(opt)
    theirs = meta.fingerprint
    differences = []
    if meta.num_images != opt['num_images']:
        differences.append(f'N {meta.num_images} vs {opt["num_images"]}')
    if (meta.scale_h, meta.scale_w) != (opt['scale_H'], opt['scale_W']):
        differences.append(f'grid {meta.scale_h} x {meta.scale_w} vs {opt["scale_H"]} x {opt["scale_W"]}')
    differences += [f'{key} {theirs.get(key)!r} vs {value!r}' for key, value in ours.items()
                    if key not in ('scale_H', 'scale_W') and theirs.get(key) != value]
    if differences:
        raise StegoConfigError(
            f'{stego_name} was made by InvMIHNet {describe_fingerprint(theirs)}, but the option file '
            f'{opt.get("source", "")} configures {describe_fingerprint(ours)} ({"; ".join(differences)}); '
            f'reveal it with the option file and checkpoints it was hidden with')


def check_stego_size(height: int, width: int, scale_h: int, scale_w: int, name: str | os.PathLike) -> None:
    """Raise :class:`StegoFormatError` unless H x W is a multiple of 2*scale_H x 2*scale_W."""
    mh, mw = 2 * scale_h, 2 * scale_w
    if height % mh or width % mw or height == 0 or width == 0:
        raise StegoFormatError(
            f'{name} is {height} x {width} (H x W), not a valid stego size for a {scale_h} x {scale_w} grid '
            f'(height a multiple of {mh}, width a multiple of {mw}); was it resized or cropped after hiding?')


# ------------------------------------------------------------------------------------------ geometry
def plan_cover(height: int, width: int, scale_h: int, scale_w: int, mode: str = 'crop') -> CoverPlan:
    """The largest centred crop (``crop``) or smallest centred reflect padding (``pad``) to a valid size."""
    if mode not in COVER_MODES:
        raise ValueError(f'cover mode must be one of {list(COVER_MODES)}, got {mode!r}')
    mh, mw = 2 * scale_h, 2 * scale_w
    if mode == 'crop':
        new_h, new_w = height // mh * mh, width // mw * mw
        if new_h == 0 or new_w == 0:
            raise ValueError(f'the cover is {height} x {width} (H x W), smaller than the smallest valid size '
                             f'{mh} x {mw} of a {scale_h} x {scale_w} grid; use --mode pad or a larger cover')
        box = Box((height - new_h) // 2, (width - new_w) // 2, new_h, new_w)
    else:
        new_h, new_w = -(-height // mh) * mh, -(-width // mw) * mw
        box = Box((new_h - height) // 2, (new_w - width) // 2, height, width)
    return CoverPlan(mode, (height, width), (new_h, new_w), box)


def apply_cover_plan(image: np.ndarray, plan: CoverPlan) -> np.ndarray:
    """Crop or reflect-pad an HWC cover as ``plan`` says."""
    if tuple(image.shape[:2]) != plan.original_size:
        raise ValueError(f'the plan is for a {plan.original_size} cover, got {image.shape[:2]}')
    b = plan.box
    if plan.mode == 'crop':
        return np.ascontiguousarray(image[b.top:b.top + b.height, b.left:b.left + b.width])
    (sh, sw), (oh, ow) = plan.stego_size, plan.original_size
    pads = ((b.top, sh - oh - b.top), (b.left, sw - ow - b.left), (0, 0))
    return np.pad(image, pads, mode='reflect' if min(oh, ow) > 1 else 'edge')


def resize_image(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """Resize an HWC float image, axis by axis: cv2 INTER_AREA where an axis shrinks, INTER_CUBIC where it
    grows; the result is clipped to [0, 1]."""
    out = image
    if out.shape[0] != height:
        interp = cv2.INTER_AREA if height < out.shape[0] else cv2.INTER_CUBIC
        out = cv2.resize(out, (out.shape[1], height), interpolation=interp)
    if out.shape[1] != width:
        interp = cv2.INTER_AREA if width < out.shape[1] else cv2.INTER_CUBIC
        out = cv2.resize(out, (width, out.shape[0]), interpolation=interp)
    if out.ndim == 2:
        out = out[:, :, None]
    return np.ascontiguousarray(np.clip(out, 0.0, 1.0), dtype=np.float32)


def output_names(meta: StegoMetadata | None, count: int) -> list[str]:
    """File names for the revealed secrets: ``01_<stem>.png`` from the recorded names, else ``secret_01.png``."""
    if meta is None:
        return [f'secret_{i:02d}.png' for i in range(1, count + 1)]
    names = []
    for i, name in enumerate(meta.secret_names, 1):
        stem = re.sub(r'[^A-Za-z0-9._-]+', '_', Path(name.replace('\\', '/')).stem).strip('._')[:80]
        names.append(f'{i:02d}_{stem}.png' if stem else f'secret_{i:02d}.png')
    return names


# ------------------------------------------------------------------------------------------ writing
def _size_json(size: tuple[int, int]) -> dict[str, int]:
    return {'height': int(size[0]), 'width': int(size[1])}


def metadata_chunks(meta: StegoMetadata) -> dict[str, str]:
    """The text chunks (keyword -> JSON text) that represent ``meta``."""
    values: dict[str, Any] = {
        'format': FORMAT_TAG, 'version': meta.version, 'num_images': meta.num_images,
        'scale_H': meta.scale_h, 'scale_W': meta.scale_w, 'stego_size': _size_json(meta.stego_size),
        'secret_sizes': [_size_json(s) for s in meta.secret_sizes], 'secret_names': list(meta.secret_names),
        'cover': meta.cover, 'fingerprint': meta.fingerprint, 'hide_report': meta.hide_report,
    }
    return {KEY_PREFIX + key: json.dumps(value) for key, value in values.items()}


def write_stego_png(image: np.ndarray | torch.Tensor, path: str | os.PathLike, meta: StegoMetadata) -> Path:
    """Write an 8-bit RGB PNG carrying ``meta`` atomically (temporary file in the same folder, then rename).

    ``image`` is a (3, H, W) / (1, 3, H, W) tensor or an HWC array in [0, 1] (or uint8). The folder is created.
    On any error the temporary file is removed and ``path`` is left as it was.
    """
    target = Path(path)
    if target.suffix.lower() != '.png':
        raise ValueError(f'the stego must be a PNG (lossless); {target} does not end in .png')
    if isinstance(image, torch.Tensor) and image.dim() == 4:
        image = image[0]
    pixels = to_uint8(image)
    if pixels.ndim != 3 or pixels.shape[2] != 3:
        raise ValueError(f'the stego must be an RGB image, got shape {pixels.shape}')
    if tuple(pixels.shape[:2]) != tuple(meta.stego_size):
        raise ValueError(f'the metadata records a {meta.stego_size} stego, the image is {pixels.shape[:2]}')
    info = PngImagePlugin.PngInfo()
    info.add_text('Software', 'InvMIHNet hide.py')
    for key, value in metadata_chunks(meta).items():
        info.add_text(key, value)
    buffer = io.BytesIO()
    Image.fromarray(pixels, mode='RGB').save(buffer, format='PNG', pnginfo=info)
    return atomic_write_bytes(target, buffer.getvalue())


# ------------------------------------------------------------------------------------------ reading
def _sniff_format(head: bytes) -> str | None:
    for magic, name in _OTHER_FORMATS:
        if head.startswith(magic):
            return name
    return None


def _size_from_json(value: Any, key: str) -> tuple[int, int]:
    if (not isinstance(value, dict) or set(value) != {'height', 'width'}
            or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value.values())):
        raise ValueError(f'{key} must be {{"height": int, "width": int}}, got {value!r}')
    return value['height'], value['width']


def parse_metadata(text: dict[str, str], name: str | os.PathLike) -> StegoMetadata | None:
    """The :class:`StegoMetadata` in a PNG's text chunks; None when the format tag is absent.

    Raises :class:`StegoFormatError` when the tag is present but a key is missing or malformed, or when the
    file was written by a newer format version.
    """
    raw = {key[len(KEY_PREFIX):]: value for key, value in text.items() if key.startswith(KEY_PREFIX)}
    if 'format' not in raw:
        return None
    try:
        values = {key: json.loads(value) for key, value in raw.items()}
    except json.JSONDecodeError as err:
        raise StegoFormatError(f'{name}: damaged InvMIHNet metadata (not JSON: {err})') from err
    if values['format'] != FORMAT_TAG:
        raise StegoFormatError(f'{name}: unknown stego format {values["format"]!r} (expected {FORMAT_TAG!r})')
    required = ('version', 'num_images', 'scale_H', 'scale_W', 'stego_size', 'secret_sizes', 'secret_names',
                'cover', 'fingerprint')
    missing = [key for key in required if key not in values]
    if missing:
        keys = ', '.join(KEY_PREFIX + key for key in missing)
        raise StegoFormatError(f'{name}: damaged InvMIHNet metadata, missing {keys}')
    try:
        version = values['version']
        if not isinstance(version, int) or version < 1:
            raise ValueError(f'version must be a positive integer, got {version!r}')
        if version > FORMAT_VERSION:
            raise StegoFormatError(f'{name}: stego format version {version} is newer than this code reads '
                                   f'(version {FORMAT_VERSION}); update InvMIHNet')
        ints = {key: values[key] for key in ('num_images', 'scale_H', 'scale_W')}
        for key, value in ints.items():
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f'{key} must be a positive integer, got {value!r}')
        n = ints['num_images']
        if n != ints['scale_H'] * ints['scale_W']:
            raise ValueError(f'num_images {n} is not scale_H x scale_W = {ints["scale_H"]} x {ints["scale_W"]}')
        sizes, names = values['secret_sizes'], values['secret_names']
        if not isinstance(sizes, list) or len(sizes) != n:
            raise ValueError(f'secret_sizes must list {n} sizes, got {sizes!r}')
        if not isinstance(names, list) or len(names) != n or not all(isinstance(s, str) for s in names):
            raise ValueError(f'secret_names must list {n} file names, got {names!r}')
        cover, fingerprint = values['cover'], values['fingerprint']
        if not isinstance(cover, dict) or cover.get('mode') not in COVER_MODES:
            raise ValueError(f'cover must be a mapping with mode in {list(COVER_MODES)}, got {cover!r}')
        _size_from_json(cover.get('original_size'), 'cover.original_size')
        box = cover.get('box')
        if (not isinstance(box, dict) or set(box) != {'top', 'left', 'height', 'width'}
                or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in box.values())):
            raise ValueError(f'cover.box must be {{"top", "left", "height", "width"}} integers, got {box!r}')
        if not isinstance(fingerprint, dict):
            raise ValueError(f'fingerprint must be a mapping, got {fingerprint!r}')
        report = values.get('hide_report', {})
        meta = StegoMetadata(
            num_images=n, scale_h=ints['scale_H'], scale_w=ints['scale_W'],
            stego_size=_size_from_json(values['stego_size'], 'stego_size'),
            secret_sizes=[_size_from_json(s, 'secret_sizes') for s in sizes], secret_names=names,
            cover=cover, fingerprint=fingerprint, hide_report=report if isinstance(report, dict) else {},
            version=version)
    except ValueError as err:
        if isinstance(err, StegoFormatError):
            raise
        raise StegoFormatError(f'{name}: damaged InvMIHNet metadata ({err})') from err
    return meta


def read_stego_png(path: str | os.PathLike) -> StegoFile:
    """Read a stego PNG: its pixels and its metadata (None, with a :class:`MissingMetadataWarning`, when the
    PNG carries none).

    Raises :class:`StegoFormatError` for a missing file, a file that is not a PNG (a JPEG is named as such: its
    lossy compression destroys the hidden secrets), damaged metadata, or pixels whose size differs from the
    recorded stego size. The PNG's values are taken as they are: an 8-bit PNG gives exact k/255 levels.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as err:
        raise StegoFormatError(f'{path}: cannot read the stego ({err.strerror or err})') from err
    if not data.startswith(PNG_SIGNATURE):
        kind = _sniff_format(data[:16])
        if kind == 'JPEG':
            raise StegoFormatError(f'{path} is a JPEG, not the PNG hide.py wrote: JPEG compression is lossy and '
                                   f'destroys the hidden secrets; reveal from the original stego PNG')
        found = f'a {kind} file' if kind else 'not an image this tool recognizes'
        raise StegoFormatError(f'{path} is {found}, not a PNG; InvMIHNet stegos are lossless 8-bit PNGs')
    try:
        with Image.open(io.BytesIO(data)) as img:
            img.load()
            text = {str(k): str(v) for k, v in getattr(img, 'text', {}).items()}
            mode = img.mode
    except (OSError, SyntaxError, ValueError) as err:
        raise StegoFormatError(f'{path}: damaged PNG ({err})') from err
    try:
        image = decode_image_bytes(data, path)
    except ValueError as err:
        raise StegoFormatError(str(err)) from err
    meta = parse_metadata(text, path)
    if meta is None:
        warnings.warn(f'{path} carries no InvMIHNet metadata (not written by hide.py, or stripped): revealing with '
                      f'the option file\'s configuration, secrets at the stego size', MissingMetadataWarning,
                      stacklevel=2)
    elif tuple(image.shape[:2]) != meta.stego_size:
        raise StegoFormatError(f'{path} is {image.shape[0]} x {image.shape[1]} (H x W) but was written as '
                               f'{meta.stego_size[0]} x {meta.stego_size[1]}; it was resized or cropped after hiding')
    if mode != 'RGB':
        warnings.warn(f'{path} is a {mode} PNG, not the 8-bit RGB PNG hide.py writes; converted to RGB',
                      stacklevel=2)
    return StegoFile(path=path, image=image, metadata=meta)
