"""Fake CUDA: run the code's CUDA paths on a CPU-only machine, checking every operation's devices.

``torch._subclasses.fake_tensor.FakeTensorMode`` gives tensors a device and a shape but no data, so a fake
``cuda`` tensor exists without a GPU, and an operation mixing a (non-scalar) CPU tensor with a cuda one raises
``FakeTensorDeviceMismatchError``, as CUDA would. What it takes to run our networks under it, as found here:

- **The weights must be built for real, then moved.** A parameter created inside the mode is a fake tensor that
  ``Module.to`` cannot move: ``Module._apply`` swaps fake parameters with ``torch.utils.swap_tensors``, which
  refuses because the mode holds a weak reference to every fake tensor it made. Built on the CPU outside the
  mode and moved with ``.to('cuda')`` inside it, each real parameter is replaced by a fake cuda one (the mode
  runs with ``allow_non_fake_inputs=True``: a real tensor reaching an operation becomes a fake tensor on its real
  device, so a real CPU tensor mixed with a cuda one still raises). :func:`fake_cuda` therefore makes
  ``InvMIHNet.__init__``, the one place our networks are built, run outside the mode: the code under test
  (``InvMIHNetTrainer(opt, torch.device('cuda'))``) then runs its own ``.to(device)``.
  Not used: ``with torch.device('cuda')`` while building (factories then default to cuda, and would hide the very
  bugs looked for: a ``torch.zeros(...)`` without ``device=``), and the ``meta`` device (no device to mismatch).
- **Random generators are not checked by the mode**: ``torch.randn(..., generator=<cpu>, device='cuda')``
  passes under it and raises on a GPU. :class:`_FakeCudaChecks` checks every random operation's generator
  against the device it draws on.
- **There are no values**: ``.item()`` (``aten._local_scalar_dense``) answers 0 here (so every probability draw
  of the training distortions applies its distortion and every loss counts as finite), ``.numpy()`` has nothing
  to copy (tests stand in zeros where a host library needs pixels: the JPEG codec), and the backward pass does
  not run (the autograd engine asks the CUDA driver for a context): the forward of training is checked, the
  backward runs in the ``cuda``-marked tests on a GPU.
- **Autocast for 'cuda' would switch itself off** on a machine without CUDA; :func:`fake_cuda` tells it CUDA
  and bf16 are available, after which its casts act on fake cuda tensors as on real ones.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator

import pytest
import torch
import torch.cuda.amp.common as amp_common
from torch._subclasses.fake_tensor import FakeTensorMode, unset_fake_temporarily
from torch.utils._python_dispatch import TorchDispatchMode

from models.config import NetworkConfig
from models.invmihnet import InvMIHNet

CUDA = torch.device('cuda', 0)


class GeneratorDeviceError(RuntimeError):
    """A random operation drew from a generator of another device than the one it draws on."""


def _device_of(func: Any, args: tuple, kwargs: dict) -> torch.device | None:
    """The device a random operation draws on: its ``device`` argument (factories) or its first tensor (in place)."""
    if kwargs.get('device') is not None:
        return torch.device(kwargs['device'])
    first = args[0] if args else None
    if isinstance(first, torch.Tensor):
        return first.device
    return torch.device('cpu')


class _FakeCudaChecks(TorchDispatchMode):
    """Above the fake mode: random operations must draw from a generator of their own device; ``.item()`` is 0."""

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        generator = kwargs.get('generator')
        if generator is not None:
            device = _device_of(func, args, kwargs)
            if device is not None and generator.device.type != device.type:
                raise GeneratorDeviceError(f'{func}: a {generator.device.type} generator draws on {device}')
        if func is torch.ops.aten._local_scalar_dense.default:
            tensor = args[0]
            return False if tensor.dtype == torch.bool else 0 if not tensor.dtype.is_floating_point else 0.0
        return func(*args, **kwargs)


@contextmanager
def fake_cuda(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeTensorMode]:
    """Inside: ``torch.device('cuda')`` tensors are fake, networks (:class:`InvMIHNet`) are built for real (then
    moved by the caller's ``.to``), generators are checked and autocast for 'cuda' is enabled."""
    real_init = InvMIHNet.__init__

    def build_outside(net: InvMIHNet, config: NetworkConfig) -> None:
        with unset_fake_temporarily():
            real_init(net, config)

    monkeypatch.setattr(InvMIHNet, '__init__', build_outside)
    monkeypatch.setattr(amp_common, 'amp_definitely_not_available', lambda: False)
    monkeypatch.setattr(torch.cuda, 'is_bf16_supported', lambda *args, **kwargs: True)
    with FakeTensorMode(allow_non_fake_inputs=True) as mode, _FakeCudaChecks():
        yield mode


def assert_on_cuda(*tensors: torch.Tensor) -> None:
    """Every tensor is on the (fake) cuda device."""
    devices = {str(t.device) for t in tensors}
    assert devices == {str(CUDA)}, devices
