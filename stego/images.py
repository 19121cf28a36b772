"""Untrusted input images: size checked from the header before decoding, then decoded to float RGB; resizing.

Every image the library takes (cover, secrets, stego) comes through :func:`load_rgb`: a file's header is read
lazily (the PNG IHDR directly, other formats by Pillow's lazy open) and a declared size above ``max_pixels`` is
refused before a single pixel is decoded. Pillow's own decompression-bomb guard is turned into the same error.
Only regular files are read (a FIFO or a device is refused unread), and at most :data:`BYTES_PER_PIXEL` bytes
per declared pixel plus :data:`FILE_SLACK`, so memory follows the pixel count, not the file size. Animated
images (GIF, APNG, WebP) are refused; an alpha channel is dropped with a warning.
"""
from __future__ import annotations

import os
import struct
import warnings
from pathlib import Path

import numpy as np
from PIL import Image

from utils.image_io import ImageReadError, decode_image_bytes
from stego.errors import ImageTooLargeError, InputImageError
from stego.png import PNG_SIGNATURE, is_animated_png, png_header
from utils.limited_read import read_head, read_limited

DEFAULT_MAX_PIXELS = 50_000_000
BYTES_PER_PIXEL = 8             # an image file is at most this many bytes per pixel (16-bit RGBA, uncompressed)
FILE_SLACK = 16 << 20           # bytes allowed beyond that: headers, colour profiles, metadata
ImageSource = str | os.PathLike | np.ndarray
_SIGNATURES = ((b'\xff\xd8\xff', 'JPEG'), (b'GIF8', 'GIF'), (b'BM', 'BMP'), (b'II*\x00', 'TIFF'),
               (b'MM\x00*', 'TIFF'))
_PNG_KINDS = {(8, 2): None, (8, 0): 'an 8-bit grey', (8, 3): 'a palette', (8, 4): 'a grey + alpha',
              (8, 6): 'an RGBA'}


def pixels_text(count: int) -> str:
    """A pixel count for messages: ``896 pixels``, ``64,000,000 pixels (64.0 megapixels)``."""
    return f'{count:,} pixels' if count < 1_000_000 else f'{count:,} pixels ({count / 1e6:.1f} megapixels)'


def too_large(name: str, height: int, width: int, max_pixels: int,
              when: str = 'refused before decoding') -> ImageTooLargeError:
    """The error for ``name`` of ``height x width`` pixels above ``max_pixels``."""
    return ImageTooLargeError(
        f'{name} is {height} x {width} (H x W) = {pixels_text(height * width)}, more than the --max-pixels limit '
        f'of {pixels_text(max_pixels)}; {when}')


def _file_kind(head: bytes) -> str | None:
    if head.startswith(PNG_SIGNATURE):
        return 'PNG'
    if head[:4] == b'RIFF' and head[8:12] == b'WEBP':
        return 'WebP'
    return next((kind for magic, kind in _SIGNATURES if head.startswith(magic)), None)


def _header(path: Path, head: bytes, max_pixels: int) -> tuple[int, int, bool]:
    """(height, width, has alpha) from an image file's header; refuses a size above ``max_pixels`` and an
    animated GIF / WebP (an APNG is found in its chunks, see :func:`load_rgb`)."""
    header = png_header(head)
    if header is not None:
        width, height = header[:2]
        alpha = header[3] in (4, 6)
    else:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter('ignore', Image.DecompressionBombWarning)
                with Image.open(path) as img:
                    width, height = img.size
                    alpha = 'A' in img.mode or 'transparency' in img.info
                    animated = getattr(img, 'is_animated', False)
        except Image.DecompressionBombError as err:
            raise ImageTooLargeError(f'{path}: the header declares more than the limit of {max_pixels:,} pixels '
                                     f'(--max-pixels); refused before decoding') from err
        except (OSError, SyntaxError, ValueError, struct.error, EOFError) as err:
            raise InputImageError(f'{path}: not an image file this tool can read ({err})') from None
        if animated:
            raise InputImageError(f'{path} is an animated image; save the frame you want as a PNG')
    if width * height > max_pixels:
        raise too_large(str(path), height, width, max_pixels)
    if width * height == 0:
        raise InputImageError(f'{path}: the header declares an empty image ({height} x {width})')
    return height, width, alpha


def declared_size(path: Path, head: bytes, max_pixels: int) -> tuple[int, int]:
    """(height, width) an image file's header declares; :class:`ImageTooLargeError` above ``max_pixels``."""
    return _header(path, head, max_pixels)[:2]


def read_image_head(path: Path, what: str) -> bytes:
    """The first bytes of an image file (regular files only); :class:`InputImageError` naming ``what``."""
    try:
        return read_head(path, 32, what)
    except OSError as err:
        raise InputImageError(f'{what} {path}: cannot read the file ({err.strerror or err})') from None
    except ValueError as err:
        raise InputImageError(str(err)) from None


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
            raise too_large(f'the {what}', source.shape[0], source.shape[1], max_pixels)
        if source.shape[0] == 0 or source.shape[1] == 0:
            raise InputImageError(f'the {what} array is empty (shape {source.shape})')
        return source.astype(np.float32) / 255.0, []
    path = Path(source).expanduser()
    head = read_image_head(path, what)
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
    height, width, alpha = _header(path, head, max_pixels)
    limit = height * width * BYTES_PER_PIXEL + FILE_SLACK
    try:
        data = read_limited(path, limit, what)
    except OSError as err:
        raise InputImageError(f'{what} {path}: cannot read the file ({err.strerror or err})') from None
    except ValueError as err:
        raise InputImageError(f'{err}: far more than a {height} x {width} image needs; refused') from None
    if head.startswith(PNG_SIGNATURE) and is_animated_png(data):
        raise InputImageError(f'{path} is an animated PNG (APNG); save the frame you want as a plain PNG')
    try:
        image = decode_image_bytes(data, path)
    except (ImageReadError, OSError) as err:
        raise InputImageError(f'{what} {err}') from None
    if alpha and not stego:
        found.append(f'{what} {path} has an alpha channel (transparency): it is dropped, the {what} is hidden as '
                     f'RGB with its stored colours')
    return image, found
