"""Calibration-curve bins that never show a small cell.

The curve starts from the ten equal-width score bins of the calibration error and merges
neighbours, left to right, until every bin holds at least ``k`` rows and ``k`` patients;
a short remainder joins the last bin. Bins are reported as score ranges with their mean
predicted and observed rates, never with their counts (so bins of overlapping groups
cannot be subtracted from one another).
"""

from __future__ import annotations

import numpy as np

from analytics.metrics import ECE_BINS, ece_bin


def curve_bins(score: np.ndarray, unit: np.ndarray | None, k: int) -> list[tuple[int, int]]:
    """Inclusive ranges of equal-width bin numbers, each holding at least ``k`` rows and
    ``k`` patients (one range when the group is smaller than that)."""
    b = ece_bin(score)
    per_bin = np.bincount(b, minlength=ECE_BINS)
    ranges: list[tuple[int, int]] = []
    start = 0
    for i in range(ECE_BINS):
        n = int(per_bin[start : i + 1].sum())
        people = n if unit is None else len(np.unique(unit[(b >= start) & (b <= i)]))
        if n > 0 and n >= k and people >= k:
            ranges.append((start, i))
            start = i + 1
    if start < ECE_BINS:  # a remainder too small for a bin of its own joins the last one
        if ranges:
            ranges[-1] = (ranges[-1][0], ECE_BINS - 1)
        elif per_bin.sum() > 0:
            ranges = [(0, ECE_BINS - 1)]
    # Trim ranges to the bins that hold scores, for honest score ranges.
    nonempty = np.flatnonzero(per_bin)
    trimmed = []
    for lo, hi in ranges:
        inside = nonempty[(nonempty >= lo) & (nonempty <= hi)]
        if len(inside):
            trimmed.append((int(inside[0]), int(inside[-1])))
    return trimmed


def bin_points(y: np.ndarray, score: np.ndarray, ranges: list[tuple[int, int]]) -> list[tuple]:
    """(score low, score high, mean predicted, observed) of each range."""
    b = ece_bin(score)
    out = []
    for lo, hi in ranges:
        inside = (b >= lo) & (b <= hi)
        out.append(
            (
                lo / ECE_BINS,
                (hi + 1) / ECE_BINS,
                float(np.mean(score[inside])),
                float(np.mean(y[inside])),
            )
        )
    return out
