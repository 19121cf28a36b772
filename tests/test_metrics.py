"""Tests of utils.metrics against closed-form values and an independent SSIM implementation."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import cv2
import numpy as np
import pytest

from utils.metrics import (
    MetricTable,
    image_pair_metrics,
    mae,
    psnr,
    rgb_to_y,
    rmse,
    ssim,
)

KODAK_DIR = Path(__file__).resolve().parents[1] / "datasets" / "kodak_demo" / "test"


def _kodak(name: str) -> np.ndarray:
    path = KODAK_DIR / name
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    assert img is not None, f"cannot read {path}"
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def _noisy(img: np.ndarray, sigma: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(np.rint(img + rng.normal(0.0, sigma, img.shape)), 0, 255).astype(np.uint8)


def _reference_ssim_2d(x: np.ndarray, y: np.ndarray, data_range: float = 255.0) -> float:
    """Wang et al. (2004) written out: 11x11 Gaussian (sigma 1.5), 'valid' windows, biased moments."""
    coords = np.arange(11, dtype=np.float64) - 5.0
    g = np.exp(-(coords**2) / (2.0 * 1.5**2))
    window = np.outer(g, g)
    window /= window.sum()

    def local_mean(img: np.ndarray) -> np.ndarray:
        patches = np.lib.stride_tricks.sliding_window_view(img, (11, 11))
        return np.einsum("ijkl,kl->ij", patches, window)

    x = x.astype(np.float64)
    y = y.astype(np.float64)
    mu_x, mu_y = local_mean(x), local_mean(y)
    var_x = local_mean(x * x) - mu_x**2
    var_y = local_mean(y * y) - mu_y**2
    cov = local_mean(x * y) - mu_x * mu_y
    c1 = (0.01 * data_range) ** 2
    c2 = (0.03 * data_range) ** 2
    ssim_map = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2))
    return float(ssim_map.mean())


def test_identical_images_psnr_inf_ssim_one() -> None:
    img = _kodak("kodim15.png")
    assert psnr(img, img) == math.inf
    assert ssim(img, img) == pytest.approx(1.0, abs=1e-12)
    metrics = image_pair_metrics(img, img.copy())
    assert metrics["psnr"] == math.inf and metrics["psnr_y"] == math.inf
    assert metrics["ssim"] == pytest.approx(1.0, abs=1e-12)
    assert metrics["ssim_y"] == pytest.approx(1.0, abs=1e-12)
    assert metrics["mae"] == 0.0 and metrics["rmse"] == 0.0


@pytest.mark.parametrize("k", [1, 3, 10])
def test_constant_offset_psnr(k: int) -> None:
    rng = np.random.default_rng(k)
    a = rng.integers(k, 256, size=(32, 48, 3)).astype(np.uint8)
    b = (a - k).astype(np.uint8)
    expected = 20.0 * math.log10(255.0 / k)
    assert psnr(a, b) == pytest.approx(expected, abs=1e-10)
    assert mae(a, b) == pytest.approx(k)
    assert rmse(a, b) == pytest.approx(k)
    # A grey offset of k levels on every channel is an offset of k * (65.481 + 128.553 + 24.966) / 255 in Y.
    y_offset = k * 219.0 / 255.0
    assert psnr(rgb_to_y(a), rgb_to_y(b)) == pytest.approx(20.0 * math.log10(255.0 / y_offset), abs=1e-9)


def test_psnr_of_known_noise_level() -> None:
    sign = np.where(np.indices((40, 40)).sum(axis=0) % 2 == 0, 1.0, -1.0)
    a = np.full((40, 40), 128.0)
    b = a + 5.0 * sign
    assert psnr(a, b) == pytest.approx(20.0 * math.log10(255.0 / 5.0), abs=1e-10)
    assert psnr(a / 255.0, b / 255.0, data_range=1.0) == pytest.approx(psnr(a, b), abs=1e-10)


@pytest.mark.parametrize(
    ("rgb", "y"),
    [
        ((0, 0, 0), 16.0),
        ((255, 255, 255), 235.0),
        ((255, 0, 0), 16.0 + 65.481),
        ((0, 255, 0), 16.0 + 128.553),
        ((0, 0, 255), 16.0 + 24.966),
        ((128, 128, 128), 16.0 + 128 * 219.0 / 255.0),
    ],
)
def test_rgb_to_y_bt601(rgb: tuple[int, int, int], y: float) -> None:
    img = np.empty((2, 3, 3), dtype=np.uint8)
    img[...] = rgb
    out = rgb_to_y(img)
    assert out.dtype == np.float64 and out.shape == (2, 3)
    np.testing.assert_allclose(out, y, atol=1e-9)
    np.testing.assert_allclose(rgb_to_y(img.astype(np.float32)), y, atol=1e-4)


def test_rgb_to_y_rejects_non_rgb() -> None:
    with pytest.raises(ValueError, match="3 channels"):
        rgb_to_y(np.zeros((4, 4, 4), dtype=np.uint8))


@pytest.mark.parametrize(("name", "sigma", "seed"), [("kodim16.png", 3.0, 1), ("kodim19.png", 15.0, 2)])
def test_ssim_matches_independent_implementation(name: str, sigma: float, seed: int) -> None:
    clean = _kodak(name)
    noisy = _noisy(clean, sigma, seed)
    expected_rgb = np.mean([_reference_ssim_2d(clean[..., c], noisy[..., c]) for c in range(3)])
    assert ssim(clean, noisy) == pytest.approx(expected_rgb, abs=1e-4)
    y_clean, y_noisy = rgb_to_y(clean), rgb_to_y(noisy)
    assert ssim(y_clean, y_noisy) == pytest.approx(_reference_ssim_2d(y_clean, y_noisy), abs=1e-4)
    metrics = image_pair_metrics(clean, noisy)
    assert metrics["ssim"] == pytest.approx(expected_rgb, abs=1e-4)
    assert 0.0 < metrics["ssim"] < 1.0
    assert metrics["psnr"] == pytest.approx(psnr(clean, noisy))


def test_image_pair_metrics_keys_and_shape_mismatch() -> None:
    a = _kodak("kodim17.png")
    b = _noisy(a, 5.0, 3)
    metrics = image_pair_metrics(a, b)
    assert set(metrics) == {"psnr", "ssim", "psnr_y", "ssim_y", "mae", "rmse"}
    assert all(isinstance(v, float) for v in metrics.values())
    assert metrics["psnr"] == pytest.approx(20.0 * math.log10(255.0 / metrics["rmse"]))
    with pytest.raises(ValueError, match=r"\(256, 256, 3\).*\(128, 256, 3\)"):
        image_pair_metrics(a, b[:128])
    with pytest.raises(TypeError, match="uint8"):
        image_pair_metrics(a.astype(np.float32), b.astype(np.float32))


def test_metric_table_csv_json_and_means(tmp_path: Path) -> None:
    keys = [
        "stego_psnr", "stego_ssim", "secret_psnr", "secret_ssim", "stego_psnr_y", "secret_psnr_y",
        "stego_mae", "stego_rmse", "secret_mae", "secret_rmse",
    ]
    table = MetricTable()
    rows = [
        {k: float(i + j) for j, k in enumerate(keys)} for i in range(3)
    ]
    rows[1]["stego_psnr"] = math.inf
    for row in rows:
        table.add(row)
    assert len(table) == 3 and table.keys == keys

    csv_path, json_path = table.save(tmp_path / "out")
    assert csv_path.name == "metrics.csv" and json_path.name == "metrics.json"
    assert sorted(p.name for p in csv_path.parent.iterdir()) == ["metrics.csv", "metrics.json"]

    with csv_path.open(newline="") as handle:
        written = list(csv.DictReader(handle))
    assert list(written[0]) == ["batch", *keys]
    assert [r["batch"] for r in written] == ["0", "1", "2"]
    assert float(written[1]["stego_psnr"]) == math.inf
    assert float(written[2]["secret_rmse"]) == 2.0 + 9.0

    summary = json.loads(json_path.read_text())
    for j, key in enumerate(keys):
        expected = (0.0 + 2.0) / 2 if key == "stego_psnr" else 1.0 + j
        assert summary[key] == pytest.approx(expected)
    assert summary["num_rows"] == 3
    assert summary["num_inf"] == {"stego_psnr": 1}
    assert summary["num_nan"] == {}

    text = table.format_table()
    assert "stego_psnr" in text and "mean" in text and "#inf" in text and "inf" in text.splitlines()[3]


def test_metric_table_missing_values_all_infinite_and_reserved(tmp_path: Path) -> None:
    table = MetricTable(index_name="name")
    table.add({"psnr": math.inf, "ssim": 1.0}, index="a")
    table.add({"psnr": math.inf}, index="b")
    assert table.means()["ssim"] == 1.0
    assert math.isnan(table.means()["psnr"])
    summary = json.loads(table.write_json(tmp_path / "m.json").read_text())
    assert summary["psnr"] is None and summary["num_inf"] == {"psnr": 2}
    lines = table.write_csv(tmp_path / "m.csv").read_text().splitlines()
    assert lines == ["name,psnr,ssim", "a,inf,1.0", "b,inf,"]
    with pytest.raises(ValueError, match="reserved"):
        table.add({"num_rows": 1.0})


def test_hide_reveal_psnrs_measure_the_8bit_images() -> None:
    """The benchmarks' tensor PSNRs are the metrics' PSNR of the 8-bit images: stego vs cover, secrets averaged."""
    from types import SimpleNamespace

    import torch

    from inference.round_trip import RoundTrip
    from utils.image_io import to_uint8

    def hide_reveal_psnrs(images, stego, recovered):
        return RoundTrip.of(images[:1], images[1:], SimpleNamespace(stego=stego), torch.stack(recovered)).psnr_metrics()

    g = torch.Generator().manual_seed(0)
    images = torch.rand(3, 3, 16, 16, generator=g)
    stego = (images[:1] + 0.02 * torch.randn(1, 3, 16, 16, generator=g)).clamp(0, 1)
    recovered = [images[1], (images[2] + 0.05 * torch.randn(3, 16, 16, generator=g)).clamp(0, 1)]
    result = hide_reveal_psnrs(images, stego, recovered)
    assert result['stego_psnr'] == image_pair_metrics(to_uint8(stego[0]), to_uint8(images[0]))['psnr']
    second = psnr(to_uint8(recovered[1]), to_uint8(images[2]))
    assert math.isinf(result['secret_psnr']) and 20 < second < 40
    recovered[0] = recovered[1]
    assert hide_reveal_psnrs(images, stego, recovered)['secret_psnr'] == pytest.approx(
        (second + psnr(to_uint8(recovered[1]), to_uint8(images[1]))) / 2)
