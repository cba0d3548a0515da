"""evaluate(): the shared metrics of a method with patient-level bootstrap intervals."""

from __future__ import annotations

import math

import numpy as np
import pytest

from analytics.metrics import auroc, average_precision, brier, budget_metrics, calibration_error
from analytics.models.evaluation import all_metrics, evaluate

# The metric definitions are tested in tests/metrics; these are evaluate's own promises.


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


def test_point_estimates_are_the_shared_metrics_in_report_order():
    y, p, patient, group = _data()
    rule = np.round(p, 1)  # a ranking score with ties, judged apart from its probability
    point = all_metrics(y, rule, p, group, (0.1, 0.2))
    assert point == {
        "auroc": auroc(y, rule),
        "auprc": average_precision(y, rule),
        "brier": brier(y, p),
        "calibration_error": calibration_error(y, p),
        **budget_metrics(y, rule, group, (0.1, 0.2)),
    }
    ev = evaluate(
        "rule", y, score=rule, probability=p, patient=patient, group=group, budgets=(0.1, 0.2)
    )
    assert {m.metric: m.estimate for m in ev.metrics} == point


def test_labels_and_scores_are_checked():
    y, p, patient, group = _data()
    p[3] = np.nan
    with pytest.raises(ValueError, match="finite"):
        evaluate("m", y, score=p, probability=p, patient=patient, group=group, budgets=(0.1,))


def test_intervals_use_only_the_resamples_where_the_metric_is_defined():
    # Two patients, one with each outcome: half the resamples hold one patient twice and
    # have no AUROC; the others rank perfectly. Undefined draws must not drag the interval.
    y = np.array([1, 1, 0, 0])
    p = np.array([0.9, 0.8, 0.2, 0.1])
    patient = np.array([1, 1, 2, 2])
    kw = dict(score=p, probability=p, patient=patient, group=np.zeros(4), budgets=(0.5,))
    ev = evaluate("m", y, resamples=50, **kw)
    auc = ev.get("auroc")
    assert auc.estimate == 1.0 and auc.ci_low == auc.ci_high == 1.0
    only_negatives = evaluate("m", np.zeros(4), resamples=50, **kw).get("auroc")
    assert math.isnan(only_negatives.estimate)
    assert math.isnan(only_negatives.ci_low) and math.isnan(only_negatives.ci_high)
