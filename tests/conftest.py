"""The ``cuda`` marker: a test that needs a real CUDA GPU is skipped where there is none."""
from __future__ import annotations

import pytest
import torch


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason='needs a CUDA GPU (benchmarks/gpu_check.sh runs these on one)')
    for item in items:
        if item.get_closest_marker('cuda') is not None:
            item.add_marker(skip)
