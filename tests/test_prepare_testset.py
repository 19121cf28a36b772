"""Tests of scripts/prepare_testset.py on small synthetic images."""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np
import pytest

from scripts.prepare_testset import center_crop, main, prepare_testset


def _gradient(h: int, w: int) -> np.ndarray:
    """A BGR image whose pixels encode their own coordinates."""
    rows, cols = np.indices((h, w))
    return np.stack([rows % 256, cols % 256, (rows + cols) % 256], axis=-1).astype(np.uint8)


@pytest.fixture()
def source(tmp_path: Path) -> Path:
    folder = tmp_path / "src"
    folder.mkdir()
    cv2.imwrite(str(folder / "a_big.png"), _gradient(40, 50))
    cv2.imwrite(str(folder / "b_exact.bmp"), _gradient(32, 32))
    cv2.imwrite(str(folder / "c_small.png"), _gradient(31, 64))
    grey = _gradient(36, 33)[..., 0]
    cv2.imwrite(str(folder / "d_grey.png"), grey)
    bgra = np.dstack([_gradient(35, 35), np.full((35, 35), 7, np.uint8)])
    cv2.imwrite(str(folder / "e_alpha.png"), bgra)
    cv2.imwrite(str(folder / "f_16bit.png"), _gradient(34, 34).astype(np.uint16) * 257)
    (folder / "notes.txt").write_text("not an image")
    return folder


def _read(path: Path) -> np.ndarray:
    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert img is not None, path
    return img


def test_square_crop_counts_and_content(source: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    out = tmp_path / "out"
    with caplog.at_level(logging.INFO):
        written, skipped = prepare_testset(source, out, 32, 32)
    assert (written, skipped) == (5, 1)
    assert sorted(p.name for p in out.iterdir()) == [
        "a_big.png", "b_exact.png", "d_grey.png", "e_alpha.png", "f_16bit.png",
    ]
    for path in out.iterdir():
        img = _read(path)
        assert img.shape == (32, 32, 3) and img.dtype == np.uint8, path.name
    np.testing.assert_array_equal(_read(out / "a_big.png"), _gradient(40, 50)[4:36, 9:41])
    np.testing.assert_array_equal(_read(out / "b_exact.png"), _gradient(32, 32))
    grey = _read(out / "d_grey.png")
    np.testing.assert_array_equal(grey[..., 0], grey[..., 2])
    np.testing.assert_array_equal(_read(out / "e_alpha.png"), _gradient(35, 35)[1:33, 1:33])
    np.testing.assert_array_equal(_read(out / "f_16bit.png"), _gradient(34, 34)[1:33, 1:33])
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "c_small.png" in warnings[0].getMessage()


def test_rectangular_crop(source: Path, tmp_path: Path) -> None:
    written, skipped = prepare_testset(source, tmp_path / "out", 30, 48)
    assert (written, skipped) == (2, 4)
    img = _read(tmp_path / "out" / "a_big.png")
    assert img.shape == (30, 48, 3)
    np.testing.assert_array_equal(img, _gradient(40, 50)[5:35, 1:49])
    assert _read(tmp_path / "out" / "c_small.png").shape == (30, 48, 3)


def test_center_crop_rejects_larger_crop() -> None:
    with pytest.raises(ValueError, match="larger than the image 4x5"):
        center_crop(np.zeros((4, 5, 3), np.uint8), 5, 5)


def test_errors_name_the_folder(tmp_path: Path, source: Path) -> None:
    missing = tmp_path / "missing"
    with pytest.raises(FileNotFoundError, match="missing"):
        prepare_testset(missing, tmp_path / "out", 8)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match="empty"):
        prepare_testset(empty, tmp_path / "out", 8)
    with pytest.raises(ValueError, match="differ"):
        prepare_testset(source, source, 8)
    cv2.imwrite(str(source / "a_big.jpg"), _gradient(40, 50))
    with pytest.raises(ValueError, match="a_big"):
        prepare_testset(source, tmp_path / "out", 8)


def test_cli(source: Path, tmp_path: Path) -> None:
    out = tmp_path / "cli"
    main(["--input", str(source), "--output", str(out), "--size", "33", "--size-w", "34"])
    assert sorted(p.name for p in out.iterdir()) == ["a_big.png", "e_alpha.png", "f_16bit.png"]
    with pytest.raises(SystemExit, match="input folder not found"):
        main(["--input", str(tmp_path / "nope"), "--output", str(out), "--size", "8"])
