"""Point metrics of 0/1 labels and scores.

scikit-learn computes every metric it has (AUROC, average precision, Brier score,
confusion matrix); this module adds only what it lacks and pins the conventions:

- A metric that is undefined (AUROC without both outcomes, a rate with an empty
  denominator, anything of no rows) is NaN, never 0. scikit-learn would warn and return
  NaN or 0 depending on the metric, so the guards come first.
- Calibration error (ECE) and calibration bins are ours: scikit-learn has no ECE, and its
  ``calibration_curve`` places a score that sits exactly on a bin edge in the lower bin
  and drops bin sizes, while the ECE and the bootstrap both need
  ``bin = floor(10 * p)`` (monotone in the score, see ``_bootstrap``).
"""

from __future__ import annotations

import math

import numpy as np
from sklearn.metrics import (
    average_precision_score,
    brier_score_loss,
    confusion_matrix,
    roc_auc_score,
)

# Equal-width probability bins of the calibration error and calibration curves.
ECE_BINS = 10


def labels_and_scores(y, score) -> tuple[np.ndarray, np.ndarray]:
    """Both as float arrays, checked: 1-d, equal length, labels 0/1, scores finite."""
    y = np.asarray(y, dtype=np.float64)
    score = np.asarray(score, dtype=np.float64)
    if y.shape != score.shape or y.ndim != 1:
        raise ValueError(f"labels and scores must be 1-d and equal length: {y.shape} {score.shape}")
    if not np.all((y == 0) | (y == 1)):
        raise ValueError("labels must be 0 or 1")
    if not np.all(np.isfinite(score)):
        # A NaN score has no rank; scikit-learn refuses it too, but with less context.
        raise ValueError("scores must be finite (drop the rows without a score first)")
    return y, score


def auroc(y, score) -> float:
    """Area under the ROC curve (tied scores count one half); NaN without both outcomes."""
    y, score = labels_and_scores(y, score)
    positives = y.sum()
    if positives == 0 or positives == len(y):
        return math.nan
    return float(roc_auc_score(y, score))


def average_precision(y, score) -> float:
    """Average precision, ``sum_k (R_k - R_{k-1}) P_k`` over distinct score thresholds from
    the highest down (no interpolation); NaN without positives (scikit-learn gives 0)."""
    y, score = labels_and_scores(y, score)
    if y.sum() == 0:
        return math.nan
    return float(average_precision_score(y, score))


def brier(y, probability) -> float:
    """Mean squared difference between probability and outcome; NaN of no rows."""
    y, probability = labels_and_scores(y, probability)
    if len(y) == 0:
        return math.nan
    # pos_label: with one outcome present scikit-learn could not tell which one is 1.
    return float(brier_score_loss(y, probability, pos_label=1))


def ece_bin(probability, bins: int = ECE_BINS) -> np.ndarray:
    """The equal-width bin (0 .. bins-1) of each probability in [0, 1]; 1.0 joins the last."""
    p = np.asarray(probability, dtype=np.float64)
    return np.minimum((p * bins).astype(np.int64), bins - 1)


def calibration_error(y, probability, bins: int = ECE_BINS) -> float:
    """Expected calibration error: ``sum_b (n_b / N) |mean(p_b) - mean(y_b)|`` over
    equal-width bins; NaN of no rows."""
    y, probability = labels_and_scores(y, probability)
    if len(y) == 0:
        return math.nan
    b = ece_bin(probability, bins)
    gap = np.bincount(b, weights=probability, minlength=bins) - np.bincount(
        b, weights=y, minlength=bins
    )
    return float(np.abs(gap).sum() / len(y))


def calibration_bins(y, probability, *, bins: int = ECE_BINS) -> list[tuple]:
    """Per non-empty equal-width bin: (lower edge, rows, mean probability, observed rate)."""
    y, probability = labels_and_scores(y, probability)
    b = ece_bin(probability, bins)
    n = np.bincount(b, minlength=bins)
    sum_p = np.bincount(b, weights=probability, minlength=bins)
    sum_y = np.bincount(b, weights=y, minlength=bins)
    return [
        (k / bins, int(n[k]), float(sum_p[k] / n[k]), float(sum_y[k] / n[k]))
        for k in range(bins)
        if n[k]
    ]


def predicted_positive(score, threshold: float) -> np.ndarray:
    """The decision: score at or above the threshold."""
    return np.asarray(score, dtype=np.float64) >= threshold


def confusion(y, decision) -> tuple[int, int, int, int]:
    """(TP, FP, FN, TN) of 0/1 labels and boolean decisions."""
    y = np.asarray(y).astype(bool)
    decision = np.asarray(decision).astype(bool)
    if len(y) == 0:
        return 0, 0, 0, 0
    # labels=: both outcomes always get a row and a column, even when one is absent.
    tn, fp, fn, tp = confusion_matrix(y, decision, labels=[False, True]).ravel()
    return int(tp), int(fp), int(fn), int(tn)


def _share(num: float, den: float) -> float:
    return float(num) / float(den) if den else math.nan


def rates(y, decision) -> dict[str, float]:
    """Every rate of one confusion matrix (NaN where its denominator is empty):
    prevalence, selection_rate, tpr, fpr, fnr, ppv, accuracy."""
    tp, fp, fn, tn = confusion(y, decision)
    n = tp + fp + fn + tn
    return {
        "prevalence": _share(tp + fn, n),
        "selection_rate": _share(tp + fp, n),
        "tpr": _share(tp, tp + fn),
        "fpr": _share(fp, fp + tn),
        "fnr": _share(fn, tp + fn),
        "ppv": _share(tp, tp + fp),
        "accuracy": _share(tp + tn, n),
    }
