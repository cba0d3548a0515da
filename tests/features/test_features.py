"""As-of features: hand-computed answers on a tiny clinic, and no leakage from later data."""

from __future__ import annotations

import math
from datetime import date, datetime, timedelta

import hypothesis.strategies as st
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings

from analytics.models.features import FEATURE_NAMES, FEATURES, build_features, weekly_as_of_dates

D0 = date(2026, 1, 1)
AS_OF = D0 + timedelta(days=69)  # day 69


def _ts(day: int, hour: int = 9) -> datetime:
    return datetime(2026, 1, 1, hour) + timedelta(days=day)


def _clinic():
    """p1 wears a device, checks in and completes questionnaires; p2 has only check-ins."""
    patients = [
        {"patient_id": "p1", "clinician_id": "c1", "enrolled_on": D0},
        {"patient_id": "p2", "clinician_id": "c1", "enrolled_on": D0 + timedelta(days=60)},
        # discharged before the as-of date: no row
        {
            "patient_id": "p3",
            "clinician_id": "c1",
            "enrolled_on": D0,
            "discharged_on": D0 + timedelta(days=30),
        },
    ]
    wear = []
    # Usual window = days -4..55 (14-73 days before day 69): 7 h of sleep on days 20..39.
    for d in range(20, 40):
        wear.append({"patient_id": "p1", "date": D0 + timedelta(days=d), "sleep_minutes": 420})
    # Recent window = days 63..69: 5 h on days 65..69, and a steps-only short-wear day.
    for d in range(65, 70):
        wear.append({"patient_id": "p1", "date": D0 + timedelta(days=d), "sleep_minutes": 300})
    wear.append(
        {"patient_id": "p1", "date": D0 + timedelta(days=64), "steps": 900, "wear_minutes": 120}
    )
    checkins = [
        {"patient_id": "p1", "checked_in_at": _ts(d), "mood": m}
        for d, m in ((60, 6), (66, 4), (67, 5), (69, 3))
    ] + [{"patient_id": "p2", "checked_in_at": _ts(68), "mood": 7}]
    phq = [
        {"patient_id": "p1", "completed_at": _ts(d), "instrument": "PHQ-9", **items}
        for d, items in (
            (41, {f"item_{i}": 1 for i in range(1, 10)}),  # 9
            (55, {**{f"item_{i}": 1 for i in range(1, 9)}, "item_9": 0}),  # 8
            (68, {**{f"item_{i}": 2 for i in range(1, 9)}, "item_9": 1}),  # 17
        )
    ]
    messages = [
        {
            "message_id": "m1",
            "patient_id": "p1",
            "sent_at": _ts(62),
            "sender": "patient",
            "text": "x",
            "sentiment": -0.5,
            "crisis_level": "concern",
        },
        {
            "message_id": "m2",
            "patient_id": "p1",
            "sent_at": _ts(63),
            "sender": "clinician",
            "text": "y",
        },
    ]
    return {
        "clinicians": [{"clinician_id": "c1", "display_name": "C", "site_id": "s"}],
        "patients": patients,
        "wearable_daily": wear,
        "checkins": checkins,
        "assessments": phq,
        "messages": messages,
    }


def _rows(con, as_of=AS_OF) -> dict[str, dict]:
    build_features(con, as_of=as_of)
    frame = con.execute("SELECT * FROM features").df()
    return {r["patient_id"]: r for r in frame.to_dict("records")}


def test_hand_computed_features(make_warehouse):
    rows = _rows(make_warehouse(_clinic()))
    assert set(rows) == {"p1", "p2"}  # p3 was discharged
    p1 = rows["p1"]
    assert p1["sleep_7d"] == 5.0
    assert p1["sleep_baseline"] == 7.0
    assert p1["sleep_delta"] == -2.0
    # The steps-only 2-hour export is not a wearable day and its steps are not counted.
    assert math.isnan(p1["steps_7d"])
    assert p1["wear_days_14d"] == 5
    assert p1["mood_7d"] == 4.0 and math.isnan(p1["mood_baseline"])
    assert p1["checkin_days_7d"] == 3 and p1["checkin_days_14d"] == 4
    assert p1["days_since_checkin"] == 0
    assert p1["phq9_latest"] == 17
    assert p1["phq9_change_28d"] == 17 - 9  # PHQ-9s on days 41, 55, 68 are all within 28 days
    assert p1["days_since_assessment"] == 1
    assert p1["item9_latest"] == 1 and p1["item9_positive_90d"] == 2  # days 41 and 68
    assert p1["messages_14d"] == 1  # only the patient's own messages
    assert p1["days_since_message"] == 7
    assert p1["sentiment_14d"] == -0.5 and p1["sentiment_available"] == 1
    assert p1["flags_28d"] == 1
    assert p1["days_in_care"] == 69
    assert math.isnan(p1["no_show_rate_90d"])  # no appointments: missing, never 0
    p2 = rows["p2"]
    # No wearable, no questionnaire: missing, not 0.
    assert math.isnan(p2["sleep_7d"]) and math.isnan(p2["phq9_latest"])
    assert math.isnan(p2["days_since_assessment"]) and math.isnan(p2["days_since_message"])
    assert p2["wear_days_14d"] == 0 and p2["sentiment_available"] == 0
    assert p2["days_in_care"] == 9


def _sit(pid, day, phq, gad):
    def items(total, n):
        return {f"item_{i + 1}": min(3, max(0, total - 3 * i)) for i in range(n)}

    return [
        {"patient_id": pid, "completed_at": _ts(day), "instrument": "PHQ-9", **items(phq, 9)},
        {"patient_id": pid, "completed_at": _ts(day, 10), "instrument": "GAD-7", **items(gad, 7)},
    ]


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        # (episodes so far, days since onset, days since an episode ended, in an episode)
        (10, (0, None, None, 1)),  # the presenting episode is not a new one
        (20, (0, None, 6, 0)),  # well again on day 14
        (30, (1, 2, 16, 1)),  # 8 -> 14 on day 28: reliable rise to caseness
        (45, (1, 17, 3, 0)),  # well on day 42
        (52, (2, 2, 10, 1)),  # hospitalised on day 50 while well: a new episode
        (60, (2, 10, 4, 0)),  # well on day 56
        (75, (2, 25, 19, 1)),  # 5 -> 10 on day 70: at caseness but not a reliable rise
    ],
)
def test_episode_history_from_questionnaires_and_events(make_warehouse, day, expected):
    assessments = (
        _sit("p", 0, 15, 9)
        + _sit("p", 14, 8, 5)
        + _sit("p", 28, 14, 6)
        + _sit("p", 42, 6, 4)
        + _sit("p", 56, 5, 3)
        + _sit("p", 70, 10, 3)
    )
    con = make_warehouse(
        {
            "clinicians": [{"clinician_id": "c1", "display_name": "C", "site_id": "s"}],
            "patients": [{"patient_id": "p", "clinician_id": "c1", "enrolled_on": D0}],
            "assessments": assessments,
            "events": [
                {"patient_id": "p", "occurred_at": _ts(50), "kind": "hospitalization"},
                {"patient_id": "p", "occurred_at": _ts(51), "kind": "other"},  # not clinical
            ],
        }
    )
    build_features(con, as_of=D0 + timedelta(days=day))
    row = con.execute(
        "SELECT episodes_so_far, days_since_onset, days_since_episode_end, in_episode FROM features"
    ).fetchone()
    assert row == tuple(None if v is None else float(v) for v in expected)


def test_every_feature_is_documented_and_built(make_warehouse):
    con = make_warehouse(_clinic())
    build_features(con, as_of=AS_OF)
    cols = [r[0] for r in con.execute("DESCRIBE features").fetchall()]
    assert cols == ["patient_id", "as_of", *FEATURE_NAMES]
    for f in FEATURES:
        assert f.label and f.unit and f.group and f.description and f.phrase, f.name


def test_weekly_as_of_dates_are_sundays_after_four_weeks(make_warehouse):
    con = make_warehouse(_clinic())
    dates = weekly_as_of_dates(con)
    assert dates and all(d.weekday() == 6 for d in dates)
    first_data = D0 + timedelta(days=20)
    assert dates[0] >= first_data + timedelta(days=28)
    assert dates[-1] <= D0 + timedelta(days=69)


# --- no leakage: anything after the as-of date leaves its features unchanged ------------

_day = st.integers(0, 80)


@st.composite
def _clinic_and_changes(draw):
    n = draw(st.integers(1, 3))
    patients = [
        {
            "patient_id": f"p{i}",
            "clinician_id": "c1",
            "enrolled_on": D0 + timedelta(days=draw(st.integers(0, 30))),
        }
        for i in range(n)
    ]
    pid = st.sampled_from([p["patient_id"] for p in patients])
    checkins = draw(
        st.lists(
            st.fixed_dictionaries(
                {
                    "patient_id": pid,
                    "checked_in_at": _day.map(_ts),
                    "mood": st.integers(0, 10),
                    "anxiety": st.one_of(st.none(), st.integers(0, 10)),
                }
            ),
            max_size=40,
            unique_by=lambda r: (r["patient_id"], r["checked_in_at"]),
        )
    )
    wear = draw(
        st.lists(
            st.fixed_dictionaries(
                {
                    "patient_id": pid,
                    "date": _day.map(lambda d: D0 + timedelta(days=d)),
                    "source": st.sampled_from(["a", "b"]),
                    "sleep_minutes": st.one_of(st.none(), st.floats(60, 700)),
                    "steps": st.one_of(st.none(), st.integers(0, 20000)),
                    "hrv_rmssd_ms": st.one_of(st.none(), st.floats(5, 120)),
                    "wear_minutes": st.one_of(st.none(), st.floats(0, 1440)),
                }
            ),
            max_size=40,
            unique_by=lambda r: (r["patient_id"], r["date"], r["source"]),
        )
    )
    assessments = draw(
        st.lists(
            st.fixed_dictionaries(
                {
                    "patient_id": pid,
                    "completed_at": _day.map(_ts),
                    "instrument": st.just("PHQ-9"),
                    **{f"item_{i}": st.integers(0, 3) for i in range(1, 10)},
                }
            ),
            max_size=10,
            unique_by=lambda r: (r["patient_id"], r["completed_at"]),
        )
    )
    messages = draw(
        st.lists(
            st.fixed_dictionaries(
                {
                    "patient_id": pid,
                    "sent_at": _day.map(lambda d: _ts(d, 20)),
                    "sender": st.sampled_from(["patient", "clinician"]),
                    "text": st.just("t"),
                    "sentiment": st.one_of(st.none(), st.floats(-1, 1)),
                    "crisis_level": st.sampled_from([None, "none", "concern", "crisis"]),
                }
            ),
            max_size=15,
        )
    )
    for i, m in enumerate(messages):
        m["message_id"] = f"m{i}"
    appointments = draw(
        st.lists(
            st.fixed_dictionaries(
                {
                    "patient_id": pid,
                    "scheduled_at": _day.map(lambda d: _ts(d, 14)),
                    "status": st.sampled_from(["attended", "no_show", "cancelled", "scheduled"]),
                }
            ),
            max_size=10,
            unique_by=lambda r: (r["patient_id"], r["scheduled_at"]),
        )
    )
    events = draw(
        st.lists(
            st.fixed_dictionaries(
                {
                    "patient_id": pid,
                    "occurred_at": _day.map(lambda d: _ts(d, 11)),
                    "kind": st.sampled_from(["relapse", "crisis_contact", "other"]),
                }
            ),
            max_size=5,
            unique_by=lambda r: (r["patient_id"], r["occurred_at"], r["kind"]),
        )
    )
    as_of = D0 + timedelta(days=draw(st.integers(30, 75)))
    tables = {
        "clinicians": [{"clinician_id": "c1", "display_name": "C", "site_id": "s"}],
        "patients": patients,
        "checkins": checkins,
        "wearable_daily": wear,
        "assessments": assessments,
        "messages": messages,
        "appointments": appointments,
        "events": events,
    }
    # The change: for every table, drop or alter some rows dated after the as-of date, and
    # add new ones after it; discharge dates after it may move.
    seed = draw(st.integers(0, 2**31 - 1))
    return tables, as_of, seed


_DATE_COLUMN = {
    "checkins": "checked_in_at",
    "wearable_daily": "date",
    "assessments": "completed_at",
    "messages": "sent_at",
    "appointments": "scheduled_at",
    "events": "occurred_at",
}


def _local_date(value) -> date:
    return value.date() if isinstance(value, datetime) else value


def _mutate(tables: dict, as_of: date, seed: int) -> dict:
    import random

    rng = random.Random(seed)
    out = {"clinicians": tables["clinicians"]}
    out["patients"] = [dict(p) for p in tables["patients"]]
    for p in out["patients"]:
        if rng.random() < 0.5:
            p["discharged_on"] = as_of + timedelta(days=rng.randint(1, 10))
    for name, col in _DATE_COLUMN.items():
        rows = []
        for r in tables[name]:
            if _local_date(r[col]) <= as_of:
                rows.append(r)
            elif rng.random() < 0.5:  # keep it, altered; else delete it
                r = dict(r)
                for key, value in r.items():
                    if isinstance(value, int | float) and not isinstance(value, bool):
                        if key.startswith("item_"):
                            r[key] = 3 - value
                        elif key in ("mood", "anxiety"):
                            r[key] = 10 - value
                        elif key in ("sentiment",):
                            r[key] = -value
                rows.append(r)
        # A new row after the as-of date for the first patient.
        later = as_of + timedelta(days=rng.randint(1, 5))
        template = next(iter(tables[name]), None)
        if template is not None:
            new = dict(template)
            new[col] = later if name == "wearable_daily" else _ts((later - D0).days, 23)
            if name == "messages":
                new["message_id"] = "m-new"
            if name == "wearable_daily":
                new["source"] = "new-source"
            rows.append(new)
        out[name] = rows
    return out


def _frame(tables: dict) -> dict:
    return {k: pd.DataFrame(v) for k, v in tables.items() if v}


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(_clinic_and_changes())
def test_no_leakage_from_data_after_the_as_of_date(make_warehouse, case):
    tables, as_of, seed = case
    later_date = as_of + timedelta(days=14)  # a later as-of date extends the calendar too
    before = make_warehouse(_frame(tables))
    after = make_warehouse(_frame(_mutate(tables, as_of, seed)))
    for con in (before, after):
        build_features(con, as_of=[as_of, later_date])
    query = "SELECT * FROM features WHERE as_of = ? ORDER BY patient_id"
    a = before.execute(query, [as_of]).df()
    b = after.execute(query, [as_of]).df()
    pd.testing.assert_frame_equal(a, b)


# --- the engine on a generated clinic --------------------------------------------------


def _generated(model_clinic):
    from pathlib import Path

    from analytics.data.store import DataDir, connect

    con = connect(Path(":memory:"), settings=model_clinic)
    con.execute("ATTACH ? AS wh (READ_ONLY)", [str(DataDir(model_clinic.data_dir).warehouse)])
    return con


@pytest.mark.slow
def test_one_date_alone_equals_that_date_among_many(model_clinic):
    """Scoring builds one as-of date from the last 180 days plus what came before (the
    latest answers, the first data day); that must equal the same date built together
    with every weekly date from the whole history."""
    con = _generated(model_clinic)
    try:
        dates = weekly_as_of_dates(con)
        build_features(con, as_of=dates, table="weekly")
        for day in (dates[4], dates[len(dates) // 2], dates[-1]):
            build_features(con, as_of=day, table="single")
            a = con.execute("SELECT * FROM single ORDER BY patient_id").df()
            b = con.execute("SELECT * FROM weekly WHERE as_of = ? ORDER BY patient_id", [day]).df()
            pd.testing.assert_frame_equal(a, b, check_exact=False, rtol=1e-9, atol=1e-9)
    finally:
        con.close()


@pytest.mark.slow
def test_engine_agrees_with_an_independent_pandas_implementation(model_clinic):
    import numpy as np

    from analytics.data.store import DataDir
    from benchmarks.features_pandas import build_features_pandas

    con = _generated(model_clinic)
    try:
        dates = weekly_as_of_dates(con)[-6:]
        build_features(con, as_of=dates)
        ours = con.execute("SELECT * FROM features ORDER BY patient_id, as_of").df()
    finally:
        con.close()
    theirs = build_features_pandas(
        DataDir(model_clinic.data_dir).warehouse,
        as_of=dates,
        timezone=model_clinic.clinic_timezone,
    )
    assert len(ours) == len(theirs) > 0
    assert list(ours["patient_id"]) == list(theirs["patient_id"])
    a = ours[list(FEATURE_NAMES)].to_numpy(float)
    b = theirs[list(FEATURE_NAMES)].to_numpy(float)
    assert (np.isnan(a) == np.isnan(b)).all()
    assert np.nanmax(np.abs(a - b)) < 1e-6


@pytest.mark.parametrize(
    ("items", "latest", "days_since"),
    [
        ([2, 2, 2, 2, 2, 2, 1, 1, None], 16, 1),  # one blank: 14 x 9 / 8 = 15.75 -> 16
        ([1, 1, 1, 1, 1, 1, 1, None, None], 9, 1),  # 7 x 9 / 7 = 9: two blanks, prorated
        # three blanks: no total, so the complete one two days before stands (a sitting
        # without a total is not counted as an assessment, as before)
        ([1, 1, 1, 1, 1, 1, None, None, None], 9, 3),
    ],
)
def test_a_partly_answered_phq9_counts_as_the_dashboard_scores_it(
    make_warehouse, items, latest, days_since
):
    """The model's PHQ-9 is the dashboard's: prorated under the published rule, and a
    questionnaire with too many blanks has no total (the one before it stands)."""
    tables = {
        "clinicians": [{"clinician_id": "c1", "display_name": "C", "site_id": "s"}],
        "patients": [{"patient_id": "p", "clinician_id": "c1", "enrolled_on": D0}],
        "assessments": [
            {"patient_id": "p", "completed_at": _ts(66), "instrument": "PHQ-9"}
            | {f"item_{i}": 1 for i in range(1, 10)},
            {"patient_id": "p", "completed_at": _ts(68), "instrument": "PHQ-9"}
            | {f"item_{i + 1}": v for i, v in enumerate(items)},
        ],
        "checkins": [{"patient_id": "p", "checked_in_at": _ts(69), "mood": 5}],
    }
    p = _rows(make_warehouse(tables))["p"]
    assert p["phq9_latest"] == latest
    assert p["days_since_assessment"] == days_since
