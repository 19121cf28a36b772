"""The inference object: a trained InvMIHNet on a device with its inference settings, and nothing of training.

    model = StegoModel.from_pretrained('experiments/pretrained_models/InvMIHNet_4images_demo')
    model = StegoModel.from_options('options/test/test_InvMIHNet_4images.yml')     # the released checkpoints
    hidden = model.hide(cover, secrets)
    revealed = model.reveal(hidden.stego, generator=torch.Generator().manual_seed(model.seed))

``stego/``, ``webapp/``, ``security/``, ``test.py``, validation during training and the benchmarks all hide and
reveal through it.
"""
from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from models.compile import compile_subnets
from models.checkpoint import load_checkpoints
from models.config import NetworkConfig
from models.invmihnet import HideOutput, InvMIHNet, RevealOutput
from models.model_folder import IIH_FILE, IIR_FILE, MODEL_JSON, ModelInfo, load_model_folder
from models.precision import set_subnet_precision, subnet_dtype
from models.networks import build_network
from options import parse
from utils.device import select_device


class StegoModel:
    """Both networks of InvMIHNet in eval mode on ``device``, with the subnets' ``precision``, the ``chunk`` size
    (secrets / tiles per network call; None: all at once), the reveal noise's ``seed`` and ``gaussian_scale``,
    and the distortions the weights were trained for."""

    def __init__(self, net: InvMIHNet, device: torch.device | str = 'cpu', *, precision: str = 'fp32',
                 chunk: int | None = None, compile: bool = False, seed: int = 0, gaussian_scale: float = 1.0,
                 trained_distortions: tuple[str, ...] = (), source: str = 'the model',
                 info: ModelInfo | None = None, key: str | None = None) -> None:
        self.device = torch.device(device)
        self.net = net.to(self.device)
        self.network_config: NetworkConfig = net.config
        self.config = self.network_config.describe()
        self.seed = seed
        self.gaussian_scale = gaussian_scale
        self.trained_distortions = tuple(trained_distortions)
        self.source = source
        self.info = info
        self.untrained: list[str] = []
        """The networks without a checkpoint (an option file that names none): untrained, only good for tests."""
        self.input_files: list[str] = []
        """The files the model was read from (model.json and weights, or option file and checkpoints)."""
        self.precision = 'fp32'
        self.chunk: int | None = None
        self.set_inference(precision, chunk, compile, key)

    # ---------------------------------------------------------------- loading
    @classmethod
    def from_pretrained(cls, folder: str | os.PathLike, device: torch.device | str | None = None,
                        **settings: Any) -> 'StegoModel':
        """The model of a model folder (see :mod:`models.model_folder`) on ``device`` (default: CUDA when present);
        ``settings`` are the keyword arguments of :class:`StegoModel` (precision, chunk, seed, ...)."""
        net, info = load_model_folder(folder)
        target = select_device([0]) if device is None else torch.device(device)
        settings.setdefault('trained_distortions', tuple(info.training.distortion_names))
        model = cls(net, target, source=str(folder), info=info, **settings)
        model.input_files = [str(Path(folder) / name) for name in (MODEL_JSON, IIR_FILE, IIH_FILE)]
        return model

    @classmethod
    def from_options(cls, opt: str | os.PathLike | dict, device: torch.device | str | None = None,
                     iir: str | os.PathLike | None = None, iih: str | os.PathLike | None = None) -> 'StegoModel':
        """The model of a test option file (a path, or a dict from ``options.parse``): its checkpoints (``iir`` /
        ``iih`` replace ``path.pretrain_model_G`` / ``_H``) and its ``test`` settings, on ``device`` (default:
        what ``gpu_ids`` selects). :attr:`untrained` lists the networks left without a checkpoint.
        """
        if not isinstance(opt, dict):
            opt = parse(opt, is_train=False)
        paths, test_opt = opt['path'], opt['test']
        iir = str(Path(iir).expanduser()) if iir is not None else paths['pretrain_model_G']
        iih = str(Path(iih).expanduser()) if iih is not None else paths['pretrain_model_H']
        config = NetworkConfig.from_options(opt)
        net = build_network(config)
        load_checkpoints(net, iir, iih, config.describe(), paths['strict_load'])
        target = select_device(opt['gpu_ids']) if device is None else torch.device(device)
        source = opt.get('source', 'options')
        seed = test_opt['seed']
        model = cls(net, target, precision=test_opt['precision'], chunk=test_opt['chunk'],
                    compile=test_opt['compile'], seed=0 if seed is None else seed,
                    gaussian_scale=test_opt['gaussian_scale'],
                    trained_distortions=tuple(test_opt['trained_distortions']), source=source, key='test')
        model.untrained = [f'{name} (path.{key})' for name, key, path in
                           (('IIR', 'pretrain_model_G', iir), ('IIH', 'pretrain_model_H', iih))
                           if not path and (name == 'IIH' or config.rescales)]
        model.input_files = [str(p) for p in (opt.get('source'), iir, iih) if p]
        return model

    # ---------------------------------------------------------------- settings
    def set_inference(self, precision: str = 'fp32', chunk: int | None = None, compile: bool = False,
                      key: str | None = None) -> None:
        """Precision of the subnets ('fp32', 'bf16', 'fp16' on CUDA), the chunk size of :meth:`hide` and
        :meth:`reveal` and torch.compile of the subnets. Errors name ``<source>: <key>.precision`` /
        ``<key>.chunk`` (``key``: the option section, or where the values came from)."""
        prefix = f'{self.source}: {key}.' if key else f'{self.source}: '
        set_subnet_precision(self.net, subnet_dtype(precision, self.device, key=f'{prefix}precision'))
        self.precision = precision
        if chunk is not None and chunk < 1:
            raise ValueError(f'{prefix}chunk must be a positive number of images or null, got {chunk}')
        self.chunk = chunk
        if compile:
            compile_subnets(self.net, self.device, key=f'{prefix}compile')

    # ---------------------------------------------------------------- hiding and revealing
    @torch.no_grad()
    def hide(self, cover: torch.Tensor, secrets: torch.Tensor, chunk: int | None = None) -> HideOutput:
        """Hide N secrets (N, 3, H, W) in a cover (1, 3, H, W); see :meth:`InvMIHNet.hide`. ``chunk`` defaults
        to the model's."""
        with self._eval():
            return self.net.hide(cover.to(self.device), secrets.to(self.device),
                                 self.chunk if chunk is None else chunk)

    @torch.no_grad()
    def reveal(self, stego: torch.Tensor, z_hiding: torch.Tensor | None = None,
               z_rescaling: torch.Tensor | None = None, from_float: bool = False,
               gaussian_scale: float | None = None, generator: torch.Generator | None = None,
               chunk: int | None = None) -> RevealOutput:
        """Recover the secrets from a stego image; see :meth:`InvMIHNet.reveal`. ``gaussian_scale`` and ``chunk``
        default to the model's."""
        to = (lambda t: None if t is None else t.to(self.device))
        with self._eval():
            return self.net.reveal(stego.to(self.device), to(z_hiding), to(z_rescaling), from_float,
                                   self.gaussian_scale if gaussian_scale is None else gaussian_scale, generator,
                                   self.chunk if chunk is None else chunk)

    @contextlib.contextmanager
    def _eval(self) -> Iterator[None]:
        """Eval mode inside the block, the network's previous mode (training, for a trainer's network) after it."""
        was_training = self.net.training
        self.net.eval()
        try:
            yield
        finally:
            self.net.train(was_training)
