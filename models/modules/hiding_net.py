"""IIH: the invertible hiding network (HiNet style) working on 12 + 12 wavelet channels (12 + 12N for the
concatenating baseline).

The blocks sit in ``model.inv1 .. model.inv<K>`` (released state_dict keys ``model.inv1.r.conv1.weight``);
the reverse walks them backwards.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from models.modules.coupling import IIHCouplingBlock
from models.modules.dense_subnet import IIH_SUBNET, SubnetConstructor
from models.modules.memory_saving import run_coupling_blocks


class HidingNet(nn.Module):
    """(B, 24, h, w) -> (B, 24, h, w): channels 0..11 cover / stego wavelets, 12..23 secret / lost information.

    ``split``: the cover branch's channels (default half of ``channels``; 12 with a 12N-channel secret branch).
    ``memory_saving`` (see ``models.modules.memory_saving``) applies to the blocks when training.
    """

    def __init__(self, block_num: int = 16, channels: int = 24,
                 subnet_constructor: SubnetConstructor = IIH_SUBNET, split: int | None = None) -> None:
        super().__init__()
        if block_num < 1:
            raise ValueError(f'the hiding network needs at least one block, got block_num={block_num}')
        split = channels // 2 if split is None else split
        self.model = nn.ModuleDict({f'inv{i + 1}': IIHCouplingBlock(channels, subnet_constructor, split=split)
                                    for i in range(block_num)})
        self.memory_saving = 'none'

    def forward(self, x: torch.Tensor, rev: bool = False) -> torch.Tensor:
        blocks = list(self.model.values())
        return run_coupling_blocks(blocks[::-1] if rev else blocks, x, rev, self.memory_saving)
