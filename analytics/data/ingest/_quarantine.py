"""Quarantine and the ingest log: rows that broke a rule, kept with their file, line,
column and reason; and per run and per file, what happened.

A quarantined row keeps its cells (as read) so it can be exported, fixed and ingested
again; listings and reasons never show them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import duckdb
import polars as pl

from analytics.data.contract import TABLES, Table
from analytics.data.ingest._summary import FileSummary
from analytics.data.ingest._validate import sql_str
from analytics.files import csv_safe, open_private, private_dir

__all__ = [
    "QuarantinedRow",
    "already_ingested",
    "export_quarantine",
    "finish_run",
    "log_file",
    "quarantine_rows",
    "quarantined_rows",
    "start_run",
]


def quarantine_rows(
    con: duckdb.DuckDBPyConnection, table: Table, *, path: Path, run_id: int
) -> None:
    """Keep the quarantined rows of ``classified`` with their cells as read."""
    record = "json_object(" + ", ".join(f"{sql_str(c)}, v_{c}" for c in table.column_names) + ")"
    con.execute(
        f"""INSERT INTO quarantine
            SELECT $run_id, $file, _line, $table, problem_column, reason,
                   nullif(err_all, ''), {record}, now()
            FROM classified WHERE outcome = 'quarantine'""",
        {"run_id": run_id, "file": str(path), "table": table.name},
    )


@dataclass(frozen=True)
class QuarantinedRow:
    """One quarantined row: where it came from and what was wrong (no cell values)."""

    run_id: int
    file: str
    line: int
    table: str
    column: str
    reason: str
    other_problems: str | None


def quarantined_rows(
    con: duckdb.DuckDBPyConnection, *, table: str | None = None
) -> list[QuarantinedRow]:
    """Quarantined rows, oldest first, optionally for one table."""
    sql = """SELECT run_id, file, line, "table", "column", reason, other_problems
             FROM quarantine WHERE (? IS NULL OR "table" = ?) ORDER BY run_id, file, line"""
    return [QuarantinedRow(*row) for row in con.execute(sql, [table, table]).fetchall()]


def export_quarantine(
    con: duckdb.DuckDBPyConnection, out_dir: Path, *, table: str | None = None
) -> list[Path]:
    """Write quarantined rows as contract files, one per table, ready to fix and re-ingest.

    Each file has the table's columns as they were read plus ``_file``, ``_line`` and
    ``_reason`` (extra columns, which ingest ignores).
    """
    private_dir(out_dir)
    written: list[Path] = []
    tables: Iterable[str] = [table] if table else TABLES
    for name in tables:
        rows = con.execute(
            'SELECT record, file, line, reason FROM quarantine WHERE "table" = ? ORDER BY run_id, file, line',
            [name],
        ).fetchall()
        if not rows:
            continue
        cols = TABLES[name].column_names
        data = {c: [json.loads(r[0]).get(c) for r in rows] for c in cols}
        data["_file"] = [r[1] for r in rows]
        data["_line"] = [r[2] for r in rows]
        data["_reason"] = [r[3] for r in rows]
        # A quarantined cell is whatever the source file held: neutralise formulas.
        data = {k: [csv_safe(v) for v in vals] for k, vals in data.items()}
        path = out_dir / f"{name}-quarantined.csv"
        frame = pl.DataFrame(
            data, schema={k: (pl.Int64 if k == "_line" else pl.String) for k in data}
        )
        with open_private(path, "wb") as fh:
            frame.write_csv(fh)
        written.append(path)
    return written


# --- the ingest log --------------------------------------------------------------------


def start_run(con: duckdb.DuckDBPyConnection, *, strict: bool) -> int:
    """Record a new run as running and return its id (the caller holds the lock)."""
    # We hold the lock, so a run still marked running was killed: say so.
    con.execute(
        "UPDATE ingest_runs SET status = 'failed', finished_at = now() WHERE status = 'running'"
    )
    run_id = con.execute("SELECT nextval('run_ids')").fetchone()[0]
    con.execute("INSERT INTO ingest_runs VALUES (?, now(), NULL, ?, 'running')", [run_id, strict])
    return run_id


def finish_run(con: duckdb.DuckDBPyConnection, run_id: int, *, status: str) -> None:
    """Record how a run ended."""
    con.execute(
        "UPDATE ingest_runs SET finished_at = now(), status = ? WHERE run_id = ?", [status, run_id]
    )


def already_ingested(con: duckdb.DuckDBPyConnection, digest: str, table: str) -> tuple | None:
    """(run id, when) of the first run that stored a file with this content, or None."""
    return con.execute(
        """SELECT run_id, logged_at FROM ingest_log
           WHERE sha256 = ? AND "table" = ? AND status = 'stored' ORDER BY run_id LIMIT 1""",
        [digest, table],
    ).fetchone()


def log_file(con: duckdb.DuckDBPyConnection, run_id: int, s: FileSummary) -> None:
    """Record what happened to one file."""
    con.execute(
        "INSERT INTO ingest_log VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, now())",
        [
            run_id,
            s.file,
            s.sha256,
            s.table,
            s.status,
            s.rows_read,
            s.stored,
            s.updated,
            s.duplicates,
            s.quarantined,
            json.dumps(s.reasons),
            json.dumps(list(s.extra_columns)),
            s.message,
        ],
    )
