"""The ``caseload`` verbs as a user runs them: exit codes and documented output."""

from __future__ import annotations

import json
import subprocess
import sys

from analytics.cli import main

CLI = [sys.executable, "-m", "analytics.cli"]


def test_status_json_documented_keys(base_clinic, write_csv, capsys):
    data = str(base_clinic.data_dir)
    write = write_csv(
        "checkins.csv",
        "patient_id,checked_in_at,mood\np1,2026-03-01T10:00:00Z,5\np1,2026-03-02T10:00:00Z,55\n",
    )
    assert main(["ingest", str(write), "--data-dir", data]) == 0
    assert main(["refresh", "--data-dir", data]) == 0
    capsys.readouterr()
    assert main(["status", "--json", "--data-dir", data]) == 0
    status = json.loads(capsys.readouterr().out)
    assert set(status) == {
        "schema_version",
        "data_dir",
        "warehouse",
        "table_rows",
        "quarantined_rows",
        "last_ingest",
        "snapshot",
        "models",
    }
    assert status["schema_version"] == 1
    assert status["warehouse"] == "ok"
    assert status["table_rows"]["patients"] == 3 and status["table_rows"]["checkins"] == 1
    assert status["quarantined_rows"] == 1
    assert status["snapshot"]["as_of"] == "2026-03-01"  # the 03-02 row was quarantined
    assert status["models"] == []


def test_status_on_a_fresh_directory(settings, capsys):
    assert main(["status", "--data-dir", str(settings.data_dir)]) == 0
    out = capsys.readouterr().out
    assert "warehouse: none yet" in out and "serving snapshot: none yet" in out


def test_refresh_without_data_exits_1_with_advice(settings, capsys):
    assert main(["refresh", "--data-dir", str(settings.data_dir)]) == 1
    assert "run `caseload ingest` first" in capsys.readouterr().err


def test_text_check_reads_stdin_and_prints_json_lines():
    messages = (
        "I'm killing it at work this week\nI have the pills ready\n\nme siento muy triste hoy\n"
    )
    proc = subprocess.run(
        [*CLI, "text-check", "-"], input=messages, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    assert len(rows) == 3
    keys = {"language", "language_confidence", "sentiment", "crisis_level", "category"}
    keys |= {"about_other", "evidence"}
    assert all(set(r) == keys for r in rows), rows
    assert rows[0]["crisis_level"] == "none"
    assert rows[1]["crisis_level"] == "crisis"
    assert rows[2]["language"] == "es" and rows[2]["sentiment"] is None


def test_ingest_output_never_prints_message_text(base_clinic, write_csv, capsys):
    secret = "my secret phrase about the river"
    path = write_csv(
        "messages.csv",
        f"patient_id,sent_at,sender,text\np1,2026-03-01T10:00:00Z,patient,{secret}\np1,2030-03-01T10:00:00Z,patient,{secret} again\n",
    )
    main(["ingest", str(path), "--data-dir", str(base_clinic.data_dir)])
    main(["quarantine", "--data-dir", str(base_clinic.data_dir)])
    out = capsys.readouterr()
    assert "sent_at: in the future" in out.out
    assert "river" not in out.out + out.err


def test_contract_verb_prints_reference(capsys):
    assert main(["contract"]) == 0
    assert capsys.readouterr().out.startswith("# Data contract (version 1)")
