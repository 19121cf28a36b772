"""The seven published training losses (SPEC section 5) and their weighted sum."""
from __future__ import annotations

import torch

from models.modules.quantization import quantize
from models.modules.wavelet import dwt

HIDING_TERMS = ('guide', 'reconstruction', 'low_frequency')
RESCALING_TERMS = ('forw_fit', 'forw_ce', 'back_rec')


def sum_squared_error(x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Sum of squared errors over everything (MSE with reduction 'sum')."""
    return ((x - target) ** 2).sum()


def per_image_l2(x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean over the batch of each image's sum of squared errors."""
    return ((x - target) ** 2).sum(dim=(1, 2, 3)).mean()


def per_image_charbonnier(x: torch.Tensor, target: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Mean over the batch of each image's sum of sqrt(diff^2 + eps)."""
    diff = x - target
    return torch.sqrt(diff * diff + eps).sum(dim=(1, 2, 3)).mean()


def latent_energy(z: torch.Tensor) -> torch.Tensor:
    """sum(z^2) / batch: pushes IIR's latent towards N(0, 1)."""
    return (z ** 2).sum() / z.shape[0]


class InvMIHNetLoss:
    """Weighted losses of one training batch.

    Returned keys: guide, reconstruction, low_frequency (unweighted sums), hiding_total
    (= w_r * reconstruction + w_g * guide + w_l * low_frequency), forw_fit, forw_ce, back_rec (weighted),
    and total (hiding_total + forw_fit + forw_ce + back_rec).
    """

    def __init__(self, lamda_reconstruction: float = 5.0, lamda_guide: float = 1.0,
                 lamda_low_frequency: float = 1.0, lambda_fit_forw: float = 4.0, lambda_ce_forw: float = 1.0,
                 lambda_rec_back: float = 1.0) -> None:
        self.w_reconstruction = lamda_reconstruction
        self.w_guide = lamda_guide
        self.w_low = lamda_low_frequency
        self.w_fit = lambda_fit_forw
        self.w_ce = lambda_ce_forw
        self.w_back = lambda_rec_back

    @classmethod
    def from_options(cls, train_opt: dict) -> 'InvMIHNetLoss':
        """Weights from the ``train`` section of the options."""
        keys = ('lamda_reconstruction', 'lamda_guide', 'lamda_low_frequency', 'lambda_fit_forw',
                'lambda_ce_forw', 'lambda_rec_back')
        return cls(**{k: train_opt[k] for k in keys})

    def __call__(self, out: dict[str, torch.Tensor], lr_ref: torch.Tensor, sets: int = 1) -> dict[str, torch.Tensor]:
        """``out`` from :meth:`InvMIHNet.forward`; ``lr_ref`` the bicubic LR references of the secrets.

        With ``sets`` image sets in the batch every loss is the mean over the sets (the summed hiding losses are
        divided by ``sets``; the per-image ones already average), so the learning rate keeps its meaning.
        """
        cover_wavelet_low = dwt(out['cover_tiles'])[:, :3]
        guide = sum_squared_error(quantize(out['steg_tiles']), out['cover_tiles']) / sets
        reconstruction = sum_squared_error(out['secret_rev_lr'], out['secret_lr']) / sets
        low_frequency = sum_squared_error(out['steg_wavelet'][:, :3], cover_wavelet_low) / sets
        hiding_total = (self.w_reconstruction * reconstruction + self.w_guide * guide
                        + self.w_low * low_frequency)
        forw_fit = self.w_fit * per_image_l2(out['secret_rev_lr'], lr_ref)
        forw_ce = self.w_ce * latent_energy(out['latent'])
        back_rec = self.w_back * per_image_charbonnier(out['secret_recover'], out['secrets'])
        return {'guide': guide, 'reconstruction': reconstruction, 'low_frequency': low_frequency,
                'hiding_total': hiding_total, 'forw_fit': forw_fit, 'forw_ce': forw_ce, 'back_rec': back_rec,
                'total': hiding_total + forw_fit + forw_ce + back_rec}
