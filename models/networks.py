"""The one place a network is built from its configuration: InvMIHNet, or a baseline (``network_H.method``)."""
from __future__ import annotations

from models.baselines import ConcatHiding, SequentialHiding
from models.config import NetworkConfig
from models.invmihnet import InvMIHNet


def build_network(config: NetworkConfig) -> InvMIHNet:
    """The bare IIR + IIH module of ``config``'s method (the baselines present InvMIHNet's interface)."""
    if config.method == 'concat':
        return ConcatHiding(config)
    if config.method == 'sequential':
        return SequentialHiding(config)
    return InvMIHNet(config)
