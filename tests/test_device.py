"""The device is decided in one place; CUDA_VISIBLE_DEVICES is never touched."""
from __future__ import annotations

import os

import pytest
import torch

from utils.device import select_device


def test_cpu_without_gpu_ids_or_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    assert select_device([0]) == torch.device('cpu')
    assert select_device(None) == torch.device('cpu')


def test_cuda_when_asked_and_present(monkeypatch):
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    monkeypatch.setattr(torch.cuda, 'device_count', lambda: 2)
    monkeypatch.setenv('CUDA_VISIBLE_DEVICES', '3,5')
    assert select_device([1]) == torch.device('cuda', 1)
    assert select_device([0, 1], local_rank=1) == torch.device('cuda', 1)
    assert select_device([]) == torch.device('cpu')
    assert os.environ['CUDA_VISIBLE_DEVICES'] == '3,5'
    with pytest.raises(ValueError, match='cuda:4 but only 2'):
        select_device([4])
