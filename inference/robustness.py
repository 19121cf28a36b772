"""Robustness results of one test set: the metrics of every attack (``test.attacks``), written as ``metrics.csv``
rows, ``robustness.json`` means, a console table and the ``robustness.png`` curves."""
from __future__ import annotations

import csv
import io
import json
import math
import os
from pathlib import Path

from models.distortions import parse_distortion
from utils.atomic_io import atomic_write_bytes, atomic_write_text
from utils.metrics import MetricTable


class RobustnessTable:
    """One :class:`MetricTable` per attack (rows: image sets), in the order the attacks are listed."""

    def __init__(self, attacks: list[str], keys: tuple[str, ...]) -> None:
        self.attacks = list(attacks)
        self.keys = tuple(keys)
        self.tables = {attack: MetricTable() for attack in self.attacks}

    def add(self, attack: str, metrics: dict[str, float], index: int) -> None:
        """Record the metrics of one image set under one attack."""
        self.tables[attack].add(metrics, index)

    def means(self) -> dict[str, dict[str, float | None]]:
        """``{attack: {key: mean}}`` over the image sets (non-finite means as None, as in metrics.json)."""
        out = {}
        for attack, table in self.tables.items():
            means = table.means()
            out[attack] = {k: (means[k] if math.isfinite(means.get(k, math.nan)) else None) for k in self.keys}
        return out

    def to_csv(self) -> str:
        """One line per image set and attack: ``batch, attack`` and every metric at full precision."""
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator='\n')
        writer.writerow(['batch', 'attack', *self.keys])
        for attack, table in self.tables.items():
            for row in table.rows:
                writer.writerow([row['batch'], attack, *(repr(row[k]) if k in row else '' for k in self.keys)])
        return buffer.getvalue()

    def format_table(self, keys: tuple[str, ...] | None = None, precision: int = 2) -> str:
        """A fixed-width console table: one line per attack with the mean of each metric."""
        keys = self.keys if keys is None else keys
        means = self.means()
        lines = [['attack', *keys]]
        lines += [[attack, *('-' if means[attack][k] is None else f'{means[attack][k]:.{precision}f}'
                             for k in keys)] for attack in self.attacks]
        widths = [max(len(line[i]) for line in lines) for i in range(len(lines[0]))]
        text = ['  '.join([line[0].ljust(widths[0]), *(c.rjust(w) for c, w in zip(line[1:], widths[1:]))])
                for line in lines]
        return '\n'.join([text[0], '-' * len(text[0]), *text[1:]])

    def save(self, out_dir: str | os.PathLike) -> list[Path]:
        """Write ``metrics.csv`` (rows per image set and attack), ``robustness.json`` and, when the attacks
        include JPEG qualities or noise levels, ``robustness.png``; returns the paths written."""
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        written = [out_dir / 'metrics.csv', out_dir / 'robustness.json']
        atomic_write_text(written[0], self.to_csv())
        atomic_write_text(written[1], json.dumps(self.means(), indent=2, allow_nan=False) + '\n')
        plot = plot_robustness(self.means(), out_dir / 'robustness.png')
        return written + ([plot] if plot else [])


def robustness_curves(means: dict[str, dict[str, float | None]],
                      key: str = 'secret_psnr') -> dict[str, list[tuple[float, float]]]:
    """``{'jpeg': [(Q, value), ...], 'gaussian': [(sigma, value), ...]}`` from the listed attacks, sorted.

    4:2:0 JPEG attacks give the JPEG curve; ``none`` is the noise curve's sigma 0 point.
    """
    curves: dict[str, list[tuple[float, float]]] = {'jpeg': [], 'gaussian': []}
    for attack, values in means.items():
        value = values.get(key)
        if value is None:
            continue
        distortion = parse_distortion(attack)
        if distortion.kind == 'jpeg' and not distortion.chroma_444:
            curves['jpeg'].append((distortion.value, value))
        elif distortion.kind == 'gaussian':
            curves['gaussian'].append((distortion.value, value))
        elif distortion.kind == 'none':
            curves['gaussian'].append((0.0, value))
    return {name: sorted(points) for name, points in curves.items()}


def plot_robustness(means: dict[str, dict[str, float | None]], path: Path) -> Path | None:
    """Secret PSNR against JPEG quality (high to low) and against noise sigma; None when there is nothing to
    draw (no JPEG attack and no noise attack)."""
    curves = robustness_curves(means)
    if not curves['jpeg'] and not any(sigma > 0 for sigma, _ in curves['gaussian']):
        return None
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    fig, (ax_jpeg, ax_noise) = plt.subplots(1, 2, figsize=(9, 3.6), constrained_layout=True)
    for ax, name, xlabel in ((ax_jpeg, 'jpeg', 'JPEG quality Q (4:2:0)'),
                             (ax_noise, 'gaussian', 'Gaussian noise sigma (0-255)')):
        points = curves[name]
        if points:
            ax.plot([p[0] for p in points], [p[1] for p in points], 'o-')
        ax.set_xlabel(xlabel)
        ax.set_ylabel('recovered secret PSNR (dB)')
        ax.grid(True, alpha=0.3)
    ax_jpeg.invert_xaxis()
    ax_jpeg.set_title('JPEG re-encoding of the stego')
    ax_noise.set_title('additive noise on the stego')
    buffer = io.BytesIO()
    fig.savefig(buffer, format='png', dpi=100)
    plt.close(fig)
    return atomic_write_bytes(path, buffer.getvalue())
