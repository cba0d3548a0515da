"""The mitigation what-if: fitted on a validation slice, evaluated on the test period,
shown before and after; the scores themselves never change."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from analytics.fairness import audit_predictions


def shifted(n: int = 16_000, seed: int = 0) -> pl.DataFrame:
    """Group B's scores run high: more of B is flagged, outcome or not."""
    rng = np.random.default_rng(seed)
    group = rng.choice(["A", "B"], n, p=[0.6, 0.4])
    signal = rng.normal(0, 1, n)
    label = rng.random(n) < 1 / (1 + np.exp(-(1.5 * signal - 0.5)))
    bias = np.where(group == "B", 1.2, 0.0)
    score = 1 / (1 + np.exp(-(1.5 * signal - 0.5 + bias + rng.normal(0, 0.7, n))))
    return pl.DataFrame(
        {
            "patient_id": [f"p{i}" for i in rng.integers(0, n // 2, n)],
            "as_of": np.datetime64("2026-01-01") + rng.integers(0, 120, n).astype("timedelta64[D]"),
            "label": label.astype(np.int8),
            "probability": score,
            "group": group,
        }
    )


def rows(result, attribute="group"):
    return {
        (r.group, r.metric): (r.before, r.after)
        for r in result.whatif.rows
        if r.attribute == attribute
    }


@pytest.mark.parametrize(
    ("constraint", "gaps"), [("equalized_odds", ("tpr", "fpr")), ("tpr", ("tpr",))]
)
def test_thresholds_narrow_the_gap_on_the_test_period(constraint, gaps):
    frame = shifted()
    result = audit_predictions(
        frame,
        label="label",
        score="probability",
        attributes="group",
        n_boot=20,
        mitigation=constraint,
    )
    w = result.whatif
    assert "earliest" in w.split and w.validation_rows + w.test_rows == frame.height
    r = rows(result)
    for metric in gaps:
        before, after = r[("largest gap", metric)]
        assert after < before / 2, (metric, before, after)
    assert {("overall", m) for m in ("accuracy", "selection_rate")} <= set(r)
    assert ("group=B", "fpr") in r
    assert any(f.kind == "whatif" for f in result.findings)


def test_the_what_if_changes_nothing_it_was_given():
    frame = shifted(4000)
    copy = frame.clone()
    audit_predictions(frame, label="label", score="probability", attributes="group", n_boot=10)
    assert frame.equals(copy)


def test_a_separate_validation_frame_and_no_what_if():
    frame = shifted(6000, seed=1)
    validation = shifted(4000, seed=2)
    result = audit_predictions(
        frame,
        label="label",
        score="probability",
        attributes="group",
        n_boot=10,
        validation=validation,
    )
    assert result.whatif.validation_rows == 4000 and result.whatif.test_rows == 6000
    assert "separate validation" in result.whatif.split
    none = audit_predictions(
        frame, label="label", score="probability", attributes="group", n_boot=10, mitigation=None
    )
    assert none.whatif is None


def test_suppressed_groups_have_no_what_if_rows():
    frame = shifted(6000)
    tiny = shifted(8, seed=3).with_columns(pl.lit("T").alias("group"))
    result = audit_predictions(
        pl.concat([frame, tiny]),
        label="label",
        score="probability",
        attributes="group",
        n_boot=10,
    )
    assert result.group("group=T").suppressed
    assert not [r for r in result.whatif.rows if r.group == "group=T"]
    assert any("pooled" in note for note in result.whatif.notes)
