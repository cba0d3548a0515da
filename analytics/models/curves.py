"""Evaluation curves and feature drift for the Models page, computed once at training.

- :func:`evaluation_curves`: ROC, precision-recall, calibration and recall at alert
  budget, for the model and both baselines, from the held-out predictions.
- :func:`feature_drift`: the weekly mean of a model's top features over all weeks.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from analytics.metrics import calibration_bins, pr_points, recall_curve, roc_points

__all__ = ["BUDGET_POINTS", "CURVE_POINTS", "METHOD_COLUMNS", "evaluation_curves", "feature_drift"]

# Held-out prediction columns per method (see analytics/models/registry.py).
METHOD_COLUMNS = {
    "model": "probability",
    "logistic": "logistic_probability",
    "clinical_rule": "rule_probability",
}
BUDGET_POINTS = np.round(np.linspace(0.01, 0.5, 50), 3)
CURVE_POINTS = 101  # ROC and PR curves are resampled to this many points


def _thin(x: np.ndarray, y: np.ndarray, points: int) -> tuple[np.ndarray, np.ndarray]:
    if len(x) <= points:
        return x, y
    keep = np.unique(np.linspace(0, len(x) - 1, points).round().astype(int))
    return x[keep], y[keep]


def evaluation_curves(heldout: pd.DataFrame, *, min_bin_rows: int = 11) -> pd.DataFrame:
    """Long frame: method, curve ('roc'|'pr'|'calibration'|'budget'), x, y.

    Budget: the top share of each week's rows by score is flagged (as clinicians review a
    share of each week's caseload); y is the share of all positives caught.
    """
    rows = []
    y_all = heldout["label"].to_numpy(dtype=np.float64)
    for method, column in METHOD_COLUMNS.items():
        if column not in heldout.columns:
            continue
        p_all = heldout[column].to_numpy(dtype=np.float64)
        ok = ~np.isnan(p_all) & ~np.isnan(y_all)
        y, p = y_all[ok], p_all[ok]
        if len(y) == 0 or y.sum() == 0 or y.sum() == len(y):
            continue
        for curve, (xs, ys) in (
            ("roc", _thin(*roc_points(y, p), CURVE_POINTS)),
            ("pr", _thin(*pr_points(y, p), CURVE_POINTS)),
        ):
            rows += [(method, curve, float(a), float(b)) for a, b in zip(xs, ys, strict=True)]
        for _, n, mean_p, observed in calibration_bins(y, p):
            if n >= min_bin_rows:  # a thin bin's observed rate is noise
                rows.append((method, "calibration", float(mean_p), float(observed)))
        # The same per-week quota as the recall_at_Npct metrics, so the curve passes
        # through the figures in the metrics table.
        weeks = heldout.loc[ok, "as_of"].to_numpy()
        recall = recall_curve(y, p, weeks, BUDGET_POINTS)
        rows += [
            (method, "budget", float(b), float(r))
            for b, r in zip(BUDGET_POINTS, recall, strict=True)
        ]
    return pd.DataFrame(rows, columns=["method", "curve", "x", "y"])


def feature_drift(frame: pd.DataFrame, features: Sequence[str]) -> pd.DataFrame:
    """Weekly mean of each feature (missing values left out): feature, week, mean."""
    present = [f for f in features if f in frame.columns]
    weekly = frame.groupby("as_of")[present].mean()
    out = weekly.reset_index().melt(id_vars="as_of", var_name="feature", value_name="mean")
    out = out.rename(columns={"as_of": "week"})
    out["week"] = pd.to_datetime(out["week"]).dt.date
    return out[["feature", "week", "mean"]]
