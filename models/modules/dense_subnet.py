"""The dense subnet used inside every coupling block: its phi, rho and eta (see models/modules/coupling.py)."""
from __future__ import annotations

import functools
from typing import Callable

import torch
import torch.nn as nn

SubnetConstructor = Callable[[int, int], nn.Module]

GROWTH = 32
MEMORY_FORMATS = ('auto', 'channels_last', 'contiguous')


@functools.lru_cache(maxsize=None)
def channels_last_preferred(device_type: str) -> bool:
    """Whether ``'auto'`` runs the subnets in channels_last on ``device_type``: on CUDA, and on CPUs whose
    convolutions run on AVX-512 kernels, where oneDNN's channels_last kernels for these few channels are faster
    (``benchmarks/bench_train.py`` has the rows that decide it for a machine; AVX2-only CPUs keep NCHW)."""
    if device_type == 'cuda':
        return True
    return device_type == 'cpu' and torch.backends.cpu.get_cpu_capability().startswith('AVX512')


class DenseSubnet(nn.Module):
    """Five 3x3 convolutions with dense connections; conv5 has no activation.

    The activations work in place (exact: a LeakyReLU with a positive slope recovers its gradient from its output),
    which spares the autograd graph one pre-activation tensor per convolution.

    Low precision (``train.precision: bf16 | fp16``, set up by ``models.precision``): under autocast conv1-4 compute
    in the low precision on features kept in it from one convolution to the next (each is cast once, where it is
    made), and conv5, which writes the coupling's s and t and holds 5 to 18% of a subnet's multiply-adds, computes in
    fp32 on the fp32 concatenation of the subnet's input and the low-precision features. These are the values that
    autocast gives convolution by convolution, without re-casting the growing concatenation at every layer.

    ``memory_format`` (``'auto'``, ``'channels_last'`` or ``'contiguous'``) is the layout the convolutions run in;
    ``'auto'`` picks channels_last where oneDNN / cuDNN run these thin convolutions faster in it (see
    :func:`channels_last_preferred`). The output is contiguous NCHW whatever the layout inside.

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
        self.memory_format = 'auto'
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

    def _channels_last(self, device_type: str) -> bool:
        if self.memory_format == 'auto':
            return channels_last_preferred(device_type)
        return self.memory_format == 'channels_last'

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        device = x.device.type
        low = torch.get_autocast_dtype(device) if torch.is_autocast_enabled(device) else None
        if x.dim() == 4 and self._channels_last(device):
            x = x.contiguous(memory_format=torch.channels_last)
        h = x if low is None else x.to(low)
        x1 = self.act(self.conv1(h))
        x2 = self.act(self.conv2(torch.cat((h, x1), 1)))
        x3 = self.act(self.conv3(torch.cat((h, x1, x2), 1)))
        x4 = self.act(self.conv4(torch.cat((h, x1, x2, x3), 1)))
        features = torch.cat((x, x1, x2, x3, x4), 1)
        if low is None:
            return self.conv5(features).contiguous()
        with torch.autocast(device, enabled=False):
            return self.conv5(features.float()).contiguous()


def set_memory_format(net: nn.Module, memory_format: str) -> None:
    """Run every dense subnet of ``net`` in ``memory_format`` (one of :data:`MEMORY_FORMATS`)."""
    if memory_format not in MEMORY_FORMATS:
        raise ValueError(f'memory_format must be one of {list(MEMORY_FORMATS)}, got {memory_format!r}')
    for module in net.modules():
        if isinstance(module, DenseSubnet):
            module.memory_format = memory_format


def dense_subnet(negative_slope: float, init: str) -> SubnetConstructor:
    """A ``subnet_constructor(c_in, c_out)`` building :class:`DenseSubnet` with the given activation and init."""
    return functools.partial(DenseSubnet, negative_slope=negative_slope, init=init)


IIR_SUBNET = dense_subnet(negative_slope=0.2, init='xavier')
IIH_SUBNET = dense_subnet(negative_slope=0.01, init='gaussian')
