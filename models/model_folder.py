"""Self-describing model folders: ``IIR.pth`` and ``IIH.pth`` in the released formats beside ``model.json``.

The weight files are the ones the published code and ``test.py`` load (IIR a plain state_dict, IIH
``{'net': state_dict}``). ``model.json`` (format ``InvMIHNet-model``, version 1) says what they are::

    {"format": "InvMIHNet-model", "version": 1, "name": "InvMIHNet_4images_demo",
     "config": {...NetworkConfig.fingerprint()...},
     "weights": {"iir_sha256": "...", "iih_sha256": "..."},          (see models.checkpoint.weights_sha256)
     "training": {"reveal_from": "png", "distortions": [{"name": "jpeg90", "p": 0.5}, ...],
                  "data": "datasets/kodak_demo/train", "iterations": 1500, "commit": "<git commit>" | null,
                  "options": "options/train/train_InvMIHNet_4images_demo.yml" | null,
                  "cpu_hours": 2.1 | null}}                                      (optional)

``cpu_hours`` is the thread-hours of the training that made these weights from its starting point (``data`` says
what that was).

:func:`write_model_folder` is the one writer (``train.py`` at every checkpoint, ``scripts/export_model.py`` for
other checkpoints); :func:`load_model_folder` builds the network from the configuration and loads the weights, so
a folder whose files disagree with its ``model.json`` (missing file, bad JSON, another configuration, other
shapes, other weights) is one :class:`ModelFolderError` naming the folder and what disagrees.
"""
from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from models.checkpoint import CheckpointError, load_checkpoints, save_iih, save_iir, weights_sha256
from models.config import NetworkConfig
from models.invmihnet import REVEAL_FROM, InvMIHNet
from models.networks import build_network
from utils.atomic_io import atomic_write_text
from utils.json_fields import fields, format_version, sha256_hex

MODEL_FORMAT = 'InvMIHNet-model'
MODEL_VERSION = 1
MODEL_JSON = 'model.json'
IIR_FILE = 'IIR.pth'
IIH_FILE = 'IIH.pth'
MAX_JSON_BYTES = 1 << 20
"""model.json is read only up to this size: a larger file is not a model description."""


class ModelFolderError(CheckpointError):
    """A model folder that is missing a file, has a malformed ``model.json`` or weights that disagree with it."""


@dataclass(frozen=True)
class TrainingRecord:
    """How a model was trained: what the receiver reveals from, the channel's distortions (``{name, p}`` entries
    of ``train.distortions``), the training images, the iterations, the code's commit, the option file and the
    CPU thread-hours it took."""
    reveal_from: str | None = None
    distortions: tuple[dict[str, Any], ...] = ()
    data: str | None = None
    iterations: int | None = None
    commit: str | None = None
    options: str | None = None
    cpu_hours: float | None = None

    @property
    def distortion_names(self) -> list[str]:
        """The names of the distortions the model was trained for (``jpeg90``, ...)."""
        return [entry['name'] for entry in self.distortions]

    def to_json(self) -> dict[str, Any]:
        """As stored in model.json."""
        return {'reveal_from': self.reveal_from, 'distortions': [dict(d) for d in self.distortions],
                'data': self.data, 'iterations': self.iterations, 'commit': self.commit, 'options': self.options,
                'cpu_hours': self.cpu_hours}


@dataclass(frozen=True)
class ModelInfo:
    """What ``model.json`` says about a model folder."""
    name: str
    config: NetworkConfig
    iir_sha256: str
    iih_sha256: str
    training: TrainingRecord
    version: int = MODEL_VERSION

    def to_json(self) -> dict[str, Any]:
        """The document described in the module docstring."""
        return {'format': MODEL_FORMAT, 'version': self.version, 'name': self.name,
                'config': self.config.fingerprint(),
                'weights': {'iir_sha256': self.iir_sha256, 'iih_sha256': self.iih_sha256},
                'training': self.training.to_json()}


def current_commit(repo: str | os.PathLike | None = None) -> str | None:
    """The git commit checked out in ``repo`` (default: this code's checkout), or None outside a git checkout."""
    where = Path(repo) if repo is not None else Path(__file__).resolve().parents[1]
    try:
        done = subprocess.run(['git', '-C', str(where), 'rev-parse', 'HEAD'], capture_output=True, text=True,
                              timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    commit = done.stdout.strip()
    return commit if done.returncode == 0 and len(commit) == 40 else None


def training_record(opt: dict, iterations: int | None, commit: str | None = None,
                    cpu_hours: float | None = None) -> TrainingRecord:
    """The :class:`TrainingRecord` of a parsed training option dict after ``iterations`` steps; the training
    images are named relative to ``path.root`` when they lie inside it."""
    train_opt = opt['train']
    data = opt['datasets']['train']['dataroot_GT']
    root = Path(opt['path']['root'])
    if data is not None and Path(data).is_relative_to(root):
        data = Path(data).relative_to(root).as_posix()
    source = opt.get('source')
    return TrainingRecord(reveal_from=train_opt['reveal_from'], distortions=tuple(dict(d) for d in
                                                                                  train_opt['distortions']),
                          data=data, iterations=iterations, commit=commit,
                          options=Path(source).name if source else None, cpu_hours=cpu_hours)


def write_model_json(folder: str | os.PathLike, net: InvMIHNet, name: str, training: TrainingRecord) -> Path:
    """Write the ``model.json`` that describes ``net`` (whose weights the folder's files hold), atomically."""
    info = ModelInfo(name=name, config=net.config, iir_sha256=weights_sha256(net.iir),
                     iih_sha256=weights_sha256(net.iih), training=training)
    return atomic_write_text(Path(folder) / MODEL_JSON, json.dumps(info.to_json(), indent=2) + '\n')


def write_model_folder(folder: str | os.PathLike, net: InvMIHNet, name: str, training: TrainingRecord) -> Path:
    """Write ``net`` as a model folder: ``IIR.pth``, ``IIH.pth`` (released formats) and, last, ``model.json``;
    each file atomically. Returns the folder."""
    folder = Path(folder)
    save_iir(net.iir, folder / IIR_FILE)
    save_iih(net.iih, folder / IIH_FILE)
    write_model_json(folder, net, name, training)
    return folder


def is_model_folder(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a folder holding a ``model.json``."""
    return (Path(path) / MODEL_JSON).is_file()


def read_model_info(folder: str | os.PathLike) -> ModelInfo:
    """Parse a folder's ``model.json`` (at most :data:`MAX_JSON_BYTES`); :class:`ModelFolderError` otherwise."""
    path = Path(folder).expanduser() / MODEL_JSON
    try:
        with path.open('rb') as handle:
            raw = handle.read(MAX_JSON_BYTES + 1)
    except OSError as err:
        raise ModelFolderError(f'model folder {path.parent}: cannot read {MODEL_JSON} '
                               f'({err.strerror or err}); a model folder holds {IIR_FILE}, {IIH_FILE} and '
                               f'{MODEL_JSON}') from err
    if len(raw) > MAX_JSON_BYTES:
        raise ModelFolderError(f'{path} is larger than {MAX_JSON_BYTES} bytes: not a model description')
    try:
        data = json.loads(raw.decode('utf-8'))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ModelFolderError(f'{path} is not valid JSON: {err}') from err
    try:
        return _parse(data)
    except (TypeError, ValueError) as err:
        raise ModelFolderError(f'{path}: {err}') from err


def load_model_folder(folder: str | os.PathLike) -> tuple[InvMIHNet, ModelInfo]:
    """The network of a model folder with its weights loaded (on the CPU), and its ``model.json``.

    Raises :class:`ModelFolderError` for a missing file, a malformed ``model.json``, weights that do not fit its
    configuration, or weights whose sha256 differs from the one it records.
    """
    folder = Path(folder).expanduser()
    info = read_model_info(folder)
    net = build_network(info.config)
    try:
        load_checkpoints(net, folder / IIR_FILE, folder / IIH_FILE, f'{info.config.describe()} of its {MODEL_JSON}')
    except CheckpointError as err:
        raise ModelFolderError(f'model folder {folder}: {err}') from err
    for label, module, expected in (('IIR', net.iir, info.iir_sha256), ('IIH', net.iih, info.iih_sha256)):
        if weights_sha256(module) != expected:
            raise ModelFolderError(f'model folder {folder}: the {label} weights in {folder / (label + ".pth")} are '
                                   f'not the ones {MODEL_JSON} describes (weights.{label.lower()}_sha256 differs)')
    return net, info


# ------------------------------------------------------------------------------------------ parsing
def _optional(value: Any, kind: type, name: str) -> Any:
    if value is not None and (not isinstance(value, kind) or isinstance(value, bool)):
        raise ValueError(f'{name} must be a {kind.__name__} or null, got {value!r}')
    return value


def _training(value: Any) -> TrainingRecord:
    value = fields(value, 'training', ('reveal_from', 'distortions', 'data', 'iterations', 'commit', 'options'),
                   optional=('cpu_hours',))
    if value['reveal_from'] not in (None, *REVEAL_FROM):
        raise ValueError(f'training.reveal_from must be one of {list(REVEAL_FROM)} or null, '
                         f'got {value["reveal_from"]!r}')
    distortions = value['distortions']
    if not isinstance(distortions, list):
        raise ValueError(f'training.distortions must be a list of {{name, p}} entries, got {distortions!r}')
    for index, entry in enumerate(distortions):
        entry = fields(entry, f'training.distortions[{index}]', ('name', 'p'))
        if not isinstance(entry['name'], str):
            raise ValueError(f'training.distortions[{index}].name must be a string, got {entry["name"]!r}')
    return TrainingRecord(reveal_from=value['reveal_from'], distortions=tuple(distortions),
                          data=_optional(value['data'], str, 'training.data'),
                          iterations=_optional(value['iterations'], int, 'training.iterations'),
                          commit=_optional(value['commit'], str, 'training.commit'),
                          options=_optional(value['options'], str, 'training.options'),
                          cpu_hours=_cpu_hours(value.get('cpu_hours')))


def _cpu_hours(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1e6:
        raise ValueError(f'training.cpu_hours must be a number of hours in [0, 1e6) or null, got {value!r:.40}')
    return float(value)


def _parse(data: Any) -> ModelInfo:
    data = fields(data, 'the document', ('format', 'version', 'name', 'config', 'weights', 'training'))
    version = format_version(data, MODEL_FORMAT, MODEL_VERSION)
    if not isinstance(data['name'], str):
        raise ValueError(f'name must be a string, got {data["name"]!r}')
    config = NetworkConfig.from_fingerprint(data['config'], field='config')
    weights = fields(data['weights'], 'weights', ('iir_sha256', 'iih_sha256'))
    return ModelInfo(name=data['name'], config=config,
                     iir_sha256=sha256_hex(weights['iir_sha256'], 'weights.iir_sha256'),
                     iih_sha256=sha256_hex(weights['iih_sha256'], 'weights.iih_sha256'),
                     training=_training(data['training']), version=version)
