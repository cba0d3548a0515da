"""Honest model evaluation: every metric of a method on a held-out set, with
patient-level bootstrap intervals. Pure functions over numpy arrays.

The metrics and the bootstrap are defined once, in :mod:`analytics.metrics` (shared with
the bias audit); this module chooses which of them judge a model:

- **auroc** and **auprc** (average precision) of the ranking score;
- **brier** and **calibration_error** (ECE, ten equal-width bins) of the probability;
- **recall_at_Npct** and **ppv_at_Npct** at each alert budget: on each as-of date the top
  ``ceil(b * n)`` of that date's ``n`` patients are flagged (ties by row order);
- **Intervals**: 95% percentile intervals from the cluster bootstrap of
  :mod:`analytics.metrics`, resampling patients with replacement (all of a patient's
  weekly rows together), with a fixed seed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from analytics.metrics import (
    auroc,
    average_precision,
    brier,
    budget_metrics,
    calibration_bins,
    calibration_error,
    flag_at_budget,
    labels_and_scores,
    percentile_interval,
    ppv_at_budget,
    prepare,
    recall_at_budget,
    replicate,
)

# The point metrics are analytics.metrics' own, named here for this module's callers.
auprc = average_precision

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

LEVEL = 0.95


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
    """Every metric, by name, in report order."""
    return {
        "auroc": auroc(y, score),
        "auprc": average_precision(y, score),
        "brier": brier(y, probability),
        "calibration_error": calibration_error(y, probability),
        **budget_metrics(y, score, group, budgets),
    }


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
    (Brier, calibration). For a model they are the same array. ``group`` is each row's
    as-of date (the budget quota is per date).
    """
    y, score = labels_and_scores(y, score)
    _, probability = labels_and_scores(y, probability)
    group = np.asarray(group)
    point = all_metrics(y, score, probability, group, budgets)

    _, unit = np.unique(np.asarray(patient), return_inverse=True)
    sample = prepare(y, score, probability=probability, unit=unit.ravel(), date=group)
    reps = replicate(
        sample,
        n_boot=resamples,
        rng=np.random.default_rng(seed),
        average_precision=True,
        budgets=budgets,
    )
    metrics = []
    for name, value in point.items():
        lo, hi, _ = percentile_interval(reps.metrics[name], LEVEL)
        metrics.append(
            MetricEstimate(
                name,
                float(value),
                math.nan if lo is None else lo,
                math.nan if hi is None else hi,
            )
        )
    return Evaluation(
        method=method,
        rows=len(y),
        patients=sample.n_units,
        positives=int(y.sum()),
        metrics=tuple(metrics),
    )
