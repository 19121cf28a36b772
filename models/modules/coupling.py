"""The affine coupling block shared by the rescaling network (IIR) and the hiding network (IIH).

Forward:  y1 = x1 + phi(x2);  s = clamp * (2 sigmoid(rho(y1)) - 1);  y2 = x2 * exp(s) + eta(y1)
Reverse:  s = clamp * (2 sigmoid(rho(y1)) - 1);  x2 = (y2 - eta(y1)) / exp(s);  x1 = y1 - phi(x2)

The two published variants differ only in the channel split, the clamp, the subnet (activation and init)
and the attribute names of phi, rho and eta, which are the names in the released checkpoints.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from models.modules.dense_subnet import IIH_SUBNET, IIR_SUBNET, SubnetConstructor

ROLES = ('phi', 'rho', 'eta')


class AffineCouplingBlock(nn.Module):
    """Invertible affine coupling on a channel split ``(split, channels - split)``.

    ``subnet_names`` maps each role ('phi', 'rho', 'eta') to its attribute name; subnets are registered in
    that mapping's order so that ``state_dict`` keys come out in the released order.
    """

    def __init__(self, channels: int, split: int, clamp: float, subnet_constructor: SubnetConstructor,
                 subnet_names: dict[str, str]) -> None:
        super().__init__()
        if not 0 < split < channels:
            raise ValueError(f'coupling split {split} must lie strictly between 0 and {channels} channels')
        if sorted(subnet_names) != sorted(ROLES):
            raise ValueError(f'subnet_names must name exactly the roles {ROLES}, got {sorted(subnet_names)}')
        self.split = split
        self.clamp = clamp
        self.subnet_dtype: torch.dtype | None = None
        self.subnet_names = dict(subnet_names)
        c1, c2 = split, channels - split
        sizes = {'phi': (c2, c1), 'rho': (c1, c2), 'eta': (c1, c2)}
        for role, name in subnet_names.items():
            self.add_module(name, subnet_constructor(*sizes[role]))

    def _subnet(self, role: str) -> nn.Module:
        return getattr(self, self.subnet_names[role])

    def subnet(self, role: str, x: torch.Tensor) -> torch.Tensor:
        """Apply the subnet of ``role`` to ``x``; in ``subnet_dtype`` under autocast when one is set (see
        ``models.precision``), with the result cast back to ``x``'s dtype so the coupling arithmetic stays there."""
        net = self._subnet(role)
        if self.subnet_dtype is None:
            return net(x)
        with torch.autocast(x.device.type, dtype=self.subnet_dtype):
            out = net(x)
        return out.to(x.dtype)

    def scale(self, r: torch.Tensor) -> torch.Tensor:
        """exp(s) with s = clamp * (2 sigmoid(r) - 1)."""
        return torch.exp(self.clamp * (torch.sigmoid(r) * 2 - 1))

    def forward(self, x: torch.Tensor, rev: bool = False) -> torch.Tensor:
        x1, x2 = x[:, :self.split], x[:, self.split:]
        if not rev:
            y1 = x1 + self.subnet('phi', x2)
            y2 = x2 * self.scale(self.subnet('rho', y1)) + self.subnet('eta', y1)
        else:
            y2 = (x2 - self.subnet('eta', x1)) / self.scale(self.subnet('rho', x1))
            y1 = x1 - self.subnet('phi', y2)
        return torch.cat((y1, y2), 1)


class IIRCouplingBlock(AffineCouplingBlock):
    """Coupling block of the rescaling network (published InvBlockExp): split 3, clamp 1, subnets F, H, G."""

    def __init__(self, channels: int, subnet_constructor: SubnetConstructor = IIR_SUBNET,
                 split: int = 3, clamp: float = 1.0) -> None:
        super().__init__(channels, split, clamp, subnet_constructor,
                         subnet_names={'phi': 'F', 'eta': 'G', 'rho': 'H'})


class IIHCouplingBlock(AffineCouplingBlock):
    """Coupling block of the hiding network (published INV_block): 12 + 12 channels, clamp 2, subnets f, r, y."""

    def __init__(self, channels: int = 24, subnet_constructor: SubnetConstructor = IIH_SUBNET,
                 split: int = 12, clamp: float = 2.0) -> None:
        super().__init__(channels, split, clamp, subnet_constructor,
                         subnet_names={'rho': 'r', 'eta': 'y', 'phi': 'f'})

    def scale(self, r: torch.Tensor) -> torch.Tensor:
        """exp(clamp * 2 * (sigmoid(r) - 0.5)), the published IIH arithmetic (same value as the base class)."""
        return torch.exp(self.clamp * 2 * (torch.sigmoid(r) - 0.5))
