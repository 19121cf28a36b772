"""PNG files at the byte level: the clean stego writer and a chunk reader.

A stego is written by Pillow with its default settings and nothing else: the file holds the chunks IHDR, IDAT
(one or more) and IEND, 8-bit RGB, as any PNG a common library saves from an array. No text, time, gamma,
colour-profile or software chunk is written, so the file says nothing about how it was made.
"""
from __future__ import annotations

import io
import os
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

from stego.errors import OutputError
from utils.atomic_io import atomic_write_bytes

PNG_SIGNATURE = b'\x89PNG\r\n\x1a\n'
LOSSY_SUFFIXES = frozenset({'.jpg', '.jpeg', '.jpe', '.jfif', '.webp', '.heic', '.heif', '.avif', '.jxl', '.gif'})


def check_png_path(path: str | os.PathLike, what: str = 'stego') -> Path:
    """``path`` as a Path if it ends in ``.png``; an :class:`OutputError` otherwise (naming lossy formats)."""
    target = Path(path)
    suffix = target.suffix.lower()
    if suffix == '.png':
        return target
    if suffix in LOSSY_SUFFIXES:
        raise OutputError(f'{target}: {suffix} is a lossy (or palette) format; saving the {what} in it would destroy '
                          f'the hidden secrets. Write a .png file')
    raise OutputError(f'{target}: the {what} is written as a lossless PNG; give a file name ending in .png')


def encode_png(pixels: np.ndarray) -> bytes:
    """An HxWx3 uint8 RGB array as the bytes of a clean 8-bit RGB PNG (Pillow, default settings)."""
    array = np.asarray(pixels)
    if array.dtype != np.uint8 or array.ndim != 3 or array.shape[2] != 3:
        raise ValueError(f'a stego is an H x W x 3 uint8 RGB array, got shape {array.shape} and dtype {array.dtype}')
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(array)).save(buffer, format='PNG')
    return buffer.getvalue()


def save_stego(path: str | os.PathLike, stego: np.ndarray) -> Path:
    """Write the stego pixels (HxWx3 uint8 RGB) as a clean PNG, atomically (an existing file is replaced)."""
    target = check_png_path(path)
    return atomic_write_bytes(target, encode_png(stego))


def png_chunks(data: bytes) -> list[tuple[str, bytes]]:
    """The (type, payload) chunks of a PNG file, CRCs checked; ValueError for a damaged or non-PNG file."""
    if not data.startswith(PNG_SIGNATURE):
        raise ValueError('not a PNG file (no PNG signature)')
    chunks, pos = [], len(PNG_SIGNATURE)
    while pos < len(data):
        if pos + 12 > len(data):
            raise ValueError(f'truncated PNG chunk header at byte {pos}')
        length, kind = struct.unpack('>I4s', data[pos:pos + 8])
        end = pos + 8 + length
        if end + 4 > len(data):
            raise ValueError(f'truncated PNG chunk {kind!r} at byte {pos}')
        payload = data[pos + 8:end]
        (crc,) = struct.unpack('>I', data[end:end + 4])
        if crc != zlib.crc32(kind + payload):
            raise ValueError(f'bad CRC in PNG chunk {kind!r} at byte {pos}')
        chunks.append((kind.decode('latin-1'), payload))
        pos = end + 4
        if kind == b'IEND':
            break
    return chunks


def is_animated_png(data: bytes) -> bool:
    """Whether a PNG file's bytes hold an animation control chunk (``acTL``, an APNG) before the image data; the
    chunk headers are walked, nothing is decompressed."""
    pos = len(PNG_SIGNATURE)
    while pos + 8 <= len(data):
        length, kind = struct.unpack('>I4s', data[pos:pos + 8])
        if kind == b'acTL':
            return True
        if kind in (b'IDAT', b'IEND'):
            return False
        pos += 12 + length
    return False


def png_header(head: bytes) -> tuple[int, int, int, int] | None:
    """(width, height, bit depth, colour type) from the first 26 bytes of a PNG, or None if they are not a PNG
    starting with its IHDR chunk."""
    if len(head) < 26 or not head.startswith(PNG_SIGNATURE) or head[12:16] != b'IHDR':
        return None
    width, height, depth, colour = struct.unpack('>IIBB', head[16:26])
    return width, height, depth, colour
