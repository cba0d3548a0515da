"""Labels as PRODUCT.md defines them: eligibility, censoring, and each way to be positive."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta

import pytest

from analytics.models.features import build_features
from analytics.models.labels import MODELS, build_labels, relapse_status
from analytics.settings import ClinicalSettings, Settings

D0 = date(2026, 3, 1)
AS_OF = D0 + timedelta(days=40)
END = D0 + timedelta(days=80)


def _ts(day: int, hour: int = 10) -> datetime:
    return datetime(2026, 3, 1, hour) + timedelta(days=day)


def _phq(pid, day, total):
    items = [min(3, max(0, total - 3 * i)) for i in range(9)]
    assert sum(items) == total
    return {"patient_id": pid, "completed_at": _ts(day), "instrument": "PHQ-9"} | {
        f"item_{i + 1}": v for i, v in enumerate(items)
    }


def _gad(pid, day, total):
    items = [min(3, max(0, total - 3 * i)) for i in range(7)]
    return {"patient_id": pid, "completed_at": _ts(day, 11), "instrument": "GAD-7"} | {
        f"item_{i + 1}": v for i, v in enumerate(items)
    }


def _labels(make_warehouse, patients, **tables):
    tables = {
        "clinicians": [{"clinician_id": "c1", "display_name": "C", "site_id": "s"}],
        "patients": [
            {"patient_id": p, "clinician_id": "c1", "enrolled_on": D0, **extra}
            for p, extra in patients.items()
        ],
        # Something on the last day fixes the end of the data for everyone.
        "checkins": [{"patient_id": "anchor", "checked_in_at": _ts(80), "mood": 5}]
        + tables.pop("checkins", []),
        **tables,
    }
    tables["patients"].append({"patient_id": "anchor", "clinician_id": "c1", "enrolled_on": D0})
    con = make_warehouse(tables)
    build_features(con, as_of=AS_OF)
    build_labels(con, settings=Settings(), data_end=END)
    rows = con.execute("SELECT patient_id, relapse_risk, engagement_drop FROM labels").fetchall()
    return {r[0]: (r[1], r[2]) for r in rows}


def test_engagement_drop_needs_engagement_and_a_silent_window(make_warehouse):
    checkins = [
        {"patient_id": "stays", "checked_in_at": _ts(38), "mood": 5},
        {"patient_id": "stays", "checked_in_at": _ts(54), "mood": 5},  # day 54 = t + 14
        {"patient_id": "drops", "checked_in_at": _ts(30), "mood": 5},  # t - 10: engaged
        {"patient_id": "drops", "checked_in_at": _ts(55), "mood": 5},  # t + 15: too late
        {"patient_id": "idle", "checked_in_at": _ts(20), "mood": 5},  # t - 20: not engaged
    ]
    messages = [
        {
            "message_id": "m1",
            "patient_id": "texts",
            "sent_at": _ts(40),
            "sender": "patient",
            "text": "hi",
        },
        {
            "message_id": "m2",
            "patient_id": "texts",
            "sent_at": _ts(45),
            "sender": "patient",
            "text": "hi",
        },
        # a clinician's message is not the patient's engagement
        {
            "message_id": "m3",
            "patient_id": "idle",
            "sent_at": _ts(39),
            "sender": "clinician",
            "text": "hi",
        },
    ]
    labels = _labels(
        make_warehouse,
        {"stays": {}, "drops": {}, "idle": {}, "texts": {}},
        checkins=checkins,
        messages=messages,
    )
    assert labels["stays"][1] == 0
    assert labels["drops"][1] == 1
    assert labels["idle"][1] is None  # not eligible
    assert labels["texts"][1] == 0


def _sitting(pid, day, phq, gad):
    return [_phq(pid, day, phq), _gad(pid, day, gad)]


@pytest.mark.parametrize(
    ("after", "confirm", "expected"),
    [
        (11, 12, 1),  # up 6 to caseness, the next questionnaire still at caseness
        (11, 6, 0),  # the next one is below caseness: a blip, not an episode
        (11, None, None),  # no questionnaire after it: cannot be confirmed, unknown
        (9, 9, 0),  # up 5 and below caseness
        (10, 10, 0),  # at caseness but up only 5: not reliable deterioration
    ],
)
def test_relapse_is_confirmed_reliable_deterioration_to_caseness(
    make_warehouse, after, confirm, expected
):
    assessments = _sitting("p", 30, 5, 3) + _sitting("p", 50, after, 3)
    if confirm is not None:
        assessments += _sitting("p", 62, confirm, 3)
    labels = _labels(make_warehouse, {"p": {}}, assessments=assessments)
    assert labels["p"][0] == expected


@pytest.mark.parametrize(
    ("after", "then", "expected"),
    [
        (8, 9, 1),  # 4 -> 8: up 4 and at caseness, confirmed
        (7, 5, 0),  # 4 -> 7: neither
        (7, 9, None),  # a deterioration on day 64 with nothing after it to confirm it
    ],
)
def test_relapse_by_gad7_reliable_deterioration_to_caseness(make_warehouse, after, then, expected):
    assessments = _sitting("p", 30, 3, 4) + _sitting("p", 50, 4, after) + _sitting("p", 64, 4, then)
    labels = _labels(make_warehouse, {"p": {}}, assessments=assessments)
    assert labels["p"][0] == expected


def test_patients_in_an_episode_or_without_a_recent_questionnaire_get_no_label(make_warehouse):
    assessments = (
        _sitting("episode", 30, 14, 5)  # PHQ-9 at caseness: in an episode
        + _sitting("anxious", 30, 4, 9)  # GAD-7 at caseness
        + _sitting("event_since", 30, 3, 3)  # well, then a crisis contact after it
        + [_phq(p, 60, 20) for p in ("episode", "anxious", "event_since", "never")]
    )
    events = [{"patient_id": "event_since", "occurred_at": _ts(35), "kind": "crisis_contact"}]
    labels = _labels(
        make_warehouse,
        {"episode": {}, "anxious": {}, "event_since": {}, "never": {}},
        assessments=assessments,
        events=events,
    )
    assert {p: labels[p][0] for p in ("episode", "anxious", "event_since", "never")} == {
        "episode": None,
        "anxious": None,
        "event_since": None,
        "never": None,
    }


def test_relapse_status_rule():
    assert relapse_status(0.0, 10.0) == "well"
    assert relapse_status(0.0, 56.0) == "well"
    assert relapse_status(0.0, 57.0) == "unknown"  # too old to say the patient is well now
    assert relapse_status(1.0, 3.0) == "in an episode"
    assert relapse_status(1.0, None) == "in an episode"
    assert relapse_status(None, None) == "unknown"
    assert relapse_status(float("nan"), 3.0) == "unknown"


@pytest.mark.parametrize(
    ("kind", "day", "expected"),
    [
        ("hospitalization", 60, 1),
        ("self_harm", 68, 1),  # t + 28: the last day of the window
        ("crisis_contact", 69, 0),  # t + 29: outside (a questionnaire in the window: known)
        ("other", 50, 0),
    ],
)
def test_relapse_by_recorded_event(make_warehouse, kind, day, expected):
    events = [{"patient_id": "p", "occurred_at": _ts(day), "kind": kind}]
    assessments = _sitting("p", 30, 4, 3) + _sitting("p", 55, 4, 3)
    labels = _labels(make_warehouse, {"p": {}}, events=events, assessments=assessments)
    assert labels["p"][0] == expected


def test_a_window_with_no_questionnaire_and_no_event_is_unknown_not_negative(make_warehouse):
    checkins = [{"patient_id": "p", "checked_in_at": _ts(d), "mood": 7} for d in range(35, 70)]
    labels = _labels(
        make_warehouse, {"p": {}}, assessments=_sitting("p", 30, 4, 3), checkins=checkins
    )
    assert labels["p"][0] is None


def test_an_event_before_discharge_counts_and_silence_before_discharge_is_censored(
    make_warehouse,
):
    discharged = {"discharged_on": D0 + timedelta(days=50)}
    labels = _labels(
        make_warehouse,
        {"event": discharged, "quiet": discharged},
        assessments=_sitting("event", 30, 4, 3) + _sitting("quiet", 30, 4, 3),
        events=[{"patient_id": "event", "occurred_at": _ts(45), "kind": "self_harm"}],
    )
    assert labels["event"][0] == 1
    assert labels["quiet"][0] is None


def test_censoring_at_discharge_and_at_the_end_of_the_data(make_warehouse):
    checkins = [{"patient_id": p, "checked_in_at": _ts(39), "mood": 5} for p in ("a", "b", "c")]
    assessments = [a for p in ("a", "b", "c") for a in _sitting(p, 30, 4, 3)]
    assessments += _sitting("c", 55, 4, 3)
    labels = _labels(
        make_warehouse,
        {
            "a": {"discharged_on": D0 + timedelta(days=50)},  # inside both windows
            "b": {"discharged_on": D0 + timedelta(days=60)},  # after 14, inside 28
            "c": {},
        },
        checkins=checkins,
        assessments=assessments,
    )
    assert labels["a"] == (None, None)
    assert labels["b"] == (None, 1)
    assert labels["c"] == (0, 1)
    # Data ending 20 days after the as-of date censors the 28-day window only.
    con = make_warehouse(
        {
            "clinicians": [{"clinician_id": "c1", "display_name": "C", "site_id": "s"}],
            "patients": [{"patient_id": "c", "clinician_id": "c1", "enrolled_on": D0}],
            "checkins": checkins[2:],
            "assessments": _sitting("c", 30, 4, 3),
        }
    )
    build_features(con, as_of=AS_OF)
    build_labels(con, settings=Settings(), data_end=AS_OF + timedelta(days=20))
    assert con.execute("SELECT relapse_risk, engagement_drop FROM labels").fetchall() == [(None, 1)]


def test_deterioration_is_judged_from_the_usual_well_level_not_one_low_score(make_warehouse):
    # PHQ-9 8 then a low 3: a return to 10-11 is +7 on the latest but +2-3 on the usual
    # well level (8), so it is regression to the patient's usual, not a new episode.
    assessments = (
        _sitting("p", 20, 8, 3)
        + _sitting("p", 35, 3, 3)
        + _sitting("p", 50, 10, 3)
        + _sitting("p", 62, 11, 3)
    )
    assert _labels(make_warehouse, {"p": {}}, assessments=assessments)["p"][0] == 0


def test_the_outcome_in_words_follows_the_thresholds_the_labels_use(make_warehouse):
    """The card's definition and the label SQL read the same settings: raise PHQ-9
    caseness to 12 and a rise to 11 stops being an episode, and the words say 12."""
    clinical = replace(ClinicalSettings(), phq9_caseness=12, phq9_reliable_change=5)
    words = MODELS["relapse_risk"].outcome(clinical)
    assert "PHQ-9 under 12" in words and "PHQ-9 up 5 or more to 12+" in words
    assert "GAD-7 under 8" in words  # unchanged settings keep their default words
    assert (
        MODELS["engagement_drop"]
        .outcome(clinical)
        .startswith("no check-in and no message in the next 14 days")
    )
    assessments = _sitting("p", 30, 5, 3) + _sitting("p", 50, 11, 3) + _sitting("p", 62, 12, 3)
    default = _labels(make_warehouse, {"p": {}}, assessments=assessments)
    assert default["p"][0] == 1
    con_settings = replace(Settings(), clinical=clinical)
    tables = {
        "clinicians": [{"clinician_id": "c1", "display_name": "C", "site_id": "s"}],
        "patients": [
            {"patient_id": p, "clinician_id": "c1", "enrolled_on": D0} for p in ("p", "anchor")
        ],
        "checkins": [{"patient_id": "anchor", "checked_in_at": _ts(80), "mood": 5}],
        "assessments": assessments,
    }
    con = make_warehouse(tables)
    build_features(con, as_of=AS_OF)
    build_labels(con, settings=con_settings, data_end=END)
    row = con.execute("SELECT relapse_risk FROM labels WHERE patient_id = 'p'").fetchone()
    # 11 is below the raised caseness, so the episode starts at 12 on day 62, and nothing
    # after it can confirm it: unknown, where the default thresholds gave a positive.
    assert row[0] is None
