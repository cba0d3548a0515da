"""Evaluation curves and drift: known answers on small arrays."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from analytics.metrics import pr_points, recall_at_budget, roc_points
from analytics.models.curves import CURVE_POINTS, evaluation_curves, feature_drift


def test_roc_and_pr_curves_are_the_shared_ones_thinned():
    rng = np.random.default_rng(0)
    n = 400
    y = (rng.random(n) < 0.3).astype(float)
    p = np.round(np.clip(0.3 * y + rng.random(n) * 0.7, 0, 1), 3)
    heldout = pd.DataFrame({"as_of": [date(2026, 1, 4)] * n, "label": y, "probability": p})
    curves = evaluation_curves(heldout, min_bin_rows=1)
    for name, points in (("roc", roc_points(y, p)), ("pr", pr_points(y, p))):
        got = curves[curves.curve == name]
        assert len(got) <= CURVE_POINTS
        # Thinning keeps the first and last points and takes the rest from the curve.
        assert (got.x.iloc[0], got.y.iloc[0]) == (points[0][0], points[1][0])
        assert (got.x.iloc[-1], got.y.iloc[-1]) == (points[0][-1], points[1][-1])
        full = set(zip(points[0].tolist(), points[1].tolist(), strict=True))
        assert set(zip(got.x, got.y, strict=True)) <= full


def test_budget_curve_flags_top_share_per_week():
    heldout = pd.DataFrame(
        {
            "as_of": [date(2026, 1, 4)] * 10 + [date(2026, 1, 11)] * 10,
            "label": [1, 0, 0, 0, 0, 0, 0, 0, 0, 1] + [0, 1, 0, 0, 0, 0, 0, 0, 0, 0],
            "probability": list(np.linspace(0.9, 0.0, 10)) * 2,
        }
    )
    curves = evaluation_curves(heldout, min_bin_rows=1)
    budget = curves[(curves.curve == "budget") & (curves.method == "model")].set_index("x")["y"]
    # At 10% one row per week is flagged: week 1's top row is a positive, week 2's is not.
    assert budget.loc[0.1] == pytest.approx(1 / 3)
    # At 20% two rows per week: week 2's second row is the other positive.
    assert budget.loc[0.2] == pytest.approx(2 / 3)
    assert set(curves.method) == {"model"}  # baselines absent from the frame are skipped


def test_budget_curve_passes_through_the_recall_in_the_metrics_table():
    # 25 rows a week: 28% of 25 is 7 (7.000000000000001 in floating point, which a plain
    # ceil rounds up to 8). The positives rank 7th and 8th, so exactly one is caught.
    n = 25
    y = np.zeros(2 * n)
    y[[6, 7, n + 6, n + 7]] = 1
    score = np.r_[np.linspace(0.99, 0.01, n), np.linspace(0.99, 0.01, n)]
    weeks = [date(2026, 1, 4)] * n + [date(2026, 1, 11)] * n
    heldout = pd.DataFrame({"as_of": weeks, "label": y, "probability": score})
    budget = evaluation_curves(heldout, min_bin_rows=1).query("curve == 'budget'")
    budget = budget.set_index("x")["y"]
    assert budget.loc[0.28] == pytest.approx(1 / 2)
    for b in (0.1, 0.2, 0.28, 0.5):
        assert budget.loc[b] == pytest.approx(recall_at_budget(y, score, np.array(weeks), b))


def test_calibration_bins_below_min_rows_are_left_out():
    heldout = pd.DataFrame(
        {
            "as_of": [date(2026, 1, 4)] * 30,
            "label": [0, 1] * 15,
            "probability": [0.05] * 20 + [0.95] * 10,
        }
    )
    calib = evaluation_curves(heldout, min_bin_rows=11).query("curve == 'calibration'")
    assert calib.x.tolist() == [pytest.approx(0.05)]


def test_feature_drift_weekly_means_skip_missing():
    frame = pd.DataFrame(
        {
            "as_of": ["2026-01-04", "2026-01-04", "2026-01-11"],
            "sleep_7d": [6.0, np.nan, 8.0],
            "steps_7d": [1.0, 3.0, 5.0],
        }
    )
    drift = feature_drift(frame, ["sleep_7d", "steps_7d", "not_there"])
    got = {(r.feature, str(r.week)): r.mean for r in drift.itertuples()}
    assert got == {
        ("sleep_7d", "2026-01-04"): 6.0,
        ("sleep_7d", "2026-01-11"): 8.0,
        ("steps_7d", "2026-01-04"): 2.0,
        ("steps_7d", "2026-01-11"): 5.0,
    }
