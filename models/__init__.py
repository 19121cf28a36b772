"""Model registry: ``create_model(opt, device)`` builds the model named by the option ``model``."""
from __future__ import annotations

from typing import Callable

import torch

from models.invmihnet_model import InvMIHNetModel

MODEL_REGISTRY: dict[str, Callable[..., InvMIHNetModel]] = {'InvMIHNet': InvMIHNetModel}


def create_model(opt: dict, device: torch.device, dist: bool = False) -> InvMIHNetModel:
    """Build the model named by ``opt['model']`` on ``device``."""
    name = opt['model']
    if name not in MODEL_REGISTRY:
        raise ValueError(f'unknown model {name!r} (option "model"); known: {sorted(MODEL_REGISTRY)}')
    return MODEL_REGISTRY[name](opt, device, dist=dist)
