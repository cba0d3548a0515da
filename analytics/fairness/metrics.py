"""Per-group metric definitions, and their point estimates through fairlearn's MetricFrame.

Every metric is a function of the labels and the scores of one group. A prediction is
positive when its score is at or above the threshold (or, for binary scores, when it is
1). A metric that is undefined for a group (a rate with an empty denominator, an AUROC
without both outcomes) is NaN, never 0.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
from fairlearn.metrics import MetricFrame

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

# Equal-width score bins of the expected calibration error.
ECE_BINS = 10

Metric = Callable[[np.ndarray, np.ndarray], float]


def _ratio(num: float, den: float) -> float:
    return float(num) / float(den) if den else float("nan")


def predicted_positive(score: np.ndarray, threshold: float) -> np.ndarray:
    """The model's decision: score at or above the threshold."""
    return np.asarray(score, dtype=float) >= threshold


def confusion(y: np.ndarray, pred: np.ndarray) -> tuple[int, int, int, int]:
    """(TP, FP, FN, TN) of 0/1 labels and boolean decisions."""
    y = np.asarray(y).astype(bool)
    pred = np.asarray(pred).astype(bool)
    tp = int(np.sum(y & pred))
    fp = int(np.sum(~y & pred))
    fn = int(np.sum(y & ~pred))
    return tp, fp, fn, len(y) - tp - fp - fn


def auroc(y: np.ndarray, score: np.ndarray) -> float:
    """Area under the ROC curve by the Mann-Whitney rank formula (ties count a half)."""
    y = np.asarray(y).astype(bool)
    score = np.asarray(score, dtype=float)
    pos, neg = int(y.sum()), int((~y).sum())
    if not pos or not neg:
        return float("nan")
    neg_sorted = np.sort(score[~y])
    below = np.searchsorted(neg_sorted, score[y], side="left")
    tied = np.searchsorted(neg_sorted, score[y], side="right") - below
    return float((below.sum() + 0.5 * tied.sum()) / (pos * neg))


def brier(y: np.ndarray, score: np.ndarray) -> float:
    """Mean squared difference between score and outcome."""
    if len(y) == 0:
        return float("nan")
    return float(np.mean((np.asarray(score, dtype=float) - np.asarray(y, dtype=float)) ** 2))


def ece_bin(score: np.ndarray, bins: int = ECE_BINS) -> np.ndarray:
    """The equal-width bin (0 .. bins-1) of each score in [0, 1]."""
    return np.minimum((np.asarray(score, dtype=float) * bins).astype(np.int64), bins - 1)


def calibration_error(y: np.ndarray, score: np.ndarray, bins: int = ECE_BINS) -> float:
    """Expected calibration error: the share-weighted mean |observed - predicted| over
    equal-width score bins."""
    n = len(y)
    if n == 0:
        return float("nan")
    b = ece_bin(score, bins)
    observed = np.bincount(b, weights=np.asarray(y, dtype=float), minlength=bins)
    predicted = np.bincount(b, weights=np.asarray(score, dtype=float), minlength=bins)
    return float(np.abs(observed - predicted).sum() / n)


def metric_functions(threshold: float, *, score_is_binary: bool = False) -> dict[str, Metric]:
    """Name -> f(y_true, score) for every metric in ``METRICS``."""

    def decisions(score: np.ndarray) -> np.ndarray:
        return predicted_positive(score, threshold)

    def prevalence(y, s):
        return _ratio(np.sum(y), len(y))

    def selection_rate(y, s):
        return _ratio(np.sum(decisions(s)), len(y))

    def tpr(y, s):
        tp, _, fn, _ = confusion(y, decisions(s))
        return _ratio(tp, tp + fn)

    def fpr(y, s):
        _, fp, _, tn = confusion(y, decisions(s))
        return _ratio(fp, fp + tn)

    def fnr(y, s):
        tp, _, fn, _ = confusion(y, decisions(s))
        return _ratio(fn, tp + fn)

    def ppv(y, s):
        tp, fp, _, _ = confusion(y, decisions(s))
        return _ratio(tp, tp + fp)

    def ece(y, s):
        return float("nan") if score_is_binary else calibration_error(y, s)

    return {
        "prevalence": prevalence,
        "selection_rate": selection_rate,
        "tpr": tpr,
        "fpr": fpr,
        "fnr": fnr,
        "ppv": ppv,
        "auroc": auroc,
        "brier": brier,
        "calibration_error": ece,
    }


def all_metrics(threshold: float, *, score_is_binary: bool = False) -> Metric:
    """One function returning every metric of ``METRICS`` as an array (one MetricFrame
    call per group rather than one per metric and group)."""
    functions = metric_functions(threshold, score_is_binary=score_is_binary)

    def every(y, s):
        return np.array([functions[m](y, s) for m in METRICS])

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
