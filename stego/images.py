"""Untrusted input images: size checked from the header before decoding, then decoded to float RGB; resizing.

Every image the library takes (cover, secrets, stego) comes through :func:`load_rgb`: a file's header is read
lazily (the PNG IHDR directly, other formats by Pillow's lazy open) and a declared size above ``max_pixels`` is
refused before a single pixel is decoded. Pillow's own decompression-bomb guard is turned into the same error.
"""
from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
from PIL import Image

from utils.image_io import ImageReadError, decode_image_bytes
from stego.errors import ImageTooLargeError, InputImageError
from stego.png import PNG_SIGNATURE, png_header

DEFAULT_MAX_PIXELS = 50_000_000
ImageSource = str | os.PathLike | np.ndarray
_SIGNATURES = ((b'\xff\xd8\xff', 'JPEG'), (b'GIF8', 'GIF'), (b'BM', 'BMP'), (b'II*\x00', 'TIFF'),
               (b'MM\x00*', 'TIFF'))
_PNG_KINDS = {(8, 2): None, (8, 0): 'an 8-bit grey', (8, 3): 'a palette', (8, 4): 'a grey + alpha',
              (8, 6): 'an RGBA'}


def _too_large(name: str, height: int, width: int, max_pixels: int) -> ImageTooLargeError:
    return ImageTooLargeError(
        f'{name} is {height} x {width} (H x W) = {height * width / 1e6:.1f} megapixels, more than the limit of '
        f'{max_pixels / 1e6:g} megapixels (--max-pixels {max_pixels}); refused before decoding')


def _file_kind(head: bytes) -> str | None:
    if head.startswith(PNG_SIGNATURE):
        return 'PNG'
    if head[:4] == b'RIFF' and head[8:12] == b'WEBP':
        return 'WebP'
    return next((kind for magic, kind in _SIGNATURES if head.startswith(magic)), None)


def declared_size(path: Path, head: bytes, max_pixels: int) -> tuple[int, int]:
    """(height, width) an image file's header declares; :class:`ImageTooLargeError` above ``max_pixels``."""
    header = png_header(head)
    if header is not None:
        width, height = header[:2]
    else:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter('ignore', Image.DecompressionBombWarning)
                with Image.open(path) as img:
                    width, height = img.size
        except Image.DecompressionBombError as err:
            raise ImageTooLargeError(f'{path}: the header declares more than the limit of {max_pixels / 1e6:g} '
                                     f'megapixels (--max-pixels); refused before decoding ({err})') from err
        except (OSError, SyntaxError, ValueError) as err:
            raise InputImageError(f'{path}: not an image file this tool can read ({err})') from err
    if width * height > max_pixels:
        raise _too_large(str(path), height, width, max_pixels)
    return height, width


def load_rgb(source: ImageSource, what: str, max_pixels: int = DEFAULT_MAX_PIXELS,
             stego: bool = False) -> tuple[np.ndarray, list[str]]:
    """An image file or an HxWx3 uint8 RGB array as HxWx3 float32 RGB in [0, 1], and warnings about it.

    ``what`` names the image in messages (``'cover'``, ``'secret 2'``). With ``stego=True`` the file must be a
    PNG: a JPEG or another format is refused (lossy compression destroys the secrets), and a PNG that is not
    8-bit RGB gives a warning. Raises :class:`InputImageError` (or :class:`ImageTooLargeError`).
    """
    if isinstance(source, np.ndarray):
        if source.dtype != np.uint8 or source.ndim != 3 or source.shape[2] != 3:
            raise InputImageError(f'the {what} must be an H x W x 3 uint8 RGB array, got shape {source.shape} and '
                                  f'dtype {source.dtype}')
        if source.shape[0] * source.shape[1] > max_pixels:
            raise _too_large(f'the {what}', source.shape[0], source.shape[1], max_pixels)
        if source.shape[0] == 0 or source.shape[1] == 0:
            raise InputImageError(f'the {what} array is empty (shape {source.shape})')
        return source.astype(np.float32) / 255.0, []
    path = Path(source).expanduser()
    try:
        with path.open('rb') as handle:
            head = handle.read(32)
    except OSError as err:
        raise InputImageError(f'{what} {path}: cannot read the file ({err.strerror or err})') from err
    found: list[str] = []
    if stego:
        kind = _file_kind(head)
        if kind == 'JPEG':
            raise InputImageError(f'{path} is a JPEG, not the PNG hide wrote: JPEG compression is lossy and '
                                  f'destroys the hidden secrets; reveal from the original stego PNG')
        if kind != 'PNG':
            found_kind = f'a {kind} file' if kind else 'not a PNG'
            raise InputImageError(f'{path} is {found_kind}; an InvMIHNet stego is a lossless 8-bit RGB PNG')
        header = png_header(head)
        if header is not None and (header[2], header[3]) != (8, 2):
            described = _PNG_KINDS.get((header[2], header[3]), f'a {header[2]}-bit')
            found.append(f'{path} is {described} PNG, not the 8-bit RGB PNG hide writes; converted to 8-bit RGB')
    declared_size(path, head, max_pixels)
    try:
        image = decode_image_bytes(path.read_bytes(), path)
    except (ImageReadError, OSError) as err:
        raise InputImageError(f'{what} {err}') from err
    return image, found
