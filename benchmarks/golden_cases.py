"""Reference cases of the published implementation (tests/data/golden_<N>images.pt) and their checkpoints, for the
golden tests (through ``tests/conftest.py``) and ``benchmarks.check_precision``.

Each case holds inputs, a recipe for non-trivial weights, noise recipes, and what the published code produced.
The recipes are turned into checkpoint files in the released formats here.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / 'tests' / 'data'
CASES = (4, 6, 8, 9, 16)


def case_path(num_images: int) -> Path:
    """The file of the reference case with N = ``num_images`` secrets."""
    return DATA / f'golden_{num_images}images.pt'


def _weights(recipe: dict) -> dict[str, torch.Tensor]:
    """Weights from a recipe: one integer draw in [-127, 127] per key, scaled by the key's rule."""
    rs = np.random.RandomState(recipe['seed'])
    scale = recipe['scale_c']
    state = {}
    for name, shape, rule, base in recipe['keys']:
        shape = tuple(shape)
        q = rs.randint(-127, 128, size=shape).astype(np.float32)
        if rule == 'fixed':
            value = base.numpy().astype(np.float32)
        elif rule == 'perturb':
            value = base.numpy().astype(np.float32) + q * np.float32(0.05 / 127)
        elif rule == 'conv':
            fan_in = shape[1] * shape[2] * shape[3]
            value = q * np.float32(scale / math.sqrt(fan_in) / 127)
        elif rule == 'bias':
            value = q * np.float32(0.02 / 127)
        else:
            raise ValueError(f'unknown weight rule {rule!r} for {name}')
        state[name] = torch.from_numpy(np.ascontiguousarray(value, dtype=np.float32))
    return state


def _noise(seed: int, shape: list[int]) -> torch.Tensor:
    return torch.from_numpy(np.random.RandomState(seed).standard_normal(size=tuple(shape)).astype(np.float32))


def load_case(num_images: int) -> dict:
    """The case with images as floats in [0, 1] and the noise tensors drawn."""
    ref = torch.load(case_path(num_images), weights_only=True)
    ref['images'] = ref.pop('images_u8').float() / 255.0
    ref['noise_iih'] = _noise(*ref.pop('noise_iih_recipe'))
    ref['noise_iir'] = _noise(*ref.pop('noise_iir_recipe'))
    return ref


def write_checkpoints(num_images: int, out_dir: Path, module_prefix: bool = True) -> tuple[Path, Path]:
    """Write IIR (plain state_dict) and IIH ({'net': state_dict}, optionally 'module.'-prefixed) files."""
    ref = torch.load(case_path(num_images), weights_only=True)
    iir = _weights(ref['weights']['iir'])
    iih = _weights(ref['weights']['iih'])
    if module_prefix:
        iih = {f'module.{k}': v for k, v in iih.items()}
    out_dir.mkdir(parents=True, exist_ok=True)
    iir_path = out_dir / f'IIR_{num_images}images_golden.pth'
    iih_path = out_dir / f'IIH_{num_images}images_golden.pth'
    torch.save(iir, iir_path)
    torch.save({'net': iih}, iih_path)
    return iir_path, iih_path


def option_file_for(num_images: int, ckpt_dir: Path, dataroot: Path | None = None, module_prefix: bool = True,
                     extra: str = '') -> Path:
    """A test option file for the case, derived from the shipped one, naming the written checkpoints."""
    import yaml
    iir_path, iih_path = write_checkpoints(num_images, ckpt_dir, module_prefix)
    opt = yaml.safe_load((REPO / 'options' / 'test' / f'test_InvMIHNet_{num_images}images.yml').read_text())
    opt['gpu_ids'] = None
    opt['path'].update(pretrain_model_G=str(iir_path), pretrain_model_H=str(iih_path), root=str(ckpt_dir))
    if dataroot is not None:
        opt['datasets']['test_1']['dataroot_GT'] = str(dataroot)
    for key, value in (yaml.safe_load(extra) or {}).items():     # sections given in `extra` are merged
        if isinstance(value, dict) and isinstance(opt.get(key), dict):
            opt[key].update(value)
        else:
            opt[key] = value
    path = ckpt_dir / f'test_{num_images}images.yml'
    path.write_text(yaml.safe_dump(opt))
    return path
