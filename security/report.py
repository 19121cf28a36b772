"""The steganalysis report: per-row means and spreads over the folds, a console table, steganalysis.json,
steganalysis.csv, pairs.csv and a ROC plot."""
from __future__ import annotations

import csv
import io
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from security.metrics import min_pe, roc_auc, roc_curve
from utils.atomic_io import atomic_write_bytes

ROW_KEYS = ('accuracy', 'accuracy_std', 'pe', 'pe_std', 'auc', 'auc_std', 'folds', 'pairs')
CHANCE_NOTE = 'Chance is P_E = 0.5 (accuracy 0.5, AUC 0.5); P_E = 0 means the detector separates them perfectly.'


@dataclass
class RowResults:
    """A detector on one cover-vs-X task: each fold's test labels (1 = not the plain cover), scores and
    decisions."""
    labels: list[np.ndarray] = field(default_factory=list)
    scores: list[np.ndarray] = field(default_factory=list)
    decisions: list[np.ndarray] = field(default_factory=list)

    def add(self, labels: np.ndarray, scores: np.ndarray, decisions: np.ndarray) -> None:
        self.labels.append(np.asarray(labels))
        self.scores.append(np.asarray(scores, dtype=np.float64))
        self.decisions.append(np.asarray(decisions, dtype=bool))

    def summary(self, pairs: int) -> dict[str, float | int]:
        """Mean and (sample) standard deviation over the folds of accuracy, P_E and AUC."""
        acc = [float(np.mean(d == l.astype(bool))) for l, d in zip(self.labels, self.decisions)]
        pe = [min_pe(l, s) for l, s in zip(self.labels, self.scores)]
        auc = [roc_auc(l, s) for l, s in zip(self.labels, self.scores)]
        spread = (lambda v: float(np.std(v, ddof=1)) if len(v) > 1 else 0.0)
        return {'accuracy': float(np.mean(acc)), 'accuracy_std': spread(acc), 'pe': float(np.mean(pe)),
                'pe_std': spread(pe), 'auc': float(np.mean(auc)), 'auc_std': spread(auc),
                'folds': len(self.labels), 'pairs': int(pairs)}

    def pooled(self) -> tuple[np.ndarray, np.ndarray]:
        """All folds' test labels and scores together (every pair is tested once)."""
        return np.concatenate(self.labels), np.concatenate(self.scores)


def format_table(rows: dict[str, dict]) -> str:
    """The console table, one line per row, with the chance note."""
    width = max(len('row'), *(len(name) for name in rows))
    lines = [f'{"row":<{width}}  accuracy        P_E             AUC             folds  pairs']
    for name, row in rows.items():
        lines.append(f'{name:<{width}}  {row["accuracy"]:.3f} ± {row["accuracy_std"]:.3f}   '
                     f'{row["pe"]:.3f} ± {row["pe_std"]:.3f}   {row["auc"]:.3f} ± {row["auc_std"]:.3f}   '
                     f'{row["folds"]:>5}  {row["pairs"]:>5}')
    lines.append(f'(mean ± standard deviation over the folds) {CHANCE_NOTE}')
    return '\n'.join(lines)


def results_rows(rows: dict[str, dict]) -> list[dict[str, str]]:
    """The rows of a benchmarks results file: each value as 'mean ± std' over the folds, three decimals."""
    cell = (lambda row, key: f'{row[key]:.3f} ± {row[key + "_std"]:.3f}')
    return [{'row': name, 'accuracy': cell(row, 'accuracy'), 'P_E': cell(row, 'pe'), 'AUC': cell(row, 'auc')}
            for name, row in rows.items()]


def write_json(obj: object, path: Path) -> None:
    atomic_write_bytes(path, (json.dumps(obj, indent=2) + '\n').encode('utf-8'))


def write_rows_csv(rows: dict[str, dict], path: Path) -> None:
    """steganalysis.csv: one line per row with every key of :data:`ROW_KEYS`."""
    lines = [','.join(('row',) + ROW_KEYS)]
    lines += [','.join([name] + [f'{row[k]:.6g}' if isinstance(row[k], float) else str(row[k]) for k in ROW_KEYS])
              for name, row in rows.items()]
    atomic_write_bytes(path, ('\n'.join(lines) + '\n').encode('utf-8'))


def write_pairs_csv(records: Sequence[dict], path: Path) -> None:
    """pairs.csv: one line per cover with its secrets, fold and quality."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(records[0]), lineterminator='\n')
    writer.writeheader()
    writer.writerows(records)
    atomic_write_bytes(path, buffer.getvalue().encode('utf-8'))


def plot_roc(results: dict[str, RowResults], path: Path, title: str) -> None:
    """One panel per task (cover vs stego, vs re-saved, vs LSBM), one pooled ROC curve per detector."""
    os.environ.setdefault('MPLBACKEND', 'Agg')
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    tasks = list(dict.fromkeys(name.split('/')[0] for name in results))
    fig, axes = plt.subplots(1, len(tasks), figsize=(4.2 * len(tasks), 4.2), squeeze=False)
    for ax, task in zip(axes[0], tasks):
        for name, row in results.items():
            if name.split('/')[0] != task:
                continue
            labels, scores = row.pooled()
            p_fa, p_d, _ = roc_curve(labels, scores)
            ax.plot(p_fa, p_d, label=f'{name.split("/", 1)[1]} (AUC {roc_auc(labels, scores):.2f})')
        ax.plot([0, 1], [0, 1], color='grey', linestyle=':', linewidth=1)
        ax.set(title=task, xlabel='false alarm rate', ylabel='detection rate', xlim=(0, 1), ylim=(0, 1))
        ax.legend(loc='lower right', fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    tmp = path.with_name(path.name + '.tmp.png')
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    os.replace(tmp, path)
