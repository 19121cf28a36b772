"""Loading the model a sender or receiver uses: a model folder, or a test option file (optionally with other
checkpoints), on a device."""
from __future__ import annotations

import os
import warnings
from pathlib import Path

import torch

from inference.stego_model import StegoModel
from models.model_folder import is_model_folder
from options import OptionError
from stego.errors import ModelLoadError

REPO_ROOT = Path(__file__).resolve().parents[1]
PRETRAINED = REPO_ROOT / 'experiments' / 'pretrained_models'
DEFAULT_MODEL = PRETRAINED / 'InvMIHNet_4images_cpu'
"""The bundled 4-image CPU model folder: what hide.py, reveal.py and app.py use when given no model."""
BUNDLED_MODELS = {4: DEFAULT_MODEL, 16: PRETRAINED / 'InvMIHNet_16images_cpu'}
"""The bundled model folder for each number of secrets: what hide.py uses for that many secrets when given no
model (the JPEG-robust 4-image model, ``InvMIHNet_4images_cpu_robust``, is chosen with ``--model``)."""


def bundled_model(num_secrets: int | None = None) -> Path:
    """The bundled model folder that hides ``num_secrets`` secrets (None: :data:`DEFAULT_MODEL`); a count no
    bundled model hides is a :class:`ModelLoadError` naming the counts there are."""
    if num_secrets is None:
        return DEFAULT_MODEL
    if num_secrets not in BUNDLED_MODELS:
        counts = ', '.join(str(n) for n in BUNDLED_MODELS)
        raise ModelLoadError(f'no bundled model hides {num_secrets} secrets (the bundled ones hide {counts}); '
                             f'give --model FOLDER or --opt options/test/<file>.yml for another N')
    return BUNDLED_MODELS[num_secrets]


def model_reference(model: StegoModel) -> str | None:
    """What a key records of the model folder it was made with: the folder's path relative to the repository
    when it lies inside it (so that another checkout finds it), else absolute; None for an option file's model."""
    if model.info is None:
        return None
    folder = Path(model.source).expanduser().resolve()
    return folder.relative_to(REPO_ROOT).as_posix() if folder.is_relative_to(REPO_ROOT) else str(folder)


def resolve_reference(reference: str) -> Path:
    """The folder a key's ``model`` names: as given when it exists, else relative to the repository."""
    path = Path(reference).expanduser()
    return path if path.is_dir() or path.is_absolute() else REPO_ROOT / path


def load_model(source: str | os.PathLike = DEFAULT_MODEL, iir: str | os.PathLike | None = None,
               iih: str | os.PathLike | None = None, device: str | None = None) -> StegoModel:
    """The model of a model folder (see :mod:`models.model_folder`) or of a test option file, in eval mode, on
    ``device`` (default: CUDA when the folder or the option file's ``gpu_ids`` allow it).

    ``iir`` / ``iih`` replace an option file's ``path.pretrain_model_G`` / ``_H`` (a model folder holds its own).
    An option file without checkpoints gives a warning (the network is then untrained). Raises
    :class:`ModelLoadError` for a bad folder or option file, a missing or unfitting checkpoint, or a bad device.
    """
    path = Path(source).expanduser()
    try:
        target = None if device is None else torch.device(device)
    except (ValueError, RuntimeError) as err:
        raise ModelLoadError(f'device {device!r}: {err}') from err
    try:
        if path.is_dir():
            if iir is not None or iih is not None:
                raise ModelLoadError(f'{path} is a model folder, which holds its own IIR.pth and IIH.pth; '
                                     f'--iir / --iih go with an option file (--opt)')
            if not is_model_folder(path):
                raise ModelLoadError(f'{path} is a folder without model.json: not a model folder (a model folder '
                                     f'holds IIR.pth, IIH.pth and model.json; an option file is a .yml)')
            return StegoModel.from_pretrained(path, target)
        model = StegoModel.from_options(path, target, iir, iih)
    except ModelLoadError:
        raise
    except OptionError as err:
        raise ModelLoadError(f'option file {path}: {err}') from err
    except (ValueError, OSError) as err:
        raise ModelLoadError(str(err)) from err
    if model.untrained:
        warnings.warn(f'no {" / ".join(model.untrained)} checkpoint configured (--iir / --iih): the network is '
                      f'untrained and its results are meaningless', stacklevel=2)
    return model
