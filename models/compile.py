"""torch.compile of the networks (options ``train.compile`` and ``test.compile``), with a fallback.

The dense subnets hold all the convolutions, so each is compiled in place (``nn.Module.compile``: the state_dict
keys, checkpoints and the coupling arithmetic stay as they are, and the memory-saving modes and mixed precision
keep working around them). Where the compiler cannot run (no C++ compiler, an unsupported platform), training
and inference go on uncompiled after a warning that says why.
"""
from __future__ import annotations

import logging

import torch
import torch.nn as nn

from models.modules.dense_subnet import DenseSubnet

logger = logging.getLogger('invmihnet')


def compiler_problem(device: torch.device) -> str | None:
    """None when torch.compile works on ``device``, otherwise the reason (compiles and runs a tiny function)."""
    try:
        probe = torch.compile(lambda t: torch.nn.functional.leaky_relu(t * 2.0 + 1.0, 0.2))
        probe(torch.ones(4, device=device))
    except Exception as err:  # the compiler stack raises many types (missing compiler, backend errors)
        return f'{type(err).__name__}: {str(err).strip().splitlines()[0] if str(err).strip() else ""}'
    return None


def compile_subnets(net: nn.Module, device: torch.device, key: str = 'compile') -> bool:
    """Compile every dense subnet of ``net`` in place; returns False (after a warning naming ``key``) when the
    compiler is unavailable on ``device`` and the networks stay uncompiled."""
    problem = compiler_problem(device)
    if problem is not None:
        logger.warning('%s: torch.compile is unavailable on %s (%s); running uncompiled', key, device, problem)
        return False
    for module in net.modules():
        if isinstance(module, DenseSubnet):
            module.compile()
    return True
