"""Image files: listing, decoding to float RGB, 8-bit conversion, the HWC <-> CHW layout and atomic PNG writing."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import torch

from utils.atomic_io import atomic_write_bytes
from utils.limited_read import read_limited

IMAGE_FILE_LIMIT = 2 << 30
"""Bytes: a dataset image file larger than this is refused unread (a 100-megapixel 16-bit RGBA TIFF is 800 MB)."""
IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".ppm", ".tif", ".tiff", ".webp"})

_JPEG_START = b"\xff\xd8"
_JPEG_END = b"\xff\xd9"


class ImageReadError(ValueError):
    """An image file is missing or cannot be decoded; the message names the file."""


def is_image_file(path: str | os.PathLike) -> bool:
    """True when the file name ends in one of ``IMAGE_EXTENSIONS`` (case-insensitive)."""
    return Path(path).suffix.lower() in IMAGE_EXTENSIONS


def list_images(root: str | os.PathLike) -> list[Path]:
    """All image files under ``root`` (recursively), sorted by their path relative to ``root``."""
    root_path = Path(root)
    if not root_path.is_dir():
        raise NotADirectoryError(f"{root_path} is not a directory")
    found = []
    for dirpath, _, filenames in os.walk(root_path):
        for filename in filenames:
            path = Path(dirpath) / filename
            if is_image_file(path) and path.is_file():
                found.append(path)
    return sorted(found, key=lambda p: p.relative_to(root_path).as_posix())


def opencv_to_rgb_float(decoded: np.ndarray, path_for_errors: str | os.PathLike) -> np.ndarray:
    """OpenCV pixels (HW or HWC BGR/BGRA; uint8, uint16, float) -> HWC float32 RGB in [0, 1]."""
    if decoded.dtype == np.uint8:
        img = decoded.astype(np.float32) / 255.0
    elif decoded.dtype == np.uint16:
        img = decoded.astype(np.float32) / 65535.0
    elif decoded.dtype in (np.float32, np.float64):
        img = decoded.astype(np.float32)
    else:
        raise ImageReadError(f"{path_for_errors}: unsupported pixel type {decoded.dtype}")
    if img.ndim == 2:
        img = img[:, :, None]
    channels = img.shape[2]
    if channels in (1, 2):
        return np.ascontiguousarray(np.repeat(img[:, :, :1], 3, axis=2))
    return np.ascontiguousarray(img[:, :, 2::-1])


def decode_image_bytes(buf: bytes, path_for_errors: str | os.PathLike) -> np.ndarray:
    """Decode an encoded image (PNG, JPEG, ...) to HWC float32 RGB in [0, 1].

    Grey is expanded to three channels, alpha is dropped, 8-bit values are divided by
    255 and 16-bit values by 65535; EXIF orientation is applied as ``cv2.imread`` does.
    Raises ``ImageReadError`` naming ``path_for_errors`` when the data cannot be decoded
    (including a JPEG whose end-of-image marker is missing, i.e. a truncated file).
    """
    if not buf:
        raise ImageReadError(f"{path_for_errors}: file is empty")
    if buf.startswith(_JPEG_START) and buf.rfind(_JPEG_END) < len(_JPEG_START):
        raise ImageReadError(f"{path_for_errors}: truncated JPEG (no end-of-image marker)")
    data = np.frombuffer(buf, dtype=np.uint8)
    try:
        decoded = cv2.imdecode(data, cv2.IMREAD_ANYDEPTH | cv2.IMREAD_ANYCOLOR)
    except cv2.error as exc:
        raise ImageReadError(f"{path_for_errors}: cannot decode image ({exc})") from exc
    if decoded is None or decoded.size == 0:
        raise ImageReadError(f"{path_for_errors}: cannot decode image (corrupt or unsupported format)")
    return opencv_to_rgb_float(decoded, path_for_errors)


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Read an image file as HWC float32 RGB in [0, 1] (see ``decode_image_bytes``); a file that is not a
    regular file or is larger than ``IMAGE_FILE_LIMIT`` is an ``ImageReadError``."""
    try:
        buf = read_limited(path, IMAGE_FILE_LIMIT, "image file")
    except OSError as exc:
        raise ImageReadError(f"{path}: cannot read file ({exc.strerror or exc})") from None
    except ValueError as exc:
        raise ImageReadError(str(exc)) from None
    return decode_image_bytes(buf, path)


def hwc_to_chw(image: np.ndarray) -> torch.Tensor:
    """An HWC image array -> a CHW float32 tensor: uint8 levels divided by 255, float values as they are."""
    tensor = torch.from_numpy(np.ascontiguousarray(np.asarray(image).transpose(2, 0, 1)))
    return tensor.float().div(255.0) if tensor.dtype == torch.uint8 else tensor.float()


def chw_to_hwc(tensor: torch.Tensor) -> np.ndarray:
    """A CHW tensor -> an HWC float32 array clamped to [0, 1], on the CPU."""
    return tensor.detach().clamp(0, 1).permute(1, 2, 0).cpu().numpy().astype(np.float32)


def to_uint8(img: np.ndarray | torch.Tensor) -> np.ndarray:
    """Float image in [0, 1] -> HWC uint8, as ``round(clamp(x, 0, 1) * 255)``.

    Rounding is half-to-even, the same as the project's quantization (``torch.round``).
    A tensor is taken as CHW (or HW), an array as HWC (or HW); uint8 input is returned
    as HWC unchanged. Single-channel input keeps one channel.
    """
    if isinstance(img, torch.Tensor):
        tensor = img.detach().cpu()
        if tensor.dim() == 3:
            tensor = tensor.permute(1, 2, 0)
        elif tensor.dim() != 2:
            raise ValueError(f"to_uint8 expects a CHW or HW tensor, got shape {tuple(img.shape)}")
        if tensor.dtype == torch.uint8:
            return np.ascontiguousarray(tensor.numpy())
        if not tensor.is_floating_point():
            raise ValueError(f"to_uint8 expects a floating-point or uint8 tensor, got {tensor.dtype}")
        return np.ascontiguousarray(torch.round(tensor.clamp(0, 1) * 255).to(torch.uint8).numpy())
    array = np.asarray(img)
    if array.ndim not in (2, 3):
        raise ValueError(f"to_uint8 expects an HWC or HW array, got shape {array.shape}")
    if array.dtype == np.uint8:
        return np.ascontiguousarray(array)
    if not np.issubdtype(array.dtype, np.floating):
        raise ValueError(f"to_uint8 expects a floating-point or uint8 array, got {array.dtype}")
    return np.ascontiguousarray(np.rint(np.clip(array, 0, 1) * 255).astype(np.uint8))


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


def save_image(img: np.ndarray | torch.Tensor, path: str | os.PathLike) -> None:
    """Write ``img`` ((3,H,W) tensor or HWC array in [0, 1], or uint8) as an 8-bit RGB PNG.

    The file is written to a temporary file in the destination folder and moved into
    place with ``os.replace``, so readers never see a partial file. Parent folders are
    created. The path must end in ``.png``.
    """
    target = Path(path)
    if target.suffix.lower() != ".png":
        raise ValueError(f"save_image writes PNG files; {target} does not end in .png")
    pixels = to_uint8(img)
    if pixels.ndim == 2:
        pixels = pixels[:, :, None]
    if pixels.shape[2] == 1:
        pixels = np.repeat(pixels, 3, axis=2)
    elif pixels.shape[2] != 3:
        raise ValueError(f"save_image expects 1 or 3 channels, got shape {pixels.shape}")
    ok, encoded = cv2.imencode(".png", np.ascontiguousarray(pixels[:, :, ::-1]))
    if not ok:
        raise OSError(f"{target}: PNG encoding failed")
    atomic_write_bytes(target, encoded.tobytes())
