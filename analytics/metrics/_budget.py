"""Recall and PPV at an alert budget.

A clinician reviews a share of the caseload each week, so on each as-of date (``group``)
the top ``ceil(budget * n)`` of that date's ``n`` rows are flagged; ties are broken by row
order, so results are deterministic. Recall is flagged positives over all positives, PPV
flagged positives over all flagged. scikit-learn has no per-date quota, hence this module.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from analytics.metrics._scores import labels_and_scores

# ceil(budget * n) would round 0.07 * 100 = 7.000000000000001 up to 8.
QUOTA_SLACK = 1e-9


def budget_names(budget: float) -> tuple[str, str]:
    """The metric names of recall and PPV at a budget: ``recall_at_10pct``, ``ppv_at_10pct``."""
    pct = round(budget * 100)
    return f"recall_at_{pct}pct", f"ppv_at_{pct}pct"


def quota(budget: float, size) -> np.ndarray:
    """Rows flagged out of ``size`` rows of one date."""
    return np.ceil(budget * np.asarray(size) - QUOTA_SLACK).astype(np.int64)


def group_codes(group) -> np.ndarray:
    """Dense integer codes of the dates (numbers, dates or text)."""
    return np.unique(np.asarray(group), return_inverse=True)[1].ravel()


def _rank_within(score: np.ndarray, group: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(rank of each row within its date, 0 = highest score; rows of its date)."""
    n = len(score)
    g = group_codes(group)
    # By date, then score descending, then row order (stable).
    order = np.lexsort((np.arange(n), -score, g))
    gs = g[order]
    starts = np.r_[0, np.flatnonzero(gs[1:] != gs[:-1]) + 1]
    sizes = np.diff(np.r_[starts, n])
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n) - np.repeat(starts, sizes)
    size = np.empty(n, dtype=np.int64)
    size[order] = np.repeat(sizes, sizes)
    return rank, size


def flag_at_budget(score, group, budget: float) -> np.ndarray:
    """Boolean flags: the top ``ceil(budget * n)`` scores within each date."""
    score = np.asarray(score, dtype=np.float64)
    if len(score) == 0:
        return np.zeros(0, dtype=bool)
    rank, size = _rank_within(score, np.asarray(group))
    return rank < quota(budget, size)


def recall_at_budget(y, score, group, budget: float) -> float:
    """Share of all positives that are flagged at this budget; NaN without positives."""
    y, score = labels_and_scores(y, score)
    positives = y.sum()
    if positives == 0:
        return math.nan
    return float(y[flag_at_budget(score, group, budget)].sum() / positives)


def ppv_at_budget(y, score, group, budget: float) -> float:
    """Share of the flagged who are positive at this budget; NaN when none is flagged."""
    y, score = labels_and_scores(y, score)
    flags = flag_at_budget(score, group, budget)
    return float(y[flags].mean()) if flags.any() else math.nan


def _hits_and_flagged(y, score, group, budgets: Sequence[float]) -> list[tuple[float, int]]:
    """(flagged positives, flagged rows) at each budget; the rows are ranked once."""
    if len(y) == 0:
        return [(0.0, 0) for _ in budgets]
    rank, size = _rank_within(score, np.asarray(group))
    out = []
    for b in budgets:
        flags = rank < quota(b, size)
        out.append((float(y[flags].sum()), int(flags.sum())))
    return out


def budget_metrics(y, score, group, budgets: Sequence[float]) -> dict[str, float]:
    """Recall and PPV at every budget, by name (see :func:`budget_names`)."""
    y, score = labels_and_scores(y, score)
    positives = y.sum()
    out: dict[str, float] = {}
    for b, (hits, flagged) in zip(
        budgets, _hits_and_flagged(y, score, group, budgets), strict=True
    ):
        recall, ppv = budget_names(b)
        out[recall] = float(hits / positives) if positives else math.nan
        out[ppv] = float(hits / flagged) if flagged else math.nan
    return out


def recall_curve(y, score, group, budgets: Sequence[float]) -> np.ndarray:
    """Recall at each budget (the Models page's budget curve); NaN without positives."""
    y, score = labels_and_scores(y, score)
    positives = y.sum()
    hits = np.array([h for h, _ in _hits_and_flagged(y, score, group, budgets)])
    return hits / positives if positives else np.full(len(hits), math.nan)
