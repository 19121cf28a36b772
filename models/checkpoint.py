"""Checkpoint files: the released IIR (plain state_dict) and IIH (``{'net': state_dict}``) formats, strict loading
with clear errors, atomic writes, and the hash that identifies a network's weights."""
from __future__ import annotations

import hashlib
import io
import logging
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

from utils.atomic_io import atomic_write_bytes

logger = logging.getLogger('invmihnet')


class CheckpointError(ValueError):
    """A checkpoint that cannot be read or does not fit the configured network."""


def atomic_save(obj: Any, path: str | Path) -> None:
    """torch.save to a temporary file beside ``path``, then rename: a crash never leaves a truncated file."""
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    atomic_write_bytes(path, buffer.getvalue())


RELEASED_CHECKPOINTS = 'https://drive.google.com/file/d/17GRiwaJN8yqmLtiAO-bJcgpG8aWHysz3/view'
"""Where the authors' released IIR_<N>images.pth / IIH_<N>images.pth come from (README, Reproducing the paper)."""


def _read(path: str | Path, what: str) -> Any:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f'{what} checkpoint {path} does not exist (the released checkpoints are the Google '
                              f'Drive download linked in README.md, "Reproducing the paper": {RELEASED_CHECKPOINTS}; '
                              f'put IIR_<N>images.pth and IIH_<N>images.pth in experiments/pretrained_models/)')
    try:
        return torch.load(path, map_location='cpu', weights_only=True)
    except Exception as err:  # torch raises many types for a damaged or foreign file
        raise CheckpointError(f'cannot read {what} checkpoint {path}: {err}') from err


def _strip_prefix(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k[len('module.'):] if k.startswith('module.') else k: v for k, v in state.items()}


def read_iir_state(path: str | Path) -> dict[str, torch.Tensor]:
    """An IIR file: a plain state_dict (a ``module.`` prefix is removed)."""
    state = _read(path, 'IIR')
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f'IIR checkpoint {path} is not a state_dict of tensors')
    return _strip_prefix(state)


def read_iih_state(path: str | Path) -> dict[str, torch.Tensor]:
    """An IIH file: ``{'net': state_dict}``, keys with or without ``module.``; keys holding 'tmp_var' or 'rect'
    are dropped as the published loader does."""
    ckpt = _read(path, 'IIH')
    if not isinstance(ckpt, dict) or 'net' not in ckpt or not isinstance(ckpt['net'], dict):
        raise CheckpointError(f"IIH checkpoint {path} must be a dict with a 'net' state_dict "
                              f"(the released format), got keys {list(ckpt)[:5] if isinstance(ckpt, dict) else ckpt}")
    return {k: v for k, v in _strip_prefix(ckpt['net']).items() if 'tmp_var' not in k and 'rect' not in k}


def load_state(net: nn.Module, state: dict[str, torch.Tensor], path: str | Path, config: str,
               strict: bool = True, shown: int = 5) -> None:
    """Load ``state`` into ``net``; any missing, unexpected (when strict) or mis-shaped key is a
    :class:`CheckpointError` naming the file, the configuration and the first offending keys."""
    own = net.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    shapes = [f'{k}: file {tuple(state[k].shape)} vs model {tuple(own[k].shape)}'
              for k in own if k in state and state[k].shape != own[k].shape]
    problems = []
    if missing and strict:
        problems.append(f'{len(missing)} missing keys, first {missing[:shown]}')
    if unexpected and strict:
        problems.append(f'{len(unexpected)} unexpected keys, first {unexpected[:shown]}')
    if shapes:
        problems.append(f'{len(shapes)} shape mismatches, first {shapes[:shown]}')
    if problems:
        raise CheckpointError(f'checkpoint {path} does not fit {config}: ' + '; '.join(problems))
    net.load_state_dict(state, strict=strict)


def load_checkpoints(net: nn.Module, iir: str | Path | None, iih: str | Path | None, config: str,
                     strict: bool = True) -> None:
    """Load an IIR file into ``net.iir`` and an IIH file into ``net.iih`` (released formats), each where given;
    errors name the file and ``config``."""
    if iir:
        logger.info('Loading IIR from %s', iir)
        load_state(net.iir, read_iir_state(iir), iir, config + ' (IIR)', strict)
    if iih:
        logger.info('Loading IIH from %s', iih)
        load_state(net.iih, read_iih_state(iih), iih, config + ' (IIH)', strict)


def cpu_state(net: nn.Module) -> dict[str, torch.Tensor]:
    """A state_dict with CPU tensors (unwrapping DistributedDataParallel)."""
    net = net.module if hasattr(net, 'module') else net
    return {k: v.detach().cpu() for k, v in net.state_dict().items()}


def save_iir(net: nn.Module, path: str | Path) -> None:
    """Write an IIR checkpoint in the released format (plain state_dict)."""
    atomic_save(cpu_state(net), path)


def save_iih(net: nn.Module, path: str | Path) -> None:
    """Write an IIH checkpoint in the released format ({'net': state_dict})."""
    atomic_save({'net': cpu_state(net)}, path)


def weights_sha256(net: nn.Module) -> str:
    """sha256 over a network's state dict: every tensor's name, dtype, shape and values (on the CPU), so the same
    weights hash alike whatever file or device they came from."""
    digest = hashlib.sha256()
    for name, tensor in net.state_dict().items():
        value = tensor.detach().cpu().contiguous()
        digest.update(f'{name}|{value.dtype}|{tuple(value.shape)}|'.encode())
        digest.update(value.numpy().tobytes() if value.numel() else b'')
    return digest.hexdigest()
