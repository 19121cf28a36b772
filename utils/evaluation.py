"""The one evaluation used by ``test.py`` and by validation during training: hide every image set of a loader,
reveal, and measure the field's metrics on 8-bit images.

One image set (cover + N secrets) is evaluated by :func:`evaluate_batch`; a whole loader by
:func:`evaluate_dataset`, which hands each set's images to an optional callback (test.py saves them all,
validation the first set only). The stego is revealed as :func:`reveal_u8` receives it, so a distortion of the
saved stego is one more call of :func:`reveal_u8` and :func:`secret_metrics` on the distorted image.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from itertools import islice

import numpy as np
import torch
from tqdm import tqdm

from data.image_io import to_uint8
from models.distortions import Distortion, attack
from utils.metrics import MetricTable, image_pair_metrics, psnr

METRIC_NAMES = ('psnr', 'ssim', 'psnr_y', 'ssim_y', 'mae', 'rmse')
REVEAL_FROM = ('png', 'float')


@dataclass
class BatchEvaluation:
    """Metrics (keys ``stego_*`` vs the cover and ``secret_*`` mean over the N secrets) and 8-bit images."""
    metrics: dict[str, float]
    cover: np.ndarray
    stego: np.ndarray
    secrets: list[np.ndarray]
    recovered: list[np.ndarray]


def reveal_u8(model, stego: torch.Tensor, from_float: bool, gaussian_scale: float,
              generator: torch.Generator | None) -> list[np.ndarray]:
    """Reveal the secrets of one stego (1, C, H, W) and return them as 8-bit H x W x C arrays."""
    revealed = model.reveal(stego, from_float=from_float, gaussian_scale=gaussian_scale, generator=generator)
    return [to_uint8(r) for r in revealed.secrets]


def hide_reveal_psnrs(images: torch.Tensor, stego: torch.Tensor, recovered: list[torch.Tensor]) -> dict[str, float]:
    """8-bit PSNR of one hide + reveal given as tensors: ``stego_psnr`` (stego vs ``images[0]``, the cover) and
    ``secret_psnr`` (each recovered secret vs ``images[1:]``, averaged)."""
    secret = [psnr(to_uint8(r), to_uint8(s)) for r, s in zip(recovered, images[1:])]
    return {'stego_psnr': psnr(to_uint8(stego[0]), to_uint8(images[0])),
            'secret_psnr': float(np.mean(secret, dtype=np.float64))}


def secret_metrics(secrets: list[np.ndarray], recovered: list[np.ndarray],
                   prefix: str = 'secret_') -> dict[str, float]:
    """Every metric of recovered vs secret, averaged over the N secrets, keyed ``<prefix><metric>``."""
    per_secret = [image_pair_metrics(r, s) for r, s in zip(recovered, secrets)]
    return {f'{prefix}{name}': float(np.mean([m[name] for m in per_secret], dtype=np.float64))
            for name in METRIC_NAMES}


def evaluate_batch(model, images: torch.Tensor, reveal_from: str = 'png', gaussian_scale: float = 1.0,
                   generator: torch.Generator | None = None) -> BatchEvaluation:
    """Hide ``images[1:]`` in ``images[0]``, reveal from the 8-bit stego (``'png'``) or the float stego
    (``'float'``, the published test path), and measure stego vs cover and recovered vs secret."""
    if reveal_from not in REVEAL_FROM:
        raise ValueError(f"reveal_from must be one of {list(REVEAL_FROM)}, got {reveal_from!r}")
    hidden = model.hide(images[:1], images[1:])
    from_float = reveal_from == 'float'
    recovered = reveal_u8(model, hidden.stego_float if from_float else hidden.stego, from_float, gaussian_scale,
                          generator)
    cover = to_uint8(images[0])
    stego_u8 = to_uint8(hidden.stego[0])
    secrets = [to_uint8(s) for s in images[1:]]
    metrics = {f'stego_{k}': v for k, v in image_pair_metrics(stego_u8, cover).items()}
    metrics.update(secret_metrics(secrets, recovered))
    return BatchEvaluation(metrics, cover, stego_u8, secrets, recovered)


def attack_metrics(model, result: BatchEvaluation, distortion: Distortion, gaussian_scale: float = 1.0,
                   reveal_generator: torch.Generator | None = None,
                   attack_generator: torch.Generator | None = None) -> dict[str, float]:
    """Attack the saved 8-bit stego of an evaluated image set, reveal from the attacked image and measure it as
    :func:`evaluate_batch` does: attacked stego vs cover (``stego_*``) and recovered vs secret (``secret_*``)."""
    stego = torch.from_numpy(result.stego).permute(2, 0, 1)[None].float() / 255
    attacked = attack(stego, distortion, attack_generator)
    recovered = reveal_u8(model, attacked, False, gaussian_scale, reveal_generator)
    metrics = {f'stego_{k}': v for k, v in image_pair_metrics(to_uint8(attacked[0]), result.cover).items()}
    metrics.update(secret_metrics(result.secrets, recovered))
    return metrics


OnImageSet = Callable[[int, dict, BatchEvaluation], None]


def evaluate_dataset(model, loader: Iterable[dict], test_opt: dict, max_batches: int | None = None,
                     on_image_set: OnImageSet | None = None, desc: str | None = None) -> MetricTable:
    """Evaluate the first ``max_batches`` image sets of ``loader`` (all when None) with the ``test`` options
    (``reveal_from``, ``gaussian_scale``, ``seed`` of the reveal noise); returns one metric row per set.

    ``on_image_set(index, batch, result)`` is called after each set (to save its images); ``desc`` shows a
    progress bar with that label.
    """
    generator = torch.Generator().manual_seed(test_opt['seed'] if test_opt['seed'] is not None else 0)
    total = len(loader) if max_batches is None else min(max_batches, len(loader))
    table = MetricTable()
    for index, batch in enumerate(tqdm(islice(loader, total), desc=desc, total=total, disable=desc is None)):
        result = evaluate_batch(model, batch['GT'], test_opt['reveal_from'], test_opt['gaussian_scale'], generator)
        table.add(result.metrics, index)
        if on_image_set is not None:
            on_image_set(index, batch, result)
    return table
