"""One ``caseload ingest`` run: plan the files, hold the pipeline lock, and store each
file all or nothing (or, with ``--strict``, the whole batch all or nothing).
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path

import duckdb
import polars as pl

from analytics.data.contract import INGEST_ORDER, Table
from analytics.data.ingest._load import classify, reanalyse_messages, store_rows
from analytics.data.ingest._quarantine import (
    already_ingested,
    finish_run,
    log_file,
    quarantine_rows,
    start_run,
)
from analytics.data.ingest._read import Limits, expand_paths, read_raw, table_for
from analytics.data.ingest._summary import FileRejected, FileSummary, IngestResult
from analytics.data.ingest._validate import normalise_columns, validate
from analytics.data.store import DataDir, open_warehouse, pipeline_lock, sync_clinician_status
from analytics.files import write_private
from analytics.settings import Settings

__all__ = ["ingest"]


def ingest(
    paths: Sequence[str | os.PathLike[str]],
    *,
    settings: Settings,
    table: str | None = None,
    strict: bool = False,
    force: bool = False,
) -> IngestResult:
    """Ingest files into the warehouse. Takes the pipeline lock for the whole run.

    Each file is stored all or nothing in its own transaction; with ``strict`` the whole
    batch is one transaction that is rolled back if any row would be quarantined or any
    file rejected. ``force`` re-reads files whose content was ingested before (keys are
    still de-duplicated).
    """
    data_dir = DataDir(settings.data_dir)
    files, summaries = expand_paths(paths)
    planned: list[tuple[Path, Table | None, str | None]] = []
    for path in files:
        try:
            planned.append((path, table_for(path, table), None))
        except FileRejected as exc:
            planned.append((path, None, str(exc)))
    order = {name: i for i, name in enumerate(INGEST_ORDER)}
    planned.sort(key=lambda p: (order.get(p[1].name, -1) if p[1] else -1, str(p[0])))

    with pipeline_lock(data_dir, purpose="ingest"):
        con = open_warehouse(data_dir, settings=settings)
        try:
            reanalyse_messages(con)
            run_id = start_run(con, strict=strict)
            result = IngestResult(run_id=run_id, strict=strict, files=summaries)
            if strict and summaries:
                finish_run(con, run_id, status="rejected")
                return result
            if strict:
                con.begin()
            for path, tbl, problem in planned:
                started = time.perf_counter()
                summary = _ingest_file(
                    con,
                    path,
                    tbl,
                    problem,
                    run_id=run_id,
                    settings=settings,
                    strict=strict,
                    force=force,
                )
                summary.seconds = round(time.perf_counter() - started, 3)
                result.files.append(summary)
                if strict and (summary.status == "rejected" or summary.quarantined):
                    break
            if strict:
                if result.exit_code == 0:
                    con.commit()
                else:
                    con.rollback()
                    for s in result.files:
                        if s.status == "stored":
                            s.status = "not written"
            for s in result.files:
                log_file(con, run_id, s)
            finish_run(con, run_id, status="failed" if result.exit_code else "ok")
            # The one place ingest names a table: not an input rule but a mirror the access
            # layer reads, so that deactivating a clinician refuses their next request
            # before any refresh (the warehouse is the pipeline's, never the app's).
            if any(s.table == "clinicians" and s.stored + s.updated for s in result.files):
                sync_clinician_status(
                    data_dir,
                    con.execute("SELECT clinician_id, active FROM clinicians").fetchall(),
                )
            return result
        finally:
            con.close()


def _ingest_file(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    table: Table | None,
    problem: str | None,
    *,
    run_id: int,
    settings: Settings,
    strict: bool,
    force: bool,
) -> FileSummary:
    summary = FileSummary(file=str(path), table=table.name if table else None, status="stored")
    if problem is not None or table is None:
        summary.status, summary.message = "rejected", problem
        return summary
    try:
        frame, digest = read_raw(path, limits=Limits.from_settings(settings))
        summary.sha256 = digest
        previous = None if force else already_ingested(con, digest, table.name)
        if previous is not None:
            summary.status = "skipped"
            summary.rows_read = frame.height
            summary.duplicates = frame.height
            summary.message = f"already ingested (run {previous[0]}); 0 new rows"
            return summary
        frame, summary.extra_columns = normalise_columns(frame, table)
    except FileRejected as exc:
        summary.status, summary.message = "rejected", str(exc)
        return summary
    if strict:
        _store_file(con, path, table, frame, run_id=run_id, settings=settings, summary=summary)
        return summary
    con.begin()
    try:
        _store_file(con, path, table, frame, run_id=run_id, settings=settings, summary=summary)
        _fault_point("before-commit")
        con.commit()
    except BaseException:
        con.rollback()
        raise
    return summary


def _store_file(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    table: Table,
    frame: pl.DataFrame,
    *,
    run_id: int,
    settings: Settings,
    summary: FileSummary,
) -> None:
    """Validate, store and quarantine one file's rows inside the caller's transaction."""
    summary.rows_read = frame.height
    validate(con, table, frame, settings=settings)
    classify(con, table, summary)
    store_rows(con, table, summary, run_id=run_id)
    quarantine_rows(con, table, path=path, run_id=run_id)


def _fault_point(name: str) -> None:
    """Crash-test hook: pause here when ``CASELOAD_FAULT_PAUSE`` names this point.

    The test suite uses it to SIGKILL an ingest in the middle of a file's transaction.
    """
    if os.environ.get("CASELOAD_FAULT_PAUSE") == name:
        marker = os.environ.get("CASELOAD_FAULT_MARKER")
        if marker:
            write_private(marker, str(os.getpid()))
        time.sleep(float(os.environ.get("CASELOAD_FAULT_SECONDS", "60")))
