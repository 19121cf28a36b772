"""Invertible downsampling operations of the rescaling network (IIR): Haar 2x2, the 2x1 downsampleH of the
8-image model, and the learnable ConvDownsampling of the 6- and 9-image models.

All three turn (B, C, H, W) into (B, k*C, H/a, W/b) with subband-major channels: the first C output
channels are subband 0 of every input channel, the next C subband 1, and so on.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


def _to_subband_major(x: torch.Tensor, channels: int, subbands: int) -> torch.Tensor:
    b, _, h, w = x.shape
    return x.reshape(b, channels, subbands, h, w).transpose(1, 2).reshape(b, channels * subbands, h, w)


def _to_channel_major(x: torch.Tensor, channels: int, subbands: int) -> torch.Tensor:
    b, _, h, w = x.shape
    return x.reshape(b, subbands, channels, h, w).transpose(1, 2).reshape(b, channels * subbands, h, w)


def _check_divisible(x: torch.Tensor, name: str, factor_h: int, factor_w: int) -> None:
    h, w = x.shape[-2:]
    if h % factor_h or w % factor_w:
        raise ValueError(f'{name} needs height divisible by {factor_h} and width by {factor_w}, got {h} x {w}')


class HaarDownsampling(nn.Module):
    """Fixed 2x2 Haar transform: four filters per channel, stride 2, output divided by 4 (exactly invertible)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.channels = channels
        filters = torch.tensor([[[1., 1.], [1., 1.]],
                                [[1., -1.], [1., -1.]],
                                [[1., 1.], [-1., -1.]],
                                [[1., -1.], [-1., 1.]]]).unsqueeze(1)
        self.register_buffer('haar_weights', filters.repeat(channels, 1, 1, 1))

    def forward(self, x: torch.Tensor, rev: bool = False) -> torch.Tensor:
        if not rev:
            _check_divisible(x, 'HaarDownsampling', 2, 2)
            out = F.conv2d(x, self.haar_weights, stride=2, groups=self.channels) / 4.0
            return _to_subband_major(out, self.channels, 4)
        out = _to_channel_major(x, self.channels, 4)
        return F.conv_transpose2d(out, self.haar_weights, stride=2, groups=self.channels)


class DownsampleH(nn.Module):
    """2x1 vertical Haar downsampling (second level of the 8-image IIR).

    Filters per channel: [1/2, 1/2] and [-1/2, 1/2]. The reverse is the published one (transposed convolution
    with the same weights, times 2), which is the exact inverse of these filters.

    The published code makes ``haar_weights`` a trainable parameter, but its reverse is exact only at the
    initial values, so training it (weight decay alone moves it) breaks invertibility. Here the filters are a
    buffer: still in the state_dict under the released key, so released and golden checkpoints load unchanged and,
    whatever values they hold, reproduce the published outputs with the published reverse; but outside every
    optimizer, so a model trained here keeps the initial filters and stays exactly invertible. We keep the
    published reverse rather than a matrix inverse behind an option: the coupling blocks around it learn
    everything a learned 2x1 filter could, and one code path serves released and new models alike.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.channels = channels
        filters = torch.tensor([[[0.5], [0.5]], [[-0.5], [0.5]]]).unsqueeze(1)
        self.register_buffer('haar_weights', filters.repeat(channels, 1, 1, 1))

    def forward(self, x: torch.Tensor, rev: bool = False) -> torch.Tensor:
        if not rev:
            _check_divisible(x, 'DownsampleH', 2, 1)
            out = F.conv2d(x, self.haar_weights, stride=(2, 1), groups=self.channels)
            return _to_subband_major(out, self.channels, 2)
        out = _to_channel_major(x, self.channels, 2)
        return F.conv_transpose2d(out, self.haar_weights, stride=(2, 1), groups=self.channels) * 2.0


class ConvDownsampling(nn.Module):
    """Learnable scale_H x scale_W downsampling: an s x s matrix (s = scale_H * scale_W) applied to each
    channel's s pixels of every block; reversed with the matrix inverse.

    Init: identity with row 0 set to 1/s (a 2x2 grid uses the four Haar rows divided by 4 instead).
    """

    def __init__(self, scale_h: int, scale_w: int) -> None:
        super().__init__()
        self.scale_h, self.scale_w = scale_h, scale_w
        s = scale_h * scale_w
        weights = torch.eye(s)
        if scale_h == scale_w == 2:
            weights = torch.tensor([[1., 1., 1., 1.], [1., -1., 1., -1.],
                                    [1., 1., -1., -1.], [1., -1., -1., 1.]]) / 4.0
        else:
            weights[0] = 1.0 / s
        self.conv_weights = nn.Parameter(weights)

    def forward(self, x: torch.Tensor, rev: bool = False) -> torch.Tensor:
        sh, sw = self.scale_h, self.scale_w
        s = sh * sw
        if not rev:
            _check_divisible(x, 'ConvDownsampling', sh, sw)
            b, c, h, w = x.shape
            blocks = x.reshape(b, c, h // sh, sh, w // sw, sw).permute(0, 1, 3, 5, 2, 4)
            blocks = blocks.reshape(b, c * s, h // sh, w // sw)
            weight = self.conv_weights.reshape(s, s, 1, 1).repeat(c, 1, 1, 1)
            out = F.conv2d(blocks, weight, groups=c)
            return _to_subband_major(out, c, s)
        b, cs, h, w = x.shape
        c = cs // s
        weight = torch.inverse(self.conv_weights).reshape(s, s, 1, 1).repeat(c, 1, 1, 1)
        out = F.conv2d(_to_channel_major(x, c, s), weight, groups=c)
        out = out.reshape(b, c, sh, sw, h, w).permute(0, 1, 4, 2, 5, 3)
        return out.reshape(b, c, h * sh, w * sw)
