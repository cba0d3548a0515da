"""Scoring at refresh: tables always exist, every active patient is scored with reasons,
and the predictions export is recorded in the audit trail."""

from __future__ import annotations

import csv
import getpass
import json

import numpy as np
import pytest

from analytics.access import audit_trail
from analytics.cli import main
from analytics.data.store import DataDir, open_snapshot, open_workspace
from analytics.models.scoring import clinic_tiers, not_scored_status, tiers
from analytics.serving.pipeline import refresh

TABLES = (
    "predictions",
    "explanations",
    "model_metrics",
    "global_importance",
    "shap_dependence",
    "model_cards",
    "model_status",
)


def test_tiers_from_thresholds():
    got = tiers([0.05, 0.2, 0.3, 0.9], {"high": 0.3, "medium": 0.2})
    assert got.tolist() == ["low", "medium", "high", "high"]


def test_engagement_tiers_are_ranks_within_the_clinic():
    p = np.linspace(0.01, 0.5, 50)  # 50 patients: top 5 high, next 5 medium
    got = clinic_tiers(p[::-1])
    assert list(got[:5]) == ["high"] * 5
    assert list(got[5:10]) == ["medium"] * 5
    assert set(got[10:]) == {"low"}
    # ties share the higher tier; a clinic of one is in its own top 10%
    assert list(clinic_tiers(np.full(4, 0.2))) == ["high"] * 4
    assert list(clinic_tiers(np.array([0.01]))) == ["high"]


def test_not_scored_patients_get_a_status_and_a_prompt():
    tier, note = not_scored_status(
        "engagement_drop", {"days_since_checkin": 23.0, "days_since_message": 19.0}
    )
    assert tier == "already disengaged" and "for 19 days" in note and "reaching out" in note
    tier, note = not_scored_status("relapse_risk", {"in_episode": 1.0})
    assert tier == "in an episode" and note.startswith("In an episode")
    tier, _ = not_scored_status("relapse_risk", {"in_episode": 0.0, "days_since_assessment": 90})
    assert tier == "unknown"


def test_refresh_without_models_has_empty_tables_and_says_why(base_clinic, write_csv):
    from analytics.data.ingest import ingest

    ingest(
        [
            write_csv(
                "checkins.csv",
                [{"patient_id": "p1", "checked_in_at": "2026-03-01T09:00:00Z", "mood": 5}],
            )
        ],
        settings=base_clinic,
    )
    refresh(settings=base_clinic)
    _, con = open_snapshot(DataDir(base_clinic.data_dir), settings=base_clinic)
    try:
        for table in TABLES[:-1]:
            assert con.execute(f"SELECT count(*) FROM {table}").fetchall() == [(0,)]
        status = con.execute(
            "SELECT model, status, message FROM model_status ORDER BY 1"
        ).fetchall()
        assert [(m, s) for m, s, _ in status] == [
            ("engagement_drop", "not trained"),
            ("relapse_risk", "not trained"),
        ]
        assert all("caseload train" in msg for *_, msg in status)
    finally:
        con.close()


@pytest.fixture(scope="module")
def scored(trained_clinic):
    settings, outcomes = trained_clinic
    result = refresh(settings=settings)
    return settings, outcomes, result


@pytest.mark.slow
def test_every_active_patient_is_scored_with_reasons(scored):
    settings, outcomes, result = scored
    _, con = open_snapshot(DataDir(settings.data_dir), settings=settings)
    try:
        for model, outcome in outcomes.items():
            rows = con.execute(
                """SELECT count(*), count(DISTINCT patient_id), count(probability),
                          count(*) FILTER (WHERE tier = 'high'), min(version), max(version),
                          count(*) FILTER (WHERE tier = 'high' AND top_reason IS NULL)
                   FROM predictions WHERE model = ?""",
                [model],
            ).fetchall()[0]
            n, distinct, with_p, high, vmin, vmax, high_without_reason = rows
            assert n == distinct == result.active_patients
            assert vmin == vmax == outcome.version
            assert 0 < high < n and high_without_reason == 0
            # Patients a model does not apply to get a status and a note, never a bare None.
            unscored = con.execute(
                """SELECT tier, count(*), count(coverage_note) FROM predictions
                   WHERE model = ? AND probability IS NULL GROUP BY tier""",
                [model],
            ).fetchall()
            expected = (
                {"in an episode", "unknown"} if model == "relapse_risk" else {"already disengaged"}
            )
            assert {t for t, _, _ in unscored} <= expected
            assert all(k == notes for _, k, notes in unscored)
            assert with_p + sum(k for _, k, _ in unscored) == n and with_p > 0
            expl = con.execute(
                """SELECT count(DISTINCT patient_id) FROM explanations WHERE model = ?""", [model]
            ).fetchall()[0][0]
            assert expl == with_p
        notes = con.execute(
            "SELECT count(coverage_note) FROM predictions WHERE coverage_note LIKE 'Thin inputs:%'"
        ).fetchall()[0][0]
        assert notes > 0
        status = con.execute("SELECT DISTINCT status FROM model_status").fetchall()
        assert status == [("ok",)]
        for table in TABLES:
            assert con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0] > 0
    finally:
        con.close()


@pytest.mark.slow
def test_predictions_export_is_audited_without_patient_ids(scored, tmp_path, capsys):
    settings, _, _ = scored
    out = tmp_path / "scores.csv"
    data = str(settings.data_dir)
    info, con = open_snapshot(DataDir(settings.data_dir), settings=settings)
    try:
        roles = dict(con.execute("SELECT role, email FROM clinicians").fetchall())
    finally:
        con.close()
    base = ["predictions", "--data-dir", data, "--model", "relapse_risk", "--out", str(out)]
    # Patient-level scores need a named admin: none, or a therapist, is refused.
    assert main(base) == 1 and not out.exists()
    assert main([*base, "--as", roles["therapist"]]) == 1 and not out.exists()
    assert main([*base, "--as", roles["admin"]]) == 0
    with open(out, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert rows and set(rows[0]) == {
        "patient_id",
        "model",
        "version",
        "as_of",
        "probability",
        "tier",
        "top_reason",
    }
    assert {r["model"] for r in rows} == {"relapse_risk"}
    assert oct(out.stat().st_mode & 0o777) == "0o600"
    capsys.readouterr()
    assert (
        main(["predictions", "--data-dir", data, "--format", "json", "--as", roles["admin"]]) == 0
    )
    exported = json.loads(capsys.readouterr().out)
    assert {r["model"] for r in exported} == {"relapse_risk", "engagement_drop"}
    ws = open_workspace(DataDir(settings.data_dir))
    try:
        entries = [
            e
            for e in audit_trail.entries(ws)
            if e.action == "export_predictions" and e.outcome == "allowed"
        ]
        denied = [
            e
            for e in audit_trail.entries(ws)
            if e.action == "export_predictions" and e.outcome == "denied"
        ]
    finally:
        ws.close()
    assert [json.loads(e.detail)["rows"] for e in entries] == [len(rows), len(exported)]
    assert len(denied) == 2
    assert all(e.actor == f"{roles['admin']} via cli:{getpass.getuser()}" for e in entries)
    ids = {r["patient_id"] for r in exported}
    for e in entries:
        assert not any(pid in (e.detail or "") + (e.target or "") for pid in ids)
