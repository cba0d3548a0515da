"""Evaluation curves and feature drift for the Models page, computed once at training.

- :func:`evaluation_curves`: ROC, precision-recall, calibration and recall at alert
  budget, for the model and both baselines, from the held-out predictions.
- :func:`feature_drift`: the weekly mean of a model's top features over all weeks.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from analytics.models.evaluation import calibration_bins

# Held-out prediction columns per method (see analytics/models/registry.py).
METHOD_COLUMNS = {
    "model": "probability",
    "logistic": "logistic_probability",
    "clinical_rule": "rule_probability",
}
BUDGET_POINTS = np.round(np.linspace(0.01, 0.5, 50), 3)
CURVE_POINTS = 101  # ROC and PR curves are resampled to this many points


def _roc(y: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    order = np.argsort(-p, kind="stable")
    y, p = y[order], p[order]
    # One point per distinct score, so tied scores move together.
    last = np.r_[np.nonzero(np.diff(p))[0], len(p) - 1]
    tp = np.cumsum(y)[last]
    fp = (last + 1) - tp
    tpr = np.r_[0.0, tp / max(y.sum(), 1)]
    fpr = np.r_[0.0, fp / max(len(y) - y.sum(), 1)]
    return fpr, tpr


def _pr(y: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    order = np.argsort(-p, kind="stable")
    y, p = y[order], p[order]
    last = np.r_[np.nonzero(np.diff(p))[0], len(p) - 1]
    tp = np.cumsum(y)[last]
    recall = tp / max(y.sum(), 1)
    precision = tp / (last + 1)
    return recall, precision


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
            ("roc", _thin(*_roc(y, p), CURVE_POINTS)),
            ("pr", _thin(*_pr(y, p), CURVE_POINTS)),
        ):
            rows += [(method, curve, float(a), float(b)) for a, b in zip(xs, ys, strict=True)]
        for _, n, mean_p, observed in calibration_bins(y, p):
            if n >= min_bin_rows:  # a thin bin's observed rate is noise
                rows.append((method, "calibration", float(mean_p), float(observed)))
        weeks = heldout.loc[ok, "as_of"].to_numpy()
        for budget in BUDGET_POINTS:
            caught = 0.0
            for week in np.unique(weeks):
                mask = weeks == week
                k = int(np.ceil(budget * mask.sum()))
                if k:
                    top = np.argsort(-p[mask], kind="stable")[:k]
                    caught += y[mask][top].sum()
            rows.append((method, "budget", float(budget), caught / y.sum()))
    return pd.DataFrame(rows, columns=["method", "curve", "x", "y"])


def feature_drift(frame: pd.DataFrame, features: Sequence[str]) -> pd.DataFrame:
    """Weekly mean of each feature (missing values left out): feature, week, mean."""
    present = [f for f in features if f in frame.columns]
    weekly = frame.groupby("as_of")[present].mean()
    out = weekly.reset_index().melt(id_vars="as_of", var_name="feature", value_name="mean")
    out = out.rename(columns={"as_of": "week"})
    out["week"] = pd.to_datetime(out["week"]).dt.date
    return out[["feature", "week", "mean"]]
