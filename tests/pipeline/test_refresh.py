"""``caseload refresh``: the serving tables hold known answers for a hand-made clinic."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import pytest

from analytics.access.roles import Context, actor_for_clinician
from analytics.data.ingest import ingest
from analytics.data.store import DataDir, open_snapshot
from analytics.serving.pipeline import EmptyWarehouseError, refresh
from analytics.views import act_on_alert, alerts, caseload


def _phq(patient, when, items):
    return {
        "patient_id": patient,
        "completed_at": when,
        "instrument": "PHQ-9",
        **{f"item_{i + 1}": v for i, v in enumerate(items)},
    }


def _gad(patient, when, items):
    return {
        "patient_id": patient,
        "completed_at": when,
        "instrument": "GAD-7",
        **{f"item_{i + 1}": v for i, v in enumerate(items)},
    }


@pytest.fixture
def clinic(base_clinic, write_csv):
    # p1: PHQ-9 18 -> 8 (reliable improvement) with item 9 = 1 on the latest; GAD-7 12 -> 6.
    assessments = [
        _phq("p1", "2026-02-01T10:00:00Z", [2, 2, 2, 2, 2, 2, 2, 2, 2]),  # 18
        _phq("p1", "2026-03-01T10:00:00Z", [1, 1, 1, 1, 1, 1, 1, 0, 1]),  # 8, item 9 = 1
        _gad("p1", "2026-02-01T10:05:00Z", [2, 2, 2, 2, 2, 1, 1]),  # 12
        _gad("p1", "2026-03-01T10:05:00Z", [1, 1, 1, 1, 1, 1, 0]),  # 6
        _phq("p2", "2026-02-10T10:00:00Z", [3, 3, 3, 2, 2, 2, 2, 1, 0]),  # 18, single
    ]
    # p1 checks in on 10 of the 14 days up to 2026-03-10, twice on 03-10.
    checkin_days = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]
    checkins = [
        {"patient_id": "p1", "checked_in_at": f"2026-03-{d:02d}T09:00:00Z", "mood": 4, "anxiety": 6}
        for d in checkin_days
    ] + [{"patient_id": "p1", "checked_in_at": "2026-03-10T20:00:00Z", "mood": 8, "anxiety": 2}]
    # p1 wears a device on 7 of the last 14 days; two sources on 03-09.
    wear = [
        {
            "patient_id": "p1",
            "date": f"2026-03-{d:02d}",
            "source": "ring",
            "sleep_minutes": 400,
            "steps": 5000,
            "wear_minutes": 1300,
        }
        for d in (4, 5, 6, 7, 8, 9, 10)
    ] + [
        {
            "patient_id": "p1",
            "date": "2026-03-09",
            "source": "phone",
            "sleep_minutes": 300,
            "steps": 100,
            "wear_minutes": 200,
        }
    ]
    messages = [
        {
            "patient_id": "p1",
            "sent_at": "2026-03-08T22:00:00Z",
            "sender": "patient",
            "text": "I have the pills ready and tonight I am going to take them all",
        },
        {
            "patient_id": "p1",
            "sent_at": "2026-03-09T08:00:00Z",
            "sender": "patient",
            "text": "Had a really lovely walk with my sister, feeling good",
        },
        {
            "patient_id": "p2",
            "sent_at": "2026-03-02T08:00:00Z",
            "sender": "patient",
            "text": "Sometimes I think everyone would be better off without me",
        },
    ]
    files = [
        write_csv("assessments.csv", assessments),
        write_csv("checkins.csv", checkins),
        write_csv("wearable_daily.csv", wear),
        write_csv("messages.csv", messages),
    ]
    result = ingest(files, settings=base_clinic)
    assert result.exit_code == 0 and sum(f.quarantined for f in result.files) == 0
    return base_clinic


def _summary(settings):
    info, con = open_snapshot(DataDir(settings.data_dir), settings=settings)
    try:
        cur = con.execute("SELECT * FROM patient_summary ORDER BY patient_id")
        names = [d[0] for d in cur.description]
        return {row[0]: dict(zip(names, row, strict=True)) for row in cur.fetchall()}
    finally:
        con.close()


def test_patient_summary_known_answers(clinic):
    result = refresh(settings=clinic)
    assert result.as_of == date(2026, 3, 10)
    s = _summary(clinic)
    p1 = s["p1"]
    assert (p1["phq9_baseline_total"], p1["phq9_latest_total"], p1["phq9_latest_band"]) == (
        18,
        8,
        "mild",
    )
    assert p1["phq9_change"] == -10 and p1["phq9_reliable_change"] == "reliable improvement"
    assert (p1["gad7_baseline_total"], p1["gad7_latest_total"]) == (12, 6)
    assert p1["caseness_at_baseline"] is True and p1["recovered"] is True
    assert p1["reliably_recovered"] is True
    assert p1["item9_latest_value"] == 1 and p1["item9_flag_current"] is True
    assert p1["checkin_adherence_14d"] == pytest.approx(10 / 14)
    # Enrolled 2026-01-05, so the 28-day window is whole: 10 days of 28.
    assert p1["checkin_adherence_28d"] == pytest.approx(10 / 28)
    assert p1["wearable_coverage_14d"] == pytest.approx(7 / 14)
    # item 9 answered 2 on 02-01 and 1 on 03-01: two alerts, neither expires
    assert _alert_levels(clinic, "p1") == ["crisis", "item9", "item9_high"]
    assert p1["last_checkin_at"].replace(tzinfo=None) == datetime(2026, 3, 10, 20, 0)
    assert p1["last_message_at"].replace(tzinfo=None) == datetime(2026, 3, 9, 8, 0)
    assert p1["site_id"] == "north" and p1["active"] is True
    # Mood for each of the 28 days to 03-10: no check-ins before 03-01, two on 03-10.
    assert len(p1["mood_28d"]) == 28
    assert p1["mood_28d"][:18] == [None] * 18
    assert p1["mood_28d"][18:] == [4.0] * 9 + [6.0]
    # Seven nights of 400 min recently, but no usual range yet (needs 14 nights).
    assert p1["sleep_recent_7d_h"] == pytest.approx(400 / 60)
    assert p1["sleep_baseline_h"] is None and p1["sleep_change_h"] is None

    p2 = s["p2"]
    assert p2["phq9_latest_band"] == "moderately severe"
    assert p2["phq9_change"] is None  # a single assessment is not a follow-up
    assert p2["item9_flag_current"] is False
    assert p2["checkin_adherence_14d"] == 0 and p2["last_checkin_at"] is None
    assert _alert_levels(clinic, "p2") == ["concern"]
    # p3 has no data at all and still appears, with empty scores.
    assert s["p3"]["phq9_latest_total"] is None and s["p3"]["wearable_coverage_14d"] == 0


def test_patient_daily_aggregates(clinic):
    refresh(settings=clinic)
    _, con = open_snapshot(DataDir(clinic.data_dir), settings=clinic)
    try:
        rows = con.execute(
            """SELECT date, mood, anxiety, checkins, sleep_minutes, steps, messages, sentiment
               FROM patient_daily WHERE patient_id = 'p1' AND date IN ('2026-03-09', '2026-03-10')
               ORDER BY date"""
        ).fetchall()
    finally:
        con.close()
    d9, d10 = rows
    # On 03-09 the ring (worn 1,300 min) wins over the phone (200 min).
    assert d9[4:6] == (400, 5000)
    assert d9[6] == 1 and d9[7] > 0.3  # one positive message
    assert d10[1] == pytest.approx(6.0) and d10[2] == pytest.approx(4.0) and d10[3] == 2


def test_wearable_coverage_and_daily_steps_count_valid_wearable_days_only(base_clinic, write_csv):
    """The serving tables and the model read one wear-day rule (analytics.models.windows):
    a steps-only export worn under 10 hours, or for an unknown time, is not a day of
    wearable data and its steps are not shown as the day's activity."""
    from analytics.data.store import connect
    from analytics.models.features import build_features

    def day(d, **values):
        return {"patient_id": "p1", "date": f"2026-03-{d:02d}", "source": "x", **values}

    wear = [day(d, sleep_minutes=420, steps=6000, wear_minutes=1300) for d in (2, 4, 6)]
    wear += [day(8, steps=900, wear_minutes=120), day(9, steps=700, wear_minutes=0)]
    wear += [day(10, steps=500), day(7, steps=9000, wear_minutes=660)]
    checkins = [{"patient_id": "p1", "checked_in_at": "2026-03-10T09:00:00Z", "mood": 5}]
    files = [write_csv("wearable_daily.csv", wear), write_csv("checkins.csv", checkins)]
    assert ingest(files, settings=base_clinic).exit_code == 0
    refresh(settings=base_clinic)
    # 03-02, 03-04, 03-06 (sleep) and 03-07 (11 hours' wear); not 03-08, 03-09 or 03-10.
    assert _summary(base_clinic)["p1"]["wearable_coverage_14d"] == pytest.approx(4 / 14)
    _, con = open_snapshot(DataDir(base_clinic.data_dir), settings=base_clinic)
    try:
        daily = con.execute(
            """SELECT day(date), steps, wear_day FROM patient_daily
               WHERE patient_id = 'p1' AND date >= '2026-03-07' ORDER BY date"""
        ).fetchall()
    finally:
        con.close()
    assert daily == [(7, 9000, True), (8, None, False), (9, None, False), (10, None, False)]
    con = connect(Path(":memory:"), settings=base_clinic)
    try:
        con.execute("ATTACH ? AS wh (READ_ONLY)", [str(DataDir(base_clinic.data_dir).warehouse)])
        build_features(con, as_of=date(2026, 3, 10))
        (wear_days,) = con.execute(
            "SELECT wear_days_14d FROM features WHERE patient_id = 'p1'"
        ).fetchone()
    finally:
        con.close()
    assert wear_days == 4


def test_a_review_counts_at_once_and_the_alert_stays_in_the_snapshot(clinic):
    """Alert status is live workspace state: acknowledging the crisis message takes it off
    the caseload's "to review" count without a refresh, and the snapshot's alert row is
    never cleared (it was a count frozen at refresh time before)."""
    refresh(settings=clinic)
    ctx = Context.open(clinic)
    try:
        c1 = actor_for_clinician(ctx, "c1")
        reasons = _reasons(ctx, c1)
        assert "1 crisis message(s) to review" in reasons["p1"]
        (aid,) = alerts(ctx, c1, levels=["crisis"])["alert_id"].to_list()
        act_on_alert(ctx, c1, aid, "acknowledge", "called")
        assert "crisis message" not in _reasons(ctx, c1)["p1"]
        assert alerts(ctx, c1, levels=["crisis"])["status"].to_list() == ["acknowledged"]
    finally:
        ctx.close()
    # item 9 answered 2 on 02-01 and 1 on 03-01: two alerts, neither expires
    assert _alert_levels(clinic, "p1") == ["crisis", "item9", "item9_high"]


def _reasons(ctx, actor) -> dict[str, str]:
    rows = caseload(ctx, actor).select("patient_id", "safety_reasons").rows()
    return {pid: reasons or "" for pid, reasons in rows}


def _alert_levels(settings, patient_id: str) -> list[str]:
    _, con = open_snapshot(DataDir(settings.data_dir), settings=settings)
    try:
        rows = con.execute(
            "SELECT level FROM safety_alerts WHERE patient_id = ? ORDER BY level", [patient_id]
        ).fetchall()
    finally:
        con.close()
    return [r[0] for r in rows]


def test_as_of_excludes_later_data(clinic):
    refresh(settings=clinic, as_of=date(2026, 3, 5))
    p1 = _summary(clinic)["p1"]
    assert p1["checkin_adherence_14d"] == pytest.approx(5 / 14)
    assert "crisis" not in _alert_levels(clinic, "p1")  # the message came on 03-08


def test_settings_thresholds_reach_the_summary(clinic):
    from dataclasses import replace

    strict = replace(clinic, clinical=replace(clinic.clinical, phq9_reliable_change=11))
    refresh(settings=strict)
    assert _summary(strict)["p1"]["phq9_reliable_change"] == "no reliable change"


def test_refresh_on_empty_warehouse_says_what_to_do(settings):
    with pytest.raises(EmptyWarehouseError, match="run `caseload ingest` first"):
        refresh(settings=settings)
