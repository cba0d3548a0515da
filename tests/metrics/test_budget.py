"""Recall and PPV at an alert budget: per-date quotas, known answers."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analytics.metrics import (
    budget_metrics,
    budget_names,
    flag_at_budget,
    ppv_at_budget,
    recall_at_budget,
    recall_curve,
)


def test_recall_and_ppv_at_budget_per_as_of_date():
    # Two weeks of 10 patients; a 20% budget flags the top 2 of each week.
    score = np.r_[np.linspace(1, 0.1, 10), np.linspace(1, 0.1, 10)]
    group = np.r_[np.zeros(10), np.ones(10)]
    y = np.zeros(20)
    y[[0, 5, 11, 12]] = 1  # week 1: ranks 1, 6; week 2: ranks 2, 3
    flags = flag_at_budget(score, group, 0.2)
    assert flags.sum() == 4 and flags[[0, 1, 10, 11]].all()
    assert recall_at_budget(y, score, group, 0.2) == pytest.approx(2 / 4)
    assert ppv_at_budget(y, score, group, 0.2) == pytest.approx(2 / 4)
    # 10% of 10 is exactly 1 per week.
    assert flag_at_budget(score, group, 0.1).sum() == 2
    assert budget_metrics(y, score, group, (0.1, 0.2)) == {
        "recall_at_10pct": pytest.approx(1 / 4),
        "ppv_at_10pct": pytest.approx(1 / 2),
        "recall_at_20pct": pytest.approx(2 / 4),
        "ppv_at_20pct": pytest.approx(2 / 4),
    }


def test_budget_rounds_up_and_breaks_ties_by_row_order():
    flags = flag_at_budget(np.array([0.5, 0.5, 0.5]), np.zeros(3), 0.1)
    assert flags.tolist() == [True, False, False]


def test_a_quota_on_a_whole_number_is_not_rounded_up_by_float_error():
    # 0.28 * 25 is 7.000000000000001 in floating point: 7 rows are flagged, not 8.
    assert 0.28 * 25 > 7
    assert flag_at_budget(np.linspace(1, 0, 25), np.zeros(25), 0.28).sum() == 7


def test_dates_may_be_text_and_need_not_be_sorted():
    score = np.array([0.9, 0.1, 0.8, 0.2])
    dates = np.array(["2026-01-11", "2026-01-04", "2026-01-04", "2026-01-11"])
    assert flag_at_budget(score, dates, 0.5).tolist() == [True, False, True, False]


def test_undefined_budget_metrics_are_nan():
    y, s, g = np.zeros(4), np.array([0.1, 0.2, 0.3, 0.4]), np.zeros(4)
    assert math.isnan(recall_at_budget(y, s, g, 0.5))
    assert math.isnan(ppv_at_budget(y, s, g, 0.0))  # nothing flagged
    assert budget_names(0.1) == ("recall_at_10pct", "ppv_at_10pct")


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 1), st.integers(0, 10), st.integers(0, 3)),
        min_size=1,
        max_size=60,
    ),
    st.lists(st.integers(1, 100), min_size=1, max_size=5),
)
def test_the_curve_is_recall_at_each_budget(rows, percents):
    y, s, g = (np.array(c, dtype=float) for c in zip(*rows, strict=True))
    budgets = [p / 100 for p in percents]
    expected = [recall_at_budget(y, s / 10, g, b) for b in budgets]
    assert recall_curve(y, s / 10, g, budgets) == pytest.approx(expected, nan_ok=True)
    # More budget never catches fewer: each date's flags only grow.
    ordered = recall_curve(y, s / 10, g, sorted(budgets))
    assert np.all(np.diff(ordered) >= 0) or np.isnan(ordered).all()
