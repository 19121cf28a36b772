"""IIR: the invertible rescaling network (published InvRescaleNet) that downscales each secret image.

For each level of ``block_num`` a downsampling operation, then that many coupling blocks. Everything lives in
one ``operations`` list (released state_dict keys ``operations.<index>.<...>``); the reverse walks it backwards.
"""
from __future__ import annotations

import itertools

import torch
import torch.nn as nn

from models.modules.coupling import IIRCouplingBlock
from models.modules.dense_subnet import IIR_SUBNET, SubnetConstructor
from models.modules.downsampling import ConvDownsampling, DownsampleH, HaarDownsampling
from models.modules.memory_saving import run_coupling_blocks


class InvRescaleNet(nn.Module):
    """(B, 3, H, W) -> (B, 3 * scale_H * scale_W, H / scale_H, W / scale_W); channels 0..2 the LR image.

    Downsampling per level: ConvDownsampling (one level, the whole grid) when ``use_conv_downsampling``;
    otherwise Haar 2x2 per level, except DownsampleH (2x1) at level 1 of a 4 x 2 grid.
    ``memory_saving`` (see ``models.modules.memory_saving``) applies to each run of coupling blocks when training.
    """

    def __init__(self, scale_h: int, scale_w: int, block_num: list[int], in_nc: int = 3, out_nc: int = 3,
                 use_conv_downsampling: bool = False,
                 subnet_constructor: SubnetConstructor = IIR_SUBNET) -> None:
        super().__init__()
        self.scale_h, self.scale_w = scale_h, scale_w
        plan = self.downsampling_plan(scale_h, scale_w, len(block_num), use_conv_downsampling)
        operations: list[nn.Module] = []
        channels = in_nc
        for (kind, fh, fw), blocks in zip(plan, block_num):
            if kind == 'conv':
                operations.append(ConvDownsampling(scale_h, scale_w))
            elif kind == 'downsampleH':
                operations.append(DownsampleH(channels))
            else:
                operations.append(HaarDownsampling(channels))
            channels *= fh * fw
            operations.extend(IIRCouplingBlock(channels, subnet_constructor, split=out_nc)
                              for _ in range(blocks))
        self.operations = nn.ModuleList(operations)
        self.out_channels = channels
        self.memory_saving = 'none'

    @staticmethod
    def downsampling_plan(scale_h: int, scale_w: int, levels: int,
                          use_conv_downsampling: bool) -> list[tuple[str, int, int]]:
        """The (kind, factor_H, factor_W) of each level; raises if they do not multiply to the grid."""
        if use_conv_downsampling:
            if levels != 1:
                raise ValueError(f'ConvDownsampling uses exactly one level, so block_num needs one entry, '
                                 f'got {levels}')
            return [('conv', scale_h, scale_w)]
        plan = []
        for i in range(levels):
            if scale_h == 4 and scale_w == 2 and i == 1:
                plan.append(('downsampleH', 2, 1))
            else:
                plan.append(('haar', 2, 2))
        fh = fw = 1
        for _, a, b in plan:
            fh, fw = fh * a, fw * b
        if (fh, fw) != (scale_h, scale_w):
            raise ValueError(f'{levels} Haar level(s) downscale by {fh} x {fw}, not by the grid {scale_h} x '
                             f'{scale_w}; use block_num with one entry per 2x level, or use_ConvDownsampling')
        return plan

    def forward(self, x: torch.Tensor, rev: bool = False) -> torch.Tensor:
        ops = reversed(self.operations) if rev else self.operations
        for is_coupling, run in itertools.groupby(ops, key=lambda op: isinstance(op, IIRCouplingBlock)):
            if is_coupling:
                x = run_coupling_blocks(list(run), x, rev, self.memory_saving)
            else:
                for op in run:
                    x = op(x, rev=rev)
        return x
