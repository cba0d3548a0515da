"""The warehouse's message-analysis columns: filled at ingest, added to older warehouses."""

from __future__ import annotations

import duckdb

from analytics.data.ingest import ingest
from analytics.data.store import DataDir, open_warehouse

MESSAGES = (
    "patient_id,sent_at,sender,text\n"
    "p1,2026-03-01T10:00:00Z,patient,I took the whole bottle an hour ago\n"
    "p1,2026-03-01T11:00:00Z,patient,Ich habe heute Nacht sehr schlecht geschlafen und bin müde\n"
    "p1,2026-03-01T12:00:00Z,patient,we watched a documentary about suicide last night\n"
)
COLUMNS = (
    "crisis_level, crisis_category, crisis_about_other, crisis_matched, crisis_reason, "
    "language, language_confidence"
)


def _rows(settings):
    with duckdb.connect(str(DataDir(settings.data_dir).warehouse), read_only=True) as con:
        return con.execute(
            f"SELECT {COLUMNS} FROM messages WHERE sender = 'patient' ORDER BY sent_at"
        ).fetchall()


def test_ingest_stores_level_category_evidence_and_reason(base_clinic, write_csv):
    ingest([write_csv("messages.csv", MESSAGES)], settings=base_clinic)
    attempt, german, film = _rows(base_clinic)
    assert attempt[:5] == ("crisis", "attempt", False, "took the whole bottle", None)
    assert german[:5] == ("unchecked", None, False, None, "language 'de' not supported")
    assert film[:3] == ("none", "other_person", True)
    assert attempt[5] == "en" and 0.5 <= attempt[6] <= 1.0


def test_an_older_warehouse_gains_the_columns_and_is_reanalysed(base_clinic, write_csv):
    ingest([write_csv("messages.csv", MESSAGES)], settings=base_clinic)
    warehouse = DataDir(base_clinic.data_dir).warehouse
    # What a warehouse built before issue 13 looked like: no new columns, old levels.
    with duckdb.connect(str(warehouse)) as con:
        for name in (
            "language_confidence",
            "crisis_category",
            "crisis_about_other",
            "crisis_reason",
        ):
            con.execute(f'ALTER TABLE messages DROP COLUMN "{name}"')
        con.execute("UPDATE messages SET crisis_level = 'none', crisis_matched = NULL")
    con = open_warehouse(DataDir(base_clinic.data_dir), settings=base_clinic)
    con.close()
    assert all(row[1] is None and row[6] is None for row in _rows(base_clinic))
    ingest([], settings=base_clinic)  # any ingest re-analyses what an older version stored
    attempt, german, film = _rows(base_clinic)
    assert (attempt[0], attempt[1], german[0], film[2]) == ("crisis", "attempt", "unchecked", True)
