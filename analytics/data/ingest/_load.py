"""Upserting a validated file into the warehouse: each good row is new, a duplicate of a
stored row, an update of one, or (for a keep-first table) a conflict; new and updated
rows are written, with the text analysis the contract asks for.
"""

from __future__ import annotations

import duckdb
import polars as pl

from analytics.data.contract import TABLES, OnExistingKey, Table
from analytics.data.ingest._summary import FileSummary
from analytics.data.ingest._validate import q, sql_str
from analytics.data.store import DERIVED_COLUMNS

__all__ = ["classify", "reanalyse_messages", "store_rows"]

# Each column the text analysis fills (store.DERIVED_COLUMNS) and the attribute of
# analytics.text.MessageAnalysis it holds.
_ANALYSIS_ATTRIBUTES = {
    "language": "language",
    "sentiment": "sentiment",
    "sentiment_note": "sentiment_note",
    "crisis_level": "crisis_level",
    "crisis_matched": "evidence",
    "language_confidence": "language_confidence",
    "crisis_category": "category",
    "crisis_about_other": "about_other",
    "crisis_reason": "reason",
}
_POLARS_TYPES = {"VARCHAR": pl.String, "DOUBLE": pl.Float64, "BOOLEAN": pl.Boolean}


def classify(con: duckdb.DuckDBPyConnection, table: Table, summary: FileSummary) -> None:
    """Compare every row of ``validated`` with what is stored into the temporary table
    ``classified`` (``outcome``: new, duplicate, update or quarantine, with the
    ``reason`` and ``problem_column`` of a quarantined row) and count the outcomes."""
    names = table.column_names
    key_join = " AND ".join(f"s.{q(k)} = v.f_{k}" for k in table.key)
    same = " AND ".join(f"s.{q(c)} IS NOT DISTINCT FROM v.f_{c}" for c in names)
    conflict = (
        "'conflict: the stored row with this key has other values and is kept'"
        if table.on_existing_key is OnExistingKey.KEEP
        else "NULL"
    )
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE classified AS
        SELECT v.*,
            CASE WHEN v.err_reason IS NOT NULL THEN 'quarantine'
                 WHEN s.{q(table.key[0])} IS NULL THEN 'new'
                 WHEN {same} THEN 'duplicate'
                 WHEN {conflict} IS NOT NULL THEN 'quarantine'
                 ELSE 'update' END AS outcome,
            CASE WHEN v.err_reason IS NULL AND s.{q(table.key[0])} IS NOT NULL AND NOT ({same})
                 THEN {conflict} ELSE v.err_reason END AS reason,
            CASE WHEN v.err_reason IS NULL AND s.{q(table.key[0])} IS NOT NULL AND NOT ({same})
                 THEN {sql_str(", ".join(table.key))} ELSE v.err_column END AS problem_column
        FROM validated v LEFT JOIN {q(table.name)} s ON {key_join}
        """
    )
    counts = dict(con.execute("SELECT outcome, count(*) FROM classified GROUP BY 1").fetchall())
    summary.stored = counts.get("new", 0)
    summary.updated = counts.get("update", 0)
    summary.duplicates = counts.get("duplicate", 0)
    summary.quarantined = counts.get("quarantine", 0)
    reasons = con.execute(
        """SELECT problem_column || ': ' || split_part(reason, ':', 1), count(*)
           FROM classified WHERE outcome = 'quarantine' GROUP BY 1 ORDER BY 2 DESC, 1"""
    ).fetchall()
    summary.reasons = dict(reasons)


def store_rows(
    con: duckdb.DuckDBPyConnection, table: Table, summary: FileSummary, *, run_id: int
) -> None:
    """Write the new and updated rows of ``classified`` (counted in ``summary``): an
    update replaces the stored row with its key."""
    names = table.column_names
    if summary.updated:
        keys = ", ".join(f"f_{k}" for k in table.key)
        cols = ", ".join(q(k) for k in table.key)
        con.execute(
            f"DELETE FROM {q(table.name)} WHERE ({cols}) IN "
            f"(SELECT ({keys}) FROM classified WHERE outcome = 'update')"
        )
    targets = ", ".join(q(c) for c in names)
    values = ", ".join(f"c.f_{c}" for c in names)
    source = "classified c"
    if table.analysed_text is not None:
        _analyse_new_rows(con, table)
        derived = DERIVED_COLUMNS[table.name]
        targets += ", " + ", ".join(q(n) for n, _ in derived)
        values += ", " + ", ".join(f"a.{q(n)}" for n, _ in derived)
        source += f" LEFT JOIN text_analysis a ON a._id = c.f_{table.analysed_text.id}"
    con.execute(
        f"INSERT INTO {q(table.name)} ({targets}, _run_id) "
        f"SELECT {values}, $run_id FROM {source} WHERE c.outcome IN ('new', 'update')",
        {"run_id": run_id},
    )


def _analyse_new_rows(con: duckdb.DuckDBPyConnection, table: Table) -> None:
    """Text analysis of the new and updated rows that get one, as ``text_analysis``."""
    spec = table.analysed_text
    assert spec is not None
    rows = con.execute(
        f"SELECT f_{spec.id}, f_{spec.text} FROM classified "
        f"WHERE outcome IN ('new', 'update') AND f_{spec.when} = ?",
        [spec.equals],
    ).fetchall()
    con.register("text_analysis_frame", _analysis_frame(rows, DERIVED_COLUMNS[table.name]))
    try:
        con.execute(
            "CREATE OR REPLACE TEMP TABLE text_analysis AS SELECT * FROM text_analysis_frame"
        )
    finally:
        con.unregister("text_analysis_frame")


def _analysis_frame(
    rows: list[tuple[str, str]], derived: tuple[tuple[str, str], ...]
) -> pl.DataFrame:
    """``_id`` and the analysis columns for (id, text) rows.

    Each distinct text is analysed once: the analysis is a pure function of the text, and
    short replies ("ok", "thanks", "a bit better today") repeat a lot.
    """
    # The text analysis loads its lexicons and model on import: only a file whose table
    # has analysed text pays for it.
    from analytics.text import analyze_messages

    texts = [text for _, text in rows]
    distinct = list(dict.fromkeys(texts))
    analysed = dict(zip(distinct, analyze_messages(distinct), strict=True))
    results = [analysed[text] for text in texts]
    return pl.DataFrame(
        {
            "_id": [row_id for row_id, _ in rows],
            **{
                name: [getattr(r, _ANALYSIS_ATTRIBUTES[name]) for r in results]
                for name, _ in derived
            },
        },
        schema={"_id": pl.String, **{name: _POLARS_TYPES[sql] for name, sql in derived}},
    )


def reanalyse_messages(con: duckdb.DuckDBPyConnection) -> int:
    """Re-analyse stored rows that an older detector analysed.

    Their ``language_confidence`` is NULL (the column came with this version; every
    message analysed since has a value), and an old ``none`` could not tell "checked"
    from "not checked". Returns the number of rows re-analysed.
    """
    count = 0
    for table in TABLES.values():
        spec = table.analysed_text
        if spec is None:
            continue
        rows = con.execute(
            f"SELECT {q(spec.id)}, {q(spec.text)} FROM {q(table.name)} "
            f"WHERE {q(spec.when)} = ? AND language_confidence IS NULL "
            f"AND {q(spec.text)} IS NOT NULL",
            [spec.equals],
        ).fetchall()
        if not rows:
            continue
        con.register("reanalysed_frame", _analysis_frame(rows, DERIVED_COLUMNS[table.name]))
        try:
            assignments = ", ".join(
                f"{q(name)} = r.{q(name)}" for name, _ in DERIVED_COLUMNS[table.name]
            )
            con.execute(
                f"UPDATE {q(table.name)} AS m SET {assignments} "
                f"FROM reanalysed_frame r WHERE m.{q(spec.id)} = r._id"
            )
        finally:
            con.unregister("reanalysed_frame")
        count += len(rows)
    return count
