"""The baselines of the mosaic: N secrets hidden at full size by networks built from InvMIHNet's coupling block.

- :class:`ConcatHiding` (ISN-style, after Lu et al., CVPR 2021): the N secrets are concatenated along the channels
  and hidden by one HiNet-style hiding network whose secret branch has 12N wavelet channels; reveal draws the lost
  information z ~ N(0, 1) (12N channels) as HiNet does.
- :class:`SequentialHiding` (DeepMIH-style, after Guan et al., TPAMI 2022): N hiding stages, each a HiNet-style
  network of its own; stage k hides secret k in the stego of stage k - 1 (stage 1 in the cover); reveal runs the
  stages backwards, each with its own z. DeepMIH's importance map is not reproduced.

Neither tiles the cover nor rescales the secrets: ``iir`` is HiNet's empty (identity) rescaling network and the
training loss is HiNet's. Both subclass :class:`InvMIHNet` and fill its outputs' fields (see :class:`HideOutput`),
so the trainer, the stego library, test.py and the steganalysis use them unchanged. They are re-creations from
the papers' descriptions, not the authors' code: docs/compare_methods.md says what differs.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from models.config import NetworkConfig
from models.invmihnet import HideOutput, InvMIHNet, RevealOutput
from models.modules.hiding_net import HidingNet
from models.modules.quantization import quantize
from models.modules.rescaling_net import InvRescaleNet
from models.modules.wavelet import dwt, iwt


class FullSizeHiding(InvMIHNet):
    """What both baselines share: the identity IIR, the whole stego as one "tile", the noise of the reveal.

    ``chunk`` (of :meth:`hide` / :meth:`reveal`) has no effect: each network call takes the whole image.
    ``gaussian_scale`` scales IIR's latent, which the baselines do not have, so it has no effect either.
    """

    def build_networks(self, config: NetworkConfig) -> tuple[nn.Module, nn.Module]:
        return InvRescaleNet(1, 1, [], config.channels, config.channels), self.build_hiding(config)

    def build_hiding(self, config: NetworkConfig) -> nn.Module:
        """The hiding network(s), saved as the IIH checkpoint."""
        raise NotImplementedError

    def hide_wavelets(self, cover: torch.Tensor, secrets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Cover wavelets (S, 12, h, w) and secret wavelets (S * N, 12, h, w) -> the stego's wavelets (S, 12, h, w)
        and the lost information (S * N, 12, h, w)."""
        raise NotImplementedError

    def reveal_wavelets(self, stego: torch.Tensor, lost: torch.Tensor) -> torch.Tensor:
        """Stego wavelets (S, 12, h, w) and lost information (S * N, 12, h, w) -> secret wavelets (S * N, 12, h, w):
        the inverse of :meth:`hide_wavelets`."""
        raise NotImplementedError

    def stego_wavelet(self, stego: torch.Tensor) -> torch.Tensor:
        return dwt(stego)

    def _hide_sets(self, covers: torch.Tensor, secrets: torch.Tensor, chunk: int | None = None) -> HideOutput:
        steg_wavelet, lost = self.hide_wavelets(dwt(covers), dwt(secrets))
        stego_float = iwt(steg_wavelet)
        return HideOutput(stego=quantize(stego_float), stego_float=stego_float, steg_wavelet=steg_wavelet,
                          steg_tiles=stego_float, cover_tiles=covers, secret_lr=secrets, latent=lost)

    def reveal_wavelet(self, steg_wavelet: torch.Tensor, z_hiding: torch.Tensor | None = None,
                       z_rescaling: torch.Tensor | None = None, gaussian_scale: float = 1.0,
                       generator: torch.Generator | None = None, chunk: int | None = None) -> RevealOutput:
        """Reveal from the stego's wavelet coefficients (S, 12, H/2, W/2); ``z_hiding`` ~ N(0, 1) of shape
        (S * N, 12, H/2, W/2), drawn (from ``generator`` when given) when None. There is no ``z_rescaling``."""
        if z_rescaling is not None and z_rescaling.numel():
            raise ValueError(f'{self.config.describe()} has no rescaling latent: z_rescaling must be None, got '
                             f'shape {tuple(z_rescaling.shape)}')
        sets, c4, hh, hw = steg_wavelet.shape
        shape = (sets * self.num_images, c4, hh, hw)
        if z_hiding is None:
            z_hiding = self._noise(shape, steg_wavelet, generator)
        if tuple(z_hiding.shape) != shape:
            raise ValueError(f'z_hiding must have shape {shape}, got {tuple(z_hiding.shape)}')
        secrets = iwt(self.reveal_wavelets(steg_wavelet, z_hiding))
        return RevealOutput(secrets=secrets, secret_lr=secrets)


class ConcatHiding(FullSizeHiding):
    """ISN-style: one hiding network, cover branch 12 wavelet channels, secret branch the N secrets' 12N."""

    def build_hiding(self, config: NetworkConfig) -> nn.Module:
        c4 = 4 * config.channels
        return HidingNet(config.iih_block_num, channels=c4 * (config.num_images + 1), split=c4)

    def hide_wavelets(self, cover: torch.Tensor, secrets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        sets, c4, hh, hw = cover.shape
        out = self.iih(torch.cat((cover, secrets.reshape(sets, -1, hh, hw)), 1))
        return out[:, :c4], out[:, c4:].reshape(-1, c4, hh, hw)

    def reveal_wavelets(self, stego: torch.Tensor, lost: torch.Tensor) -> torch.Tensor:
        sets, c4, hh, hw = stego.shape
        out = self.iih(torch.cat((stego, lost.reshape(sets, -1, hh, hw)), 1), rev=True)
        return out[:, c4:].reshape(-1, c4, hh, hw)


class HidingStages(nn.Module):
    """N HiNet-style hiding networks (``stages.0`` ... in the IIH checkpoint) that the sequential baseline runs one
    after another; setting ``memory_saving`` sets every stage's."""

    def __init__(self, stages: int, block_num: int, channels: int = 24) -> None:
        super().__init__()
        self.stages = nn.ModuleList(HidingNet(block_num, channels=channels) for _ in range(stages))

    @property
    def memory_saving(self) -> str:
        return self.stages[0].memory_saving

    @memory_saving.setter
    def memory_saving(self, mode: str) -> None:
        for stage in self.stages:
            stage.memory_saving = mode


class SequentialHiding(FullSizeHiding):
    """DeepMIH-style: stage k hides secret k in the (float) stego of stage k - 1; reveal runs the stages backwards."""

    def build_hiding(self, config: NetworkConfig) -> nn.Module:
        return HidingStages(config.num_images, config.iih_block_num, channels=8 * config.channels)

    def hide_wavelets(self, cover: torch.Tensor, secrets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        sets, c4, hh, hw = cover.shape
        per_stage = secrets.reshape(sets, self.num_images, c4, hh, hw)
        stego, lost = cover, []
        for k, stage in enumerate(self.iih.stages):
            out = stage(torch.cat((stego, per_stage[:, k]), 1))
            stego = out[:, :c4]
            lost.append(out[:, c4:])
        return stego, torch.stack(lost, 1).flatten(0, 1)

    def reveal_wavelets(self, stego: torch.Tensor, lost: torch.Tensor) -> torch.Tensor:
        sets, c4, hh, hw = stego.shape
        per_stage = lost.reshape(sets, self.num_images, c4, hh, hw)
        last_first = []
        for k in reversed(range(self.num_images)):
            out = self.iih.stages[k](torch.cat((stego, per_stage[:, k]), 1), rev=True)
            stego = out[:, :c4]
            last_first.append(out[:, c4:])
        return torch.stack(last_first[::-1], 1).flatten(0, 1)
