"""Memory-lean training through runs of coupling blocks (option ``train.memory_saving``).

- ``none``: ordinary autograd; every subnet activation of every block is kept until the backward pass.
- ``checkpoint``: activation checkpointing per block (``torch.utils.checkpoint``): each block keeps its input
  and recomputes its subnets during the backward pass.
- ``invertible``: the RevNet / MemCNN technique. A run of blocks keeps only its output; during the backward pass
  each block rebuilds its input from its output (the coupling is invertible) while evaluating its three subnets
  once with autograd on, so the run costs about what ``checkpoint`` costs and stores one tensor.

The modes change memory and time, not what is computed: gradients agree with ``none`` up to float rounding
(the rebuilt inputs differ from the originals by the rounding of one coupling inverse per block).
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch.utils.checkpoint import checkpoint

from models.modules.coupling import AffineCouplingBlock

MEMORY_SAVING_MODES = ('none', 'checkpoint', 'invertible')

Grads = dict[torch.nn.Parameter, torch.Tensor]


def run_coupling_blocks(blocks: Sequence[AffineCouplingBlock], x: torch.Tensor, rev: bool,
                        mode: str = 'none') -> torch.Tensor:
    """Apply ``blocks`` in order (each with ``rev``) to ``x`` under the memory-saving ``mode``.

    Without autograd (inference) every mode runs the blocks plainly.
    """
    if mode not in MEMORY_SAVING_MODES:
        raise ValueError(f'unknown memory_saving mode {mode!r}; expected one of {list(MEMORY_SAVING_MODES)}')
    if mode == 'none' or not blocks or not torch.is_grad_enabled():
        for block in blocks:
            x = block(x, rev=rev)
        return x
    if mode == 'checkpoint':
        for block in blocks:
            x = checkpoint(block, x, rev, use_reentrant=False)
        return x
    params = [p for block in blocks for p in block.parameters() if p.requires_grad]
    return _InvertibleRun.apply(tuple(blocks), rev, x, *params)


def _split(block: AffineCouplingBlock, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return t[:, :block.split], t[:, block.split:]


def _backprop(block: AffineCouplingBlock, roles: tuple[str, ...], output: torch.Tensor, leaf: torch.Tensor,
              grad_output: torch.Tensor, grads: Grads) -> torch.Tensor:
    """Backpropagate ``grad_output`` through ``output`` (computed from ``leaf`` by the subnets of ``roles``): add
    the subnets' parameter gradients to ``grads`` and return the gradient of ``leaf``."""
    params = [p for role in roles for p in block._subnet(role).parameters() if p.requires_grad]
    grad_leaf, *values = torch.autograd.grad(output, [leaf] + params, grad_output, allow_unused=True)
    for p, g in zip(params, values):
        if g is not None:
            grads[p] = grads[p] + g if p in grads else g
    return grad_leaf


def _backward_forward_block(block: AffineCouplingBlock, y: torch.Tensor, grad_y: torch.Tensor,
                            grads: Grads) -> tuple[torch.Tensor, torch.Tensor]:
    """Block run forward (y1 = x1 + phi(x2), y2 = x2 exp(s(y1)) + eta(y1)): rebuild x from y and backpropagate."""
    y1, y2 = _split(block, y)
    a1, a2 = _split(block, grad_y)
    y1_leaf = y1.detach().requires_grad_()
    eta = block.subnet('eta', y1_leaf)
    scale = block.scale(block.subnet('rho', y1_leaf))
    x2 = ((y2 - eta) / scale).detach()
    b1 = a1 + _backprop(block, ('rho', 'eta'), x2 * scale + eta, y1_leaf, a2, grads)
    grad_x2 = a2 * scale.detach()
    x2_leaf = x2.requires_grad_()
    phi = block.subnet('phi', x2_leaf)
    x1 = (y1 - phi).detach()
    grad_x2 = grad_x2 + _backprop(block, ('phi',), phi, x2_leaf, b1, grads)
    return torch.cat((x1, x2.detach()), 1), torch.cat((b1, grad_x2), 1)


def _backward_reverse_block(block: AffineCouplingBlock, y: torch.Tensor, grad_y: torch.Tensor,
                            grads: Grads) -> tuple[torch.Tensor, torch.Tensor]:
    """Block run in reverse (y2 = (x2 - eta(x1)) / exp(s(x1)), y1 = x1 - phi(y2)): rebuild x and backpropagate."""
    y1, y2 = _split(block, y)
    a1, a2 = _split(block, grad_y)
    y2_leaf = y2.detach().requires_grad_()
    phi = block.subnet('phi', y2_leaf)
    x1 = (y1 + phi).detach()
    b2 = a2 + _backprop(block, ('phi',), phi, y2_leaf, -a1, grads)
    x1_leaf = x1.requires_grad_()
    eta = block.subnet('eta', x1_leaf)
    scale = block.scale(block.subnet('rho', x1_leaf))
    x2 = (y2 * scale + eta).detach()
    grad_x1 = a1 + _backprop(block, ('rho', 'eta'), (x2 - eta) / scale, x1_leaf, b2, grads)
    return torch.cat((x1_leaf.detach(), x2), 1), torch.cat((grad_x1, b2 / scale.detach()), 1)


class _InvertibleRun(torch.autograd.Function):
    """A run of coupling blocks that stores only its output and rebuilds every block's input when backpropagating."""

    @staticmethod
    def forward(ctx, blocks: tuple[AffineCouplingBlock, ...], rev: bool, x: torch.Tensor,
                *params: torch.nn.Parameter) -> torch.Tensor:
        for block in blocks:
            x = block(x, rev=rev)
        ctx.blocks, ctx.rev, ctx.params = blocks, rev, params
        ctx.save_for_backward(x)
        return x

    @staticmethod
    def backward(ctx, grad_y: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        y, = ctx.saved_tensors
        step = _backward_reverse_block if ctx.rev else _backward_forward_block
        grads: Grads = {}
        with torch.enable_grad():
            for block in reversed(ctx.blocks):
                y, grad_y = step(block, y, grad_y, grads)
        grad_x = grad_y if ctx.needs_input_grad[2] else None
        return (None, None, grad_x, *(grads.get(p) for p in ctx.params))
