"""Explanations: SHAP additivity on every row, and reasons in the patient's own numbers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from analytics.explain import describe, explain_rows, reasons, tree_shap
from analytics.features import FEATURE_NAMES, feature_matrix


def test_sleep_sentence_quotes_value_and_usual_level():
    row = {"sleep_7d": 5.1, "sleep_baseline": 6.7, "sleep_delta": -1.6}
    value, baseline, sentence = describe("sleep", row)
    assert (value, baseline) == (5.1, 6.7)
    assert sentence == "Sleep averaged 5.1 h over the last 7 days, 1.6 h below their usual 6.7 h"


def test_missing_values_are_said_to_be_missing():
    nan = math.nan
    assert describe("sleep", {"sleep_7d": nan, "sleep_baseline": 7.0})[2].startswith(
        "Too little sleep data in the last 7 days"
    )
    assert describe("phq9", {"phq9_latest": nan})[2] == "No PHQ-9 on record"
    assert (
        "no check-in yet"
        in describe(
            "checkins",
            {"checkin_days_7d": 0, "checkin_days_baseline": nan, "days_since_checkin": nan},
        )[2]
    )


def test_reasons_sum_a_group_and_split_by_direction():
    row = dict.fromkeys(FEATURE_NAMES, 1.0) | {"sleep_7d": 5.0, "sleep_baseline": 7.0}
    shap_row = np.zeros(len(FEATURE_NAMES))
    shap_row[FEATURE_NAMES.index("sleep_7d")] = 0.2
    shap_row[FEATURE_NAMES.index("sleep_delta")] = 0.3
    shap_row[FEATURE_NAMES.index("phq9_latest")] = -0.4
    out = reasons(row, shap_row)
    assert [(r.direction, r.group, r.rank) for r in out] == [
        ("raises", "sleep", 1),
        ("lowers", "phq9", 1),
    ]
    assert out[0].shap_value == pytest.approx(0.5)
    assert "2.0 h below their usual 7.0 h" in out[0].sentence


@pytest.mark.slow
def test_shap_additivity_on_every_held_out_row(trained_clinic):
    settings, outcomes = trained_clinic
    from analytics.store import DataDir, connect
    from analytics.training import load_training_data

    con = connect(__import__("pathlib").Path(":memory:"), settings=settings)
    con.execute("ATTACH ? AS wh (READ_ONLY)", [str(DataDir(settings.data_dir).warehouse)])
    frame = load_training_data(con, settings=settings).frame
    con.close()
    for outcome in outcomes.values():
        t = outcome.trained
        x = feature_matrix(frame, t.features)
        assert np.isnan(x).any()  # missing values are explained too
        values, base, raw = tree_shap(t.estimator, x)
        np.testing.assert_allclose(base + values.sum(axis=1), raw, rtol=0, atol=1e-6)
        np.testing.assert_allclose(raw, t.estimator.decision_function(x))
        table, *_ = explain_rows(t.estimator, frame.head(50), x[:50], features=t.features)
        assert set(table["direction"]) <= {"raises", "lowers"}
        assert table.groupby(["patient_id", "direction"])["rank"].max().max() <= 3
        assert table["sentence"].str.len().min() > 10
