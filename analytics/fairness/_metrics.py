"""The audit's per-group metrics, and their point estimates through fairlearn's MetricFrame.

The metrics themselves are defined once, in :mod:`analytics.metrics` (shared with model
evaluation); this module names the audit's set and its report labels. A prediction is
positive when its score is at or above the threshold (or, for binary scores, when it is
1). A metric that is undefined for a group (a rate with an empty denominator, an AUROC
without both outcomes) is NaN, never 0.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
from fairlearn.metrics import MetricFrame

from analytics import metrics as _metrics

# The metrics of every group, in report order.
METRICS = (
    "prevalence",
    "selection_rate",
    "tpr",
    "fpr",
    "fnr",
    "ppv",
    "auroc",
    "brier",
    "calibration_error",
)

# Metrics compared against the reference group (ratio and difference, with flags).
DISPARITY_METRICS = ("selection_rate", "tpr", "fpr", "fnr", "ppv", "auroc", "brier")

LABELS = {
    "prevalence": "prevalence (share with the outcome)",
    "selection_rate": "selection rate (share flagged)",
    "tpr": "true positive rate (sensitivity)",
    "fpr": "false positive rate",
    "fnr": "false negative rate (missed)",
    "ppv": "positive predictive value (precision)",
    "auroc": "AUROC",
    "brier": "Brier score",
    "calibration_error": "calibration error (ECE)",
}

SHORT = {
    "prevalence": "prevalence",
    "selection_rate": "selection rate",
    "tpr": "TPR",
    "fpr": "FPR",
    "fnr": "FNR",
    "ppv": "PPV",
    "auroc": "AUROC",
    "brier": "Brier",
    "calibration_error": "ECE",
}

Metric = Callable[[np.ndarray, np.ndarray], float]

# The decision rates of one confusion matrix (the rest need the scores themselves).
RATES = ("prevalence", "selection_rate", "tpr", "fpr", "fnr", "ppv")


def metric_functions(threshold: float, *, score_is_binary: bool = False) -> dict[str, Metric]:
    """Name -> f(y_true, score) for every metric in ``METRICS``."""

    def rate(name: str) -> Metric:
        def f(y, s):
            return _metrics.rates(y, _metrics.predicted_positive(s, threshold))[name]

        return f

    def ece(y, s):
        # Calibration of a 0/1 decision is not a calibration of a probability.
        return float("nan") if score_is_binary else _metrics.calibration_error(y, s)

    return {
        **{name: rate(name) for name in RATES},
        "auroc": _metrics.auroc,
        "brier": _metrics.brier,
        "calibration_error": ece,
    }


def all_metrics(threshold: float, *, score_is_binary: bool = False) -> Metric:
    """One function returning every metric of ``METRICS`` as an array (one MetricFrame
    call per group rather than one per metric and group; one confusion matrix per call)."""

    def every(y, s):
        values = _metrics.rates(y, _metrics.predicted_positive(s, threshold))
        values["auroc"] = _metrics.auroc(y, s)
        values["brier"] = _metrics.brier(y, s)
        values["calibration_error"] = (
            float("nan") if score_is_binary else _metrics.calibration_error(y, s)
        )
        return np.array([values[m] for m in METRICS])

    return every


def point_estimates(
    y: np.ndarray,
    score: np.ndarray,
    sensitive: pd.DataFrame,
    *,
    threshold: float,
    score_is_binary: bool = False,
) -> pd.DataFrame:
    """Every metric by the groups of ``sensitive`` (one column per attribute; several
    columns give their intersections), computed by fairlearn's MetricFrame: one row per
    group (indexed by its values), one column per metric."""
    frame = MetricFrame(
        metrics={"all": all_metrics(threshold, score_is_binary=score_is_binary)},
        y_true=np.asarray(y),
        y_pred=np.asarray(score, dtype=float),
        sensitive_features=sensitive,
    )
    by_group = frame.by_group["all"].dropna()
    return pd.DataFrame(
        np.vstack(by_group.to_numpy()) if len(by_group) else np.empty((0, len(METRICS))),
        index=by_group.index,
        columns=list(METRICS),
    )
