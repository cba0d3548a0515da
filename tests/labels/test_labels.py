"""Labels as PRODUCT.md defines them: eligibility, censoring, and each way to be positive."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from analytics.features import build_features
from analytics.labels import build_labels
from analytics.settings import Settings

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


@pytest.mark.parametrize(
    ("before", "after", "expected"),
    [
        (5, 11, 1),  # up 6, reaching 10 or more
        (3, 9, 0),  # up 6 but below 10
        (8, 13, 0),  # up 5
        (None, 20, 0),  # no questionnaire on or before the date to compare with
    ],
)
def test_relapse_by_phq9_reliable_deterioration(make_warehouse, before, after, expected):
    assessments = [_phq("p", 50, after)] + ([_phq("p", 30, before)] if before is not None else [])
    labels = _labels(make_warehouse, {"p": {}}, assessments=assessments)
    assert labels["p"][0] == expected


@pytest.mark.parametrize(("before", "after", "expected"), [(6, 10, 1), (5, 9, 0), (7, 10, 0)])
def test_relapse_by_gad7_reliable_deterioration(make_warehouse, before, after, expected):
    assessments = [_gad("p", 30, before), _gad("p", 60, after)]
    labels = _labels(make_warehouse, {"p": {}}, assessments=assessments)
    assert labels["p"][0] == expected


@pytest.mark.parametrize(
    ("kind", "day", "expected"),
    [
        ("hospitalization", 60, 1),
        ("self_harm", 68, 1),  # t + 28: the last day of the window
        ("crisis_contact", 69, 0),  # t + 29: outside
        ("relapse", 40, 0),  # on the as-of date: known, so not a future outcome
        ("other", 50, 0),
    ],
)
def test_relapse_by_recorded_event(make_warehouse, kind, day, expected):
    events = [{"patient_id": "p", "occurred_at": _ts(day), "kind": kind}]
    labels = _labels(make_warehouse, {"p": {}}, events=events)
    assert labels["p"][0] == expected


def test_censoring_at_discharge_and_at_the_end_of_the_data(make_warehouse):
    checkins = [{"patient_id": p, "checked_in_at": _ts(39), "mood": 5} for p in ("a", "b", "c")]
    labels = _labels(
        make_warehouse,
        {
            "a": {"discharged_on": D0 + timedelta(days=50)},  # inside both windows
            "b": {"discharged_on": D0 + timedelta(days=60)},  # after 14, inside 28
            "c": {},
        },
        checkins=checkins,
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
        }
    )
    build_features(con, as_of=AS_OF)
    build_labels(con, settings=Settings(), data_end=AS_OF + timedelta(days=20))
    assert con.execute("SELECT relapse_risk, engagement_drop FROM labels").fetchall() == [(None, 1)]
