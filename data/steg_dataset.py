"""Dataset of (GT, LQ) pairs for InvMIHNet: full-resolution images and their bicubic downscales.

Images come from a folder (searched recursively, sorted by relative path) or from an LMDB
in the published layout. A loader batch of ``N + 1`` samples is one cover and N secrets.
"""

from __future__ import annotations

import json
import os
import random
import warnings
from pathlib import Path
from typing import Any

import cv2
import lmdb
import numpy as np
from torch.utils.data import Dataset

from utils.image_io import ImageReadError, hwc_to_chw, list_images, opencv_to_rgb_float, read_image
from data.imresize import imresize
from utils.grid import Grid
from utils.limited_read import measure_nesting, read_limited

PHASES = ("train", "val", "test")
ON_CORRUPT_CHOICES = ("error", "skip")
EVAL_BLOCK = 4
"""Val/test images are cropped to multiples of ``EVAL_BLOCK * scale`` (as published)."""


META_FILE = "meta_info.json"
OLD_META_FILE = "meta_info.pkl"
META_LIMIT = 256 << 20
"""Bytes: an LMDB's metadata lists each key and size (about 40 bytes an image); a larger file is refused."""


def is_lmdb_root(root: str | os.PathLike) -> bool:
    """True when ``root`` names an LMDB: its name ends in ``.lmdb`` or it holds ``data.mdb``."""
    path = Path(root)
    return path.name.lower().endswith(".lmdb") or (path / "data.mdb").is_file()


class _FolderSource:
    """Images stored as files under a folder."""

    def __init__(self, root: Path, option: str) -> None:
        if not root.is_dir():
            raise ValueError(f"{option}: {root} does not exist or is not a directory")
        self.root = root
        self.paths = list_images(root)
        if not self.paths:
            raise ValueError(f"{option}: no image files found under {root}")

    def __len__(self) -> int:
        return len(self.paths)

    def name(self, index: int) -> str:
        """The file path, as a string."""
        return str(self.paths[index])

    def read(self, index: int) -> np.ndarray:
        """HWC float32 RGB in [0, 1]."""
        return read_image(self.paths[index])


def read_meta(meta_path: Path, option: str) -> dict[str, Any]:
    """An LMDB's ``meta_info.json``: a JSON object with 'keys' (strings) and 'resolution' ("C_H_W" strings);
    ValueError naming ``option`` and the file for anything else."""
    try:
        meta = json.loads(read_limited(meta_path, META_LIMIT, f"{option}: LMDB metadata").decode("utf-8"))
        depth, _ = measure_nesting(meta)
    except OSError as exc:
        raise ValueError(f"{option}: cannot read {meta_path} ({exc.strerror or exc})") from None
    except (ValueError, RecursionError) as exc:
        reason = "nested too deeply" if isinstance(exc, RecursionError) else exc
        raise ValueError(f"{option}: {meta_path} is not valid LMDB metadata ({reason})") from None
    if (not isinstance(meta, dict) or depth > 2 or not isinstance(meta.get("keys"), list)
            or not isinstance(meta.get("resolution"), list)
            or not all(isinstance(v, str) for v in meta["keys"] + meta["resolution"])):
        raise ValueError(f"{option}: {meta_path} must be a JSON object with 'keys' and 'resolution', lists of "
                         f"strings (written by scripts/create_lmdb.py)")
    return meta


class _LmdbSource:
    """Images stored in an LMDB as raw HWC BGR uint8 bytes (published layout).

    ``meta_info.json`` in the LMDB folder holds 'keys' (list of str) and 'resolution'
    (list of "C_H_W" strings, one per key, or a single one for all); a published LMDB's ``meta_info.pkl`` is
    never unpickled: the error gives the command that converts it. The environment is
    opened by the process that reads, for each read, and closed right after (tens of
    microseconds): an LMDB handle must not cross ``fork()`` into DataLoader workers, and
    py-lmdb refuses a second handle on the same files in one process, which a handle kept
    per dataset would hit as soon as two datasets (say train and val) share an LMDB.
    """

    def __init__(self, root: Path, option: str) -> None:
        if not (root / "data.mdb").is_file():
            raise ValueError(f"{option}: {root} is not an LMDB folder (no data.mdb)")
        meta_path = root / META_FILE
        if not meta_path.exists():
            if (root / OLD_META_FILE).exists():
                raise ValueError(f"{option}: {root} has only the published {OLD_META_FILE}, which this code "
                                 f"never unpickles (a pickle can run code); convert it once with "
                                 f"python scripts/create_lmdb.py --convert-meta {root}")
            raise ValueError(f"{option}: {meta_path} is missing")
        meta = read_meta(meta_path, option)
        keys, resolutions = meta["keys"], meta["resolution"]
        if not keys:
            raise ValueError(f"{option}: the LMDB {root} lists no keys")
        if len(resolutions) == 1:
            resolutions = resolutions * len(keys)
        if len(resolutions) != len(keys):
            raise ValueError(f"{option}: {meta_path} has {len(keys)} keys but "
                             f"{len(resolutions)} resolutions")
        self.root = root
        self.keys = keys
        self.sizes = [self._parse_resolution(text, option, meta_path) for text in resolutions]

    @staticmethod
    def _parse_resolution(text: Any, option: str, meta_path: Path) -> tuple[int, int, int]:
        parts = str(text).split("_")
        try:
            channels, height, width = (int(part) for part in parts)
        except ValueError:
            raise ValueError(f"{option}: {meta_path} has resolution {text!r}, "
                             f"expected 'C_H_W'") from None
        if min(channels, height, width) <= 0:
            raise ValueError(f"{option}: {meta_path} has resolution {text!r}, expected positive sizes")
        return channels, height, width

    def __len__(self) -> int:
        return len(self.keys)

    def name(self, index: int) -> str:
        """The LMDB key (what the published code reports as the image path)."""
        return self.keys[index]

    def read(self, index: int) -> np.ndarray:
        """HWC float32 RGB in [0, 1]."""
        key = self.keys[index]
        where = f"{key} (in LMDB {self.root})"
        channels, height, width = self.sizes[index]
        try:
            with lmdb.open(str(self.root), readonly=True, lock=False, readahead=False,
                           meminit=False) as env, env.begin(write=False) as txn:
                buf = txn.get(key.encode("utf-8"))
        except lmdb.Error as exc:
            raise ImageReadError(f"{where}: cannot read the LMDB ({exc})") from exc
        if buf is None:
            raise ImageReadError(f"{where}: key not found")
        expected = channels * height * width
        if len(buf) != expected:
            raise ImageReadError(f"{where}: {len(buf)} bytes stored, but resolution "
                                 f"{channels}_{height}_{width} needs {expected}")
        if channels not in (1, 2, 3, 4):
            raise ImageReadError(f"{where}: unsupported channel count {channels}")
        pixels = np.frombuffer(buf, dtype=np.uint8).reshape(height, width, channels)
        return opencv_to_rgb_float(pixels, where)


def _open_source(root: Any, option: str) -> _FolderSource | _LmdbSource:
    if root is None or str(root).strip() == "":
        raise ValueError(f"{option} is not set (got {root!r})")
    path = Path(root).expanduser()
    if not path.exists():
        raise ValueError(f"{option}: {path} does not exist")
    if is_lmdb_root(path):
        return _LmdbSource(path, option)
    return _FolderSource(path, option)


def _positive_int(value: Any, option: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ValueError(f"{option} must be a positive integer, got {value!r}")
    return int(value)


class StegDataset(Dataset):
    """(GT, LQ) pairs for training, validating or testing InvMIHNet.

    Each item is ``{'GT': (3, H, W), 'LQ': (3, H / scale_H, W / scale_W), 'GT_path': str}``,
    float32 RGB; GT in [0, 1], LQ the raw antialiased bicubic downscale (not clipped).

    Train: an image whose height (width) is not a multiple of ``scale_H`` (``scale_W``) or
    is smaller than ``GT_size`` is resized (OpenCV bilinear) to the largest multiple not
    above it, but at least ``GT_size``; LQ is the bicubic downscale of the whole image;
    then a random LQ crop of ``GT_size / scale_H x GT_size / scale_W`` and the matching
    ``GT_size x GT_size`` GT crop (Python's ``random``, as published). With
    ``dataroot_LQ``, the given LQ is used instead and an image smaller than ``GT_size`` is
    resized to ``GT_size x GT_size`` with its LQ recomputed (as published). Optional
    augmentation, the same for GT and LQ: ``use_flip`` a random horizontal flip,
    ``use_rot`` a random vertical flip and a random transpose (with the flips, every
    90-degree rotation); the transpose only on square grids (``scale_H == scale_W``),
    since it would swap the grid's axes otherwise.

    Val/test: optional ``center_crop`` ((H - h) // 2, (W - w) // 2 offset; with
    ``dataroot_LQ`` the offset is rounded down to a multiple of the scale so that GT and
    LQ stay aligned), then the image is cropped at the bottom/right to multiples of
    ``4 * scale_H`` x ``4 * scale_W`` (the published ``modcrop``). Every tile of the
    ``scale_H x scale_W`` grid is then a multiple of 4 on each side, so it splits evenly
    and has even sides for the wavelet transform (and for the Haar downsampling of the
    secrets). LQ is the downscale of the whole cropped image.
    """

    def __init__(self, dataset_opt: dict) -> None:
        super().__init__()
        opt = dataset_opt
        self.opt_key = str(opt.get("opt_key") or "dataset")
        self.name = opt.get("name")
        self.phase = opt.get("phase")
        if self.phase not in PHASES:
            raise ValueError(f"{self.opt_key}.phase must be one of {', '.join(PHASES)}, "
                             f"got {self.phase!r}")
        self.scale_h = _positive_int(opt.get("scale_H"), f"{self.opt_key}.scale_H")
        self.scale_w = _positive_int(opt.get("scale_W"), f"{self.opt_key}.scale_W")

        color = opt.get("color")
        if color not in (None, "RGB"):
            raise ValueError(f"{self.opt_key}.color: only 'RGB' (or unset) is supported, got {color!r}")
        self.on_corrupt = opt.get("on_corrupt") or "error"
        if self.on_corrupt not in ON_CORRUPT_CHOICES:
            raise ValueError(f"{self.opt_key}.on_corrupt must be one of "
                             f"{', '.join(ON_CORRUPT_CHOICES)}, got {self.on_corrupt!r}")
        self.use_flip = bool(opt.get("use_flip", False))
        self.use_rot = bool(opt.get("use_rot", False))

        self.gt_size: int | None = None
        self.center_crop: tuple[int, int] | None = None
        if self.phase == "train":
            self.gt_size = self._parse_gt_size(opt.get("GT_size"))
            if opt.get("center_crop") is not None:
                raise ValueError(f"{self.opt_key}.center_crop is only used in the val/test phases")
        else:
            self.center_crop = self._parse_center_crop(opt.get("center_crop"))

        self.gt_source = _open_source(opt.get("dataroot_GT"), f"{self.opt_key}.dataroot_GT")
        self.lq_source = None
        if opt.get("dataroot_LQ") not in (None, ""):
            self.lq_source = _open_source(opt["dataroot_LQ"], f"{self.opt_key}.dataroot_LQ")
            if len(self.lq_source) != len(self.gt_source):
                raise ValueError(f"{self.opt_key}.dataroot_LQ: {len(self.lq_source)} LQ images "
                                 f"but {len(self.gt_source)} GT images in "
                                 f"{self.opt_key}.dataroot_GT; the counts must match")

    def _parse_gt_size(self, value: Any) -> int:
        option = f"{self.opt_key}.GT_size"
        size = _positive_int(value, option)
        Grid(self.scale_h, self.scale_w).check_size(size, size, what=f'{option}: crop')
        return size

    def _parse_center_crop(self, value: Any) -> tuple[int, int] | None:
        option = f"{self.opt_key}.center_crop"
        if value is None:
            return None
        if isinstance(value, (list, tuple)):
            if len(value) != 2:
                raise ValueError(f"{option} must be an integer or [H, W], got {value!r}")
            return _positive_int(value[0], option), _positive_int(value[1], option)
        size = _positive_int(value, option)
        return size, size

    @property
    def paths(self) -> list[str]:
        """The GT image names (file paths, or LMDB keys), in dataset order."""
        return [self.gt_source.name(i) for i in range(len(self.gt_source))]

    def __len__(self) -> int:
        return len(self.gt_source)

    def __getitem__(self, index: int) -> dict[str, Any]:
        count = len(self)
        if not -count <= index < count:
            raise IndexError(f"{self.opt_key}: index {index} out of range for {count} images")
        for attempt in range(count):
            current = (index + attempt) % count
            try:
                return self._load(current)
            except ImageReadError as exc:
                if self.on_corrupt != "skip":
                    raise
                warnings.warn(f"{self.opt_key}: skipping unreadable image: {exc}",
                              RuntimeWarning, stacklevel=2)
        raise ImageReadError(f"{self.opt_key}: none of the {count} images in "
                             f"{self.opt_key}.dataroot_GT could be read")

    def _load(self, index: int) -> dict[str, Any]:
        gt_name = self.gt_source.name(index)
        gt = self.gt_source.read(index)
        lq = None
        if self.lq_source is not None:
            lq = self.lq_source.read(index)
            gt, lq = self._align_pair(gt, lq, gt_name, self.lq_source.name(index))
        if self.phase == "train":
            gt, lq = self._train_pair(gt, lq)
        else:
            gt, lq = self._eval_pair(gt, lq, gt_name)
        return {"GT": hwc_to_chw(gt), "LQ": hwc_to_chw(lq), "GT_path": gt_name}

    def _downscale(self, gt: np.ndarray) -> np.ndarray:
        return imresize(gt, 1 / self.scale_h, 1 / self.scale_w, antialiasing=True)

    def _align_pair(self, gt: np.ndarray, lq: np.ndarray, gt_name: str,
                    lq_name: str) -> tuple[np.ndarray, np.ndarray]:
        """Trim a given GT/LQ pair to whole scale cells: GT (k*sH, l*sW), LQ (k, l)."""
        rows, cols = gt.shape[0] // self.scale_h, gt.shape[1] // self.scale_w
        lq_h, lq_w = lq.shape[:2]
        max_rows = -(-gt.shape[0] // self.scale_h)
        max_cols = -(-gt.shape[1] // self.scale_w)
        if not (rows <= lq_h <= max_rows and cols <= lq_w <= max_cols):
            raise ValueError(f"{self.opt_key}.dataroot_LQ: {lq_name} is {lq_h}x{lq_w}, but "
                             f"{gt_name} ({gt.shape[0]}x{gt.shape[1]}) needs "
                             f"{rows}x{cols} at scale {self.scale_h}x{self.scale_w}")
        return (gt[:rows * self.scale_h, :cols * self.scale_w], lq[:rows, :cols])

    def _train_pair(self, gt: np.ndarray,
                    lq: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        size = self.gt_size
        if lq is None:
            height, width = gt.shape[:2]
            target_h = max(height // self.scale_h * self.scale_h, size)
            target_w = max(width // self.scale_w * self.scale_w, size)
            if (target_h, target_w) != (height, width):
                gt = cv2.resize(gt, (target_w, target_h), interpolation=cv2.INTER_LINEAR)
            lq = self._downscale(gt)
        elif gt.shape[0] < size or gt.shape[1] < size:
            gt = cv2.resize(gt, (size, size), interpolation=cv2.INTER_LINEAR)
            lq = self._downscale(gt)

        lq_size_h, lq_size_w = size // self.scale_h, size // self.scale_w
        top = random.randint(0, max(0, lq.shape[0] - lq_size_h))
        left = random.randint(0, max(0, lq.shape[1] - lq_size_w))
        lq = lq[top:top + lq_size_h, left:left + lq_size_w]
        gt_top, gt_left = top * self.scale_h, left * self.scale_w
        gt = gt[gt_top:gt_top + size, gt_left:gt_left + size]
        return self._augment(gt, lq)

    def _augment(self, gt: np.ndarray, lq: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        hflip = self.use_flip and random.random() < 0.5
        vflip = self.use_rot and random.random() < 0.5
        transpose = self.use_rot and self.scale_h == self.scale_w and random.random() < 0.5
        pair = []
        for img in (gt, lq):
            if hflip:
                img = img[:, ::-1]
            if vflip:
                img = img[::-1]
            if transpose:
                img = img.transpose(1, 0, 2)
            pair.append(img)
        return pair[0], pair[1]

    def _eval_pair(self, gt: np.ndarray, lq: np.ndarray | None,
                   gt_name: str) -> tuple[np.ndarray, np.ndarray]:
        if self.center_crop is not None:
            crop_h, crop_w = self.center_crop
            height, width = gt.shape[:2]
            if height < crop_h or width < crop_w:
                raise ValueError(f"{self.opt_key}.center_crop: {gt_name} is {height}x{width}, "
                                 f"smaller than the crop {crop_h}x{crop_w}")
            top, left = (height - crop_h) // 2, (width - crop_w) // 2
            if lq is not None:
                top -= top % self.scale_h
                left -= left % self.scale_w
                lq = lq[top // self.scale_h:(top + crop_h) // self.scale_h,
                        left // self.scale_w:(left + crop_w) // self.scale_w]
            gt = gt[top:top + crop_h, left:left + crop_w]

        block_h, block_w = EVAL_BLOCK * self.scale_h, EVAL_BLOCK * self.scale_w
        height = gt.shape[0] - gt.shape[0] % block_h
        width = gt.shape[1] - gt.shape[1] % block_w
        if height == 0 or width == 0:
            raise ValueError(f"{self.opt_key}: {gt_name} is {gt.shape[0]}x{gt.shape[1]}, smaller "
                             f"than one {block_h}x{block_w} block ({EVAL_BLOCK} x the scale)")
        gt = gt[:height, :width]
        if lq is None:
            lq = self._downscale(gt)
        else:
            lq = lq[:height // self.scale_h, :width // self.scale_w]
        return gt, lq
