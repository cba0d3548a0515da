"""ROC and precision-recall curves, from scikit-learn.

Both have one point per distinct score (tied scores move together), in order of
decreasing threshold, so a chart draws them left to right without sorting.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import precision_recall_curve, roc_curve

from analytics.metrics._scores import labels_and_scores


def _both_outcomes(y: np.ndarray) -> None:
    if y.sum() in (0, len(y)):
        raise ValueError("a curve needs both outcomes among the labels")


def roc_points(y, score) -> tuple[np.ndarray, np.ndarray]:
    """(false positive rate, true positive rate), from (0, 0) to (1, 1)."""
    y, score = labels_and_scores(y, score)
    _both_outcomes(y)
    # Keep collinear points: the page thins the curve itself, evenly along it.
    fpr, tpr, _ = roc_curve(y, score, drop_intermediate=False)
    return fpr, tpr


def pr_points(y, score) -> tuple[np.ndarray, np.ndarray]:
    """(recall, precision) at each distinct score from the highest down."""
    y, score = labels_and_scores(y, score)
    _both_outcomes(y)
    precision, recall, _ = precision_recall_curve(y, score)
    # scikit-learn lists thresholds upwards and appends (recall 0, precision 1), a point
    # that no threshold reaches; the page shows only reachable points, highest first.
    return recall[-2::-1], precision[-2::-1]
