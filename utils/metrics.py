"""Image-quality metrics and a per-batch metric table for steganography evaluation.

Conventions (those of HiNet and BasicSR, which the image-hiding literature reports):

* Every metric works on the 0-255 scale. ``psnr`` is ``10 log10(data_range^2 / MSE)`` over all pixels
  and channels, ``inf`` for identical images.
* ``ssim`` is Wang et al. (2004): 11x11 Gaussian window with sigma 1.5, K1 = 0.01, K2 = 0.03,
  population (biased) local covariances, mean of the SSIM map over the "valid" region (5-pixel border
  excluded), averaged over channels for colour images. It is computed by scikit-image's
  ``structural_similarity`` with the matching arguments.
* The ``_y`` variants use the luma of ITU-R BT.601 YCbCr as MATLAB's ``rgb2ycbcr`` computes it
  (studio range 16..235), kept in float without rounding.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np
from skimage.filters import sobel
from skimage.metrics import structural_similarity

from utils.atomic_io import atomic_write_text

BT601_Y_WEIGHTS = np.array([65.481, 128.553, 24.966], dtype=np.float64) / 255.0
BT601_Y_OFFSET = 16.0

SSIM_SIGMA = 1.5
SSIM_K1 = 0.01
SSIM_K2 = 0.03


def _check_same_shape(a: np.ndarray, b: np.ndarray) -> None:
    if a.shape != b.shape:
        raise ValueError(f"images must have the same shape, got {a.shape} and {b.shape}")


def rgb_to_y(img: np.ndarray) -> np.ndarray:
    """BT.601 luma (MATLAB ``rgb2ycbcr``) of an RGB ``...x3`` image on the 0-255 scale.

    ``Y = 16 + (65.481 R + 128.553 G + 24.966 B) / 255`` for R, G, B in 0..255, so black maps to 16
    and white to 235. Accepts uint8 or float (0-255) input; returns float64, not rounded.
    """
    img = np.asarray(img)
    if img.ndim < 1 or img.shape[-1] != 3:
        raise ValueError(f"expected an RGB image with 3 channels last, got shape {img.shape}")
    return img.astype(np.float64) @ BT601_Y_WEIGHTS + BT601_Y_OFFSET


def psnr(a: np.ndarray, b: np.ndarray, data_range: float = 255.0) -> float:
    """Peak signal-to-noise ratio in dB over all pixels and channels; ``inf`` for identical images."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    _check_same_shape(a, b)
    mse = float(np.mean((a - b) ** 2))
    if mse == 0.0:
        return math.inf
    return 10.0 * math.log10(data_range**2 / mse)


def ssim(a: np.ndarray, b: np.ndarray, data_range: float = 255.0) -> float:
    """Mean SSIM (Gaussian 11x11, sigma 1.5, K1 0.01, K2 0.03, population covariance).

    ``a`` and ``b`` are ``HxW`` or ``HxWxC`` arrays; for ``C > 1`` the SSIM of each channel is averaged.
    Both sides must be at least 11 pixels.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    _check_same_shape(a, b)
    if a.ndim == 3 and a.shape[2] == 1:
        a, b = a[..., 0], b[..., 0]
    if a.ndim not in (2, 3):
        raise ValueError(f"expected an HxW or HxWxC image, got shape {a.shape}")
    return float(
        structural_similarity(
            a,
            b,
            data_range=data_range,
            channel_axis=-1 if a.ndim == 3 else None,
            gaussian_weights=True,
            sigma=SSIM_SIGMA,
            K1=SSIM_K1,
            K2=SSIM_K2,
            use_sample_covariance=False,
        )
    )


def mae(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute error, in the units of the inputs (0-255 for 8-bit images)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    _check_same_shape(a, b)
    return float(np.mean(np.abs(a - b)))


def rmse(a: np.ndarray, b: np.ndarray) -> float:
    """Root mean squared error, in the units of the inputs (0-255 for 8-bit images)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    _check_same_shape(a, b)
    return float(np.sqrt(np.mean((a - b) ** 2)))


def residual_edge_correlation(cover: np.ndarray, stego: np.ndarray, reference: np.ndarray) -> float:
    """Pearson correlation between the stego's residual ``|stego - cover|`` (each channel's mean difference taken
    out first, so that a colour cast cannot hide it; then the mean over channels) and the Sobel gradient magnitude
    of ``reference``'s luma, all ``HxWx3`` of one size: with ``reference`` the mosaic of the downscaled secrets,
    how much of the secrets' outlines the residual shows (0: none; compare with the value for another set's
    secrets). NaN when either map is constant."""
    cover, stego, reference = (np.asarray(a, dtype=np.float64) for a in (cover, stego, reference))
    _check_same_shape(cover, stego)
    _check_same_shape(cover, reference)
    return _correlation(_residual_map(cover, stego).ravel(), sobel(rgb_to_y(reference)).ravel())


def residual_texture_correlation(cover: np.ndarray, stego: np.ndarray, reference: np.ndarray,
                                 block: int = 8) -> float:
    """:func:`residual_edge_correlation` at the scale of ``block x block`` blocks: the Pearson correlation between
    the residual's mean in each block and the local variance of ``reference``'s luma there. With ``reference`` the
    mosaic of the downscaled secrets, how much the residual shows the secrets' busy and flat regions. NaN when
    either map is constant."""
    cover, stego, reference = (np.asarray(a, dtype=np.float64) for a in (cover, stego, reference))
    _check_same_shape(cover, stego)
    _check_same_shape(cover, reference)
    height, width = cover.shape[:2]
    if height % block or width % block:
        raise ValueError(f"image of {height}x{width} does not split into {block}-pixel blocks")
    luma = rgb_to_y(reference)
    variance = _block_variance(luma, block)
    return _correlation(_block_means(_residual_map(cover, stego), block).ravel(), variance.ravel())


def residual_colour_correlation(cover: np.ndarray, stego: np.ndarray, reference: np.ndarray, rows: int = 1,
                                cols: int = 1, block: int = 4) -> float:
    """The largest canonical correlation, over ``block x block`` blocks, between the residual's mean in each
    channel (each channel's mean difference taken out first, as in :func:`residual_edge_correlation`) and
    ``reference``'s mean colour, luma variance and mean Sobel gradient magnitude there, all ``HxWx3`` of one size:
    with ``reference`` the mosaic of the downscaled secrets, how well the best linear mix of the residual's
    channels shows the secrets' regions (the hue of the 10x view). Both sides are centred in each tile of the
    ``rows x cols`` mosaic first, so that tiles which merely differ in level do not count. NaN when either side is
    constant."""
    cover, stego, reference = (np.asarray(a, dtype=np.float64) for a in (cover, stego, reference))
    _check_same_shape(cover, stego)
    _check_same_shape(cover, reference)
    height, width = cover.shape[:2]
    if height % (block * rows) or width % (block * cols):
        raise ValueError(f"image of {height}x{width} does not split into {rows}x{cols} tiles of {block}-pixel blocks")
    luma = rgb_to_y(reference)
    features = np.concatenate([_block_means(reference, block),
                               _block_variance(luma, block)[..., None],
                               _block_means(sobel(luma), block)[..., None]], axis=2)
    residual = _block_means(_channel_residual_map(cover, stego), block)
    return _first_canonical_correlation(_centred_in_tiles(residual, rows, cols),
                                        _centred_in_tiles(features, rows, cols))


def residual_pattern_correlation(cover: np.ndarray, stego: np.ndarray, reference: np.ndarray, rows: int = 1,
                                 cols: int = 1, window: int = 5) -> float:
    """The largest canonical correlation, pixel by pixel, between the fine detail (each map less its mean over a
    ``window x window`` box) of the signed residual ``stego - cover`` in each channel and that of ``reference``'s
    luma at the 9 pixels of the 3 x 3 neighbourhood, all ``HxWx3`` of one size: with ``reference`` the mosaic of
    the downscaled secrets, how well the best linear filter of the secrets draws the residual's fine pattern (thin
    lines along their sharp contours). Both sides are centred in each tile of the ``rows x cols`` mosaic. NaN when
    either side is constant."""
    cover, stego, reference = (np.asarray(a, dtype=np.float64) for a in (cover, stego, reference))
    _check_same_shape(cover, stego)
    _check_same_shape(cover, reference)
    height, width = cover.shape[:2]
    if height % rows or width % cols:
        raise ValueError(f"image of {height}x{width} does not split into {rows}x{cols} tiles")
    luma = _fine_detail(rgb_to_y(reference), window)
    padded = np.pad(luma, 1, mode='edge')
    neighbourhood = np.stack([padded[i:i + height, j:j + width] for i in range(3) for j in range(3)], axis=2)
    residual = _fine_detail(stego - cover, window)
    return _first_canonical_correlation(_centred_in_tiles(residual, rows, cols),
                                        _centred_in_tiles(neighbourhood, rows, cols))


def residual_wavelet_correlation(cover: np.ndarray, stego: np.ndarray, reference: np.ndarray, rows: int = 1,
                                 cols: int = 1) -> float:
    """The largest canonical correlation, over the 2 x 2 blocks of the Haar grid, between the 12 Haar coefficients
    (LL, HL, LH, HH of each channel) of the signed residual ``stego - cover`` and ``reference``'s mean colour in the
    block, all ``HxWx3`` of one size with even tiles: with ``reference`` the mosaic of the downscaled secrets, how
    well a linear map of the colour of the secret hidden under each block gives the residual's coefficients there
    (the fine stripes that draw the secrets' shapes in a 10x difference view). Both sides are centred in each tile
    of the ``rows x cols`` mosaic. NaN when either side is constant."""
    cover, stego, reference = (np.asarray(a, dtype=np.float64) for a in (cover, stego, reference))
    _check_same_shape(cover, stego)
    _check_same_shape(cover, reference)
    height, width = cover.shape[:2]
    if height % (2 * rows) or width % (2 * cols):
        raise ValueError(f"image of {height}x{width} does not split into {rows}x{cols} tiles of even size")
    coefficients = _haar_coefficients(stego - cover)
    return _first_canonical_correlation(_centred_in_tiles(coefficients, rows, cols),
                                        _centred_in_tiles(_block_means(reference, 2), rows, cols))


def _haar_coefficients(image: np.ndarray) -> np.ndarray:
    """(H / 2) x (W / 2) x 4C: the orthonormal Haar coefficients (LL, HL, LH, HH of each channel) of the 2 x 2
    blocks of ``image`` (H x W x C)."""
    a, b, c, d = image[0::2, 0::2], image[0::2, 1::2], image[1::2, 0::2], image[1::2, 1::2]
    return np.concatenate([a + b + c + d, a - b + c - d, a + b - c - d, a - b - c + d], axis=2) / 2


def _centred_in_tiles(maps: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """(H * W) x C: the H x W x C ``maps`` less their mean in each tile of a ``rows x cols`` grid, one row per
    pixel."""
    tiles = maps.reshape(rows, maps.shape[0] // rows, cols, maps.shape[1] // cols, maps.shape[2])
    return (tiles - tiles.mean(axis=(1, 3), keepdims=True)).reshape(-1, maps.shape[2])


def _fine_detail(image: np.ndarray, window: int) -> np.ndarray:
    """``image`` (H x W x ...) less its mean over a ``window x window`` box around each pixel (edges replicated)."""
    pad = window // 2
    padded = np.pad(image, ((pad, pad), (pad, pad)) + ((0, 0),) * (image.ndim - 2), mode='edge')
    windows = np.lib.stride_tricks.sliding_window_view(padded, (window, window), axis=(0, 1))
    return image - windows.mean(axis=(-2, -1))


def _first_canonical_correlation(a: np.ndarray, b: np.ndarray) -> float:
    """The largest canonical correlation between the columns of ``a`` (K x P) and ``b`` (K x Q), from their
    linearly independent parts; NaN when either has no variance."""
    def whitened(x: np.ndarray) -> np.ndarray | None:
        x = x - x.mean(axis=0)
        u, s, _ = np.linalg.svd(x, full_matrices=False)
        keep = s > s.max(initial=0.0) * 1e-9
        return u[:, keep] if keep.any() else None

    a, b = whitened(a), whitened(b)
    if a is None or b is None:
        return math.nan
    return float(min(1.0, np.linalg.svd(a.T @ b, compute_uv=False)[0]))


def _block_means(image: np.ndarray, block: int) -> np.ndarray:
    """The means of ``image`` (H x W x ...) over ``block x block`` blocks; H and W are multiples of ``block``."""
    height, width = image.shape[:2]
    return image.reshape(height // block, block, width // block, block, *image.shape[2:]).mean(axis=(1, 3))


def _block_variance(image: np.ndarray, block: int) -> np.ndarray:
    """The variance of ``image`` (H x W x ...) in each ``block x block`` block."""
    return _block_means(image ** 2, block) - _block_means(image, block) ** 2


def _channel_residual_map(cover: np.ndarray, stego: np.ndarray) -> np.ndarray:
    """HxWxC: |stego - cover| with each channel's mean difference taken out."""
    difference = stego - cover
    return np.abs(difference - difference.reshape(-1, difference.shape[-1]).mean(axis=0))


def _residual_map(cover: np.ndarray, stego: np.ndarray) -> np.ndarray:
    """HxW: :func:`_channel_residual_map` averaged over the channels."""
    return _channel_residual_map(cover, stego).mean(axis=2)


def _correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation of two vectors; NaN when either is constant."""
    if a.std() == 0 or b.std() == 0:
        return math.nan
    return float(np.corrcoef(a, b)[0, 1])


def colour_shift(cover: np.ndarray, stego: np.ndarray) -> float:
    """The stego's colour cast: the largest absolute mean difference ``stego - cover`` of one channel, in the
    images' units (levels on the 0-255 scale)."""
    cover, stego = (np.asarray(a, dtype=np.float64) for a in (cover, stego))
    _check_same_shape(cover, stego)
    return float(np.abs((stego - cover).reshape(-1, cover.shape[-1]).mean(axis=0)).max())


def tile_seam_ratio(cover: np.ndarray, stego: np.ndarray, rows: int, cols: int, block: int = 8) -> float:
    """How much the mosaic's layout shows in the residual ``|stego - cover|`` (``HxWx3``, per channel, as a 10x
    difference view shows it): the residual is averaged over ``block x block`` blocks and the mean jump between
    neighbouring blocks across the ``rows x cols`` tile seams is divided by the mean jump between all other
    neighbouring blocks. 1: the seams are as smooth as the rest (no tile stands apart in tint or in strength);
    above 1, the tiles show. NaN without seams or for a flat residual."""
    cover, stego = (np.asarray(a, dtype=np.float64) for a in (cover, stego))
    _check_same_shape(cover, stego)
    height, width = cover.shape[:2]
    if height % (rows * block) or width % (cols * block):
        raise ValueError(f"image of {height}x{width} does not split into {rows}x{cols} tiles of "
                         f"{block}-pixel blocks")
    means = _block_means(np.abs(stego - cover), block)
    seams, other = _steps_across_lines(means, (means.shape[0] // rows, means.shape[1] // cols))
    if seams.size == 0 or other.size == 0 or other.mean() == 0:
        return math.nan
    return float(seams.mean() / other.mean())


def _steps_across_lines(image: np.ndarray, periods: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """The absolute steps between neighbouring rows and columns of ``image`` (H x W x ...): those across the
    lines of a grid of ``periods`` (rows, columns), and all the others."""
    across, inside = [], []
    for axis, period in enumerate(periods):
        steps = np.abs(np.diff(image, axis=axis))
        on_line = (np.arange(steps.shape[axis]) + 1) % period == 0
        across.append(np.compress(on_line, steps, axis=axis).ravel())
        inside.append(np.compress(~on_line, steps, axis=axis).ravel())
    return np.concatenate(across), np.concatenate(inside)


def pixel_grid_ratio(cover: np.ndarray, stego: np.ndarray, period: int = 2) -> float:
    """A pixel grid of period ``period`` (the Haar wavelet's 2 x 2 blocks) in the stego, relative to the cover:
    an image's blockiness is its mean absolute step between neighbouring pixels across the ``period``-pixel
    grid's lines divided by the mean step inside the grid's cells (rows and columns, all channels); the result
    is the stego's blockiness over the cover's. 1: no grid added; above 1, block edges (the low band's blocks);
    below 1, a pattern inside the blocks that changes from block to block (the high bands')."""
    cover, stego = (np.asarray(a, dtype=np.float64) for a in (cover, stego))
    _check_same_shape(cover, stego)

    def blockiness(image: np.ndarray) -> float:
        across, inside = _steps_across_lines(image, (period, period))
        return math.nan if inside.mean() == 0 else float(across.mean() / inside.mean())

    return blockiness(stego) / blockiness(cover)


def image_pair_metrics(x: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """All metrics between two ``HxWx3`` uint8 RGB images of the same shape.

    Returns ``psnr``, ``ssim`` (RGB), ``psnr_y``, ``ssim_y`` (BT.601 luma), ``mae`` and ``rmse``,
    all on the 0-255 scale.
    """
    x = np.asarray(x)
    y = np.asarray(y)
    _check_same_shape(x, y)
    if x.ndim != 3 or x.shape[2] != 3:
        raise ValueError(f"expected HxWx3 RGB images, got shape {x.shape}")
    if x.dtype != np.uint8 or y.dtype != np.uint8:
        raise TypeError(f"expected uint8 images, got {x.dtype} and {y.dtype}")
    x_y, y_y = rgb_to_y(x), rgb_to_y(y)
    return {
        "psnr": psnr(x, y),
        "ssim": ssim(x, y),
        "psnr_y": psnr(x_y, y_y),
        "ssim_y": ssim(x_y, y_y),
        "mae": mae(x, y),
        "rmse": rmse(x, y),
    }


class MetricTable:
    """Per-batch metric rows with their means, saved as ``metrics.csv`` and ``metrics.json``.

    Each row is one batch: an index (``index_name`` column, the batch number by default) and a mapping
    of metric name to value. Metric names are generic; columns appear in first-seen order and a row
    may lack some of them (an empty CSV cell, left out of that column's mean).

    Means ignore non-finite values: the mean of a column is the mean of its finite values, and the
    number of infinite values (e.g. a PSNR of identical images) is counted separately, so that one
    lossless batch does not turn the mean PSNR into ``inf``. A column without any finite value has
    mean ``nan`` (``null`` in JSON). NaN values are left out of the mean and counted as well.

    ``metrics.json`` holds one flat object: the mean of every metric under its own name, then
    ``num_rows``, ``num_inf`` and ``num_nan`` (per-metric counts, only metrics with a non-zero
    count). These three names cannot be metric names.
    """

    RESERVED_KEYS = ("num_rows", "num_inf", "num_nan")

    def __init__(self, index_name: str = "batch") -> None:
        self.index_name = index_name
        self._keys: list[str] = []
        self._rows: list[tuple[object, dict[str, float]]] = []

    def __len__(self) -> int:
        return len(self._rows)

    @property
    def keys(self) -> list[str]:
        """Metric names in first-seen order."""
        return list(self._keys)

    @property
    def rows(self) -> list[dict[str, object]]:
        """Copies of the rows, each with the index under ``index_name``."""
        return [{self.index_name: index, **values} for index, values in self._rows]

    def add(self, values: Mapping[str, float], index: object = None) -> None:
        """Append one row; ``index`` defaults to the number of rows already added."""
        row: dict[str, float] = {}
        for key, value in values.items():
            if key in self.RESERVED_KEYS or key == self.index_name:
                raise ValueError(f"metric name {key!r} is reserved")
            row[key] = float(value)
            if key not in self._keys:
                self._keys.append(key)
        self._rows.append((len(self._rows) if index is None else index, row))

    def _column(self, key: str) -> list[float]:
        return [values[key] for _, values in self._rows if key in values]

    def means(self) -> dict[str, float]:
        """Mean of the finite values of every metric (``nan`` where there are none)."""
        result = {}
        for key in self._keys:
            finite = [v for v in self._column(key) if math.isfinite(v)]
            result[key] = math.fsum(finite) / len(finite) if finite else math.nan
        return result

    def inf_counts(self) -> dict[str, int]:
        """Number of infinite values of every metric."""
        return {key: sum(math.isinf(v) for v in self._column(key)) for key in self._keys}

    def nan_counts(self) -> dict[str, int]:
        """Number of NaN values of every metric."""
        return {key: sum(math.isnan(v) for v in self._column(key)) for key in self._keys}

    def summary(self) -> dict[str, object]:
        """The content of ``metrics.json`` (see the class docstring); NaN means become ``None``."""
        out: dict[str, object] = {
            key: (value if math.isfinite(value) else None) for key, value in self.means().items()
        }
        out["num_rows"] = len(self._rows)
        out["num_inf"] = {key: n for key, n in self.inf_counts().items() if n}
        out["num_nan"] = {key: n for key, n in self.nan_counts().items() if n}
        return out

    def to_csv(self) -> str:
        """One CSV line per row, index first; values written at full precision (``inf`` as text)."""
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow([self.index_name, *self._keys])
        for index, values in self._rows:
            writer.writerow([index, *(repr(values[k]) if k in values else "" for k in self._keys)])
        return buffer.getvalue()

    def write_csv(self, path: str | os.PathLike) -> Path:
        """Write the rows to ``path`` atomically and return it."""
        path = Path(path)
        atomic_write_text(path, self.to_csv())
        return path

    def write_json(self, path: str | os.PathLike) -> Path:
        """Write :meth:`summary` to ``path`` atomically (strict JSON) and return it."""
        path = Path(path)
        atomic_write_text(path, json.dumps(self.summary(), indent=2, allow_nan=False) + "\n")
        return path

    def save(self, out_dir: str | os.PathLike) -> tuple[Path, Path]:
        """Write ``metrics.csv`` and ``metrics.json`` into ``out_dir``; return both paths."""
        out_dir = Path(out_dir)
        return self.write_csv(out_dir / "metrics.csv"), self.write_json(out_dir / "metrics.json")

    def format_table(self, keys: Iterable[str] | None = None, precision: int = 4) -> str:
        """A fixed-width text table: one line per row, then the mean line (and an inf-count line if any)."""
        keys = list(self._keys if keys is None else keys)
        header = [self.index_name, *keys]
        lines = [[str(index), *(_format_value(values.get(k), precision) for k in keys)]
                 for index, values in self._rows]
        means = self.means()
        lines.append(["mean", *(_format_value(means.get(k), precision) for k in keys)])
        infs = self.inf_counts()
        if any(infs.get(k, 0) for k in keys):
            lines.append(["#inf", *(str(infs.get(k, 0)) for k in keys)])
        widths = [max(len(cells[i]) for cells in [header, *lines]) for i in range(len(header))]

        def join(cells: list[str]) -> str:
            first = cells[0].ljust(widths[0])
            return "  ".join([first, *(c.rjust(w) for c, w in zip(cells[1:], widths[1:]))])

        rule = "-" * len(join(header))
        body = [join(cells) for cells in lines[: len(self._rows)]]
        footer = [join(cells) for cells in lines[len(self._rows):]]
        return "\n".join([join(header), rule, *body, rule, *footer])


def _format_value(value: float | None, precision: int) -> str:
    if value is None:
        return "-"
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return f"{value:.{precision}f}"
