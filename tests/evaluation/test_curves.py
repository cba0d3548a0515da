"""Evaluation curves and drift: known answers on small arrays."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from analytics.models.curves import _pr, _roc, evaluation_curves, feature_drift


def test_roc_known_answer_with_ties():
    y = np.array([1, 0, 1, 0, 0], dtype=float)
    p = np.array([0.9, 0.8, 0.8, 0.3, 0.1])
    fpr, tpr = _roc(y, p)
    # Distinct scores 0.9, 0.8 (tied pair), 0.3, 0.1.
    assert fpr.tolist() == [0.0, 0.0, pytest.approx(1 / 3), pytest.approx(2 / 3), 1.0]
    assert tpr.tolist() == [0.0, 0.5, 1.0, 1.0, 1.0]
    # The area under it equals the Mann-Whitney AUROC with ties counted a half: 5.5/6.
    assert np.trapezoid(tpr, fpr) == pytest.approx(5.5 / 6)


def test_pr_known_answer():
    y = np.array([1, 0, 1, 0], dtype=float)
    p = np.array([0.9, 0.7, 0.5, 0.1])
    recall, precision = _pr(y, p)
    assert recall.tolist() == [0.5, 0.5, 1.0, 1.0]
    assert precision.tolist() == [1.0, 0.5, pytest.approx(2 / 3), 0.5]


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
