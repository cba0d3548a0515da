"""``caseload refresh``: warehouse -> a new serving snapshot, published atomically.

The new snapshot is built in a file nobody reads yet; only a finished, checkpointed file
is renamed into place and named by ``CURRENT``. A refresh that fails anywhere leaves the
old snapshot serving.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import date

from analytics.serving import build_serving_tables, data_as_of, reviewed_message_ids
from analytics.settings import Settings
from analytics.store import (
    DataDir,
    SnapshotInfo,
    connect,
    new_snapshot_path,
    open_warehouse,
    open_workspace,
    pipeline_lock,
    publish_snapshot,
)


class EmptyWarehouseError(RuntimeError):
    """Nothing has been ingested yet, so there is nothing to serve."""


@dataclass(frozen=True)
class RefreshResult:
    """What a refresh published."""

    snapshot: SnapshotInfo
    as_of: date
    patients: int
    active_patients: int
    table_rows: dict[str, int]


def refresh(*, settings: Settings, as_of: date | None = None) -> RefreshResult:
    """Build and publish a serving snapshot from the warehouse, holding the pipeline lock."""
    data_dir = DataDir(settings.data_dir)
    with pipeline_lock(data_dir, purpose="refresh"):
        # Create the warehouse schema if this is a fresh directory, then release it so the
        # snapshot connection can attach it read-only.
        open_warehouse(data_dir, settings=settings).close()
        workspace = open_workspace(data_dir)
        try:
            reviewed = reviewed_message_ids(workspace)
        finally:
            workspace.close()
        snapshot_id, building = new_snapshot_path(data_dir)
        try:
            con = connect(building, settings=settings)
            try:
                con.execute("ATTACH ? AS wh (READ_ONLY)", [str(data_dir.warehouse)])
                when = as_of or data_as_of(con)
                if when is None:
                    raise EmptyWarehouseError(
                        f"the warehouse in {data_dir.root} holds no check-ins, messages, "
                        "wearable days or assessments yet: run `caseload ingest` first"
                    )
                build_serving_tables(con, settings=settings, as_of=when, reviewed=reviewed)
                rows = {
                    name: con.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0]
                    for (name,) in con.execute(
                        "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database() "
                        "AND NOT temporary ORDER BY 1"
                    ).fetchall()
                }
                patients, active = con.execute(
                    "SELECT count(*), count(*) FILTER (WHERE active) FROM patient_summary"
                ).fetchone()
                con.execute("DETACH wh")
                con.execute("CHECKPOINT")
            finally:
                con.close()
            info = publish_snapshot(data_dir, snapshot_id, building)
        except BaseException:
            with contextlib.suppress(OSError):
                building.unlink()
            with contextlib.suppress(OSError):
                building.with_name(building.name + ".wal").unlink()
            raise
    return RefreshResult(info, when, patients, active, rows)
