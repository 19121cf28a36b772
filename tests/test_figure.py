"""Tests of figures/make_figure.py on a tiny fake results folder."""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from figures.make_figure import MARGIN, grid_shape, main, make_figure, title_height

SIZE = 32
N_SECRETS = 4


def _write_rgb(path: Path, rgb: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))


@pytest.fixture()
def results(tmp_path: Path) -> tuple[Path, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    root = tmp_path / "results" / "model" / "dataset"
    cover = rng.integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8)
    stego = np.clip(cover.astype(int) + rng.integers(-3, 4, cover.shape), 0, 255).astype(np.uint8)
    _write_rgb(root / "cover" / "b0000_img0.png", cover)
    _write_rgb(root / "steg" / "b0000_img0.png", stego)
    for i in range(1, N_SECRETS + 1):
        secret = rng.integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8)
        recovered = np.clip(secret.astype(int) + rng.integers(-5, 6, secret.shape), 0, 255).astype(np.uint8)
        _write_rgb(root / "secret" / f"b0000_{i:02d}_img{i}.png", secret)
        _write_rgb(root / "secret_recover" / f"b0000_{i:02d}_img{i}.png", recovered)
    return root, cover, stego


def test_figure_layout_and_panels(results: tuple[Path, np.ndarray, np.ndarray]) -> None:
    root, cover, stego = results
    fig = make_figure(root, batch=0, panel_height=SIZE)
    top = MARGIN + title_height(SIZE)
    assert fig.dtype == np.uint8
    assert fig.shape == (top + SIZE + MARGIN, MARGIN + 6 * (SIZE + MARGIN), 3)

    def panel(i: int) -> np.ndarray:
        left = MARGIN + i * (SIZE + MARGIN)
        return fig[top : top + SIZE, left : left + SIZE]

    np.testing.assert_array_equal(panel(0), cover)
    np.testing.assert_array_equal(panel(1), stego)
    expected_diff = np.clip(np.abs(cover.astype(int) - stego.astype(int)) * 10, 0, 255).astype(np.uint8)
    np.testing.assert_array_equal(panel(2), expected_diff)
    # The title band holds dark text.
    assert fig[:top].min() < 128


def test_default_panel_height_and_cli(results: tuple[Path, np.ndarray, np.ndarray], tmp_path: Path) -> None:
    root, _, _ = results
    out = tmp_path / "figs" / "figure.png"
    main(["--results", str(root), "--batch", "0", "--out", str(out)])
    written = cv2.imread(str(out), cv2.IMREAD_COLOR)
    assert written is not None
    panel = 256  # small covers are enlarged to MIN_PANEL_HEIGHT
    assert written.shape == (MARGIN + title_height(panel) + panel + MARGIN, MARGIN + 6 * (panel + MARGIN), 3)
    np.testing.assert_array_equal(cv2.cvtColor(written, cv2.COLOR_BGR2RGB), make_figure(root, 0))


def test_the_suffix_chooses_png_or_jpeg(results: tuple[Path, np.ndarray, np.ndarray], tmp_path: Path) -> None:
    root, _, _ = results
    main(["--results", str(root), "--batch", "0", "--out", str(tmp_path / "figure.jpg")])
    data = (tmp_path / "figure.jpg").read_bytes()
    assert data[:3] == b"\xff\xd8\xff"
    written = cv2.cvtColor(cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    expected = make_figure(root, 0)
    assert written.shape == expected.shape
    assert np.abs(written.astype(float) - expected).mean() < 15  # noise panels are JPEG's worst case
    with pytest.raises(SystemExit, match=r"cannot write a figure as \.gif: .*figure\.gif \(use \.png or \.jpg\)"):
        main(["--results", str(root), "--batch", "0", "--out", str(tmp_path / "figure.gif")])
    assert not (tmp_path / "figure.gif").exists()


def test_missing_batch_and_folders(results: tuple[Path, np.ndarray, np.ndarray], tmp_path: Path) -> None:
    root, _, _ = results
    with pytest.raises(FileNotFoundError, match=r"batch 3 not found in .*cover.*b0003_.*batches present: 0"):
        make_figure(root, batch=3)
    with pytest.raises(SystemExit, match="batch 3 not found"):
        main(["--results", str(root), "--batch", "3", "--out", str(tmp_path / "x.png")])
    with pytest.raises(FileNotFoundError, match="results folder not found"):
        make_figure(tmp_path / "nope")
    shutil.rmtree(root / "secret_recover")
    with pytest.raises(FileNotFoundError, match="secret_recover"):
        make_figure(root)


def test_mismatched_secret_files(results: tuple[Path, np.ndarray, np.ndarray]) -> None:
    root, _, _ = results
    (root / "secret_recover" / "b0000_04_img4.png").unlink()
    with pytest.raises(ValueError, match="do not match"):
        make_figure(root)


@pytest.mark.parametrize(("n", "shape"), [(1, (1, 1)), (4, (2, 2)), (6, (3, 2)), (8, (4, 2)), (9, (3, 3)),
                                          (16, (4, 4)), (7, (3, 3))])
def test_grid_shape(n: int, shape: tuple[int, int]) -> None:
    assert grid_shape(n) == shape
