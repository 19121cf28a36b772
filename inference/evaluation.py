"""The one evaluation used by ``test.py`` and by validation during training: the round trip of every image set
of a loader (see :mod:`inference.round_trip`), measured with the field's metrics on 8-bit images.

One image set (cover + N secrets) is evaluated by :func:`evaluate_batch`; a whole loader by
:func:`evaluate_dataset`, which hands each set's images to an optional callback (test.py saves them all,
validation the first set only). :func:`attack_metrics` reveals an attacked copy of the saved 8-bit stego.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from itertools import islice

import torch
from tqdm import tqdm

from inference.round_trip import RoundTrip, round_trip, secret_metrics
from inference.stego_model import StegoModel
from models.distortions import Distortion, attack
from utils.image_io import hwc_to_chw, to_uint8
from utils.metrics import MetricTable, image_pair_metrics


@dataclass
class BatchEvaluation(RoundTrip):
    """The round trip of one image set (its 8-bit images) and its metrics (keys ``stego_*`` vs the cover and
    ``secret_*`` mean over the N secrets)."""
    metrics: dict[str, float] = field(default_factory=dict)


def evaluate_batch(model: StegoModel, images: torch.Tensor, reveal_from: str = 'png',
                   gaussian_scale: float | None = None, generator: torch.Generator | None = None) -> BatchEvaluation:
    """Hide ``images[1:]`` in ``images[0]``, reveal from the 8-bit stego (``'png'``) or the float stego
    (``'float'``, the published test path), and measure stego vs cover and recovered vs secret."""
    result = round_trip(model, images[:1], images[1:], reveal_from=reveal_from, gaussian_scale=gaussian_scale,
                        generator=generator)
    return BatchEvaluation(**vars(result), metrics=result.measure())


def attack_metrics(model: StegoModel, result: BatchEvaluation, distortion: Distortion,
                   gaussian_scale: float | None = None, reveal_generator: torch.Generator | None = None,
                   attack_generator: torch.Generator | None = None) -> dict[str, float]:
    """Attack the saved 8-bit stego of an evaluated image set, reveal from the attacked image and measure it as
    :func:`evaluate_batch` does: attacked stego vs cover (``stego_*``) and recovered vs secret (``secret_*``)."""
    attacked = attack(hwc_to_chw(result.stego)[None], distortion, attack_generator)
    revealed = model.reveal(attacked, gaussian_scale=gaussian_scale, generator=reveal_generator).secrets
    metrics = {f'stego_{k}': v for k, v in image_pair_metrics(to_uint8(attacked[0]), result.cover).items()}
    metrics.update(secret_metrics(result.secrets, [to_uint8(r) for r in revealed]))
    return metrics


OnImageSet = Callable[[int, dict, BatchEvaluation], None]


def evaluate_dataset(model: StegoModel, loader: Iterable[dict], test_opt: dict, max_batches: int | None = None,
                     on_image_set: OnImageSet | None = None, desc: str | None = None) -> MetricTable:
    """Evaluate the first ``max_batches`` image sets of ``loader`` (all when None) with the ``test`` options
    (``reveal_from``, ``gaussian_scale``, ``seed`` of the reveal noise); returns one metric row per set.

    ``on_image_set(index, batch, result)`` is called after each set (to save its images); ``desc`` shows a
    progress bar with that label.
    """
    generator = torch.Generator().manual_seed(test_opt['seed'] if test_opt['seed'] is not None else 0)
    total = len(loader) if max_batches is None else min(max_batches, len(loader))
    table = MetricTable()
    for index, batch in enumerate(tqdm(islice(loader, total), desc=desc, total=total, disable=desc is None)):
        result = evaluate_batch(model, batch['GT'], test_opt['reveal_from'], test_opt['gaussian_scale'], generator)
        table.add(result.metrics, index)
        if on_image_set is not None:
            on_image_set(index, batch, result)
    return table
