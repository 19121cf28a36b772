"""Tests of the data package: bicubic resize, image files, datasets, loaders and LMDB."""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from data import create_dataloader, create_dataset
from utils.image_io import (IMAGE_EXTENSIONS, ImageReadError, decode_image_bytes, list_images,
                           read_image, save_image, to_uint8)
from data.imresize import imresize
from data.steg_dataset import StegDataset
from scripts.create_lmdb import create_lmdb

REPO = Path(__file__).resolve().parents[1]
GOLDEN_DIR = REPO / "tests" / "data"
KODAK_TRAIN = REPO / "datasets" / "kodak_demo" / "train"
GRIDS = [(2, 2), (3, 2), (4, 2), (3, 3), (4, 4)]


def _kodak(index: int) -> np.ndarray:
    """A Kodak sample photograph as HWC uint8 BGR."""
    path = sorted(KODAK_TRAIN.glob("*.png"))[index]
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    assert img is not None, path
    return img


def _write_images(folder: Path, images: list[np.ndarray], prefix: str = "img") -> list[Path]:
    """Write HWC uint8 BGR images as PNG files; return their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for number, img in enumerate(images):
        path = folder / f"{prefix}{number:03d}.png"
        assert cv2.imwrite(str(path), img)
        paths.append(path)
    return paths


def _opt(root: Path | str | None, phase: str = "train", scale=(2, 2), **extra) -> dict:
    opt = {
        "name": "test", "mode": "Steg", "phase": phase, "opt_key": f"datasets.{phase}",
        "dataroot_GT": None if root is None else str(root),
        "scale_H": scale[0], "scale_W": scale[1],
    }
    if phase == "train":
        opt["GT_size"] = 48
    opt.update(extra)
    return opt


def _rgb_float(bgr_u8: np.ndarray) -> np.ndarray:
    return bgr_u8[:, :, ::-1].astype(np.float32) / 255.0


# ----------------------------------------------------------------------------- imresize


@pytest.mark.parametrize("num_images", [4, 6, 8, 9, 16])
def test_imresize_matches_golden(num_images: int) -> None:
    case = torch.load(GOLDEN_DIR / f"golden_{num_images}images.pt", weights_only=True)
    images = (case["images_u8"].float() / 255).permute(0, 2, 3, 1).numpy()
    expected = case["lq"].permute(0, 2, 3, 1).numpy()
    for img, lq in zip(images, expected):
        out = imresize(img, 1 / case["scale_H"], 1 / case["scale_W"])
        assert out.dtype == np.float32
        assert out.shape == lq.shape
        assert np.abs(out - lq).max() < 1e-4


@pytest.mark.parametrize("num_images", [6, 16])
def test_dataset_lq_matches_golden(tmp_path: Path, num_images: int) -> None:
    case = torch.load(GOLDEN_DIR / f"golden_{num_images}images.pt", weights_only=True)
    bgr = [np.ascontiguousarray(img.permute(1, 2, 0).numpy()[:, :, ::-1]) for img in case["images_u8"]]
    _write_images(tmp_path / "gt", bgr)
    opt = _opt(tmp_path / "gt", "test", (case["scale_H"], case["scale_W"]))
    dataset = create_dataset(opt)
    batch = next(iter(create_dataloader(dataset, opt, num_images)))
    assert torch.equal(batch["GT"], case["images_u8"].float() / 255)
    assert (batch["LQ"] - case["lq"]).abs().max().item() < 1e-4


def test_imresize_axes_constant_and_grey() -> None:
    rng = np.random.default_rng(0)
    img = rng.random((60, 40, 3), dtype=np.float32)
    assert imresize(img, 1 / 3, 1 / 2).shape == (20, 20, 3)
    assert imresize(img, 1 / 2, 1 / 4).shape == (30, 10, 3)
    flat = np.full((36, 24, 3), 0.37, dtype=np.float32)
    assert np.allclose(imresize(flat, 1 / 3, 1 / 2), 0.37, atol=1e-6)
    grey = img[:, :, 0]
    assert np.array_equal(imresize(grey, 1 / 2, 1 / 2), imresize(img, 1 / 2, 1 / 2)[:, :, 0])
    assert np.array_equal(imresize(img.astype(np.float64), 0.5, 0.5), imresize(img, 0.5, 0.5))


# ----------------------------------------------------------------------------- image files


def test_list_images_recursive_sorted_case_insensitive(tmp_path: Path) -> None:
    ok, png = cv2.imencode(".png", np.zeros((4, 4, 3), np.uint8))
    for rel in ["b/z.PNG", "a/y.jpg", "a.png", "c/d/e.TIFF", "note.txt", "x.gif"]:
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(png.tobytes() if path.suffix.lower() in IMAGE_EXTENSIONS else b"not an image")
    found = [p.relative_to(tmp_path).as_posix() for p in list_images(tmp_path)]
    assert found == ["a.png", "a/y.jpg", "b/z.PNG", "c/d/e.TIFF"]


def test_read_image_colour_order_and_8bit(tmp_path: Path) -> None:
    bgr = _kodak(0)[:32, :40]
    path = tmp_path / "colour.png"
    cv2.imwrite(str(path), bgr)
    img = read_image(path)
    assert img.dtype == np.float32 and img.shape == (32, 40, 3)
    assert np.array_equal(img, _rgb_float(bgr))


def test_read_image_grey_rgba_and_16bit(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    grey = rng.integers(0, 256, (9, 7), dtype=np.uint8)
    cv2.imwrite(str(tmp_path / "grey.png"), grey)
    img = read_image(tmp_path / "grey.png")
    assert img.shape == (9, 7, 3)
    for channel in range(3):
        assert np.array_equal(img[:, :, channel], grey.astype(np.float32) / 255)

    bgra = rng.integers(0, 256, (9, 7, 4), dtype=np.uint8)
    cv2.imwrite(str(tmp_path / "rgba.png"), bgra)
    img = read_image(tmp_path / "rgba.png")
    assert np.array_equal(img, _rgb_float(bgra[:, :, :3]))

    deep = rng.integers(0, 65536, (9, 7, 3), dtype=np.uint16)
    cv2.imwrite(str(tmp_path / "deep.png"), deep)
    img = read_image(tmp_path / "deep.png")
    assert img.dtype == np.float32
    assert np.array_equal(img, deep[:, :, ::-1].astype(np.float32) / 65535)

    deep_grey = rng.integers(0, 65536, (9, 7), dtype=np.uint16)
    cv2.imwrite(str(tmp_path / "deep_grey.png"), deep_grey)
    img = read_image(tmp_path / "deep_grey.png")
    assert np.array_equal(img, np.repeat(deep_grey[:, :, None], 3, 2).astype(np.float32) / 65535)


def test_read_image_missing_and_corrupt_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(ImageReadError, match="missing.png"):
        read_image(tmp_path / "missing.png")
    ok, encoded = cv2.imencode(".png", _kodak(1))
    truncated = tmp_path / "truncated.png"
    truncated.write_bytes(encoded.tobytes()[: len(encoded) // 2])
    with pytest.raises(ImageReadError, match="truncated.png"):
        read_image(truncated)
    (tmp_path / "empty.jpg").write_bytes(b"")
    with pytest.raises(ImageReadError, match="empty.jpg"):
        read_image(tmp_path / "empty.jpg")
    ok, jpeg = cv2.imencode(".jpg", _kodak(1))
    with pytest.raises(ImageReadError, match="cut.jpg"):
        decode_image_bytes(jpeg.tobytes()[:-100], "cut.jpg")
    assert issubclass(ImageReadError, ValueError)


def test_to_uint8_rounds_like_torch_quantization() -> None:
    values = np.concatenate([
        (np.arange(0, 511) / 510).astype(np.float32),
        np.random.default_rng(3).random(5000, dtype=np.float32) * 1.2 - 0.1,
    ]).reshape(1, -1, 1)
    expected = torch.round(torch.from_numpy(values).clamp(0, 1) * 255).to(torch.uint8).numpy()
    assert np.array_equal(to_uint8(values), expected)
    chw = torch.from_numpy(np.repeat(values, 3, axis=2)).permute(2, 0, 1)
    assert np.array_equal(to_uint8(chw), np.repeat(expected, 3, axis=2))


def test_save_image_round_trip_and_tensor_input(tmp_path: Path) -> None:
    rgb = _kodak(2)[:24, :20, ::-1]
    path = tmp_path / "new" / "nested" / "out.png"
    save_image(rgb.astype(np.float32) / 255, path)
    assert np.array_equal(to_uint8(read_image(path)), rgb)
    tensor = torch.from_numpy(np.ascontiguousarray(rgb.transpose(2, 0, 1))).float() / 255
    save_image(tensor, tmp_path / "tensor.png")
    assert np.array_equal(cv2.imread(str(tmp_path / "tensor.png"))[:, :, ::-1], rgb)
    assert sorted(p.name for p in path.parent.iterdir()) == ["out.png"]


def test_save_image_is_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "keep.png"
    original = np.zeros((8, 8, 3), np.float32)
    save_image(original, path)
    before = path.read_bytes()

    def failing_replace(src, dst):
        raise OSError("simulated crash before the rename")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError, match="simulated"):
        save_image(np.ones((8, 8, 3), np.float32), path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["keep.png"]


def test_save_image_rejects_other_suffix(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="png"):
        save_image(np.zeros((4, 4, 3), np.float32), tmp_path / "out.jpg")


# ----------------------------------------------------------------------------- dataset


def _expected_train_crop(img_rgb: np.ndarray, scale: tuple[int, int], gt_size: int,
                         seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The published crop: LQ of the whole image, random LQ window, matching GT window."""
    scale_h, scale_w = scale
    lq = imresize(img_rgb, 1 / scale_h, 1 / scale_w)
    rng = random.Random(seed)
    lq_h, lq_w = gt_size // scale_h, gt_size // scale_w
    top = rng.randint(0, max(0, lq.shape[0] - lq_h))
    left = rng.randint(0, max(0, lq.shape[1] - lq_w))
    gt = img_rgb[top * scale_h:top * scale_h + gt_size, left * scale_w:left * scale_w + gt_size]
    return gt, lq[top:top + lq_h, left:left + lq_w]


@pytest.mark.parametrize("scale", GRIDS)
def test_train_crops_shapes_and_alignment(tmp_path: Path, scale: tuple[int, int]) -> None:
    bgr = _kodak(3)[:240, :240]
    _write_images(tmp_path / "gt", [bgr])
    gt_size = 48
    dataset = StegDataset(_opt(tmp_path / "gt", "train", scale, GT_size=gt_size))
    for seed in (0, 1, 2):
        random.seed(seed)
        sample = dataset[0]
        assert sample["GT"].shape == (3, gt_size, gt_size)
        assert sample["LQ"].shape == (3, gt_size // scale[0], gt_size // scale[1])
        assert sample["GT"].dtype == sample["LQ"].dtype == torch.float32
        gt, lq = _expected_train_crop(_rgb_float(bgr), scale, gt_size, seed)
        assert np.array_equal(sample["GT"].permute(1, 2, 0).numpy(), gt)
        assert np.allclose(sample["LQ"].permute(1, 2, 0).numpy(), lq, atol=1e-6)


@pytest.mark.parametrize("scale", [(2, 2), (3, 2)])
def test_too_small_or_odd_images_are_resized(tmp_path: Path, scale: tuple[int, int]) -> None:
    small = _kodak(4)[:40, :35]
    odd = _kodak(4)[:101, :97]
    paths = _write_images(tmp_path / "gt", [small, odd])
    dataset = StegDataset(_opt(tmp_path / "gt", "train", scale, GT_size=48))
    random.seed(0)
    for index, path in enumerate(paths):
        sample = dataset[index]
        assert sample["GT_path"] == str(path)
        assert sample["GT"].shape == (3, 48, 48)
        assert sample["LQ"].shape == (3, 48 // scale[0], 48 // scale[1])
    whole = cv2.resize(_rgb_float(small), (48, 48), interpolation=cv2.INTER_LINEAR)
    assert np.array_equal(dataset[0]["GT"].permute(1, 2, 0).numpy(), whole)

    target_h, target_w = 101 // scale[0] * scale[0], 97 // scale[1] * scale[1]
    resized = cv2.resize(_rgb_float(odd), (target_w, target_h), interpolation=cv2.INTER_LINEAR)
    random.seed(5)
    sample = dataset[1]
    random.seed(5)
    top = random.randint(0, target_h // scale[0] - 48 // scale[0]) * scale[0]
    left = random.randint(0, target_w // scale[1] - 48 // scale[1]) * scale[1]
    assert np.array_equal(sample["GT"].permute(1, 2, 0).numpy(), resized[top:top + 48, left:left + 48])


def _transforms(img: np.ndarray) -> list[np.ndarray]:
    out = []
    for transpose in (False, True):
        base = img.transpose(1, 0, 2) if transpose else img
        for flip_h in (False, True):
            for flip_v in (False, True):
                cand = base
                if flip_h:
                    cand = cand[:, ::-1]
                if flip_v:
                    cand = cand[::-1]
                out.append(cand)
    return out


@pytest.mark.parametrize("scale", [(2, 2), (3, 2)])
def test_flip_and_rotation_keep_gt_and_lq_aligned(tmp_path: Path, scale: tuple[int, int]) -> None:
    bgr = _kodak(5)[:192, :192]
    _write_images(tmp_path / "gt", [bgr])
    plain = StegDataset(_opt(tmp_path / "gt", "train", scale))
    augmented = StegDataset(_opt(tmp_path / "gt", "train", scale, use_flip=True, use_rot=True))
    used = set()
    for seed in range(12):
        random.seed(seed)
        ref = plain[0]
        random.seed(seed)
        aug = augmented[0]
        assert aug["GT"].shape == ref["GT"].shape and aug["LQ"].shape == ref["LQ"].shape
        gt_ref, lq_ref = (ref[k].permute(1, 2, 0).numpy() for k in ("GT", "LQ"))
        gt_aug, lq_aug = (aug[k].permute(1, 2, 0).numpy() for k in ("GT", "LQ"))
        gt_candidates = _transforms(gt_ref)
        lq_candidates = _transforms(lq_ref) if scale[0] == scale[1] else _transforms(lq_ref)[:4]
        matches = [i for i, cand in enumerate(gt_candidates[:len(lq_candidates)])
                   if cand.shape == gt_aug.shape and np.array_equal(cand, gt_aug)]
        assert matches, "augmented GT is not a flip/rotation of the plain crop"
        assert any(np.array_equal(lq_candidates[i], lq_aug) for i in matches)
        used.update(matches)
    assert len(used) > 2


def test_val_modcrop_and_center_crop(tmp_path: Path) -> None:
    bgr = _kodak(6)[:100, :90]
    path = _write_images(tmp_path / "gt", [bgr])[0]
    sample = StegDataset(_opt(tmp_path / "gt", "val", (3, 2)))[0]
    assert sample["GT"].shape == (3, 96, 88)
    assert sample["LQ"].shape == (3, 32, 44)
    assert np.array_equal(sample["GT"].permute(1, 2, 0).numpy(), _rgb_float(bgr)[:96, :88])
    expected_lq = imresize(_rgb_float(bgr)[:96, :88], 1 / 3, 1 / 2)
    assert np.array_equal(sample["LQ"].permute(1, 2, 0).numpy(), expected_lq)

    cropped = StegDataset(_opt(tmp_path / "gt", "test", (2, 2), center_crop=[64, 48]))[0]
    assert cropped["GT"].shape == (3, 64, 48)
    assert np.array_equal(cropped["GT"].permute(1, 2, 0).numpy(), _rgb_float(bgr)[18:82, 21:69])

    too_big = StegDataset(_opt(tmp_path / "gt", "test", (2, 2), center_crop=128))
    with pytest.raises(ValueError, match=path.name):
        too_big[0]


def test_paired_lq_folder(tmp_path: Path) -> None:
    gts = [_kodak(i)[:96, :96] for i in range(3)]
    _write_images(tmp_path / "gt", gts)
    lqs = [cv2.resize(img, (48, 48), interpolation=cv2.INTER_AREA) for img in gts]
    _write_images(tmp_path / "lq", lqs)
    dataset = StegDataset(_opt(tmp_path / "gt", "val", (2, 2), dataroot_LQ=str(tmp_path / "lq")))
    sample = dataset[1]
    assert np.array_equal(sample["LQ"].permute(1, 2, 0).numpy(), _rgb_float(lqs[1]))
    _write_images(tmp_path / "lq2", lqs[:2])
    with pytest.raises(ValueError, match="datasets.train.dataroot_LQ"):
        StegDataset(_opt(tmp_path / "gt", "train", (2, 2), dataroot_LQ=str(tmp_path / "lq2")))


def test_corrupt_image_error_and_skip(tmp_path: Path) -> None:
    paths = _write_images(tmp_path / "gt", [_kodak(i)[:64, :64] for i in range(3)])
    paths[1].write_bytes(paths[1].read_bytes()[:200])
    strict = StegDataset(_opt(tmp_path / "gt", "val"))
    with pytest.raises(ImageReadError, match=paths[1].name):
        strict[1]
    lenient = StegDataset(_opt(tmp_path / "gt", "val", on_corrupt="skip"))
    with pytest.warns(RuntimeWarning, match=paths[1].name):
        sample = lenient[1]
    assert sample["GT_path"] == str(paths[2])
    assert sample["GT"].shape == (3, 64, 64)


def test_dataroot_errors_name_the_key(tmp_path: Path) -> None:
    for root in (None, ""):
        with pytest.raises(ValueError, match=r"datasets\.train\.dataroot_GT"):
            StegDataset(_opt(root))
    missing = tmp_path / "nowhere"
    with pytest.raises(ValueError, match=r"datasets\.train\.dataroot_GT.*nowhere"):
        StegDataset(_opt(missing))
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "readme.txt").write_text("no images here")
    with pytest.raises(ValueError, match=r"datasets\.val\.dataroot_GT.*empty"):
        StegDataset(_opt(tmp_path / "empty", "val"))
    (tmp_path / "broken.lmdb").mkdir()
    with pytest.raises(ValueError, match=r"datasets\.train\.dataroot_GT.*broken\.lmdb"):
        StegDataset(_opt(tmp_path / "broken.lmdb"))


def test_option_errors_name_the_key(tmp_path: Path) -> None:
    _write_images(tmp_path / "gt", [_kodak(0)[:64, :64]])
    with pytest.raises(ValueError, match=r"datasets\.train\.GT_size"):
        StegDataset(_opt(tmp_path / "gt", GT_size=50))
    with pytest.raises(ValueError, match=r"datasets\.train\.color"):
        StegDataset(_opt(tmp_path / "gt", color="YCbCr"))
    with pytest.raises(ValueError, match=r"datasets\.train\.on_corrupt"):
        StegDataset(_opt(tmp_path / "gt", on_corrupt="ignore"))
    with pytest.raises(ValueError, match=r"datasets\.train\.mode.*LQGT.*Steg"):
        create_dataset(_opt(tmp_path / "gt", mode="Video"))
    assert isinstance(create_dataset(_opt(tmp_path / "gt", mode="LQGT")), StegDataset)


# ----------------------------------------------------------------------------- loaders and LMDB


def test_dataloader_batches_and_errors(tmp_path: Path) -> None:
    paths = _write_images(tmp_path / "gt", [_kodak(i)[:64, :64] for i in range(7)])
    val_opt = _opt(tmp_path / "gt", "val")
    loader = create_dataloader(create_dataset(val_opt), val_opt, num_images=2)
    batches = list(loader)
    assert len(batches) == 2
    assert [b["GT"].shape[0] for b in batches] == [3, 3]
    assert batches[0]["GT_path"] == [str(p) for p in paths[:3]]

    train_opt = _opt(tmp_path / "gt", "train", (2, 2))
    dataset = create_dataset(train_opt)
    first = [b["GT_path"] for b in create_dataloader(dataset, train_opt, 2, seed=9)]
    again = [b["GT_path"] for b in create_dataloader(dataset, train_opt, 2, seed=9)]
    assert first == again and len(first) == 2

    with pytest.raises(ValueError, match=r"datasets\.train\.dataroot_GT.*7 images.*8"):
        create_dataloader(dataset, train_opt, num_images=7)


def test_dataloader_rejects_mixed_sizes_in_test_batch(tmp_path: Path) -> None:
    _write_images(tmp_path / "gt", [_kodak(0)[:64, :64], _kodak(1)[:64, :48]])
    opt = _opt(tmp_path / "gt", "test")
    with pytest.raises(ValueError, match="same size"):
        next(iter(create_dataloader(create_dataset(opt), opt, num_images=1)))


def test_create_lmdb_layout_and_overwrite(tmp_path: Path) -> None:
    source = tmp_path / "src"
    (source / "a").mkdir(parents=True)
    (source / "b").mkdir()
    colour = _kodak(0)[:20, :30]
    cv2.imwrite(str(source / "a" / "x.png"), colour)
    cv2.imwrite(str(source / "b" / "x.png"), colour[:, :, 0])
    cv2.imwrite(str(source / "x_1.png"), (colour.astype(np.uint16) * 257))
    output = tmp_path / "out.lmdb"
    assert create_lmdb(source, output, name="demo") == 3
    meta = json.loads((output / "meta_info.json").read_text())
    assert not (output / "meta_info.pkl").exists()
    assert meta["name"] == "demo"
    assert meta["keys"] == ["x", "x_2", "x_1"]
    assert meta["resolution"] == ["3_20_30"]

    dataset = StegDataset(_opt(output, "val", (1, 1)))
    grey = dataset[1]["GT"]
    assert torch.equal(grey[0], grey[2])
    assert torch.equal(grey[0], torch.from_numpy(colour[:20, :28, 0].astype(np.float32) / 255))
    assert torch.equal(dataset[2]["GT"], dataset[0]["GT"])

    with pytest.raises(FileExistsError, match="out.lmdb"):
        create_lmdb(source, output)
    (source / "a" / "x.png").unlink()
    assert create_lmdb(source, output, overwrite=True) == 2
    not_lmdb = tmp_path / "precious"
    not_lmdb.mkdir()
    (not_lmdb / "keep.txt").write_text("do not delete")
    with pytest.raises(FileExistsError):
        create_lmdb(source, not_lmdb, overwrite=True)
    assert (not_lmdb / "keep.txt").exists()


def test_folder_and_lmdb_give_identical_batches(tmp_path: Path) -> None:
    _write_images(tmp_path / "gt", [_kodak(i)[:120, :144] for i in range(10)])
    create_lmdb(tmp_path / "gt", tmp_path / "gt.lmdb")
    results = []
    for root in (tmp_path / "gt", tmp_path / "gt.lmdb"):
        for workers in (0, 2):
            opt = _opt(root, "train", (3, 2), n_workers=workers)
            random.seed(4)
            loader = create_dataloader(create_dataset(opt), opt, num_images=4, seed=11)
            results.append([(b["GT"], b["LQ"], [Path(p).stem for p in b["GT_path"]]) for b in loader])
    folder_serial, folder_workers, lmdb_serial, lmdb_workers = results
    for left, right in ((folder_serial, lmdb_serial), (folder_workers, lmdb_workers)):
        assert len(left) == len(right) == 2
        for (gt_a, lq_a, names_a), (gt_b, lq_b, names_b) in zip(left, right):
            assert names_a == names_b
            assert torch.equal(gt_a, gt_b) and torch.equal(lq_a, lq_b)
    assert [names for _, _, names in folder_serial] == [names for _, _, names in folder_workers]


def test_lmdb_shared_by_two_datasets_and_worker_processes(tmp_path: Path) -> None:
    _write_images(tmp_path / "gt", [_kodak(i)[:64, :64] for i in range(4)])
    create_lmdb(tmp_path / "gt", tmp_path / "gt.lmdb")
    train_opt = _opt(tmp_path / "gt.lmdb", "train", (2, 2), n_workers=2)
    val_opt = _opt(tmp_path / "gt.lmdb", "val", (2, 2))
    train_set, val_set = create_dataset(train_opt), create_dataset(val_opt)
    assert train_set[0]["GT"].shape == (3, 48, 48)
    assert torch.equal(val_set[0]["GT"], StegDataset(val_opt)[0]["GT"])
    batch = next(iter(create_dataloader(train_set, train_opt, num_images=3, seed=0)))
    assert batch["GT"].shape == (4, 3, 48, 48)
    assert sorted(batch["GT_path"]) == ["img000", "img001", "img002", "img003"]


def test_train_loader_shards_between_processes_and_resumes(tmp_path: Path) -> None:
    _write_images(tmp_path / "gt", [_kodak(i)[:64, :64] for i in range(10)])
    opt = _opt(tmp_path / "gt", "train", (2, 2))
    dataset = create_dataset(opt)
    shards = []
    for rank in (0, 1):
        loader = create_dataloader(dataset, opt, num_images=1, dist=True, seed=3, rank=rank, world_size=2)
        assert len(loader) == 2
        shards.append([name for batch in loader for name in batch["GT_path"]])
    assert len(shards[0]) == len(shards[1]) == 4
    assert not set(shards[0]) & set(shards[1])

    loader = create_dataloader(dataset, opt, num_images=1, seed=3)
    loader.sampler.set_epoch(1)
    epoch_one = [batch["GT_path"] for batch in loader]
    loader.sampler.set_epoch(1, 3)
    assert [batch["GT_path"] for batch in loader] == epoch_one[3:]
    with pytest.raises(ValueError, match=r"datasets\.train\.dataroot_GT.*10 images.*3 processes"):
        create_dataloader(dataset, opt, num_images=3, dist=True, seed=3, rank=0, world_size=3)
