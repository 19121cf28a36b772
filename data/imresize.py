"""MATLAB-style bicubic resize (``imresize`` with antialiasing), vectorised with numpy.

The numbers match the published InvMIHNet ``imresize_np`` (itself a port of MATLAB's
``imresize``): Keys cubic kernel (a = -0.5), a kernel widened by ``1 / scale`` when
downscaling with antialiasing, half-pixel-centred sampling, symmetric (edge-repeating)
borders, rows of weights normalised to sum to one, and the published rule for trimming
the weight table (when its first column holds a zero weight, the first and the last
column are dropped; otherwise, when its last column does, the last two columns are).
The height is resized first, then the width, everything in float32 as published.
"""

from __future__ import annotations

import math

import numpy as np

_CUBIC_SUPPORT = 4.0


def _cubic(x: np.ndarray) -> np.ndarray:
    """Keys cubic convolution kernel (a = -0.5), evaluated in the dtype of ``x``."""
    ax = np.abs(x)
    ax2 = ax * ax
    ax3 = ax2 * ax
    near = (1.5 * ax3 - 2.5 * ax2 + 1) * (ax <= 1)
    far = (-0.5 * ax3 + 2.5 * ax2 - 4 * ax + 2) * ((ax > 1) & (ax <= 2))
    return near + far


def _output_length(in_length: int, scale: float) -> int:
    """``ceil(in_length * scale)``, ignoring floating-point noise just above an integer."""
    exact = in_length * scale
    nearest = round(exact)
    if abs(exact - nearest) <= 1e-9 * max(1.0, exact):
        return max(1, int(nearest))
    return max(1, math.ceil(exact))


def _contributions(in_length: int, out_length: int, scale: float,
                   antialiasing: bool) -> tuple[np.ndarray, np.ndarray]:
    """Weights (out_length, taps) float32 and 0-based source indices (out_length, taps).

    Source indices outside ``[0, in_length)`` are reflected symmetrically (the edge
    pixel is repeated), which is what the published code's border copies amount to.
    """
    widen = antialiasing and scale < 1
    kernel_width = _CUBIC_SUPPORT / scale if widen else _CUBIC_SUPPORT
    taps = math.ceil(kernel_width) + 2

    x = np.arange(1, out_length + 1, dtype=np.float32)
    u = x / np.float32(scale) + np.float32(0.5 * (1 - 1 / scale))
    left = np.floor(u - np.float32(kernel_width / 2))
    positions = left[:, None] + np.arange(taps, dtype=np.float32)[None, :]
    distance = u[:, None] - positions
    if widen:
        weights = np.float32(scale) * _cubic(distance * np.float32(scale))
    else:
        weights = _cubic(distance)
    weights = weights / weights.sum(axis=1, keepdims=True)

    zero_count = (weights == 0).sum(axis=0)
    if zero_count[0] > 0:
        keep = slice(1, taps - 1)
    elif zero_count[-1] > 0:
        keep = slice(0, taps - 2)
    else:
        keep = slice(0, taps)
    weights = np.ascontiguousarray(weights[:, keep])
    source = positions[:, keep].astype(np.int64) - 1

    period = 2 * in_length
    source = np.mod(source, period)
    source = np.where(source >= in_length, period - 1 - source, source)
    return weights, source


def _resize_axis(img: np.ndarray, axis: int, out_length: int, scale: float,
                 antialiasing: bool) -> np.ndarray:
    """Resize float32 ``img`` (H, W, C) along ``axis`` (0 or 1)."""
    weights, source = _contributions(img.shape[axis], out_length, scale, antialiasing)
    moved = np.moveaxis(img, axis, 0)
    out = np.zeros((out_length,) + moved.shape[1:], dtype=np.float32)
    for tap in range(weights.shape[1]):
        out += weights[:, tap, None, None] * moved[source[:, tap]]
    return np.moveaxis(out, 0, axis)


def imresize(img: np.ndarray, scale_h: float, scale_w: float,
             antialiasing: bool = True) -> np.ndarray:
    """Resize an HWC (or HW) float image like MATLAB ``imresize(img, ..., 'bicubic')``.

    ``scale_h`` multiplies the height and ``scale_w`` the width: the output is
    ``ceil(H * scale_h) x ceil(W * scale_w)``. The published call
    ``imresize_np(img, 1 / scale_W, 1 / scale_H)`` (whose parameters are ordered width
    first) is ``imresize(img, 1 / scale_H, 1 / scale_W)`` here. The input is converted to
    float32 and the result is float32, not clipped and not rounded.
    """
    if scale_h <= 0 or scale_w <= 0:
        raise ValueError(f"imresize scales must be positive, got scale_h={scale_h}, scale_w={scale_w}")
    array = np.asarray(img, dtype=np.float32)
    if array.ndim not in (2, 3) or array.shape[0] == 0 or array.shape[1] == 0:
        raise ValueError(f"imresize expects a non-empty HW or HWC array, got shape {array.shape}")
    work = array[:, :, None] if array.ndim == 2 else array
    out_h = _output_length(work.shape[0], scale_h)
    out_w = _output_length(work.shape[1], scale_w)
    out = _resize_axis(work, 0, out_h, scale_h, antialiasing)
    out = _resize_axis(out, 1, out_w, scale_w, antialiasing)
    return out[:, :, 0] if array.ndim == 2 else out
