"""ROC and precision-recall curves: known answers, and agreement with the metrics."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from analytics.metrics import auroc, average_precision, pr_points, roc_points


def test_roc_known_answer_with_ties():
    y = np.array([1, 0, 1, 0, 0], dtype=float)
    p = np.array([0.9, 0.8, 0.8, 0.3, 0.1])
    fpr, tpr = roc_points(y, p)
    # Distinct scores 0.9, 0.8 (tied pair), 0.3, 0.1.
    assert fpr.tolist() == [0.0, 0.0, pytest.approx(1 / 3), pytest.approx(2 / 3), 1.0]
    assert tpr.tolist() == [0.0, 0.5, 1.0, 1.0, 1.0]
    # The area under it equals the Mann-Whitney AUROC with ties counted a half: 5.5/6.
    assert np.trapezoid(tpr, fpr) == pytest.approx(5.5 / 6)


def test_pr_known_answer():
    y = np.array([1, 0, 1, 0], dtype=float)
    p = np.array([0.9, 0.7, 0.5, 0.1])
    recall, precision = pr_points(y, p)
    # One point per distinct score, highest first.
    assert recall.tolist() == [0.5, 0.5, 1.0, 1.0]
    assert precision.tolist() == [1.0, 0.5, pytest.approx(2 / 3), 0.5]


def test_a_curve_needs_both_outcomes():
    with pytest.raises(ValueError, match="both outcomes"):
        roc_points(np.ones(3), np.array([0.1, 0.2, 0.3]))
    with pytest.raises(ValueError, match="both outcomes"):
        pr_points(np.zeros(3), np.array([0.1, 0.2, 0.3]))


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 1), st.integers(0, 20).map(lambda i: i / 20)),
        min_size=2,
        max_size=50,
    )
)
def test_curves_agree_with_their_summary_metrics(pairs):
    y, s = (np.array(c, dtype=float) for c in zip(*pairs, strict=True))
    assume(0 < y.sum() < len(y))
    fpr, tpr = roc_points(y, s)
    assert (fpr[0], tpr[0], fpr[-1], tpr[-1]) == (0.0, 0.0, 1.0, 1.0)
    assert np.all(np.diff(fpr) >= 0) and np.all(np.diff(tpr) >= 0)
    assert np.trapezoid(tpr, fpr) == pytest.approx(auroc(y, s))
    recall, precision = pr_points(y, s)
    assert len(recall) == len(np.unique(s)) and recall[-1] == 1.0
    # Average precision is the precision-weighted sum of the recall steps of this curve.
    assert np.sum(np.diff(np.r_[0.0, recall]) * precision) == pytest.approx(average_precision(y, s))
