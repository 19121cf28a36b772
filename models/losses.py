"""The training losses of InvMIHNet (the published six terms) and their weighted sum.

Hiding terms (train IIH; logged unweighted): guide (stego tiles vs cover tiles), reconstruction (revealed LR
secrets vs hidden LR secrets), low_frequency (stego vs cover in the wavelet LL band). Rescaling terms (train IIR;
logged weighted): forw_fit (LR secrets vs their bicubic downscales), forw_ce (latent energy), back_rec (recovered
vs original secrets). The two groups are the two backward passes of the published code.

Two terms are ours, off by default (weight 0, the published loss): outline, the squared correlation between each
stego tile's residual |stego - cover| and the outlines (Sobel gradient magnitude of the luma) of the secret it
hides, which is what shows the secrets' outlines in a 10x difference view; and texture, the same at the scale of
8 x 8 blocks: the squared correlation between the residual's strength in each block and the secret's local
variance there, which is what shows the secrets' busy and flat regions; and colour, the sum of the squared
canonical correlations, over 4 x 4 blocks, between the residual's strength in each channel and the secret's
colour, local variance and outline strength there, which is what shows the secrets' regions in the hue of the
residual once its strength follows them no more; and tiles, the variance over each image set's tiles of the log of
each channel's mean |stego - cover|, which is what makes the tiles stand apart in the 10x view (the IIH hides each
tile on its own); and pattern, the sum of the squared canonical correlations, pixel by pixel, between the fine
detail of the signed residual stego - cover in each channel and the fine detail of the secret's luma in the 3 x 3
neighbourhood, which is what draws thin lines along the secrets' sharp contours once the residual's strength and
hue follow them no more; and wavelet, the sum of the squared canonical correlations, over the 2 x 2 blocks of the
hiding network's Haar grid, between the 12 Haar coefficients of the signed residual stego - cover and the secret's
colour there (its LL band), which is what draws the secret itself, shapes and contours, in the residual's fine
stripes (the residual's coefficients a linear map of the colour of the secret hidden under them).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from models.modules.quantization import quantize
from models.modules.wavelet import dwt

HIDING_TERMS = ('reconstruction', 'guide', 'low_frequency')
"""Summed, weighted, into ``hiding_total`` (the published first backward pass)."""
OUTLINE_TERM = 'outline'
"""Added to ``hiding_total`` and logged only when its weight ``lamda_outline`` is above 0."""
TEXTURE_TERM = 'texture'
"""Added to ``hiding_total`` and logged only when its weight ``lamda_texture`` is above 0."""
TEXTURE_BLOCK = 8
"""Block size (pixels of a tile) of the texture term."""
COLOUR_TERM = 'colour'
"""Added to ``hiding_total`` and logged only when its weight ``lamda_colour`` is above 0."""
COLOUR_BLOCK = 4
"""Block size (pixels of a tile) of the colour term."""
TILES_TERM = 'tiles'
"""Added to ``hiding_total`` and logged only when its weight ``lamda_tiles`` is above 0."""
PATTERN_TERM = 'pattern'
"""Added to ``hiding_total`` and logged only when its weight ``lamda_pattern`` is above 0."""
WAVELET_TERM = 'wavelet'
"""Added to ``hiding_total`` and logged only when its weight ``lamda_wavelet`` is above 0."""
PATTERN_WINDOW = 5
"""Side of the box whose mean each map loses before the pattern term compares their fine detail."""
CANONICAL_RIDGE = 1e-2
"""Ridge added to each covariance of :func:`canonical_energy`, relative to its mean variance."""
LUMA_WEIGHTS = (65.481 / 255, 128.553 / 255, 24.966 / 255)
"""BT.601 luma of RGB in [0, 1], without the offset (correlations ignore it)."""
SOBEL_X = ((-1.0, 0.0, 1.0), (-2.0, 0.0, 2.0), (-1.0, 0.0, 1.0))
RESCALING_TERMS = ('forw_fit', 'forw_ce', 'back_rec')
"""Already weighted; their sum is the published second backward pass."""


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


def _luma(images: torch.Tensor) -> torch.Tensor:
    """(B, 1, H, W): the luma (:data:`LUMA_WEIGHTS`) of RGB images (B, 3, H, W)."""
    return (images * images.new_tensor(LUMA_WEIGHTS).view(1, 3, 1, 1)).sum(1, keepdim=True)


def sobel_magnitude(images: torch.Tensor) -> torch.Tensor:
    """Sobel gradient magnitude (B, H, W) of the luma of RGB images (B, 3, H, W), edges replicated."""
    luma = _luma(images)
    kx = images.new_tensor(SOBEL_X).view(1, 1, 3, 3)
    padded = F.pad(luma, (1, 1, 1, 1), mode='replicate')
    gx, gy = F.conv2d(padded, kx), F.conv2d(padded, kx.transpose(2, 3))
    return torch.sqrt(gx * gx + gy * gy + 1e-12)[:, 0]


def _channel_residual(cover: torch.Tensor, stego: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W): |stego - cover| with each channel's mean difference taken out first (so that a colour cast
    cannot flatten it)."""
    difference = stego - cover
    return (difference - difference.mean((2, 3), keepdim=True)).abs()


def _residual(cover: torch.Tensor, stego: torch.Tensor) -> torch.Tensor:
    """(B, 1, H, W): :func:`_channel_residual` averaged over the channels."""
    return _channel_residual(cover, stego).mean(1, keepdim=True)


def _pearson(a: torch.Tensor, b: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """Per row (B,): the Pearson correlation of two (B, K) tensors, each row scaled to unit energy on its own
    (``eps`` keeps a constant row finite, whatever the other row's scale)."""
    a = a - a.mean(1, keepdim=True)
    b = b - b.mean(1, keepdim=True)
    return ((a / torch.sqrt(a.pow(2).mean(1, keepdim=True) + eps))
            * (b / torch.sqrt(b.pow(2).mean(1, keepdim=True) + eps))).mean(1)


def _block_variance(maps: torch.Tensor, block: int) -> torch.Tensor:
    """(B, C, H / block, W / block): the variance of (B, C, H, W) maps in each ``block x block`` block."""
    return F.avg_pool2d(maps * maps, block) - F.avg_pool2d(maps, block).pow(2)


def outline_correlation(cover: torch.Tensor, stego: torch.Tensor, secret: torch.Tensor) -> torch.Tensor:
    """Per image (B,): Pearson correlation between the residual |stego - cover| (each channel's mean difference
    taken out first, so that a colour cast cannot flatten it; then the mean over channels) and the Sobel outlines
    of ``secret`` (no gradient flows into ``secret``); all (B, 3, H, W)."""
    return _pearson(_residual(cover, stego).flatten(1), sobel_magnitude(secret.detach()).flatten(1))


def texture_correlation(cover: torch.Tensor, stego: torch.Tensor, secret: torch.Tensor,
                        block: int = TEXTURE_BLOCK) -> torch.Tensor:
    """Per image (B,): Pearson correlation, over ``block x block`` blocks, between the residual's mean (as in
    :func:`outline_correlation`) and the local variance of ``secret``'s luma (no gradient flows into
    ``secret``); all (B, 3, H, W)."""
    variance = _block_variance(_luma(secret.detach()), block)
    return _pearson(F.avg_pool2d(_residual(cover, stego), block).flatten(1), variance.flatten(1))


def canonical_energy(a: torch.Tensor, b: torch.Tensor, ridge: float = CANONICAL_RIDGE) -> torch.Tensor:
    """Per row (B,): the sum of the squared canonical correlations between the features of (B, K, P) ``a`` and
    (B, K, Q) ``b`` over their K samples, trace(Caa^-1 Cab Cbb^-1 Cba): how much of each side a linear map of the
    other explains (0 to min(P, Q)). Each covariance gets ``ridge`` times its mean variance on its diagonal, so a
    constant feature keeps it finite."""
    def covariance(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return x.transpose(1, 2) @ y / x.shape[1]

    def regularised(c: torch.Tensor) -> torch.Tensor:
        scale = c.diagonal(dim1=1, dim2=2).mean(1).view(-1, 1, 1) * ridge + 1e-12
        return c + scale * torch.eye(c.shape[1], dtype=c.dtype, device=c.device)

    a = a - a.mean(1, keepdim=True)
    b = b - b.mean(1, keepdim=True)
    cross = covariance(a, b)
    explained = torch.linalg.solve(regularised(covariance(a, a)), cross) @ torch.linalg.solve(
        regularised(covariance(b, b)), cross.transpose(1, 2))
    return explained.diagonal(dim1=1, dim2=2).sum(1)


def colour_correlation(cover: torch.Tensor, stego: torch.Tensor, secret: torch.Tensor,
                       block: int = COLOUR_BLOCK) -> torch.Tensor:
    """Per image (B,): :func:`canonical_energy`, over ``block x block`` blocks, between the residual's mean in
    each channel (as in :func:`outline_correlation`, before the mean over channels) and the secret's mean colour,
    luma variance and mean Sobel outline strength there (no gradient flows into ``secret``); all (B, 3, H, W)."""
    secret = secret.detach()
    statistics = torch.cat([F.avg_pool2d(secret, block), _block_variance(_luma(secret), block),
                            F.avg_pool2d(sobel_magnitude(secret).unsqueeze(1), block)], 1)
    residual = F.avg_pool2d(_channel_residual(cover, stego), block)
    return canonical_energy(*(maps.flatten(2).transpose(1, 2) for maps in (residual, statistics)))


def _fine_detail(maps: torch.Tensor, window: int = PATTERN_WINDOW) -> torch.Tensor:
    """(B, C, H, W) maps less their mean over a ``window x window`` box (edges replicated)."""
    pad = window // 2
    return maps - F.avg_pool2d(F.pad(maps, (pad, pad, pad, pad), mode='replicate'), window, stride=1)


def pattern_correlation(cover: torch.Tensor, stego: torch.Tensor, secret: torch.Tensor) -> torch.Tensor:
    """Per image (B,): :func:`canonical_energy`, over the pixels, between the fine detail (:func:`_fine_detail`) of
    the signed residual stego - cover in each channel and that of the secret's luma at each pixel of its 3 x 3
    neighbourhood (no gradient flows into ``secret``); all (B, 3, H, W)."""
    luma = _fine_detail(_luma(secret.detach()))
    neighbourhood = F.unfold(F.pad(luma, (1, 1, 1, 1), mode='replicate'), 3)
    residual = _fine_detail(stego - cover).flatten(2)
    return canonical_energy(residual.transpose(1, 2), neighbourhood.transpose(1, 2))


def wavelet_correlation(cover: torch.Tensor, stego: torch.Tensor, secret: torch.Tensor) -> torch.Tensor:
    """Per image (B,): :func:`canonical_energy`, over the 2 x 2 blocks of the Haar grid, between the 12 Haar
    coefficients (:func:`models.modules.wavelet.dwt`) of the signed residual stego - cover and the secret's mean
    colour in the block (its LL band; no gradient flows into ``secret``); all (B, 3, H, W)."""
    colour = dwt(secret.detach())[:, :3]
    return canonical_energy(*(maps.flatten(2).transpose(1, 2) for maps in (dwt(stego - cover), colour)))


def tile_spread(cover: torch.Tensor, stego: torch.Tensor, tiles: int) -> torch.Tensor:
    """Per image set (B / tiles,): the variance, over the set's ``tiles`` consecutive tiles, of the log of each
    channel's mean |stego - cover|, summed over the channels; (B, 3, h, w) tiles of ``tiles`` per set."""
    strength = torch.log((stego - cover).abs().mean((2, 3)) + 1e-8)
    return strength.view(-1, tiles, strength.shape[1]).var(1, unbiased=False).sum(1)


class InvMIHNetLoss:
    """Weighted losses of one training batch.

    Returned keys: the :data:`HIDING_TERMS` (unweighted sums), :data:`OUTLINE_TERM` and :data:`TEXTURE_TERM`
    (unweighted, the sums over the tiles of their squared :func:`outline_correlation` and
    :func:`texture_correlation`), :data:`COLOUR_TERM` (unweighted, the sum over the tiles of
    :func:`colour_correlation`, already a sum of squares), :data:`PATTERN_TERM` (unweighted, the same of
    :func:`pattern_correlation`), :data:`WAVELET_TERM` (the same of :func:`wavelet_correlation`),
    :data:`TILES_TERM` (unweighted, the sum over the image sets of their :func:`tile_spread`; each only when its
    weight is above 0), hiding_total (their weighted sum), the :data:`RESCALING_TERMS` (weighted), and total
    (hiding_total + the rescaling terms).

    With ``rescaling=False`` (a 1 x 1 grid, HiNet: the IIR is the identity, the secret is hidden at full size and
    there is no latent) the rescaling terms are not computed and are zero: forw_fit would compare the secret
    with itself, forw_ce a latent with no channels, and back_rec would repeat reconstruction on the quantized
    image. What remains is HiNet's loss (guide, reconstruction, low_frequency).
    """

    def __init__(self, lamda_reconstruction: float = 5.0, lamda_guide: float = 1.0,
                 lamda_low_frequency: float = 1.0, lambda_fit_forw: float = 4.0, lambda_ce_forw: float = 1.0,
                 lambda_rec_back: float = 1.0, rescaling: bool = True, lamda_outline: float = 0.0,
                 lamda_texture: float = 0.0, lamda_colour: float = 0.0, lamda_tiles: float = 0.0,
                 lamda_pattern: float = 0.0, lamda_wavelet: float = 0.0) -> None:
        self.hiding_weights = {'guide': lamda_guide, 'reconstruction': lamda_reconstruction,
                               'low_frequency': lamda_low_frequency}
        measures = ((OUTLINE_TERM, lamda_outline, lambda c, s, secret, n: outline_correlation(c, s, secret).pow(2)),
                    (TEXTURE_TERM, lamda_texture, lambda c, s, secret, n: texture_correlation(c, s, secret).pow(2)),
                    (COLOUR_TERM, lamda_colour, lambda c, s, secret, n: colour_correlation(c, s, secret)),
                    (TILES_TERM, lamda_tiles, lambda c, s, secret, n: tile_spread(c, s, n)),
                    (PATTERN_TERM, lamda_pattern, lambda c, s, secret, n: pattern_correlation(c, s, secret)),
                    (WAVELET_TERM, lamda_wavelet, lambda c, s, secret, n: wavelet_correlation(c, s, secret)))
        self.leak_terms = {name: (weight, measure) for name, weight, measure in measures if weight > 0}
        self.w_fit = lambda_fit_forw
        self.w_ce = lambda_ce_forw
        self.w_back = lambda_rec_back
        self.rescaling = rescaling

    @classmethod
    def from_options(cls, train_opt: dict, rescaling: bool = True) -> 'InvMIHNetLoss':
        """Weights from the ``train`` section of the options; ``rescaling`` False for a 1 x 1 grid."""
        keys = ('lamda_reconstruction', 'lamda_guide', 'lamda_low_frequency', 'lambda_fit_forw',
                'lambda_ce_forw', 'lambda_rec_back', 'lamda_outline', 'lamda_texture', 'lamda_colour',
                'lamda_tiles', 'lamda_pattern', 'lamda_wavelet')
        return cls(**{k: train_opt[k] for k in keys}, rescaling=rescaling)

    def __call__(self, out: dict[str, torch.Tensor], lr_ref: torch.Tensor, sets: int = 1) -> dict[str, torch.Tensor]:
        """``out`` from :meth:`InvMIHNet.forward`; ``lr_ref`` the bicubic LR references of the secrets.

        With ``sets`` image sets in the batch every loss is the mean over the sets (the summed hiding losses are
        divided by ``sets``; the per-image ones already average), so the learning rate keeps its meaning.
        """
        cover_wavelet_low = dwt(out['cover_tiles'])[:, :3]
        losses = {'guide': sum_squared_error(quantize(out['steg_tiles']), out['cover_tiles']) / sets,
                  'reconstruction': sum_squared_error(out['secret_rev_lr'], out['secret_lr']) / sets,
                  'low_frequency': sum_squared_error(out['steg_wavelet'][:, :3], cover_wavelet_low) / sets}
        losses['hiding_total'] = sum(self.hiding_weights[k] * losses[k] for k in HIDING_TERMS)
        for name, (weight, measure) in self.leak_terms.items():
            tiles = out['steg_tiles'].shape[0] // sets
            losses[name] = measure(out['cover_tiles'], out['steg_tiles'], out['secret_lr'], tiles).sum() / sets
            losses['hiding_total'] = losses['hiding_total'] + weight * losses[name]
        if self.rescaling:
            losses['forw_fit'] = self.w_fit * per_image_l2(out['secret_rev_lr'], lr_ref)
            losses['forw_ce'] = self.w_ce * latent_energy(out['latent'])
            losses['back_rec'] = self.w_back * per_image_charbonnier(out['secret_recover'], out['secrets'])
        else:
            losses.update({k: out['secrets'].new_zeros(()) for k in RESCALING_TERMS})
        total = losses['hiding_total']
        for key in RESCALING_TERMS:
            total = total + losses[key]
        losses['total'] = total
        return losses
