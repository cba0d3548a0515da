"""Honest model evaluation: metrics, patient-level bootstrap intervals, calibration and
recall/PPV at an alert budget. Pure functions over numpy arrays.

Definitions (the tests hold these to hand-computed answers):

- **AUROC**: the probability that a random positive scores above a random negative, ties
  counting one half (Mann-Whitney).
- **AUPRC**: average precision, ``sum_k (R_k - R_{k-1}) P_k`` over distinct score
  thresholds from the highest down (no interpolation; the scikit-learn definition).
- **Brier**: mean squared difference between probability and outcome.
- **Calibration error** (ECE): ten equal-width probability bins;
  ``sum_b (n_b / N) |mean(p_b) - mean(y_b)|``.
- **Recall and PPV at an alert budget b**: on each as-of date the top ``ceil(b * n)``
  patients of that date's ``n`` are flagged (a clinician reviews a share of the caseload
  each week); ties are broken by row order, so results are deterministic. Recall is
  flagged positives over all positives, PPV flagged positives over all flagged.
- **Intervals**: 95% percentile intervals from a cluster bootstrap that resamples
  patients with replacement (all of a patient's rows together), with a fixed seed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = [
    "Evaluation",
    "all_metrics",
    "MetricEstimate",
    "auprc",
    "auroc",
    "brier",
    "calibration_bins",
    "calibration_error",
    "evaluate",
    "flag_at_budget",
    "ppv_at_budget",
    "recall_at_budget",
]

CALIBRATION_BINS = 10


def _check(y: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y, dtype=np.float64)
    p = np.asarray(p, dtype=np.float64)
    if y.shape != p.shape or y.ndim != 1:
        raise ValueError(f"labels and scores must be 1-d and equal length: {y.shape} {p.shape}")
    return y, p


def auroc(y: np.ndarray, score: np.ndarray) -> float:
    """Area under the ROC curve (ties count 1/2); NaN without both classes."""
    y, score = _check(y, score)
    pos = y == 1
    n_pos, n_neg = int(pos.sum()), int((~pos).sum())
    if n_pos == 0 or n_neg == 0:
        return math.nan
    ranks = _average_ranks(score)
    return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _average_ranks(x: np.ndarray) -> np.ndarray:
    order = np.argsort(x, kind="mergesort")
    xs = x[order]
    # Tied values share the mean of the ranks they span.
    starts = np.r_[0, np.flatnonzero(xs[1:] != xs[:-1]) + 1]
    ends = np.r_[starts[1:], len(xs)]
    mean_rank = (starts + ends + 1) / 2.0  # ranks are 1-based
    ranks = np.empty(len(x))
    ranks[order] = np.repeat(mean_rank, ends - starts)
    return ranks


def auprc(y: np.ndarray, score: np.ndarray) -> float:
    """Average precision; NaN without positives."""
    y, score = _check(y, score)
    n_pos = y.sum()
    if n_pos == 0:
        return math.nan
    order = np.argsort(-score, kind="mergesort")
    ys, ss = y[order], score[order]
    # Evaluate only at the last row of each run of tied scores.
    last = np.r_[np.flatnonzero(ss[1:] != ss[:-1]), len(ss) - 1]
    tp = np.cumsum(ys)[last]
    flagged = last + 1
    precision = tp / flagged
    recall = tp / n_pos
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def brier(y: np.ndarray, p: np.ndarray) -> float:
    """Mean squared error of the probabilities."""
    y, p = _check(y, p)
    return float(np.mean((p - y) ** 2)) if len(y) else math.nan


def calibration_bins(y: np.ndarray, p: np.ndarray, *, bins: int = CALIBRATION_BINS):
    """Per equal-width bin: (lower edge, rows, mean probability, observed rate)."""
    y, p = _check(y, p)
    idx = np.minimum((p * bins).astype(np.int64), bins - 1)
    n = np.bincount(idx, minlength=bins)
    sum_p = np.bincount(idx, weights=p, minlength=bins)
    sum_y = np.bincount(idx, weights=y, minlength=bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        return [
            (b / bins, int(n[b]), float(sum_p[b] / n[b]), float(sum_y[b] / n[b]))
            for b in range(bins)
            if n[b]
        ]


def calibration_error(y: np.ndarray, p: np.ndarray, *, bins: int = CALIBRATION_BINS) -> float:
    """Expected calibration error over equal-width bins."""
    y, p = _check(y, p)
    if not len(y):
        return math.nan
    idx = np.minimum((p * bins).astype(np.int64), bins - 1)
    gap = np.abs(
        np.bincount(idx, weights=p, minlength=bins) - np.bincount(idx, weights=y, minlength=bins)
    )
    return float(gap.sum() / len(y))


def flag_at_budget(score: np.ndarray, group: np.ndarray, budget: float) -> np.ndarray:
    """Boolean flags: the top ``ceil(budget * n)`` scores within each group (as-of date)."""
    score = np.asarray(score, dtype=np.float64)
    group = np.asarray(group)
    n = len(score)
    if n == 0:
        return np.zeros(0, dtype=bool)
    # Numeric groups (date ordinals) sort as they are; others are coded first.
    g = group if np.issubdtype(group.dtype, np.number) else np.unique(group, return_inverse=True)[1]
    # Sort by group, then score descending, then row order (stable).
    order = np.lexsort((np.arange(n), -score, g))
    gs = g[order]
    starts = np.r_[0, np.flatnonzero(gs[1:] != gs[:-1]) + 1]
    sizes = np.diff(np.r_[starts, n])
    rank = np.arange(n) - np.repeat(starts, sizes)
    quota = np.ceil(budget * sizes - 1e-9).astype(np.int64)
    flags = np.empty(n, dtype=bool)
    flags[order] = rank < np.repeat(quota, sizes)
    return flags


def recall_at_budget(y: np.ndarray, score: np.ndarray, group: np.ndarray, budget: float) -> float:
    """Share of positives among the flagged at this budget."""
    y, score = _check(y, score)
    pos = y.sum()
    if pos == 0:
        return math.nan
    return float(y[flag_at_budget(score, group, budget)].sum() / pos)


def ppv_at_budget(y: np.ndarray, score: np.ndarray, group: np.ndarray, budget: float) -> float:
    """Share of the flagged who are positive at this budget."""
    y, score = _check(y, score)
    flags = flag_at_budget(score, group, budget)
    return float(y[flags].mean()) if flags.any() else math.nan


@dataclass(frozen=True)
class MetricEstimate:
    """One metric with its 95% bootstrap interval (NaN where it cannot be computed)."""

    metric: str
    estimate: float
    ci_low: float
    ci_high: float


@dataclass(frozen=True)
class Evaluation:
    """Every metric of one method on one evaluation set."""

    method: str
    rows: int
    patients: int
    positives: int
    metrics: tuple[MetricEstimate, ...]

    def get(self, metric: str) -> MetricEstimate:
        for m in self.metrics:
            if m.metric == metric:
                return m
        raise KeyError(metric)


def all_metrics(
    y: np.ndarray,
    score: np.ndarray,
    probability: np.ndarray,
    group: np.ndarray,
    budgets: Sequence[float],
) -> dict[str, float]:
    """Every metric, by name; flags at each budget are computed once for recall and PPV."""
    out = {
        "auroc": auroc(y, score),
        "auprc": auprc(y, score),
        "brier": brier(y, probability),
        "calibration_error": calibration_error(y, probability),
    }
    positives = y.sum()
    for b in budgets:
        pct = round(b * 100)
        flags = flag_at_budget(score, group, b)
        hits = y[flags].sum()
        out[f"recall_at_{pct}pct"] = float(hits / positives) if positives else math.nan
        out[f"ppv_at_{pct}pct"] = float(hits / flags.sum()) if flags.any() else math.nan
    return out


class _Resampled:
    """:func:`all_metrics` for bootstrap resamples of one evaluation set, without sorting
    each resample.

    Everything that needs an order is sorted once here. A resample (row indices, with
    repeats, in the order drawn) then only counts copies: AUROC and average precision
    depend on how many positives and negatives share each distinct score, and the flags
    at a budget on how many rows of each date rank above each distinct (date, score)
    key, with row order deciding only among tied rows on the boundary. The results equal
    :func:`all_metrics` on the resampled arrays exactly (the sums involved are of whole
    numbers, or taken over the same values in the same order).
    """

    def __init__(self, y, score, probability, group, budgets: Sequence[float]) -> None:
        self.y, self.score, self.probability = y, score, probability
        self.budgets = tuple(budgets)
        n = len(y)
        # Distinct scores, ascending: each row's tie group for ranks and precision.
        values, self.uid = np.unique(score, return_inverse=True)
        self.n_values = len(values)
        # Distinct (date, score) keys in flag order: date, then score descending.
        g = (
            group
            if np.issubdtype(group.dtype, np.number)
            else np.unique(group, return_inverse=True)[1]
        )
        order = np.lexsort((-score, g))
        gs, ss = g[order], score[order]
        new_key = np.r_[True, (gs[1:] != gs[:-1]) | (ss[1:] != ss[:-1])]
        key_sorted = np.cumsum(new_key) - 1
        self.key = np.empty(n, dtype=np.int64)
        self.key[order] = key_sorted
        self.n_keys = int(key_sorted[-1]) + 1 if n else 0
        # The date of each key, as a dense code, and where each date's keys begin.
        new_group = np.r_[True, gs[1:] != gs[:-1]][new_key]
        self.key_group = np.cumsum(new_group) - 1
        self.n_groups = int(self.key_group[-1]) + 1 if n else 0

    @staticmethod
    def usable(score: np.ndarray) -> bool:
        """NaN scores tie with nothing, not even their own copies: the slow path keeps that."""
        return not np.isnan(score).any()

    def metrics(self, rows: np.ndarray) -> dict[str, float]:
        y = self.y[rows]
        out = {}
        # Copies and positives per distinct score.
        uid = self.uid[rows]
        total = np.bincount(uid, minlength=self.n_values)
        pos = np.bincount(uid[y == 1], minlength=self.n_values).astype(np.float64)
        n_pos, n = float(y.sum()), len(rows)
        n_neg = n - n_pos
        if n_pos == 0 or n_neg == 0:
            out["auroc"] = math.nan
        else:
            start = np.cumsum(total) - total  # rows ranked below each tie group
            rank_sum = float(np.sum(pos * (start + (total + 1) / 2.0)))
            out["auroc"] = float((rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))
        if n_pos == 0:
            out["auprc"] = math.nan
        else:
            present = total[::-1] > 0  # tie groups from the highest score down
            tp = np.cumsum(pos[::-1])[present]
            flagged = np.cumsum(total[::-1])[present]
            precision = tp / flagged
            recall = tp / n_pos
            out["auprc"] = float(np.sum(np.diff(np.r_[0.0, recall]) * precision))
        p = self.probability[rows]
        out["brier"] = brier(y, p)
        out["calibration_error"] = calibration_error(y, p)
        keys = self.key[rows]
        per_key = np.bincount(keys, minlength=self.n_keys)
        size = np.bincount(self.key_group, weights=per_key, minlength=self.n_groups)
        size = size.astype(np.int64)  # whole rows (bincount weights give floats)
        above = np.cumsum(per_key) - per_key  # rows before each key, counting earlier dates
        group_start = np.cumsum(size) - size
        above = above - group_start[self.key_group]  # rows of the same date ranked higher
        for b in self.budgets:
            pct = round(b * 100)
            quota = np.ceil(b * size - 1e-9).astype(np.int64)[self.key_group]
            # Keys wholly inside the quota are flagged; on the boundary key, the first
            # copies in row order fill what is left.
            whole = above + per_key <= quota
            left = np.where(~whole & (above < quota), quota - above, 0)
            flags = whole[keys]
            edge = np.flatnonzero(left[keys] > 0)
            if len(edge):
                edge_keys = keys[edge]
                by_key = np.argsort(edge_keys, kind="stable")
                k_sorted = edge_keys[by_key]
                first = np.r_[0, np.flatnonzero(k_sorted[1:] != k_sorted[:-1]) + 1]
                nth = np.arange(len(edge)) - np.repeat(first, np.diff(np.r_[first, len(edge)]))
                flags[edge[by_key]] = nth < left[k_sorted]
            hits = y[flags].sum()
            out[f"recall_at_{pct}pct"] = float(hits / n_pos) if n_pos else math.nan
            out[f"ppv_at_{pct}pct"] = float(hits / flags.sum()) if flags.any() else math.nan
        return out


def evaluate(
    method: str,
    y: np.ndarray,
    *,
    score: np.ndarray,
    probability: np.ndarray,
    patient: np.ndarray,
    group: np.ndarray,
    budgets: Sequence[float],
    resamples: int = 500,
    seed: int = 0,
) -> Evaluation:
    """All metrics with patient-level cluster-bootstrap 95% intervals.

    ``score`` ranks (AUROC, AUPRC, budgets); ``probability`` is judged as a probability
    (Brier, calibration). For a model they are the same array.
    """
    y, score = _check(y, score)
    probability = np.asarray(probability, dtype=np.float64)
    patient = np.asarray(patient)
    group = np.asarray(group)
    point = all_metrics(y, score, probability, group, budgets)

    # Rows grouped by patient, so a resample is a set of whole patients.
    _, pid = np.unique(patient, return_inverse=True)
    order = np.argsort(pid, kind="mergesort")
    counts = np.bincount(pid)
    starts = np.r_[0, np.cumsum(counts)[:-1]]
    rng = np.random.default_rng(seed)
    draws: dict[str, list[float]] = {name: [] for name in point}
    # The same metrics per resample, computed from counts over one sort (see _Resampled).
    fast = _Resampled(y, score, probability, group, budgets) if _Resampled.usable(score) else None
    for _ in range(resamples):
        chosen = rng.integers(0, len(counts), len(counts))
        lengths = counts[chosen]
        offsets = np.repeat(starts[chosen] - np.cumsum(lengths) + lengths, lengths)
        rows = order[np.arange(lengths.sum()) + offsets]
        # Copies of one resampled patient count as distinct patients on the same date.
        sample = (
            fast.metrics(rows)
            if fast is not None
            else all_metrics(y[rows], score[rows], probability[rows], group[rows], budgets)
        )
        for name, value in sample.items():
            draws[name].append(value)
    metrics = []
    for name in point:
        values = np.asarray(draws[name], dtype=np.float64)
        values = values[~np.isnan(values)]
        lo, hi = (
            (float(np.quantile(values, 0.025)), float(np.quantile(values, 0.975)))
            if len(values)
            else (math.nan, math.nan)
        )
        metrics.append(MetricEstimate(name, float(point[name]), lo, hi))
    return Evaluation(
        method=method,
        rows=len(y),
        patients=len(counts),
        positives=int(y.sum()),
        metrics=tuple(metrics),
    )
