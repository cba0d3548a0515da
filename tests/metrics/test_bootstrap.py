"""The vectorised cluster bootstrap against the point metrics, and against scikit-learn
with the draw counts as sample weights, on the very same resamples."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

import analytics.metrics._bootstrap as bootstrap_module
from analytics.metrics import (
    auroc,
    average_precision,
    brier,
    budget_metrics,
    calibration_error,
    draw_counts,
    percentile_interval,
    prepare,
    replicate,
)

BUDGETS = (0.1, 0.25)
N_BOOT = 40


def _data(probability: str, dates: str, seed: int = 7, n: int = 240):
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.3).astype(float)
    score = np.round(rng.random(n) * 0.6 + 0.4 * y, 1)  # few distinct values: many ties
    p = {
        "score": score,
        # A probability that falls as the score rises: the ECE bins leave score order.
        "separate": np.round(rng.random(n), 2),
        # A rule's two-level probability, rising with its score.
        "rising": np.where(score >= 0.5, 0.3, 0.08),
    }[probability]
    day = rng.integers(0, 6, n)
    date = day if dates == "numbers" else np.array([f"2026-02-{d + 10}" for d in day])
    patient = rng.integers(0, 70, n)  # about three rows each, on different dates
    return y, score, p, date, patient


def _same(got: float, expected: float) -> bool:
    if math.isnan(expected):
        return math.isnan(got)
    return got == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("probability", ["score", "separate", "rising"])
@pytest.mark.parametrize("dates", ["numbers", "text"])
@pytest.mark.parametrize("clustered", [True, False])
def test_replicates_equal_the_point_metrics_on_the_same_resamples(probability, dates, clustered):
    y, s, p, date, patient = _data(probability, dates)
    # Each row its own unit when not clustered: the unit codes are then the row numbers.
    unit = patient if clustered else np.arange(len(y))
    sample = prepare(y, s, probability=p, unit=unit, date=date)
    reps = replicate(
        sample,
        n_boot=N_BOOT,
        rng=np.random.default_rng(5),
        average_precision=True,
        budgets=BUDGETS,
    )
    counts = draw_counts(np.random.default_rng(5), N_BOOT, sample.n_units)
    codes = np.unique(unit, return_inverse=True)[1]
    for b in range(N_BOOT):
        w = counts[b][codes]  # copies of each input row in this resample
        # The resample laid out in input-row order, a row's copies side by side.
        rows = np.repeat(np.arange(len(y)), w.astype(int))
        yr, sr, pr, dr = y[rows], s[rows], p[rows], date[rows]
        expected = {
            "auroc": auroc(yr, sr),
            "auprc": average_precision(yr, sr),
            "brier": brier(yr, pr),
            "calibration_error": calibration_error(yr, pr),
            "prevalence": yr.mean(),
            **budget_metrics(yr, sr, dr, BUDGETS),
        }
        for name, value in expected.items():
            assert _same(reps.metrics[name][b], value), (name, b)
        # scikit-learn's weighted metrics are an independent implementation.
        kept = w > 0
        if 0 < y[kept].sum() < kept.sum():
            ref = roc_auc_score(y[kept], s[kept], sample_weight=w[kept])
            assert reps.metrics["auroc"][b] == pytest.approx(ref, abs=1e-12)
            ref = average_precision_score(y[kept], s[kept], sample_weight=w[kept])
            assert reps.metrics["auprc"][b] == pytest.approx(ref, abs=1e-12)
        ref = brier_score_loss(y[kept], p[kept], sample_weight=w[kept], pos_label=1)
        assert reps.metrics["brier"][b] == pytest.approx(ref, abs=1e-12)


def test_rates_at_a_threshold_without_patients():
    """Rows as their own units (no patient codes): the decision rates on each resample."""
    y, s, _, _, _ = _data("score", "numbers")
    sample = prepare(y, s)
    reps = replicate(sample, n_boot=N_BOOT, rng=np.random.default_rng(2), threshold=0.5)
    counts = draw_counts(np.random.default_rng(2), N_BOOT, sample.n_units)
    # Without units the sample's own (sorted) rows are what is resampled.
    ys = np.r_[np.ones(len(sample.s_pos)), np.zeros(len(sample.s_neg))]
    ss = np.r_[sample.s_pos, sample.s_neg]
    for b in range(N_BOOT):
        rows = np.repeat(np.arange(len(ys)), counts[b].astype(int))
        flagged = ss[rows] >= 0.5
        positive = ys[rows] == 1
        assert _same(reps.metrics["tpr"][b], flagged[positive].mean())
        assert _same(reps.metrics["fpr"][b], flagged[~positive].mean())
        assert _same(reps.metrics["ppv"][b], positive[flagged].mean())
        assert _same(reps.metrics["selection_rate"][b], flagged.mean())


def test_budgets_need_dates():
    y, s, _, _, _ = _data("score", "numbers")
    with pytest.raises(ValueError, match="dates"):
        replicate(prepare(y, s), n_boot=2, rng=np.random.default_rng(0), budgets=(0.1,))


def test_chunks_continue_one_random_stream(monkeypatch):
    """Resamples drawn a few at a time are the same resamples as drawn all at once."""
    y, s, p, date, patient = _data("separate", "numbers")
    sample = prepare(y, s, probability=p, unit=patient, date=date)

    def run():
        reps = replicate(
            sample, n_boot=30, rng=np.random.default_rng(9), threshold=0.5, budgets=BUDGETS
        )
        return reps.metrics

    whole = run()
    monkeypatch.setattr(bootstrap_module, "CHUNK_CELLS", 7 * len(y))  # 7 resamples a chunk
    parts = run()
    for name in whole:
        # Equal draws; only a matrix product's rounding may see the chunk size.
        np.testing.assert_allclose(whole[name], parts[name], rtol=0, atol=1e-12)


@pytest.mark.parametrize("n_units", [1, 37, 999, 1000, 1500])
def test_draw_counts_are_patients_drawn_with_replacement(n_units):
    counts = draw_counts(np.random.default_rng(4), 25, n_units)
    assert counts.shape == (25, n_units)
    assert (counts.sum(axis=1) == n_units).all()
    # Both ways of drawing (a matrix for small samples, one resample at a time for big
    # ones) are the same draws: n_units patients per resample, uniformly, in turn.
    rng = np.random.default_rng(4)
    one_at_a_time = [
        np.bincount(rng.integers(0, n_units, size=n_units), minlength=n_units) for _ in range(25)
    ]
    np.testing.assert_array_equal(counts, one_at_a_time)


def test_percentile_interval_known_answer():
    values = np.r_[np.arange(101.0), np.nan, np.nan]
    # numpy's linear quantiles of 0..100: the 2.5th and 97.5th values.
    assert percentile_interval(values) == (pytest.approx(2.5), pytest.approx(97.5), 101)
    assert percentile_interval(values, 0.5) == (pytest.approx(25.0), pytest.approx(75.0), 101)
    # One defined resample is no interval.
    assert percentile_interval(np.array([0.3, np.nan])) == (None, None, 1)
