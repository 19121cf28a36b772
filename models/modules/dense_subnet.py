"""The dense subnet used inside every coupling block: its phi, rho and eta (see models/modules/coupling.py)."""
from __future__ import annotations

import functools
from typing import Callable

import torch
import torch.nn as nn

SubnetConstructor = Callable[[int, int], nn.Module]

GROWTH = 32


class DenseSubnet(nn.Module):
    """Five 3x3 convolutions with dense connections; conv5 has no activation.

    The activations work in place (exact: a LeakyReLU with a positive slope recovers its gradient from its output),
    which spares the autograd graph one pre-activation tensor per convolution.

    Under autocast (``train.precision: bf16 | fp16``) conv1-4 run in the low precision and conv5 in fp32: conv5
    writes the coupling's s and t, and over four seeds the demo trained with bf16 subnets lost 0.65 dB of secret
    PSNR to fp32 on average with conv5 in bf16 too, 0.25 dB with it in fp32 (README, "Training in bf16"). It holds
    5 to 18% of a subnet's multiply-adds.

    ``init`` selects the published initialisation of the network it belongs to:
    ``'xavier'`` (IIR: conv1-4 xavier-normal * 0.1, biases zero) or ``'gaussian'`` (IIH: every
    parameter 0.01 * N(0, 1)). conv5 starts at zero in both, so an untrained coupling block is the identity.
    """

    def __init__(self, c_in: int, c_out: int, negative_slope: float = 0.2, init: str = 'xavier') -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, GROWTH, 3, 1, 1)
        self.conv2 = nn.Conv2d(c_in + GROWTH, GROWTH, 3, 1, 1)
        self.conv3 = nn.Conv2d(c_in + 2 * GROWTH, GROWTH, 3, 1, 1)
        self.conv4 = nn.Conv2d(c_in + 3 * GROWTH, GROWTH, 3, 1, 1)
        self.conv5 = nn.Conv2d(c_in + 4 * GROWTH, c_out, 3, 1, 1)
        self.act = nn.LeakyReLU(negative_slope, inplace=True)
        self._initialise(init)

    def _initialise(self, init: str) -> None:
        hidden = (self.conv1, self.conv2, self.conv3, self.conv4)
        with torch.no_grad():
            if init == 'xavier':
                for conv in hidden:
                    nn.init.xavier_normal_(conv.weight)
                    conv.weight.mul_(0.1)
                    conv.bias.zero_()
            elif init == 'gaussian':
                for conv in hidden:
                    conv.weight.normal_(0.0, 0.01)
                    conv.bias.normal_(0.0, 0.01)
            else:
                raise ValueError(f"unknown subnet init {init!r}; expected 'xavier' or 'gaussian'")
            self.conv5.weight.zero_()
            self.conv5.bias.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x1 = self.act(self.conv1(x))
        x2 = self.act(self.conv2(torch.cat((x, x1), 1)))
        x3 = self.act(self.conv3(torch.cat((x, x1, x2), 1)))
        x4 = self.act(self.conv4(torch.cat((x, x1, x2, x3), 1)))
        features = torch.cat((x, x1, x2, x3, x4), 1)
        device = features.device.type
        if not torch.is_autocast_enabled(device):
            return self.conv5(features)
        with torch.autocast(device, enabled=False):
            return self.conv5(features.float())


def dense_subnet(negative_slope: float, init: str) -> SubnetConstructor:
    """A ``subnet_constructor(c_in, c_out)`` building :class:`DenseSubnet` with the given activation and init."""
    return functools.partial(DenseSubnet, negative_slope=negative_slope, init=init)


IIR_SUBNET = dense_subnet(negative_slope=0.2, init='xavier')
IIH_SUBNET = dense_subnet(negative_slope=0.01, init='gaussian')
