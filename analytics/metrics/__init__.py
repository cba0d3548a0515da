"""The one definition of every model metric, its curves and its bootstrap.

Model evaluation (``analytics.models.evaluation``) and the bias audit
(``analytics.fairness``) both compute their numbers here:

- point metrics of 0/1 labels and scores, through scikit-learn where it has the metric
  (AUROC, average precision, Brier score, the confusion matrix and its rates), plus the
  calibration error and bins it lacks; NaN, never 0, where a metric is undefined;
- recall and PPV at an alert budget (a share of each as-of date's rows flagged);
- ROC and precision-recall curves (scikit-learn's);
- the vectorised patient-cluster bootstrap of all of them, and percentile intervals.

    from analytics.metrics import auroc, prepare, replicate, percentile_interval
"""

from analytics.metrics._bootstrap import (
    Replicates,
    Sample,
    draw_counts,
    percentile_interval,
    prepare,
    replicate,
)
from analytics.metrics._budget import (
    budget_metrics,
    budget_names,
    flag_at_budget,
    ppv_at_budget,
    recall_at_budget,
    recall_curve,
)
from analytics.metrics._curves import pr_points, roc_points
from analytics.metrics._scores import (
    ECE_BINS,
    auroc,
    average_precision,
    brier,
    calibration_bins,
    calibration_error,
    confusion,
    ece_bin,
    labels_and_scores,
    predicted_positive,
    rates,
)

__all__ = [
    "ECE_BINS",
    "Replicates",
    "Sample",
    "auroc",
    "average_precision",
    "brier",
    "budget_metrics",
    "budget_names",
    "calibration_bins",
    "calibration_error",
    "confusion",
    "draw_counts",
    "ece_bin",
    "flag_at_budget",
    "labels_and_scores",
    "percentile_interval",
    "ppv_at_budget",
    "pr_points",
    "predicted_positive",
    "prepare",
    "rates",
    "recall_at_budget",
    "recall_curve",
    "replicate",
    "roc_points",
]
