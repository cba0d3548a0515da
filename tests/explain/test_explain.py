"""Explanations: SHAP additivity on every row, and reasons in the patient's own numbers."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

from analytics.models.explain import describe, explain_rows, reasons, tree_shap
from analytics.models.features import FEATURE_NAMES, feature_matrix


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
    row = dict.fromkeys(FEATURE_NAMES, 1.0) | {
        "sleep_7d": 5.0,
        "sleep_baseline": 7.0,
        "phq9_change_28d": -2.0,  # improving: consistent with pointing lower
    }
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
    from analytics.data.store import DataDir, connect
    from analytics.models.training import load_training_data

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


def test_missing_data_coverage_and_absence_are_never_reasons():
    nan = math.nan
    row = dict.fromkeys(FEATURE_NAMES, 1.0) | {
        "sleep_7d": nan,
        "sleep_baseline": nan,
        "sleep_delta": nan,
        "item9_latest": 0.0,
        "item9_positive_90d": 0.0,
        "flags_28d": 0.0,
        "events_180d": 0.0,
        "episodes_so_far": 0.0,
        "days_since_onset": nan,
        "days_since_episode_end": nan,
        "wear_days_14d": 0.0,
        "sentiment_available": 0.0,
        "days_since_assessment": 90.0,
        "mood_7d": 4.0,
        "mood_baseline": 6.0,
    }
    silent = (
        "sleep_7d",
        "item9_latest",
        "flags_28d",
        "events_180d",
        "episodes_so_far",
        "wear_days_14d",
        "sentiment_available",
        "days_since_assessment",
    )
    for sign in (1.0, -1.0):
        shap_row = np.zeros(len(FEATURE_NAMES))
        for name in silent:
            shap_row[FEATURE_NAMES.index(name)] = 5.0 * sign
        shap_row[FEATURE_NAMES.index("messages_14d")] = 0.1 * sign
        out = reasons(row, shap_row)
        # Only messages, a value the patient actually has, may be a reason.
        assert [r.group for r in out] == ["messages"]
    # The same groups with real values are reasons again.
    row |= {"item9_positive_90d": 2.0, "item9_latest": 1.0, "flags_28d": 1.0}
    shap_row = np.zeros(len(FEATURE_NAMES))
    shap_row[FEATURE_NAMES.index("item9_positive_90d")] = 0.5
    shap_row[FEATURE_NAMES.index("flags_28d")] = 0.3
    assert [r.group for r in reasons(row, shap_row)] == ["item9", "flags"]


def test_a_reason_never_contradicts_its_direction():
    row = dict.fromkeys(FEATURE_NAMES, 1.0) | {
        "phq9_latest": 16.0,
        "phq9_change_28d": -3.0,  # an improvement
        "anxiety_7d": 4.0,
        "anxiety_baseline": 2.0,
        "anxiety_delta": 2.0,  # worse than usual
    }
    shap_row = np.zeros(len(FEATURE_NAMES))
    shap_row[FEATURE_NAMES.index("phq9_latest")] = 0.5  # pointing higher, yet "down 3"
    shap_row[FEATURE_NAMES.index("anxiety_7d")] = -0.5  # pointing lower, yet "above usual"
    assert reasons(row, shap_row) == []
    row["phq9_change_28d"] = 3.0  # now a rise: pointing higher is consistent
    assert [(r.direction, r.group) for r in reasons(row, shap_row)] == [("raises", "phq9")]


def test_episode_history_sentence_quotes_the_patients_history():
    row = {"episodes_so_far": 2.0, "days_since_onset": 40.0, "days_since_episode_end": 12.0}
    assert describe("episode_history", row)[2] == (
        "2 new episodes since enrolment; the last began 40 days ago; "
        "well again since an episode ended 12 days ago"
    )


# Phrases of reasons about missing data, coverage or the absence of something.
_NOT_A_REASON = re.compile(
    r"^No |Too little|Too few|item 9 \(thoughts of self-harm\) was 0|No messages flagged|No recorded|"
    r"Wearable data on|message sentiment|Last questionnaire was|No episode",
    re.IGNORECASE,
)


@pytest.mark.slow
def test_no_score_in_the_clinic_has_a_missing_data_or_absence_reason(trained_clinic):
    settings, outcomes = trained_clinic
    from analytics.data.store import DataDir, connect
    from analytics.models.training import load_training_data

    con = connect(__import__("pathlib").Path(":memory:"), settings=settings)
    con.execute("ATTACH ? AS wh (READ_ONLY)", [str(DataDir(settings.data_dir).warehouse)])
    frame = load_training_data(con, settings=settings).frame
    con.close()
    # Every patient-week of the clinic a model would score (all weeks, not only the last).
    for name, outcome in outcomes.items():
        t = outcome.trained
        rows = frame[frame[f"eligible_{name}"].astype(bool)].reset_index(drop=True)
        x = feature_matrix(rows, t.features)
        table, *_ = explain_rows(t.estimator, rows, x, features=t.features)
        assert len(table) > 1000
        bad = table[table["sentence"].str.contains(_NOT_A_REASON)]
        assert bad.empty, bad[["feature", "direction", "sentence"]].head(10).to_string()
        # and nothing whose value is missing is quoted as a reason
        assert table["value"].notna().all()
