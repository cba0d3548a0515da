"""Incremental refresh: one more day of data, refreshed incrementally, gives exactly the
snapshot a full rebuild gives; and a refresh falls back to full whenever the snapshot in
service cannot simply be brought forward."""

from __future__ import annotations

import re
import shutil
from dataclasses import replace
from datetime import timedelta

import duckdb
import pandas as pd
import pytest

from analytics.cli import main
from analytics.data.ingest import ingest
from analytics.data.store import DataDir
from analytics.serving.pipeline import refresh
from analytics.settings import load_settings

# Columns that say when or how a snapshot was built, not what it holds.
BUILD_COLUMNS = {
    "snapshot_meta": ["built_at", "build_mode"],
    "fairness_summary": ["created_at", "report_json"],
}


def _tables(path) -> dict[str, pd.DataFrame]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        names = [
            r[0]
            for r in con.execute(
                "SELECT table_name FROM duckdb_tables() WHERE NOT temporary ORDER BY 1"
            ).fetchall()
        ]
        out = {}
        for name in names:
            frame = con.sql(f'SELECT * FROM "{name}"').pl().to_pandas()
            frame = frame.drop(columns=BUILD_COLUMNS.get(name, []))
            for col in frame.columns:  # lists (mood_28d) compare as text
                if frame[col].dtype == object and any(
                    hasattr(v, "__len__") and not isinstance(v, str) for v in frame[col]
                ):
                    frame[col] = [repr(list(v)) if v is not None else None for v in frame[col]]
            out[name] = frame.sort_values(list(frame.columns)).reset_index(drop=True)
        return out
    finally:
        con.close()


def _report_without_time(path) -> list[str]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        rows = con.execute("SELECT report_json FROM fairness_summary ORDER BY audit_id").fetchall()
    finally:
        con.close()
    return [re.sub(r'"created_at": "[^"]*"', "", r[0]) for r in rows]


def _next_day(settings, day) -> list:
    """Contract files for one more day: every active patient checks in and wears their
    device; some message and fill in a PHQ-9; one old wearable day is re-synced with other
    values; one patient is discharged and a new one enrols with data on the same day."""
    con = duckdb.connect(str(DataDir(settings.data_dir).warehouse), read_only=True)
    try:
        con.execute(f"SET TimeZone = '{settings.clinic_timezone}'")
        active = [
            r[0]
            for r in con.execute(
                """SELECT patient_id FROM patients WHERE enrolled_on <= ? AND
                   (discharged_on IS NULL OR discharged_on > ?) ORDER BY 1""",
                [day, day],
            ).fetchall()
        ]
        patient = con.execute("SELECT * FROM patients WHERE patient_id = ?", [active[0]]).df()
        resync = con.execute(
            """SELECT patient_id, date, source FROM wearable_daily
               WHERE patient_id = ? AND date < ? - 30 ORDER BY date DESC LIMIT 1""",
            [active[1], day],
        ).fetchall()[0]
    finally:
        con.close()
    stamp = f"{day}T10:00:00"
    checkins = pd.DataFrame(
        {
            "patient_id": active + ["p-new"],
            "checked_in_at": stamp,
            "mood": [(i % 9) + 1 for i in range(len(active) + 1)],
            "anxiety": [(i % 7) + 2 for i in range(len(active) + 1)],
        }
    )
    wear = pd.DataFrame(
        {
            "patient_id": active[::2] + [resync[0]],
            "date": [str(day)] * len(active[::2]) + [str(resync[1])],
            "source": ["ring"] * len(active[::2]) + [resync[2]],
            "sleep_minutes": [300 + i % 200 for i in range(len(active[::2]))] + [77],
            "steps": [4000 + 37 * i for i in range(len(active[::2]))] + [123],
            "wear_minutes": 1300,
        }
    )
    messages = pd.DataFrame(
        {
            "patient_id": active[::5],
            "sent_at": f"{day}T21:30:00",
            "sender": "patient",
            "text": ["Feeling a bit better today, thanks", "I can't see a way out anymore"]
            * (len(active[::5]) // 2)
            + ["Feeling a bit better today, thanks"] * (len(active[::5]) % 2),
        }
    )
    phq = pd.DataFrame(
        {"patient_id": active[::7], "completed_at": f"{day}T09:00:00", "instrument": "PHQ-9"}
        | {f"item_{i}": (i % 3) for i in range(1, 10)}
    )
    discharged = patient.assign(discharged_on=str(day))[
        ["patient_id", "clinician_id", "enrolled_on", "discharged_on"]
    ]
    new = pd.DataFrame(
        {
            "patient_id": ["p-new"],
            "clinician_id": [patient["clinician_id"][0]],
            "enrolled_on": [str(day)],
        }
    )
    folder = DataDir(settings.data_dir).root.parent / f"day-{day}"
    folder.mkdir()
    files = []
    for name, frame in (
        ("patients", pd.concat([discharged.astype(str), new])),
        ("checkins", checkins),
        ("wearable_daily", wear),
        ("messages", messages),
        ("assessments", phq),
    ):
        path = folder / f"{name}.csv"
        frame.to_csv(path, index=False)
        files.append(path)
    return files


@pytest.fixture(scope="module")
def grown_clinic(trained_clinic, tmp_path_factory):
    """A copy of the trained clinic, refreshed, then given one more day of data."""
    settings, _ = trained_clinic
    root = tmp_path_factory.mktemp("grown")
    shutil.copytree(settings.data_dir, root / "data", ignore=shutil.ignore_patterns("snapshots"))
    copy = load_settings(root / "data")
    first = refresh(settings=copy, full=True)
    day = first.as_of + timedelta(days=1)
    result = ingest(_next_day(copy, day), settings=copy)
    assert result.exit_code == 0 and sum(f.quarantined for f in result.files) == 0, result
    assert sum(f.updated for f in result.files) == 2  # the re-synced day, the discharge
    return copy, first, day


@pytest.mark.slow
def test_incremental_refresh_equals_a_full_rebuild(grown_clinic):
    settings, first, day = grown_clinic
    incremental = refresh(settings=settings)
    assert incremental.mode == "incremental", incremental.reason
    assert incremental.as_of == day
    # Only the new day's rows, the re-synced day and the new patient were recomputed.
    assert incremental.recomputed["changed patient days"] < first.active_patients + 3
    full = refresh(settings=settings, full=True)
    assert full.mode == "full"
    ours, theirs = _tables(incremental.snapshot.path), _tables(full.snapshot.path)
    assert sorted(ours) == sorted(theirs)
    for name in theirs:
        pd.testing.assert_frame_equal(
            ours[name], theirs[name], check_exact=False, rtol=1e-9, atol=1e-12, obj=name
        )
    assert _report_without_time(incremental.snapshot.path) == _report_without_time(
        full.snapshot.path
    )
    # The cases that matter are really in there.
    summary = theirs["patient_summary"].set_index("patient_id")
    assert summary.loc["p-new", "active"] and summary.loc["p-new", "last_checkin_at"] is not None
    assert theirs["predictions"]["patient_id"].eq("p-new").any()
    daily = theirs["patient_daily"]
    assert (daily["sleep_minutes"] == 77).sum() == 1  # the re-synced day's new value
    assert (pd.to_datetime(daily["date"]).dt.date == day).sum() >= first.active_patients // 2


# --- when a refresh must be full ---------------------------------------------------------


@pytest.fixture
def served(base_clinic, write_csv):
    rows = [
        {"patient_id": p, "checked_in_at": f"2026-03-{d:02d}T09:00:00Z", "mood": 5}
        for p in ("p1", "p2")
        for d in range(1, 11)
    ]
    ingest([write_csv("checkins.csv", rows)], settings=base_clinic)
    assert refresh(settings=base_clinic).mode == "full"
    return base_clinic


def test_new_data_refreshes_incrementally(served, write_csv):
    ingest(
        [
            write_csv(
                "more.csv",
                [{"patient_id": "p1", "checked_in_at": "2026-03-11T09:00:00Z", "mood": 3}],
            )
        ],
        settings=served,
        table="checkins",
    )
    result = refresh(settings=served)
    assert result.mode == "incremental"
    assert result.recomputed["changed patient days"] == 1


def test_nothing_new_is_still_incremental(served):
    assert refresh(settings=served).mode == "incremental"


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ("full", "asked for"),
        ("settings", "settings changed"),
        ("as_of", "moved back"),
        ("serving", "definitions changed"),
    ],
)
def test_falls_back_to_full(served, monkeypatch, change, reason):
    from datetime import date

    from analytics.serving import pipeline

    kwargs = {}
    settings = served
    if change == "full":
        kwargs["full"] = True
    elif change == "settings":
        settings = replace(served, min_cell_size=5)
    elif change == "as_of":
        kwargs["as_of"] = date(2026, 3, 5)
    else:
        monkeypatch.setattr(pipeline, "SERVING_VERSION", -1)
    result = refresh(settings=settings, **kwargs)
    assert result.mode == "full" and reason in result.reason


def test_new_model_version_forces_full(served, monkeypatch):
    from analytics.serving import pipeline

    monkeypatch.setattr(pipeline, "models_fingerprint", lambda settings: "another model")
    result = refresh(settings=served)
    assert result.mode == "full" and "models changed" in result.reason


def test_cli_says_which_refresh_it_did(served, capsys):
    assert main(["refresh", "--data-dir", str(served.data_dir)]) == 0
    assert "incremental refresh" in capsys.readouterr().out
    assert main(["refresh", "--full", "--data-dir", str(served.data_dir)]) == 0
    assert "full refresh" in capsys.readouterr().out


def test_rebuilt_warehouse_forces_full(served, write_csv):
    from tests.conftest import CLINICIANS, PATIENTS

    DataDir(served.data_dir).warehouse.unlink()
    checkins = [{"patient_id": "p1", "checked_in_at": "2026-03-12T09:00:00Z", "mood": 4}]
    for name, rows in (
        ("clinicians.csv", CLINICIANS),
        ("patients.csv", PATIENTS),
        ("checkins.csv", checkins),
    ):
        ingest([write_csv(name, rows)], settings=served)
    # As many runs as before and more, but not the same runs.
    result = refresh(settings=served)
    assert result.mode == "full" and "not the one" in result.reason
