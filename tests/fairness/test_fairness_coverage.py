"""Coverage-driven disparity: a group with less wearable data gets noisier scores; the
audit flags the group, and the coverage audit shows the cause."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from analytics.fairness import audit_predictions


def coverage_clinic(n: int = 12_000, seed: int = 0) -> pl.DataFrame:
    """Missing wearable data (commoner under Medicaid) makes the score noisier, the way
    a model loses its best inputs; sentiment coverage does not depend on insurance."""
    rng = np.random.default_rng(seed)
    insurance = rng.choice(["Private", "Medicaid", "Uninsured"], n, p=[0.55, 0.3, 0.15])
    low = insurance != "Private"
    patient = rng.integers(0, n // 3, n)
    wearable_by_patient = rng.random(n // 3)
    has_wearable = wearable_by_patient[patient] < np.where(low, 0.3, 0.85)
    sentiment = rng.random(n // 3)[patient] < 0.8
    signal = rng.normal(0, 1, n)
    label = rng.random(n) < 1 / (1 + np.exp(-(2.0 * signal - 1.0)))
    noise = rng.normal(0, 1, n) * np.where(has_wearable, 0.3, 2.5)
    score = 1 / (1 + np.exp(-(2.0 * signal - 1.0 + noise)))
    return pl.DataFrame(
        {
            "patient_id": [f"p{i}" for i in patient],
            "label": label.astype(np.int8),
            "probability": score,
            "insurance": insurance,
            "has_wearable": has_wearable,
            "sentiment_available": sentiment,
        }
    )


@pytest.fixture(scope="module")
def result():
    return audit_predictions(
        coverage_clinic(),
        label="label",
        score="probability",
        attributes="insurance",
        n_boot=200,
        mitigation=None,
    )


def test_the_group_with_less_coverage_is_flagged(result):
    flagged = {
        (d.group, d.metric)
        for d in result.disparities
        if d.table == "insurance" and d.flag == "disparity"
    }
    # noisier scores: more false alarms and a worse Brier score, beyond the band
    assert ("insurance=Medicaid", "fpr") in flagged
    assert ("insurance=Medicaid", "brier") in flagged
    # and a clearly lower AUROC (whose ratio stays inside the band: chance is 0.5, not 0)
    medicaid = result.group("insurance=Medicaid").metrics["auroc"]
    private = result.group("insurance=Private").metrics["auroc"]
    assert medicaid.high < private.low


def test_the_coverage_audit_shows_the_cause(result):
    share = {(c.group, c.measure): c for c in result.coverage if c.table == "insurance"}
    wearable = share[("insurance=Medicaid", "wearable data")]
    assert wearable.share.value == pytest.approx(0.3, abs=0.05)
    assert wearable.reference == "insurance=Private" and wearable.flag == "disparity"
    assert share[("insurance=Medicaid", "sentiment available")].flag == "ok"
    # predictions made without wearable data are the weak ones, whatever the group
    split = {d.metric: d for d in result.disparities if d.table == "coverage: wearable data"}
    assert split["brier"].group == "wearable data=no" and split["brier"].flag == "disparity"
    assert split["fpr"].flag == "disparity" and split["auroc"].ratio.high < 1
    texts = [f.text for f in result.findings if f.kind == "coverage"]
    assert any(
        "insurance=Medicaid" in t and "wearable data" in t and "likely cause" in t for t in texts
    )
    assert not any("sentiment" in t for t in texts)


def test_coverage_columns_can_be_named_and_are_checked():
    frame = coverage_clinic(3000).rename({"has_wearable": "wear_days_share"})
    frame = frame.with_columns(pl.col("wear_days_share").cast(pl.Float64) * 0.9)
    result = audit_predictions(
        frame,
        label="label",
        score="probability",
        attributes="insurance",
        n_boot=20,
        coverage={"wearable data": "wear_days_share"},
        mitigation=None,
    )
    rows = [c for c in result.coverage if c.measure == "wearable data"]
    assert rows and {c.kind for c in rows} == {"mean"}
    assert not any(c.measure == "sentiment available" for c in result.coverage)
