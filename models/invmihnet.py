"""InvMIHNet: IIR (rescaling) + IIH (hiding) as one module, with hide, reveal and the training forward.

One ``forward`` call computes everything a training step needs, so the pair can be wrapped in
DistributedDataParallel as a single module; ``hide`` and ``reveal`` are what a sender and a receiver run.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn as nn

from models.config import NetworkConfig
from models.modules.hiding_net import HidingNet
from models.modules.quantization import quantize
from models.modules.rescaling_net import InvRescaleNet
from models.modules.wavelet import dwt, iwt
from models.mosaic import from_tiles, to_tiles

REVEAL_FROM = ('float', 'png')
"""What the receiver reveals from (options ``train.reveal_from`` / ``test.reveal_from``): the unquantized stego
(the published path) or the 8-bit stego, as a receiver of the PNG has it."""


def in_chunks(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, chunk: int | None) -> torch.Tensor:
    """``fn`` applied to ``x`` in pieces of at most ``chunk`` samples along the batch (all at once when None), for
    a batch-independent ``fn``: the same result in bounded memory.

    Bit-identical to the unchunked call where the convolution kernels compute each sample alike whatever the batch
    size, as oneDNN does on this project's image sizes (large feature maps); on small maps oneDNN picks kernels by
    batch size and the two agree to float rounding only.
    """
    if chunk is None or chunk >= x.shape[0]:
        return fn(x)
    if chunk < 1:
        raise ValueError(f'chunk must be a positive number of images, got {chunk}')
    return torch.cat([fn(part) for part in x.split(chunk)], 0)


@dataclass
class HideOutput:
    """What hiding produces. ``stego`` is quantized to 8-bit levels (what is saved); the rest is float.

    The full-size baselines (``models.baselines``) fill the same fields for one full-size "tile": ``steg_wavelet``
    (1, 12, H/2, W/2), ``steg_tiles`` the float stego, ``cover_tiles`` the cover, ``secret_lr`` the secrets
    themselves and ``latent`` the lost information r the hiding network discards, in ``z_hiding``'s layout
    (N, 12, H/2, W/2): revealing the float stego with ``z_hiding=latent`` gives the secrets back exactly.
    """
    stego: torch.Tensor          # (1, 3, H, W) in k/255 levels
    stego_float: torch.Tensor    # (1, 3, H, W) before quantization
    steg_wavelet: torch.Tensor   # (N, 12, h/2, w/2) stego tiles in the wavelet domain
    steg_tiles: torch.Tensor     # (N, 3, h, w) before quantization
    cover_tiles: torch.Tensor    # (N, 3, h, w)
    secret_lr: torch.Tensor      # (N, 3, h, w) IIR's low-resolution secrets
    latent: torch.Tensor         # (N, 3N - 3, h, w) IIR's latent z (discarded by the sender)


@dataclass
class RevealOutput:
    """What revealing produces: the recovered secrets and the revealed low-resolution secrets."""
    secrets: torch.Tensor        # (N, 3, H, W)
    secret_lr: torch.Tensor      # (N, 3, h, w) before quantization


class InvMIHNet(nn.Module):
    """Both invertible networks of InvMIHNet for a configuration's ``scale_h x scale_w`` grid (N secrets)."""

    def __init__(self, config: NetworkConfig) -> None:
        super().__init__()
        self.config = config
        self.scale_h, self.scale_w = config.scale_h, config.scale_w
        self.num_images = config.num_images
        self.channels = config.channels
        self.iir, self.iih = self.build_networks(config)

    def build_networks(self, config: NetworkConfig) -> tuple[nn.Module, nn.Module]:
        """The IIR (rescaling) and IIH (hiding) networks, saved as the IIR_ and IIH_ checkpoints."""
        return (InvRescaleNet(config.scale_h, config.scale_w, list(config.iir_block_num), config.channels,
                              config.channels, config.use_conv_downsampling),
                HidingNet(config.iih_block_num, channels=8 * config.channels))

    def check_size(self, height: int, width: int) -> None:
        """Raise unless an H x W image splits into tiles of even size (the wavelet transform halves them)."""
        self.config.check_size(height, width)

    def _check_inputs(self, cover: torch.Tensor, secrets: torch.Tensor) -> None:
        n = self.num_images
        if secrets.dim() != 4 or secrets.shape[0] != n or secrets.shape[1] != self.channels:
            raise ValueError(f'a {self.scale_h} x {self.scale_w} model hides {n} secrets of shape '
                             f'({n}, {self.channels}, H, W), got {tuple(secrets.shape)}')
        if tuple(cover.shape[-2:]) != tuple(secrets.shape[-2:]):
            raise ValueError(f'cover {tuple(cover.shape[-2:])} and secrets {tuple(secrets.shape[-2:])} '
                             f'must have the same size')
        self.check_size(*secrets.shape[-2:])

    def _noise(self, shape: tuple[int, ...], like: torch.Tensor,
               generator: torch.Generator | None) -> torch.Tensor:
        if generator is None:
            return torch.randn(shape, dtype=like.dtype, device=like.device)
        return torch.randn(shape, generator=generator, dtype=like.dtype,
                           device=generator.device).to(like.device)

    def hide(self, cover: torch.Tensor, secrets: torch.Tensor, chunk: int | None = None) -> HideOutput:
        """Hide N secrets (N, 3, H, W) in a cover (1, 3, H, W) or (3, H, W).

        ``chunk``: run both networks on at most that many secrets / tiles at a time (bounded memory, same stego).
        """
        cover = cover.unsqueeze(0) if cover.dim() == 3 else cover
        self._check_inputs(cover, secrets)
        return self._hide_sets(cover, secrets, chunk)

    def _hide_sets(self, covers: torch.Tensor, secrets: torch.Tensor, chunk: int | None = None) -> HideOutput:
        """Hide S sets at once: covers (S, 3, H, W), secrets (S * N, 3, H, W) with set s at s * N ... s * N + N - 1."""
        out = in_chunks(self.iir, secrets, chunk)
        secret_lr, latent = out[:, :3], out[:, 3:]
        cover_tiles = to_tiles(covers, self.scale_h, self.scale_w)
        hidden = in_chunks(self.iih, torch.cat((dwt(cover_tiles), dwt(secret_lr)), 1), chunk)
        steg_wavelet = hidden[:, :4 * self.channels]
        steg_tiles = iwt(steg_wavelet)
        stego_float = from_tiles(steg_tiles, self.scale_h, self.scale_w)
        return HideOutput(stego=quantize(stego_float), stego_float=stego_float, steg_wavelet=steg_wavelet,
                          steg_tiles=steg_tiles, cover_tiles=cover_tiles, secret_lr=secret_lr, latent=latent)

    def reveal_wavelet(self, steg_wavelet: torch.Tensor, z_hiding: torch.Tensor | None = None,
                       z_rescaling: torch.Tensor | None = None, gaussian_scale: float = 1.0,
                       generator: torch.Generator | None = None, chunk: int | None = None) -> RevealOutput:
        """Reveal from the stego tiles' wavelet coefficients (N, 12, h/2, w/2).

        ``z_hiding`` ~ N(0, 1) of shape (N, 12, h/2, w/2); ``z_rescaling`` ~ N(0, 1) of shape (N, 3N - 3, h, w),
        multiplied by ``gaussian_scale``. Either is drawn (from ``generator`` when given) when None. ``chunk``:
        run both networks on at most that many tiles at a time (the noise is drawn whole first: same result).
        """
        n, c4, hh, hw = steg_wavelet.shape
        if z_hiding is None:
            z_hiding = self._noise((n, c4, hh, hw), steg_wavelet, generator)
        restored = in_chunks(lambda t: self.iih(t, rev=True), torch.cat((steg_wavelet, z_hiding), 1), chunk)
        secret_lr = iwt(restored[:, c4:])
        latent_shape = (n, self.iir.out_channels - self.channels, 2 * hh, 2 * hw)
        if z_rescaling is None:
            z_rescaling = self._noise(latent_shape, steg_wavelet, generator)
        if tuple(z_rescaling.shape) != latent_shape:
            raise ValueError(f'z_rescaling must have shape {latent_shape}, got {tuple(z_rescaling.shape)}')
        upscaled = in_chunks(lambda t: self.iir(t, rev=True),
                             torch.cat((quantize(secret_lr), gaussian_scale * z_rescaling), 1), chunk)
        return RevealOutput(secrets=upscaled[:, :self.channels], secret_lr=secret_lr)

    def reveal(self, stego: torch.Tensor, z_hiding: torch.Tensor | None = None,
               z_rescaling: torch.Tensor | None = None, from_float: bool = False, gaussian_scale: float = 1.0,
               generator: torch.Generator | None = None, chunk: int | None = None) -> RevealOutput:
        """Recover the N secrets from a stego image (1, 3, H, W) or (3, H, W).

        By default the stego is first quantized to 8-bit levels, as a receiver of the saved PNG has it (a no-op
        for an image read from that PNG). ``from_float=True`` reveals from the unquantized stego, the
        published test path. ``chunk``: see :meth:`reveal_wavelet`.
        """
        stego = stego.unsqueeze(0) if stego.dim() == 3 else stego
        if stego.dim() != 4 or stego.shape[:2] != (1, self.channels):
            raise ValueError(f'reveal takes one stego image of shape (1, {self.channels}, H, W), '
                             f'got {tuple(stego.shape)}')
        self.check_size(*stego.shape[-2:])
        if not from_float:
            stego = quantize(stego)
        steg_wavelet = self.stego_wavelet(stego)
        return self.reveal_wavelet(steg_wavelet, z_hiding, z_rescaling, gaussian_scale, generator, chunk)

    def channel(self, hidden: HideOutput, reveal_from: str = 'float',
                distort: Callable[[torch.Tensor], torch.Tensor] | None = None) -> torch.Tensor:
        """What the receiver reveals from in training: the stego tiles' wavelet coefficients after the channel.

        ``reveal_from='float'`` (the published path) keeps the unquantized stego; ``'png'`` rounds it to 8-bit
        levels in the image domain with a straight-through gradient, exactly as :meth:`reveal` does at test time.
        ``distort`` (a differentiable image -> image map, see :mod:`models.distortions`) then alters the stego
        image, which is quantized again when revealing from the PNG.
        """
        if reveal_from not in REVEAL_FROM:
            raise ValueError(f'reveal_from must be one of {list(REVEAL_FROM)}, got {reveal_from!r}')
        if reveal_from == 'float' and distort is None:
            return hidden.steg_wavelet
        stego = hidden.stego if reveal_from == 'png' else hidden.stego_float
        if distort is not None:
            stego = distort(stego)
            stego = quantize(stego) if reveal_from == 'png' else stego
        return self.stego_wavelet(stego)

    def stego_wavelet(self, stego: torch.Tensor) -> torch.Tensor:
        """What :meth:`reveal_wavelet` reveals from: the wavelet coefficients of the stego's tiles (S * N, 12,
        h/2, w/2) for stego images (S, 3, H, W)."""
        return dwt(to_tiles(stego, self.scale_h, self.scale_w))

    def forward(self, images: torch.Tensor, z_hiding: torch.Tensor | None = None,
                z_rescaling: torch.Tensor | None = None, gaussian_scale: float = 1.0, reveal_from: str = 'float',
                distort: Callable[[torch.Tensor], torch.Tensor] | None = None) -> dict[str, torch.Tensor]:
        """The training forward on S image sets of N + 1 images each (image 0 of each set its cover), batch
        S * (N + 1): hide, the channel (see :meth:`channel`), reveal; every tensor the losses need, the S sets'
        secrets and tiles one after another."""
        sets = images.shape[0] // (self.num_images + 1)
        if images.dim() != 4 or sets < 1 or images.shape[0] != sets * (self.num_images + 1):
            raise ValueError(f'the training batch must hold whole sets of {self.num_images + 1} images (a cover '
                             f'and {self.num_images} secrets), got shape {tuple(images.shape)}')
        grouped = images.reshape(sets, self.num_images + 1, *images.shape[1:])
        secrets = grouped[:, 1:].flatten(0, 1)
        hidden = self._hide_sets(grouped[:, 0], secrets)
        received = self.channel(hidden, reveal_from, distort)
        revealed = self.reveal_wavelet(received, z_hiding, z_rescaling, gaussian_scale)
        return {'secrets': secrets, 'secret_lr': hidden.secret_lr, 'latent': hidden.latent,
                'cover_tiles': hidden.cover_tiles, 'steg_wavelet': hidden.steg_wavelet,
                'steg_tiles': hidden.steg_tiles, 'secret_rev_lr': revealed.secret_lr,
                'secret_recover': revealed.secrets}
