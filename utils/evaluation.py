"""Evaluate one image set (cover + N secrets): hide, reveal, and the field's metrics on 8-bit images."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from data.image_io import to_uint8
from utils.metrics import image_pair_metrics

METRIC_NAMES = ('psnr', 'ssim', 'psnr_y', 'ssim_y', 'mae', 'rmse')


@dataclass
class BatchEvaluation:
    """Metrics (keys ``stego_*`` vs the cover and ``secret_*`` mean over the N secrets) and 8-bit images."""
    metrics: dict[str, float]
    cover: np.ndarray
    stego: np.ndarray
    secrets: list[np.ndarray]
    recovered: list[np.ndarray]


def evaluate_batch(model, images: torch.Tensor, reveal_from: str = 'png', gaussian_scale: float = 1.0,
                   generator: torch.Generator | None = None) -> BatchEvaluation:
    """Hide ``images[1:]`` in ``images[0]``, reveal from the 8-bit stego (``'png'``) or the float stego
    (``'float'``, the published test path), and measure stego vs cover and recovered vs secret."""
    if reveal_from not in ('png', 'float'):
        raise ValueError(f"reveal_from must be 'png' or 'float', got {reveal_from!r}")
    hidden = model.hide(images[:1], images[1:])
    stego = hidden.stego if reveal_from == 'png' else hidden.stego_float
    revealed = model.reveal(stego, from_float=reveal_from == 'float', gaussian_scale=gaussian_scale,
                            generator=generator)
    cover = to_uint8(images[0])
    stego_u8 = to_uint8(hidden.stego[0])
    secrets = [to_uint8(s) for s in images[1:]]
    recovered = [to_uint8(r) for r in revealed.secrets]
    metrics = {f'stego_{k}': v for k, v in image_pair_metrics(stego_u8, cover).items()}
    per_secret = [image_pair_metrics(r, s) for r, s in zip(recovered, secrets)]
    for name in METRIC_NAMES:
        values = np.array([m[name] for m in per_secret], dtype=np.float64)
        metrics[f'secret_{name}'] = float(values.mean())
    return BatchEvaluation(metrics, cover, stego_u8, secrets, recovered)
