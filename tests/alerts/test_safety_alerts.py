"""Safety signals are never lost (issue 12): partial questionnaires keep item 9, alerts
stay until a person resolves them with a note, every action has a visible history,
the most urgent alert comes first, overdue alerts are counted, and the CLI agrees."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import duckdb
import polars as pl
import pytest
from hypothesis import given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st

from analytics import cli
from analytics.access import audit_trail
from analytics.access.roles import AccessDenied, Context, actor_for_clinician
from analytics.clinical import (
    MAX_BLANK_ITEMS,
    item9_state,
    prorated_total,
    prorated_total_sql,
)
from analytics.data.ingest import ingest
from analytics.data.store import DataDir, open_workspace
from analytics.serving import alerts as A
from analytics.serving.pipeline import refresh
from analytics.settings import load_settings, response_hours
from analytics.views import act_on_alert, alerts, caseload, clinic_overview, patient
from tests.alerts.conftest import ITEMS, item9_alert_id, phq
from tests.conftest import PATIENTS

# --- proration: known answers at each allowed count of blanks, refusal past it ----------


@pytest.mark.parametrize(
    ("answers", "expected"),
    [
        ([1, 2, 3, 0, 1, 2, 3, 0, 1], 13),  # complete: the plain sum
        ([1, 1, 1, 1, 1, 1, 1, 1, None], 9),  # 1 blank: 8 x 9 / 8
        ([2, 2, 2, 2, 2, 2, 2, 1, None], 17),  # 15 x 9 / 8 = 16.875 -> 17
        ([1, 1, 1, 0, 0, 0, 0, 1, None], 5),  # 4 x 9 / 8 = 4.5 -> 5 (halves up)
        ([3, 3, 3, 3, 3, 3, 3, None, None], 27),  # 2 blanks: 21 x 9 / 7
        ([1, 1, 1, 1, 1, 1, 0, None, None], 8),  # 6 x 9 / 7 = 7.71 -> 8
        ([None, 1, 1, 1, 1, 1, 1, 1, None], 9),  # blanks anywhere, item 9 included
        ([1, 1, 1, 1, 1, 1, None, None, None], None),  # 3 blanks: refused
        ([None] * 9, None),
    ],
)
def test_phq9_proration_known_answers(answers, expected):
    assert prorated_total("PHQ-9", answers) == expected


@pytest.mark.parametrize(
    ("answers", "expected"),
    [([1, 2, 3, 0, 1, 2, 3], 12), ([1, 2, 3, 0, 1, 2, None], None)],
)
def test_gad7_scores_only_complete(answers, expected):
    # No published GAD-7 proration rule was found, so one blank already means incomplete.
    assert MAX_BLANK_ITEMS["GAD-7"] == 0
    assert prorated_total("GAD-7", answers) == expected


def test_item9_not_answered_is_its_own_state():
    assert item9_state(None) == "not answered"
    assert item9_state(0) == "answered 0"
    assert item9_state(2) == "answered 2"


answer = st.one_of(st.none(), st.integers(0, 3))


@hyp_settings(max_examples=150, deadline=None)
@given(st.lists(answer, min_size=9, max_size=9), st.sampled_from(["PHQ-9", "GAD-7"]))
def test_sql_proration_equals_the_scalar_rule(answers, instrument):
    if instrument == "GAD-7":
        answers = answers[:7] + [None, None]
    con = duckdb.connect()
    cols = ", ".join(f"CAST(? AS INTEGER) AS {c}" for c in ITEMS)
    got = con.execute(
        f"SELECT {prorated_total_sql('instrument')} FROM (SELECT ? AS instrument, {cols})",
        [instrument, *answers],
    ).fetchone()[0]
    assert got == prorated_total(instrument, answers)
    # A prorated total is never below the sum of what was answered.
    if got is not None:
        assert got >= sum(a for a in answers if a is not None)


# --- a clinic with partial questionnaires and every kind of alert ----------------------


def test_partial_questionnaires_are_stored_not_quarantined(clinic, wh_query):
    assert wh_query("SELECT count(*) FROM quarantine")[0][0] == 0
    assert wh_query("SELECT count(*) FROM assessments")[0][0] == 4
    rows = clinic.snapshot.execute(
        """SELECT patient_id, instrument, total, band, item_9, items_answered, complete
           FROM assessments_scored ORDER BY patient_id, completed_at"""
    ).fetchall()
    assert rows == [
        ("p1", "PHQ-9", 1, "minimal", 1, 9, True),
        ("p1", "PHQ-9", 10, "moderate", 2, 8, False),  # 9 x 9 / 8 = 10.1 -> 10, item 9 kept
        ("p2", "PHQ-9", None, None, None, 6, False),  # 3 blanks: incomplete, item 9 blank
        ("p2", "GAD-7", None, None, None, 6, False),
    ]


def test_one_blank_item_and_item9_of_2_raises_an_open_alert(clinic):
    c1 = actor_for_clinician(clinic, "c1")
    rows = alerts(clinic, c1).filter(pl.col("patient_id") == "p1")
    item9 = rows.filter(pl.col("alert_id") == item9_alert_id("p1", "2026-04-20"))
    assert item9.height == 1
    assert item9["status"][0] == "open"
    assert item9["level"][0] == "item9_high"
    assert "partly answered" in item9["detail"][0]


def test_item9_answer_40_days_old_and_unreviewed_is_still_an_open_alert(clinic):
    c1 = actor_for_clinician(clinic, "c1")
    old = alerts(clinic, c1).filter(pl.col("alert_id") == item9_alert_id("p1", "2026-03-21"))
    assert old.height == 1 and old["status"][0] == "open" and old["level"][0] == "item9"


def test_item9_not_answered_is_never_zero_on_the_patient_page(clinic):
    c1 = actor_for_clinician(clinic, "c1")
    view = patient(clinic, c1, "p2")
    phq9 = view.assessments.filter(pl.col("instrument") == "PHQ-9")
    assert phq9["item_9"].to_list() == [None]
    assert view.summary["item9_latest_value"] is None
    assert item9_state(phq9["item_9"][0]) == "not answered"


def test_urgency_order_crisis_first_whatever_the_dates(clinic):
    c1 = actor_for_clinician(clinic, "c1")
    rows = alerts(clinic, c1)
    assert rows["level"].to_list() == ["crisis", "item9_high", "item9", "concern", "not_screened"]
    # the crisis message is the newest of all, and still first
    assert rows["raised_at"][0] == rows["raised_at"].max()
    labels = rows["level_label"].to_list()
    assert labels[0].endswith("Crisis") and labels[-1].endswith("Message not screened")
    assert all(" " in label for label in labels)  # an icon AND a word


def test_age_is_counted_from_when_the_alert_was_raised(clinic):
    c1 = actor_for_clinician(clinic, "c1")
    now = datetime(2026, 5, 2, 9, 0, tzinfo=UTC)
    rows = A.list_alerts(clinic, c1, now=now)
    old = rows.filter(pl.col("alert_id") == item9_alert_id("p1", "2026-03-21"))
    assert old["age_days"][0] == 42 and old["age_text"][0] == "open 42 days"


def test_filters_by_level_and_patient(clinic):
    c1 = actor_for_clinician(clinic, "c1")
    assert alerts(clinic, c1, levels=["concern"])["patient_id"].to_list() == ["p2"]
    assert set(alerts(clinic, c1, patient_id="p1")["kind"]) == {"item 9", "message not screened"}
    with pytest.raises(ValueError, match="unknown alert level"):
        alerts(clinic, c1, levels=["urgent"])


def test_resolve_needs_a_note_and_history_keeps_who_what_when(clinic):
    c1 = actor_for_clinician(clinic, "c1")
    target = item9_alert_id("p1", "2026-04-20")
    with pytest.raises(ValueError, match="Resolving an alert needs a note"):
        act_on_alert(clinic, c1, target, "resolve", "   ")
    assert act_on_alert(clinic, c1, target, "acknowledge", "called, safe tonight") == "acknowledged"
    row = alerts(clinic, c1).filter(pl.col("alert_id") == target)
    assert row["status"][0] == "acknowledged"  # acknowledged alerts stay on the list
    assert act_on_alert(clinic, c1, target, "resolve", "safety plan reviewed") == "resolved"
    assert target not in alerts(clinic, c1)["alert_id"].to_list()
    done = alerts(clinic, c1, include_resolved=True).filter(pl.col("alert_id") == target)
    history = done["history"][0].to_list()
    assert [(h["action"], h["actor"], h["note"]) for h in history] == [
        ("Acknowledged", "ada@example.org", "called, safe tonight"),
        ("Resolved", "ada@example.org", "safety plan reviewed"),
    ]
    assert all(h["at"].endswith(" UTC") for h in history)  # with the zone's label
    # re-open is possible and recorded
    with pytest.raises(ValueError, match="re-open it first"):
        act_on_alert(clinic, c1, target, "acknowledge", "again")
    assert act_on_alert(clinic, c1, target, "reopen", "") == "open"
    again = alerts(clinic, c1).filter(pl.col("alert_id") == target)
    assert again["status"][0] == "open"
    assert again["history"][0].to_list()[-1]["action"] == "Re-opened"
    # the audit trail has the actions, never the note text
    entries = [e for e in audit_trail.entries(clinic.workspace) if e.action.endswith("_alert")]
    assert [e.action for e in entries] == ["acknowledge_alert", "resolve_alert", "reopen_alert"]
    dump = json.dumps([vars(e) for e in entries], default=str)
    assert "safety plan" not in dump and "safe tonight" not in dump


def test_history_time_is_in_the_clinic_zone(clinic):
    c1 = actor_for_clinician(clinic, "c1")
    target = alerts(clinic, c1, levels=["crisis"])["alert_id"][0]
    act_on_alert(clinic, c1, target, "acknowledge", "rang")
    zoned = Context.open(replace(clinic.settings, clinic_timezone="America/New_York"))
    try:
        at = alerts(zoned, c1, levels=["crisis"])["history"][0].to_list()[0]["at"]
    finally:
        zoned.close()
    assert at.endswith((" EST", " EDT"))


def test_other_clinicians_alert_is_refused(clinic):
    c2 = actor_for_clinician(clinic, "c2")
    with pytest.raises(AccessDenied):
        act_on_alert(clinic, c2, item9_alert_id("p1", "2026-04-20"), "acknowledge", "x")


def test_overdue_per_level_and_per_clinician(clinic):
    c1 = actor_for_clinician(clinic, "c1")
    hours = response_hours(clinic.settings)
    assert hours == {"crisis": 4, "item9": 24, "concern": 72, "not_screened": 72}
    crisis_at = datetime(2026, 4, 29, 10, 0, tzinfo=UTC)
    early = A.list_alerts(clinic, c1, now=crisis_at + timedelta(hours=3))
    late = A.list_alerts(clinic, c1, now=crisis_at + timedelta(hours=5))
    assert early.filter(pl.col("level") == "crisis")["overdue"][0] is False
    assert late.filter(pl.col("level") == "crisis")["overdue"][0] is True
    # the item-9 alert of 2026-04-20 09:00 is 24 h late by 2026-04-21 09:00
    item9 = item9_alert_id("p1", "2026-04-20")
    assert (
        A.list_alerts(clinic, c1, now=datetime(2026, 4, 21, 8, tzinfo=UTC)).filter(
            pl.col("alert_id") == item9
        )["overdue"][0]
        is False
    )
    act_on_alert(clinic, c1, item9, "acknowledge", "seen")
    after = A.list_alerts(clinic, c1, now=late["raised_at"].max() + timedelta(days=9))
    assert after.filter(pl.col("alert_id") == item9)["overdue"][0] is False  # acknowledged
    assert after["overdue"].sum() == 4  # every other one, each past its own time


def test_manager_sees_overdue_counts_per_clinician(clinic, write_csv):
    staff = [
        {
            "clinician_id": "m1",
            "display_name": "Manager",
            "site_id": "north",
            "email": "mgr@example.org",
            "role": "manager",
        }
    ]
    assert (
        ingest([write_csv("clinicians_staff.csv", staff)], settings=clinic.settings).exit_code == 0
    )
    refresh(settings=clinic.settings)
    ctx = Context.open(clinic.settings)
    try:
        m1 = actor_for_clinician(ctx, "m1")
        table = A.overdue_by_clinician(ctx, m1, now=datetime(2026, 6, 1, tzinfo=UTC))
        assert table.columns == ["site_id", "clinician", "open_alerts", "overdue_alerts"]
        assert table.rows() == [("north", ctx.clinician_pseudonym("c1"), 5, 5)]
        overview = clinic_overview(ctx, m1)
        assert overview.totals["open_alerts"] == 5
        assert "c1" not in json.dumps(overview.alerts_by_clinician.to_dicts())
    finally:
        ctx.close()


def test_caseload_why_gives_the_safety_reason(clinic):
    c1 = actor_for_clinician(clinic, "c1")
    rows = caseload(clinic, c1)
    p2 = rows.filter(pl.col("patient_id") == "p2")
    assert p2["safety_level"][0] == 2
    assert "crisis message" in p2["safety_reasons"][0]


# --- the CLI -------------------------------------------------------------------------


def test_cli_alerts_json_lists_the_clinicians_alerts(clinic, capsys):
    data_dir = str(clinic.settings.data_dir)
    c1 = actor_for_clinician(clinic, "c1")
    act_on_alert(clinic, c1, item9_alert_id("p1", "2026-04-20"), "acknowledge", "rang")
    assert cli.main(["alerts", "--as", "ada@example.org", "--json", "--data-dir", data_dir]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [a["level"] for a in out] == ["crisis", "item9_high", "item9", "concern", "not_screened"]
    first = out[1]
    assert set(first) >= {
        "patient_id",
        "kind",
        "level",
        "opened_at",
        "age_days",
        "status",
        "history",
    }
    assert first["status"] == "acknowledged" and first["history"][0]["note"] == "rang"
    assert "Pat One" not in json.dumps(out)  # ids, never names
    # the trail names who ran the command, as for every other patient-data verb
    ws = open_workspace(DataDir(clinic.settings.data_dir))
    try:
        last = list(audit_trail.entries(ws))[-1]
    finally:
        ws.close()
    assert last.action == "view_alerts"
    assert last.actor == f"ada@example.org via cli:{cli._os_user()}"


def test_cli_alerts_unknown_email_exits_2(clinic, capsys):
    code = cli.main(
        ["alerts", "--as", "nobody@example.org", "--data-dir", str(clinic.settings.data_dir)]
    )
    assert code == 2
    assert "not linked" in capsys.readouterr().err


# --- ingest rules around partial questionnaires ----------------------------------------


def test_ingest_quarantines_only_what_is_wrong(base_clinic, write_csv, wh_query):
    rows = [
        phq("p1", "2026-03-01T09:00:00Z", [None] * 9),  # nothing answered
        phq("p1", "2026-03-02T09:00:00Z", [1] * 9, total=10),  # complete, wrong total
        phq("p1", "2026-03-03T09:00:00Z", [1] * 8 + [None], total=8),  # sum of answered
        phq("p1", "2026-03-04T09:00:00Z", [1] * 8 + [None], total=9),  # prorated
        phq("p1", "2026-03-05T09:00:00Z", [1] * 8 + [None], total=12),  # neither
    ]
    result = ingest([write_csv("assessments.csv", rows)], settings=base_clinic)
    reasons = sorted(
        r[0] for r in wh_query("SELECT reason FROM quarantine WHERE \"table\" = 'assessments'")
    )
    assert reasons == [
        "no answers: a questionnaire needs at least one answered item",
        "total mismatch: expected the sum of the answered items, 8, or the prorated total, 9",
        "total mismatch: expected the sum of the items, 9",
    ]
    assert result.files[0].stored == 2


def test_workspace_from_before_reopen_is_migrated_without_loss(settings):
    data_dir = DataDir(settings.data_dir)
    data_dir.ensure()
    con = sqlite3.connect(data_dir.workspace)
    con.execute(
        """CREATE TABLE alert_actions (
        id INTEGER PRIMARY KEY AUTOINCREMENT, alert_id TEXT NOT NULL, patient_id TEXT NOT NULL,
        action TEXT NOT NULL CHECK (action IN ('acknowledge', 'resolve', 'review')),
        note TEXT, actor TEXT NOT NULL, at TEXT NOT NULL)"""
    )
    con.execute(
        "INSERT INTO alert_actions VALUES (7, 'msg:m1', 'p1', 'resolve', 'done', 'a', '2026-01-01')"
    )
    con.commit()
    con.close()
    ws = open_workspace(data_dir)
    try:
        assert ws.execute("SELECT * FROM alert_actions").fetchall() == [
            (7, "msg:m1", "p1", "resolve", "done", "a", "2026-01-01")
        ]
        ws.execute(
            "INSERT INTO alert_actions (alert_id, patient_id, action, note, actor, at) "
            "VALUES ('msg:m1', 'p1', 'reopen', NULL, 'a', '2026-01-02')"
        )
        assert ws.execute("SELECT max(id) FROM alert_actions").fetchone()[0] == 8
    finally:
        ws.close()


def test_alert_response_hours_from_settings_toml(settings):
    path = settings.data_dir
    path.mkdir(parents=True, exist_ok=True)
    (path / "settings.toml").write_text("[alert_response_hours]\ncrisis = 1\n")
    assert response_hours(load_settings(path))["crisis"] == 1
    assert response_hours(load_settings(path))["item9"] == 24
    (path / "settings.toml").write_text("[alert_response_hours]\nurgent = 1\n")
    with pytest.raises(ValueError, match="unknown alert level 'urgent'"):
        load_settings(path)


def test_a_snapshot_from_before_partial_questionnaires_still_serves_alerts(clinic):
    from analytics.data.store import current_snapshot

    settings = clinic.settings
    clinic.close()
    path = current_snapshot(DataDir(settings.data_dir)).path
    con = duckdb.connect(str(path))
    try:
        # An older release's snapshot: no completeness, and alerts not yet materialised.
        con.execute("ALTER TABLE assessments_scored DROP COLUMN complete")
        con.execute("DROP TABLE safety_alerts")
        con.execute("DROP TABLE quarantined_item9")
    finally:
        con.close()
    ctx = Context.open(settings)
    try:
        c1 = actor_for_clinician(ctx, "c1")
        assert not A.has_completeness(ctx)
        rows = alerts(ctx, c1)
        assert rows.height == 5 and "partly answered" not in " ".join(rows["detail"])
        assert patient(ctx, c1, "p1").assessments["complete"].to_list() == [True, True]
    finally:
        ctx.close()


def test_cli_alerts_text_shows_level_age_and_history(clinic, capsys):
    c1 = actor_for_clinician(clinic, "c1")
    act_on_alert(clinic, c1, item9_alert_id("p1", "2026-03-21"), "resolve", "seen in session")
    data_dir = str(clinic.settings.data_dir)
    assert cli.main(["alerts", "--as", "ada@example.org", "--data-dir", data_dir]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [ln.split()[0] for ln in lines] == ["crisis", "item9_high", "concern", "not_screened"]
    assert cli.main(["alerts", "--as", "ada@example.org", "--all", "--data-dir", data_dir]) == 0
    out = capsys.readouterr().out
    assert "resolved" in out and "Resolved by ada@example.org: seen in session" in out


def test_a_discharged_patients_open_alerts_stay_with_their_clinician(clinic, write_csv):
    """A discharge does not answer a safety signal: p1's unresolved item-9 alerts stay on
    c1's list, marked discharged, until someone resolves them."""
    before = alerts(clinic, actor_for_clinician(clinic, "c1"))
    p1_before = set(before.filter(pl.col("patient_id") == "p1")["alert_id"])
    assert p1_before and not before["discharged"].any()
    discharged = [dict(PATIENTS[0], discharged_on="2026-04-25")]
    settings = clinic.settings
    clinic.close()
    assert ingest([write_csv("patients.csv", discharged)], settings=settings).exit_code == 0
    refresh(settings=settings)
    ctx = Context.open(settings)
    try:
        c1 = actor_for_clinician(ctx, "c1")
        after = alerts(ctx, c1)
        p1 = after.filter(pl.col("patient_id") == "p1")
        assert set(p1["alert_id"]) == p1_before
        assert p1["discharged"].all() and (p1["status"] == "open").all()
        assert not after.filter(pl.col("patient_id") == "p2")["discharged"].any()
        # and it can still be closed, with a note, by the clinician
        aid = sorted(p1_before)[0]
        act_on_alert(ctx, c1, aid, "resolve", "called after discharge; safe, plan in place")
        assert aid not in set(alerts(ctx, c1)["alert_id"])
    finally:
        ctx.close()


def test_a_quarantined_phq9_still_raises_its_item9_alert(base_clinic, write_csv):
    """The contract quarantines a questionnaire whose supplied total disagrees with its
    items; its item-9 answer of 2 still reaches the therapist, and once the row is fixed
    and re-ingested the same alert speaks for the stored questionnaire."""
    wrong = phq("p1", "2026-03-02T09:00:00Z", [1, 1, 1, 1, 1, 1, 1, 1, 2], total=3)
    also_wrong_but_safe = phq("p2", "2026-03-02T09:00:00Z", [1] * 8 + [0], total=3)
    checkins = [{"patient_id": "p1", "checked_in_at": "2026-03-10T08:00:00Z", "mood": 5}]
    result = ingest(
        [
            write_csv("assessments.csv", [wrong, also_wrong_but_safe]),
            write_csv("checkins.csv", checkins),
        ],
        settings=base_clinic,
    )
    assert result.files[0].stored == 0 and result.files[0].quarantined == 2
    refresh(settings=base_clinic)
    aid = item9_alert_id("p1", "2026-03-02")
    rows = _alerts_of(base_clinic, "c1")
    held = rows.filter(pl.col("alert_id") == aid)
    assert held.height == 1 and held["status"][0] == "open"
    assert held["level"][0] == "item9_high"
    assert "held in quarantine: total mismatch" in held["detail"][0]
    assert rows.filter(pl.col("patient_id") == "p2").height == 0  # item 9 was 0
    # ... and the caseload flags p1 for safety with it (within the 14-day look-back)
    ctx = Context.open(base_clinic)
    try:
        row = caseload(ctx, actor_for_clinician(ctx, "c1")).filter(pl.col("patient_id") == "p1")
    finally:
        ctx.close()
    assert row["safety_level"][0] == 2
    assert "item 9 answered 2 in the last 14 days (questionnaire held" in row["safety_reasons"][0]
    fixed = dict(wrong, total=10)
    assert ingest([write_csv("assessments.csv", [fixed])], settings=base_clinic).exit_code == 0
    refresh(settings=base_clinic)
    rows = _alerts_of(base_clinic, "c1").filter(pl.col("alert_id") == aid)
    assert rows.height == 1 and rows["detail"][0] == "PHQ-9 item 9 answered 2"


def _alerts_of(settings, clinician_id: str) -> pl.DataFrame:
    ctx = Context.open(settings)
    try:
        return alerts(ctx, actor_for_clinician(ctx, clinician_id))
    finally:
        ctx.close()
