"""Access rules are enforced in analytics: every role, every read, every refusal audited."""

from __future__ import annotations

import json

import polars as pl
import pytest

from analytics.access import audit_trail
from analytics.access.disclosure import suppress_small
from analytics.access.roles import (
    AccessDenied,
    Context,
    Role,
    UnknownUser,
    actor_for_clinician,
    actor_for_email,
)
from analytics.data.ingest import ingest
from analytics.serving.pipeline import refresh
from analytics.views import (
    act_on_alert,
    add_note,
    alerts,
    caseload,
    clinic_overview,
    data_status,
    patient,
    research_cohort,
)

STAFF = [
    {
        "clinician_id": "m1",
        "display_name": "Manager North",
        "site_id": "north",
        "email": "mgr@example.org",
        "role": "manager",
    },
    {
        "clinician_id": "r1",
        "display_name": "Researcher",
        "site_id": "north",
        "email": "res@example.org",
        "role": "researcher",
    },
    {
        "clinician_id": "a1",
        "display_name": "Admin",
        "site_id": "north",
        "email": "adm@example.org",
        "role": "admin",
    },
]

INJECTIONS = [
    "' OR 1=1 --",
    "%' OR '1'='1",
    "p3",
    "Pat%' UNION SELECT * FROM patient_summary --",
    "%",
    "_",
    "\\",
]


@pytest.fixture
def clinic(base_clinic, write_csv):
    staff = write_csv("clinicians_staff.csv", STAFF)
    phq = {f"item_{i}": 1 for i in range(1, 10)}
    files = [
        staff,
        write_csv(
            "assessments.csv",
            [
                {
                    "patient_id": "p1",
                    "completed_at": "2026-03-09T10:00:00Z",
                    "instrument": "PHQ-9",
                    **phq,
                    "item_9": 2,
                },
                {
                    "patient_id": "p3",
                    "completed_at": "2026-03-09T10:00:00Z",
                    "instrument": "PHQ-9",
                    **phq,
                },
            ],
        ),
        write_csv(
            "messages.csv",
            [
                {
                    "patient_id": "p2",
                    "sent_at": "2026-03-08T10:00:00Z",
                    "sender": "patient",
                    "text": "I have the pills ready tonight",
                },
                {
                    "patient_id": "p3",
                    "sent_at": "2026-03-08T10:00:00Z",
                    "sender": "patient",
                    "text": "i want to kill myself",
                },
                {
                    "patient_id": "p1",
                    "sent_at": "2026-03-10T10:00:00Z",
                    "sender": "patient",
                    "text": "<script>alert(1)</script> **bold**",
                },
            ],
        ),
    ]
    assert ingest(files, settings=base_clinic).exit_code == 0
    refresh(settings=base_clinic)
    context = Context.open(base_clinic)
    yield context
    context.close()


def _denied_entries(ctx):
    return [e for e in audit_trail.entries(ctx.workspace) if e.outcome == "denied"]


def test_therapist_caseload_is_own_active_patients_safety_first(clinic):
    c1 = actor_for_clinician(clinic, "c1")
    rows = caseload(clinic, c1)
    assert set(rows["patient_id"]) == {"p1", "p2"}
    # p1 has item 9 = 2 and p2 an unreviewed crisis message: both level 2.
    assert rows["safety_level"].to_list() == [2, 2]
    assert "item 9 answered 2" in rows.filter(pl.col("patient_id") == "p1")["safety_reasons"][0]
    assert "1 crisis message(s)" in rows.filter(pl.col("patient_id") == "p2")["safety_reasons"][0]


def test_other_clinicians_patient_is_refused_and_audited(clinic):
    c1 = actor_for_clinician(clinic, "c1")
    with pytest.raises(AccessDenied, match="not on your active caseload"):
        patient(clinic, c1, "p3")
    with pytest.raises(AccessDenied, match="not on your active caseload"):
        patient(clinic, c1, "no-such-patient")  # same answer: probing reveals nothing
    with pytest.raises(AccessDenied):
        add_note(clinic, c1, "p3", "sneaky")
    denied = _denied_entries(clinic)
    assert len(denied) == 3
    assert denied[0].patient_key == clinic.pseudonym("p3")
    assert all("p3" not in (e.patient_key or "") for e in denied)
    assert audit_trail.verify(clinic.workspace, clinic.audit_key).ok


def test_own_patient_view_is_audited(clinic):
    c1 = actor_for_clinician(clinic, "c1")
    view = patient(clinic, c1, "p1")
    assert view.summary["item9_latest_value"] == 2
    entry = list(audit_trail.entries(clinic.workspace))[-1]
    assert (entry.action, entry.outcome, entry.patient_key) == (
        "view_patient",
        "allowed",
        clinic.pseudonym("p1"),
    )


@pytest.mark.parametrize("payload", INJECTIONS)
def test_search_payloads_return_nothing_extra(clinic, payload):
    c1 = actor_for_clinician(clinic, "c1")
    rows = caseload(clinic, c1, search=payload)
    assert set(rows["patient_id"]) <= {"p1", "p2"}
    with pytest.raises(AccessDenied):
        patient(clinic, c1, payload)


@pytest.mark.parametrize("clinician", ["m1", "r1", "a1"])
def test_non_therapists_cannot_open_patients_or_caseloads(clinic, clinician):
    actor = actor_for_clinician(clinic, clinician)
    with pytest.raises(AccessDenied):
        patient(clinic, actor, "p1")
    with pytest.raises(AccessDenied):
        caseload(clinic, actor)
    with pytest.raises(AccessDenied):
        alerts(clinic, actor)


def test_roles_are_exclusive(clinic):
    c1 = actor_for_clinician(clinic, "c1")
    for view in (clinic_overview, research_cohort, data_status):
        with pytest.raises(AccessDenied):
            view(clinic, c1)
    assert len(_denied_entries(clinic)) == 3


def test_manager_sees_suppressed_aggregates_without_names(clinic):
    manager = actor_for_clinician(clinic, "m1")
    overview = clinic_overview(clinic, manager)
    assert overview.sites == ("north",)
    # Two active patients at north: below the minimum cell size of 11, so no figures.
    row = overview.by_site.row(0, named=True)
    assert row["suppressed"] is True and row["active_patients"] is None
    # Cell values, not the printed frame: a keyed pseudonym ("C-0c1d...") can hold "c1".
    cells = [
        v
        for frame in (overview.by_site, overview.by_clinician)
        for row in frame.iter_rows()
        for v in row
        if isinstance(v, str)
    ]
    assert cells and not any("Pat One" in v for v in cells) and "c1" not in cells
    assert all(v.startswith("C-") for v in overview.by_clinician["clinician_id"])


def test_researcher_cohort_is_deidentified(clinic):
    researcher = actor_for_clinician(clinic, "r1")
    cohort = research_cohort(clinic, researcher)
    assert "display_name" not in cohort.columns and "patient_id" not in cohort.columns
    assert set(cohort["patient_key"]) == {clinic.pseudonym(p) for p in ("p1", "p2", "p3")}
    assert not any(isinstance(v, str) and v == "p1" for v in cohort.to_dicts()[0].values())
    assert set(cohort["age_band"]) == {"Unknown"}


def test_alert_acknowledge_and_resolve_only_own(clinic):
    c1 = actor_for_clinician(clinic, "c1")
    c2 = actor_for_clinician(clinic, "c2")
    own = alerts(clinic, c1)
    assert set(own["kind"]) == {"crisis message", "item 9"}
    target = own.filter(pl.col("kind") == "crisis message")["alert_id"][0]
    with pytest.raises(AccessDenied):
        act_on_alert(clinic, c2, target, "acknowledge", "not mine")
    act_on_alert(clinic, c1, target, "acknowledge", "called the patient")
    assert alerts(clinic, c1).filter(pl.col("alert_id") == target)["status"][0] == "acknowledged"
    act_on_alert(clinic, c1, target, "resolve", "safety plan reviewed")
    assert target not in alerts(clinic, c1)["alert_id"].to_list()
    assert target in alerts(clinic, c1, include_resolved=True)["alert_id"].to_list()
    # Acting live changes the caseload ordering inputs without a refresh.
    p2 = caseload(clinic, c1).filter(pl.col("patient_id") == "p2")
    assert p2["safety_level"][0] == 0


def test_email_mapping(clinic):
    actor = actor_for_email(clinic, " ADA@example.org ")
    assert (actor.role, actor.clinician_id) == (Role.THERAPIST, "c1")
    with pytest.raises(UnknownUser, match="not linked to anyone"):
        actor_for_email(clinic, "stranger@example.org")


def test_suppress_small_blanks_the_next_smallest_too():
    frame = pl.DataFrame(
        {
            "site": ["a", "a", "a", "b", "b"],
            "clin": ["x", "y", "z", "u", "v"],
            "n": [4, 20, 30, 15, 25],
            "rate": [0.5, 0.6, 0.7, 0.1, 0.2],
        }
    )
    out = suppress_small(frame, "n", 11, within="site")
    assert out["suppressed"].to_list() == [True, True, False, False, False]
    assert out["n"].to_list() == [None, None, 30, 15, 25]
    assert out["rate"].to_list()[:2] == [None, None]


def test_cli_route_refuses_other_clinicians_patient_and_audits(clinic, capsys):
    from analytics.cli import main

    data = str(clinic.settings.data_dir)
    clinic.close()  # the CLI opens its own context
    assert main(["patient", "p3", "--as", "ada@example.org", "--data-dir", data]) == 1
    assert "not on your active caseload" in capsys.readouterr().err
    assert main(["patient", "p1", "--as", "ada@example.org", "--data-dir", data]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["patient_id"] == "p1" and out["item9_flag_current"] is True
    assert "Pat One" not in json.dumps(out)
    assert main(["patient", "p1", "--as", "nobody@example.org", "--data-dir", data]) == 2
    from analytics.data.store import DataDir, open_workspace
    from analytics.settings import load_settings

    ws = open_workspace(DataDir(load_settings(data).data_dir))
    try:
        trail = list(audit_trail.entries(ws))
        assert [(e.action, e.outcome) for e in trail[-2:]] == [
            ("view_patient", "denied"),
            ("view_patient", "allowed"),
        ]
        assert audit_trail.verify(
            ws, audit_trail.audit_key(DataDir(load_settings(data).data_dir).root)
        ).ok
    finally:
        ws.close()
