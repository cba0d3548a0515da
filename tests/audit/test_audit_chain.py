"""The audit trail is append-only and any edit, removal or reordering is detected."""

from __future__ import annotations

import sqlite3

import pytest

from analytics.access import audit_trail
from analytics.cli import main
from analytics.data.store import DataDir, ensure_workspace_schema, open_workspace


@pytest.fixture
def trail(settings):
    data_dir = DataDir(settings.data_dir)
    ws = open_workspace(data_dir)
    key = audit_trail.audit_key(data_dir.root)
    for i in range(6):
        audit_trail.record(
            ws,
            key,
            actor=f"c{i % 2}",
            role="therapist",
            action="view_patient",
            target="patient",
            patient_key=f"pk{i}",
            anchor=data_dir.root / "audit-anchor.log",
        )
    yield ws, key
    ws.close()


def _tamper(ws: sqlite3.Connection, *sql: str) -> None:
    # Someone with file access can drop the triggers; the chain must still catch them.
    ws.execute("DROP TRIGGER audit_log_no_update")
    ws.execute("DROP TRIGGER audit_log_no_delete")
    for statement in sql:
        ws.execute(statement)


def test_intact_chain_verifies(trail):
    ws, key = trail
    result = audit_trail.verify(ws, key)
    assert result.ok and result.entries == 6


def test_triggers_refuse_update_and_delete(trail):
    ws, _ = trail
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        ws.execute("UPDATE audit_log SET actor = 'x' WHERE seq = 2")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        ws.execute("DELETE FROM audit_log WHERE seq = 2")


def test_edited_entry_is_detected(trail):
    ws, key = trail
    _tamper(ws, "UPDATE audit_log SET patient_key = 'someone-else' WHERE seq = 3")
    result = audit_trail.verify(ws, key)
    assert not result.ok and result.seq == 3 and "altered" in result.problem


def test_removed_entry_is_detected(trail):
    ws, key = trail
    _tamper(ws, "DELETE FROM audit_log WHERE seq = 4")
    result = audit_trail.verify(ws, key)
    assert not result.ok and "missing or out of order" in result.problem


def test_removed_tail_is_detected(trail):
    ws, key = trail
    _tamper(ws, "DELETE FROM audit_log WHERE seq >= 5")
    result = audit_trail.verify(ws, key)
    assert not result.ok and "removed" in result.problem


def test_reordered_entries_are_detected(trail):
    ws, key = trail
    rows = ws.execute("SELECT * FROM audit_log WHERE seq IN (2, 3) ORDER BY seq").fetchall()
    _tamper(ws, "DELETE FROM audit_log WHERE seq IN (2, 3)")
    # Re-insert swapped, renumbered so sequence numbers still look continuous.
    a, b = rows
    ws.execute("INSERT INTO audit_log VALUES (?,?,?,?,?,?,?,?,?,?,?)", (2, *b[1:]))
    ws.execute("INSERT INTO audit_log VALUES (?,?,?,?,?,?,?,?,?,?,?)", (3, *a[1:]))
    result = audit_trail.verify(ws, key)
    assert not result.ok and result.seq == 2


def test_chain_recomputed_without_the_key_is_detected(trail):
    ws, key = trail
    # An attacker rewrites entry 2 and recomputes every hash with a key they guessed.
    wrong = b"\x00" * 32
    _tamper(ws, "DELETE FROM audit_log")
    ws.execute("DELETE FROM audit_head")
    ensure_workspace_schema(ws)
    for _ in range(6):
        audit_trail.record(ws, wrong, actor="c0", role="therapist", action="view_patient")
    assert not audit_trail.verify(ws, key).ok


def test_cli_verify_and_export(trail, settings, capsys, tmp_path):
    ws, _ = trail
    data = str(settings.data_dir)
    assert main(["audit-log", "verify", "--data-dir", data]) == 0
    assert "6 entries, chain intact" in capsys.readouterr().out
    out = tmp_path / "audit.jsonl"
    assert main(["audit-log", "export", "--out", str(out), "--data-dir", data]) == 0
    assert len(out.read_text().splitlines()) == 6
    _tamper(ws, "UPDATE audit_log SET action = 'nothing' WHERE seq = 1")
    assert main(["audit-log", "verify", "--data-dir", data]) == 1
    assert "entry 1" in capsys.readouterr().err
