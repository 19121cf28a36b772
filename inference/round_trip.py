"""The round trip every measurement makes: hide, keep the 8-bit PNG's pixels, reveal from them, and measure the
recovered secrets at the secrets' own sizes.

``test.py`` and validation (:mod:`inference.evaluation`), ``hide.py --verify`` (:mod:`stego.sender`), the
steganalysis pairs (:mod:`security.pairs`) and the benchmarks all measure through :func:`round_trip` and
:class:`RoundTrip`.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from inference.stego_model import StegoModel
from models.invmihnet import REVEAL_FROM, HideOutput
from utils.image_io import chw_to_hwc, resize_image, to_uint8
from utils.metrics import image_pair_metrics, psnr

METRIC_NAMES = ('psnr', 'ssim', 'psnr_y', 'ssim_y', 'mae', 'rmse')


def restore_sizes(secrets: Sequence[torch.Tensor], sizes: Sequence[tuple[int, int]]) -> list[np.ndarray]:
    """Revealed secrets (3, H, W) resized to ``sizes`` and stored as uint8, as the receiver gets them."""
    return [to_uint8(resize_image(chw_to_hwc(s), h, w)) for s, (h, w) in zip(secrets, sizes)]


@dataclass
class RoundTrip:
    """One hide and reveal as 8-bit images: the cover hidden in, the stego PNG's pixels, the secrets (at their
    own sizes) and the recovered secrets (at the same sizes); ``hidden`` is what hiding produced."""
    cover: np.ndarray
    stego: np.ndarray
    secrets: list[np.ndarray]
    recovered: list[np.ndarray]
    hidden: HideOutput

    @classmethod
    def of(cls, cover: torch.Tensor, secrets: torch.Tensor, hidden: HideOutput, revealed: torch.Tensor,
           originals: Sequence[np.ndarray] | None = None) -> 'RoundTrip':
        """The 8-bit images of a hide (``hidden``) and a reveal (``revealed``, (N, 3, H, W)). The truth is
        ``originals`` (uint8 HWC at their own sizes, the recovered secrets resized to them) or else ``secrets``."""
        if originals is None:
            truth = [to_uint8(s) for s in secrets]
            recovered = [to_uint8(r) for r in revealed]
        else:
            truth = [to_uint8(s) for s in originals]
            recovered = restore_sizes(revealed, [t.shape[:2] for t in truth])
        return cls(to_uint8(cover[0] if cover.dim() == 4 else cover), to_uint8(hidden.stego[0]), truth,
                   recovered, hidden)

    def psnrs(self) -> list[float]:
        """PSNR of every recovered secret against its secret."""
        return [psnr(t, r) for t, r in zip(self.secrets, self.recovered)]

    def measure(self) -> dict[str, float]:
        """Every metric of the stego vs the cover (``stego_*``) and of the recovered secrets vs the secrets,
        averaged over the N secrets (``secret_*``)."""
        metrics = {f'stego_{k}': v for k, v in image_pair_metrics(self.stego, self.cover).items()}
        metrics.update(secret_metrics(self.secrets, self.recovered))
        return metrics

    def psnr_metrics(self) -> dict[str, float]:
        """``stego_psnr`` (stego vs cover) and ``secret_psnr`` (the mean over the secrets)."""
        return {'stego_psnr': psnr(self.stego, self.cover),
                'secret_psnr': float(np.mean(self.psnrs(), dtype=np.float64))}


def secret_metrics(secrets: Sequence[np.ndarray], recovered: Sequence[np.ndarray],
                   prefix: str = 'secret_') -> dict[str, float]:
    """Every metric of recovered vs secret, averaged over the N secrets, keyed ``<prefix><metric>``."""
    per_secret = [image_pair_metrics(r, s) for r, s in zip(recovered, secrets)]
    return {f'{prefix}{name}': float(np.mean([m[name] for m in per_secret], dtype=np.float64))
            for name in METRIC_NAMES}


def round_trip(model: StegoModel, cover: torch.Tensor, secrets: torch.Tensor, *,
               originals: Sequence[np.ndarray] | None = None, reveal_from: str = 'png',
               gaussian_scale: float | None = None, generator: torch.Generator | None = None,
               hidden: HideOutput | None = None) -> RoundTrip:
    """Hide ``secrets`` (N, 3, H, W) in ``cover`` (1, 3, H, W), reveal from the 8-bit stego (``'png'``) or the
    float stego (``'float'``, the published test path) with noise from ``generator``, and return the 8-bit
    images, measured against ``originals`` when given (see :meth:`RoundTrip.of`). ``hidden`` reuses an earlier
    hide of the same inputs."""
    if reveal_from not in REVEAL_FROM:
        raise ValueError(f'reveal_from must be one of {list(REVEAL_FROM)}, got {reveal_from!r}')
    if hidden is None:
        hidden = model.hide(cover, secrets)
    from_float = reveal_from == 'float'
    stego = hidden.stego_float if from_float else hidden.stego      # hidden.stego: the PNG's levels k / 255
    revealed = model.reveal(stego, from_float=from_float, gaussian_scale=gaussian_scale, generator=generator)
    return RoundTrip.of(cover, secrets, hidden, revealed.secrets, originals)
