"""Loading the model a sender or receiver uses: a test option file, optionally other checkpoints, a device."""
from __future__ import annotations

import os
import warnings
from pathlib import Path

import torch

from models import create_model
from models.config import NetworkConfig
from models.invmihnet_model import InvMIHNetModel
from options.options import parse
from stego.errors import ModelLoadError
from utils.device import select_device


def load_model(opt_path: str | os.PathLike, iir: str | os.PathLike | None = None,
               iih: str | os.PathLike | None = None, device: str | None = None) -> InvMIHNetModel:
    """The model of a test option file, in eval mode, with its checkpoints (``iir`` / ``iih`` replace
    ``path.pretrain_model_G`` / ``_H``), on ``device`` (default: what the option file's ``gpu_ids`` selects).

    Warns when a checkpoint is not configured (the network is then untrained and only good for testing);
    raises :class:`ModelLoadError` for a bad option file, a missing or unfitting checkpoint, or a bad device.
    """
    try:
        opt = parse(opt_path, is_train=False)
    except (ValueError, OSError) as err:
        raise ModelLoadError(f'option file {opt_path}: {err}') from err
    for value, key in ((iir, 'pretrain_model_G'), (iih, 'pretrain_model_H')):
        if value is not None:
            opt['path'][key] = str(Path(value).expanduser())
    needed = (('IIR', 'pretrain_model_G'), ('IIH', 'pretrain_model_H'))
    if not NetworkConfig.from_options(opt).rescales:   # HiNet and the full-size baselines have no IIR weights
        needed = needed[1:]
    missing = [name for name, key in needed if not opt['path'][key]]
    if missing:
        warnings.warn(f'no {" / ".join(missing)} checkpoint configured (path.pretrain_model_G / _H, --iir / --iih): '
                      f'the network is untrained and its results are meaningless', stacklevel=2)
    try:
        target = select_device(opt['gpu_ids']) if device is None else torch.device(device)
    except (ValueError, RuntimeError) as err:
        raise ModelLoadError(f'device {device!r}: {err}') from err
    try:
        return create_model(opt, target)
    except (ValueError, OSError) as err:
        raise ModelLoadError(str(err)) from err
