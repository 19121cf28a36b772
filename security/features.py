"""Steganalysis features of 8-bit RGB images (from ``sealwatch``), cached per image by a hash of its pixels.

Rich models: ``spam`` (SPAM, 686-D, averaged over the R, G, B channels), ``crm`` (the colour rich model),
``srm`` (the spatial rich model, 34,671-D, averaged over the channels as in the colour SRM of Goljan et al.;
about 5 s per channel of a 256 x 256 image). Targeted attacks, one score per image (higher = more stego-like):
``chi2`` (Westfeld-Pfitzmann histogram attack: minus the chi-square distance to an LSB-replacement histogram)
and ``ws`` (weighted-stego estimate of the LSB change rate, averaged over the channels).
"""
from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import sealwatch as sw
from tqdm import tqdm

from utils.image_io import read_image, to_uint8

RICH_MODELS = ('spam', 'crm', 'srm')
ATTACKS = ('chi2', 'ws')


def _flatten(features: dict) -> np.ndarray:
    return np.concatenate([np.asarray(v, dtype=np.float64).ravel() for v in features.values()])


def _per_channel_mean(extract: Callable[[np.ndarray], dict], pixels: np.ndarray) -> np.ndarray:
    return np.mean([_flatten(extract(np.ascontiguousarray(pixels[:, :, c]))) for c in range(pixels.shape[2])],
                   axis=0)


def spam(pixels: np.ndarray) -> np.ndarray:
    """SPAM (686-D), the mean of the three channels' vectors."""
    return _per_channel_mean(sw.spam.extract, pixels)


def crm(pixels: np.ndarray) -> np.ndarray:
    """The colour rich model of the RGB image."""
    return _flatten(sw.crm.extract(pixels))


def srm(pixels: np.ndarray) -> np.ndarray:
    """The spatial rich model (34,671-D), the mean of the three channels' vectors."""
    return _per_channel_mean(sw.srm.extract, pixels)


def chi2(pixels: np.ndarray) -> np.ndarray:
    """Minus the chi-square distance of the histogram to its LSB-replacement model (1-D)."""
    distance, _ = sw.chi2.attack(pixels)
    return np.array([-float(distance)])


def ws(pixels: np.ndarray) -> np.ndarray:
    """Weighted-stego change-rate estimate, the mean over the channels (1-D)."""
    return np.array([np.mean([float(sw.ws.attack(np.ascontiguousarray(pixels[:, :, c])))
                              for c in range(pixels.shape[2])])])


EXTRACTORS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    'spam': spam, 'crm': crm, 'srm': srm, 'chi2': chi2, 'ws': ws}


def pixel_key(pixels: np.ndarray) -> str:
    """sha256 of the shape and the 8-bit pixels: the cache key of an image."""
    digest = hashlib.sha256(f'{pixels.shape}|{pixels.dtype}|'.encode())
    digest.update(np.ascontiguousarray(pixels).tobytes())
    return digest.hexdigest()


class FeatureCache:
    """Features stored as ``<root>/<feature>-sealwatch<version>/<key[:2]>/<key>.npy`` (no cache when root is
    None)."""

    def __init__(self, root: str | os.PathLike | None) -> None:
        self.root = None if root is None else Path(root)

    def _path(self, feature: str, key: str) -> Path:
        return self.root / f'{feature}-sealwatch{sw.__version__}' / key[:2] / f'{key}.npy'

    def get(self, feature: str, key: str) -> np.ndarray | None:
        """The stored vector, or None."""
        if self.root is None:
            return None
        path = self._path(feature, key)
        return np.load(path) if path.is_file() else None

    def put(self, feature: str, key: str, vector: np.ndarray) -> None:
        """Store a vector atomically (temporary file, then rename)."""
        if self.root is None:
            return
        path = self._path(feature, key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix='.npy.tmp')
        try:
            with os.fdopen(fd, 'wb') as handle:
                np.save(handle, vector)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def read_pixels(path: str | os.PathLike) -> np.ndarray:
    """An image file as HWC uint8 RGB."""
    return to_uint8(read_image(path))


def _compute(job: tuple[tuple[str, ...], np.ndarray]) -> list[np.ndarray]:
    features, pixels = job
    return [EXTRACTORS[feature](pixels) for feature in features]


def extract_features(features: Sequence[str], paths: Sequence[str | os.PathLike], cache: FeatureCache,
                     workers: int = 1) -> dict[str, np.ndarray]:
    """Each feature's (len(paths), D) matrix of the image files. Images already in the cache (by pixel hash) are
    not recomputed and images with equal pixels are computed once; ``workers`` > 1 uses that many processes."""
    unknown = [f for f in features if f not in EXTRACTORS]
    if unknown:
        raise ValueError(f'unknown feature(s) {unknown}; choose from {sorted(EXTRACTORS)}')
    keys: list[str] = []
    jobs: dict[str, tuple[tuple[str, ...], np.ndarray]] = {}
    for path in paths:
        pixels = read_pixels(path)
        key = pixel_key(pixels)
        keys.append(key)
        todo = tuple(f for f in features if cache.get(f, key) is None)
        if todo and key not in jobs:
            jobs[key] = (todo, pixels)
    found: dict[tuple[str, str], np.ndarray] = {}
    if jobs:
        bar = dict(total=len(jobs), desc=f'features ({", ".join(features)})', unit='img')
        if workers > 1 and len(jobs) > 1:
            with ProcessPoolExecutor(max_workers=workers, mp_context=get_context('spawn')) as pool:
                vectors = list(tqdm(pool.map(_compute, jobs.values()), **bar))
        else:
            vectors = [_compute(job) for job in tqdm(jobs.values(), **bar)]
        for (key, (todo, _)), computed in zip(jobs.items(), vectors):
            for feature, vector in zip(todo, computed):
                cache.put(feature, key, vector)
                found[feature, key] = vector
    return {feature: np.stack([found[feature, key] if (feature, key) in found else cache.get(feature, key)
                               for key in keys]).astype(np.float64)
            for feature in features}
