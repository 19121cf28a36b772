"""Detection metrics on scores (higher = more likely stego): P_E, ROC curve, ROC AUC, a trained threshold."""
from __future__ import annotations

import numpy as np


def _split(labels: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    labels = np.asarray(labels).astype(bool).ravel()
    scores = np.asarray(scores, dtype=np.float64).ravel()
    if labels.shape != scores.shape:
        raise ValueError(f'labels and scores differ in length: {labels.size} vs {scores.size}')
    if labels.all() or not labels.any():
        raise ValueError('labels need both classes (0 = cover, 1 = stego)')
    if not np.isfinite(scores).all():
        raise ValueError('scores must be finite')
    return scores[~labels], scores[labels]


def roc_curve(labels: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(false-alarm rates, detection rates, thresholds) of the rule "stego when score >= threshold", for every
    distinct score plus +inf (nothing flagged); both rates rise from 0 to 1."""
    cover, stego = _split(labels, scores)
    thresholds = np.concatenate([[np.inf], np.unique(np.concatenate([cover, stego]))[::-1]])
    cover_sorted, stego_sorted = np.sort(cover), np.sort(stego)
    p_fa = (cover.size - np.searchsorted(cover_sorted, thresholds, side='left')) / cover.size
    p_d = (stego.size - np.searchsorted(stego_sorted, thresholds, side='left')) / stego.size
    return p_fa, p_d, thresholds


def min_pe(labels: np.ndarray, scores: np.ndarray) -> float:
    """P_E = min over thresholds of (P_FA + P_MD) / 2; 0 separates perfectly, 0.5 is chance."""
    p_fa, p_d, _ = roc_curve(labels, scores)
    return float(0.5 + 0.5 * np.min(p_fa - p_d))


def roc_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve: P(stego score > cover score) + P(equal) / 2 (0.5 is chance)."""
    cover, stego = _split(labels, scores)
    ranks = _average_ranks(np.concatenate([cover, stego]))
    stego_rank_sum = ranks[cover.size:].sum()
    return float((stego_rank_sum - stego.size * (stego.size + 1) / 2.0) / (cover.size * stego.size))


def _average_ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks, ties given their mean rank."""
    order = np.argsort(values, kind='mergesort')
    sorted_values = values[order]
    ranks = np.empty(values.size, dtype=np.float64)
    starts = np.flatnonzero(np.concatenate([[True], sorted_values[1:] != sorted_values[:-1]]))
    ends = np.concatenate([starts[1:], [values.size]])
    for start, end in zip(starts, ends):
        ranks[order[start:end]] = (start + end + 1) / 2.0
    return ranks


def best_threshold(labels: np.ndarray, scores: np.ndarray) -> tuple[float, float]:
    """(sign, threshold) of the rule "stego when sign * score >= threshold" with the smallest P_E on these
    (training) scores, halfway to the next lower score; the sign lets a statistic that falls with embedding work as well as one that rises."""
    best = (1.0, np.inf, 1.0)
    for sign in (1.0, -1.0):
        p_fa, p_d, thresholds = roc_curve(labels, sign * np.asarray(scores, dtype=np.float64))
        pe = 0.5 + 0.5 * (p_fa - p_d)
        i = int(np.argmin(pe))
        if pe[i] < best[2]:
            threshold = thresholds[i]
            if np.isfinite(threshold) and i + 1 < thresholds.size:
                threshold = (threshold + thresholds[i + 1]) / 2.0
            best = (sign, float(threshold), float(pe[i]))
    return best[0], best[1]
