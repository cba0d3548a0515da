"""Evaluation metrics against hand-computed answers, and the bootstrap's behaviour."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from analytics.models.evaluation import (
    auprc,
    auroc,
    brier,
    calibration_error,
    evaluate,
    flag_at_budget,
    ppv_at_budget,
    recall_at_budget,
)


def test_auroc_hand_computed_with_a_tie():
    y = np.array([0, 0, 1, 1, 0, 1])
    s = np.array([0.1, 0.4, 0.35, 0.8, 0.35, 0.9])
    # Positive-negative pairs (9): 0.35 vs 0.1 win, vs 0.4 lose, vs 0.35 tie;
    # 0.8 and 0.9 win all three. (1 + 0 + 0.5 + 3 + 3) / 9.
    assert auroc(y, s) == pytest.approx(7.5 / 9)


def test_auroc_needs_both_classes():
    assert math.isnan(auroc(np.array([1, 1]), np.array([0.2, 0.3])))


def test_auprc_hand_computed():
    y = np.array([1, 0, 1, 0])
    s = np.array([0.9, 0.8, 0.7, 0.1])
    # Thresholds from the top: P=1 at R=0.5, then P=2/3 at R=1 -> 0.5*1 + 0.5*2/3.
    assert auprc(y, s) == pytest.approx(0.5 + 1 / 3)


def test_brier_and_calibration_error_hand_computed():
    y = np.array([0, 1, 1, 0])
    p = np.array([0.1, 0.9, 0.6, 0.2])
    assert brier(y, p) == pytest.approx((0.01 + 0.01 + 0.16 + 0.04) / 4)
    # Bins: [0.1] -> |0.1-0|, [0.2] -> |0.2-0|, [0.6] -> |0.6-1|, [0.9] -> |0.9-1|.
    assert calibration_error(y, p) == pytest.approx((0.1 + 0.2 + 0.4 + 0.1) / 4)


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


def test_budget_rounds_up_and_breaks_ties_by_row_order():
    flags = flag_at_budget(np.array([0.5, 0.5, 0.5]), np.zeros(3), 0.1)
    assert flags.tolist() == [True, False, False]


def test_agrees_with_scikit_learn_on_random_data():
    rng = np.random.default_rng(1)
    for _ in range(20):
        y = rng.integers(0, 2, 200)
        s = np.round(rng.random(200), 2)  # plenty of ties
        assert auroc(y, s) == pytest.approx(roc_auc_score(y, s))
        assert auprc(y, s) == pytest.approx(average_precision_score(y, s))


def _data(seed=0, n_patients=60, weeks=5):
    rng = np.random.default_rng(seed)
    patient = np.repeat(np.arange(n_patients), weeks)
    group = np.tile(np.arange(weeks), n_patients)
    risk = rng.random(n_patients)[patient]
    y = (rng.random(len(patient)) < risk).astype(int)
    p = np.clip(risk + rng.normal(0, 0.1, len(patient)), 0, 1)
    return y, p, patient, group


def test_bootstrap_is_reproducible_and_brackets_the_estimate():
    y, p, patient, group = _data()
    kw = dict(score=p, probability=p, patient=patient, group=group, budgets=(0.1, 0.2))
    a = evaluate("model", y, resamples=200, seed=3, **kw)
    b = evaluate("model", y, resamples=200, seed=3, **kw)
    assert a == b
    assert a.patients == 60 and a.rows == 300
    names = [m.metric for m in a.metrics]
    assert names == [
        "auroc",
        "auprc",
        "brier",
        "calibration_error",
        "recall_at_10pct",
        "ppv_at_10pct",
        "recall_at_20pct",
        "ppv_at_20pct",
    ]
    for m in a.metrics:
        assert m.ci_low <= m.estimate <= m.ci_high, m
    c = evaluate("model", y, resamples=200, seed=4, **kw)
    assert c.get("auroc").ci_low != a.get("auroc").ci_low


def test_cluster_bootstrap_is_wider_than_a_row_bootstrap_for_repeated_patients():
    # Each patient's rows are identical, so the effective sample is the patients.
    y, p, patient, group = _data(n_patients=40, weeks=10)
    y = y.reshape(40, 10)[:, :1].repeat(10, axis=1).ravel()
    kw = dict(score=p, probability=p, group=group, budgets=(0.1,), resamples=300)
    by_patient = evaluate("m", y, patient=patient, **kw).get("auroc")
    by_row = evaluate("m", y, patient=np.arange(len(y)), **kw).get("auroc")
    assert by_patient.ci_high - by_patient.ci_low > by_row.ci_high - by_row.ci_low


def test_bootstrap_counting_path_equals_sorting_each_resample():
    """The bootstrap's per-resample metrics (counts over one sort) are exactly those of
    all_metrics on the resampled arrays, ties, repeated rows and text dates included."""
    from analytics.models.evaluation import _Resampled, all_metrics

    rng = np.random.default_rng(7)
    n = 2000
    y = (rng.random(n) < 0.2).astype(float)
    for score in (np.round(rng.random(n), 2), rng.random(n), np.repeat([0.1, 0.5], n // 2)):
        group = rng.integers(0, 9, n)
        for dates in (group, np.array([f"2026-01-{g + 10}" for g in group])):
            fast = _Resampled(y, score, score, dates, (0.1, 0.2))
            for _ in range(20):
                rows = rng.integers(0, n, n)
                assert fast.metrics(rows) == all_metrics(
                    y[rows], score[rows], score[rows], dates[rows], (0.1, 0.2)
                )
