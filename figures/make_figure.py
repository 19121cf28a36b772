"""Draw the paper-style qualitative figure for one test batch.

One row of six panels with titles: cover | stego | 10x amplified |cover - stego| | the N secrets (grid)
| the N recovered secrets (grid) | 10x amplified |secret - recovered| (grid). The stego and recovered
titles carry the RGB PSNR (0-255 scale) of the saved 8-bit images.

The results folder is the one ``test.py`` writes: ``cover/``, ``steg/``, ``secret/`` and
``secret_recover/`` sub-folders of PNG files, where the files of batch K start with ``b{K:04d}_`` and the
sorted order of the secret files is the secret index (``secret/b0000_01_kodim16.png`` is recovered as
``secret_recover/b0000_01_kodim16.png``).

Example::

    python -m figures.make_figure --results results/invmihnet_6images/DIV2K_valid_HR_1024 --batch 0 \\
        --out figure.png
"""

from __future__ import annotations

import argparse
import math
import os
from pathlib import Path

import cv2
import numpy as np

from utils.atomic_io import atomic_write_bytes
from utils.image_io import read_image, to_uint8
from utils.metrics import psnr

SUBFOLDERS = ("cover", "steg", "secret", "secret_recover")
AMPLIFICATION = 10
MARGIN = 8
GRID_GAP = 2
MIN_PANEL_HEIGHT = 256
BACKGROUND = 255
FONT = cv2.FONT_HERSHEY_SIMPLEX


def batch_prefix(batch: int) -> str:
    """File-name prefix of batch ``batch`` in a results folder, e.g. ``b0003_``."""
    return f"b{batch:04d}_"


def _available_batches(folder: Path) -> list[int]:
    found = set()
    for path in folder.glob("b*_*.png"):
        digits = path.name[1:].split("_", 1)[0]
        if digits.isdigit():
            found.add(int(digits))
    return sorted(found)


def batch_files(results_dir: str | os.PathLike, batch: int = 0) -> dict[str, list[Path]]:
    """The sorted PNG files of ``batch`` in each sub-folder of ``results_dir``, checked for consistency."""
    results_dir = Path(results_dir)
    if not results_dir.is_dir():
        raise FileNotFoundError(f"results folder not found: {results_dir}")
    prefix = batch_prefix(batch)
    files: dict[str, list[Path]] = {}
    for name in SUBFOLDERS:
        folder = results_dir / name
        if not folder.is_dir():
            raise FileNotFoundError(
                f"missing sub-folder {folder} (a results folder holds {', '.join(SUBFOLDERS)})"
            )
        files[name] = sorted(folder.glob(f"{prefix}*.png"))
        if not files[name]:
            available = _available_batches(folder)
            raise FileNotFoundError(
                f"batch {batch} not found in {folder}: no {prefix}*.png "
                f"(batches present: {', '.join(map(str, available)) or 'none'})"
            )
    for name in ("cover", "steg"):
        if len(files[name]) != 1:
            listed = ", ".join(p.name for p in files[name])
            raise ValueError(f"expected one {prefix}*.png in {results_dir / name}, found {listed}")
    secrets = [p.name for p in files["secret"]]
    recovered = [p.name for p in files["secret_recover"]]
    if secrets != recovered:
        raise ValueError(
            f"batch {batch}: secret files {secrets} in {results_dir / 'secret'} do not match "
            f"recovered files {recovered} in {results_dir / 'secret_recover'}"
        )
    return files


def read_rgb(path: str | os.PathLike) -> np.ndarray:
    """Read an image as ``HxWx3`` uint8 RGB (grey expanded, alpha dropped)."""
    return to_uint8(read_image(path))


def amplified_difference(a: np.ndarray, b: np.ndarray, gain: int = AMPLIFICATION) -> np.ndarray:
    """``|a - b| * gain`` per channel, clipped to 0..255, as uint8."""
    if a.shape != b.shape:
        raise ValueError(f"images must have the same shape, got {a.shape} and {b.shape}")
    diff = np.abs(a.astype(np.int32) - b.astype(np.int32)) * gain
    return np.clip(diff, 0, 255).astype(np.uint8)


def grid_shape(n: int) -> tuple[int, int]:
    """(rows, cols) of the grid for ``n`` images: the most square factorisation with rows >= cols.

    This gives the mosaic layouts of the published models (4: 2x2, 6: 3x2, 8: 4x2, 9: 3x3, 16: 4x4);
    counts without a near-square factorisation (e.g. primes) use a near-square grid with empty cells.
    """
    if n < 1:
        raise ValueError(f"need at least one image, got {n}")
    cols = max(c for c in range(1, math.isqrt(n) + 1) if n % c == 0)
    rows = n // cols
    if rows > 2 * cols:
        rows = math.ceil(math.sqrt(n))
        cols = math.ceil(n / rows)
    return rows, cols


def fit_into(img: np.ndarray, height: int, width: int) -> np.ndarray:
    """Resize ``img`` to fit ``height`` x ``width`` keeping its aspect ratio, centred on the background."""
    h, w = img.shape[:2]
    scale = min(height / h, width / w)
    new_h = max(1, min(height, round(h * scale)))
    new_w = max(1, min(width, round(w * scale)))
    if (new_h, new_w) != (h, w):
        interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_NEAREST
        img = cv2.resize(img, (new_w, new_h), interpolation=interpolation)
    canvas = np.full((height, width, 3), BACKGROUND, dtype=np.uint8)
    top = (height - new_h) // 2
    left = (width - new_w) // 2
    canvas[top : top + new_h, left : left + new_w] = img
    return canvas


def tile_grid(images: list[np.ndarray], height: int, width: int) -> np.ndarray:
    """Arrange ``images`` row-major in a :func:`grid_shape` grid, centred in ``height`` x ``width``.

    Cells take the aspect ratio of the first image and are as large as the panel allows.
    """
    rows, cols = grid_shape(len(images))
    box_h = (height - (rows - 1) * GRID_GAP) // rows
    box_w = (width - (cols - 1) * GRID_GAP) // cols
    if box_h < 1 or box_w < 1:
        raise ValueError(f"panel {height}x{width} is too small for a {rows}x{cols} grid")
    img_h, img_w = images[0].shape[:2]
    scale = min(box_h / img_h, box_w / img_w)
    cell_h = max(1, min(box_h, round(img_h * scale)))
    cell_w = max(1, min(box_w, round(img_w * scale)))
    top0 = (height - rows * cell_h - (rows - 1) * GRID_GAP) // 2
    left0 = (width - cols * cell_w - (cols - 1) * GRID_GAP) // 2
    canvas = np.full((height, width, 3), BACKGROUND, dtype=np.uint8)
    for i, img in enumerate(images):
        r, c = divmod(i, cols)
        top = top0 + r * (cell_h + GRID_GAP)
        left = left0 + c * (cell_w + GRID_GAP)
        canvas[top : top + cell_h, left : left + cell_w] = fit_into(img, cell_h, cell_w)
    return canvas


def title_height(panel_height: int) -> int:
    """Height in pixels of the two-line title band above panels of ``panel_height`` pixels."""
    return 2 * max(16, panel_height // 14)


def _draw_centered(canvas: np.ndarray, text: str, center_x: int, baseline_y: int, line_h: int, max_w: int) -> None:
    (base_w, base_h), _ = cv2.getTextSize(text, FONT, 1.0, 1)
    scale = min(0.6 * line_h / base_h, 0.95 * max_w / max(base_w, 1))
    thickness = max(1, round(scale * 1.6))
    (text_w, _), _ = cv2.getTextSize(text, FONT, scale, thickness)
    origin = (center_x - text_w // 2, baseline_y)
    cv2.putText(canvas, text, origin, FONT, scale, (0, 0, 0), thickness, cv2.LINE_AA)


def _mean_psnr(values: list[float]) -> float:
    finite = [v for v in values if math.isfinite(v)]
    return sum(finite) / len(finite) if finite else math.inf


def _psnr_label(value: float) -> str:
    return "PSNR inf (identical)" if math.isinf(value) else f"PSNR {value:.2f} dB"


def make_figure(results_dir: str | os.PathLike, batch: int = 0, panel_height: int | None = None) -> np.ndarray:
    """Compose the figure of ``batch`` of ``results_dir`` as an ``HxWx3`` uint8 RGB array.

    Panels are ``panel_height`` pixels high (default: the cover height, at least
    ``MIN_PANEL_HEIGHT``) and as wide as the cover's aspect ratio gives. The figure is
    ``MARGIN + title_height(panel_height) + panel_height + MARGIN`` high and
    ``MARGIN + 6 * (panel_width + MARGIN)`` wide.
    """
    files = batch_files(results_dir, batch)
    cover = read_rgb(files["cover"][0])
    stego = read_rgb(files["steg"][0])
    if cover.shape != stego.shape:
        raise ValueError(f"cover {files['cover'][0]} is {cover.shape} but stego {files['steg'][0]} is {stego.shape}")
    secrets = [read_rgb(p) for p in files["secret"]]
    recovered = [read_rgb(p) for p in files["secret_recover"]]
    for s, r, path in zip(secrets, recovered, files["secret"]):
        if s.shape != r.shape:
            raise ValueError(f"secret {path.name} is {s.shape} but its recovered image is {r.shape}")

    h, w = cover.shape[:2]
    panel_h = max(h, MIN_PANEL_HEIGHT) if panel_height is None else panel_height
    if panel_h < 1:
        raise ValueError(f"panel height must be positive, got {panel_h}")
    panel_w = max(1, round(w * panel_h / h))
    n = len(secrets)
    secret_psnr = _mean_psnr([psnr(s, r) for s, r in zip(secrets, recovered)])
    panels = [
        (("Cover", ""), fit_into(cover, panel_h, panel_w)),
        (("Stego", _psnr_label(psnr(cover, stego))), fit_into(stego, panel_h, panel_w)),
        ((f"|Cover - Stego| x{AMPLIFICATION}", ""), fit_into(amplified_difference(cover, stego), panel_h, panel_w)),
        ((f"Secrets (N={n})", ""), tile_grid(secrets, panel_h, panel_w)),
        (("Recovered secrets", f"mean {_psnr_label(secret_psnr)}"), tile_grid(recovered, panel_h, panel_w)),
        (
            (f"|Secret - Recovered| x{AMPLIFICATION}", ""),
            tile_grid([amplified_difference(s, r) for s, r in zip(secrets, recovered)], panel_h, panel_w),
        ),
    ]

    band = title_height(panel_h)
    line_h = band // 2
    fig_h = MARGIN + band + panel_h + MARGIN
    fig_w = MARGIN + len(panels) * (panel_w + MARGIN)
    figure = np.full((fig_h, fig_w, 3), BACKGROUND, dtype=np.uint8)
    top = MARGIN + band
    for i, ((title, subtitle), panel) in enumerate(panels):
        left = MARGIN + i * (panel_w + MARGIN)
        figure[top : top + panel_h, left : left + panel_w] = panel
        center_x = left + panel_w // 2
        _draw_centered(figure, title, center_x, MARGIN + round(0.8 * line_h), line_h, panel_w)
        if subtitle:
            _draw_centered(figure, subtitle, center_x, MARGIN + line_h + round(0.8 * line_h), line_h, panel_w)
    return figure


JPEG_QUALITY = 90
"""Quality of a figure written as JPEG (the docs' figures)."""


def save_figure(path: str | os.PathLike, rgb: np.ndarray) -> Path:
    """Write an RGB uint8 image atomically, creating the parent folder: PNG, or JPEG (quality
    :data:`JPEG_QUALITY`) for a ``.jpg`` / ``.jpeg`` path."""
    suffix = Path(path).suffix.lower()
    if suffix not in (".png", ".jpg", ".jpeg"):
        raise ValueError(f"cannot write a figure as {suffix or 'a file without a suffix'}: {path} (use .png or .jpg)")
    params = [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY] if suffix != ".png" else []
    ok, buffer = cv2.imencode(".png" if suffix == ".png" else ".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), params)
    if not ok:
        raise ValueError(f"cannot encode the figure for {path}")
    return atomic_write_bytes(path, buffer.tobytes())


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--results", required=True, help="results/<name>/<dataset> folder written by test.py")
    parser.add_argument("--batch", type=int, default=0, help="batch index K (files b{K:04d}_*)")
    parser.add_argument("--out", required=True, help="output path (.png, or .jpg for JPEG)")
    parser.add_argument("--panel-height", type=int, default=None,
                        help=f"panel height in pixels (default: cover height, at least {MIN_PANEL_HEIGHT})")
    args = parser.parse_args(argv)
    try:
        figure = make_figure(args.results, args.batch, args.panel_height)
        out = save_figure(args.out, figure)
    except (FileNotFoundError, ValueError) as exc:
        raise SystemExit(f"error: {exc}") from exc
    print(f"wrote {out} ({figure.shape[1]}x{figure.shape[0]})")


if __name__ == "__main__":
    main()
