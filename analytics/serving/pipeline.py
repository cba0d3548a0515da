"""``caseload refresh``: warehouse -> a new serving snapshot, published atomically.

The new snapshot is built in a file nobody reads yet; only a finished, checkpointed file
is renamed into place and named by ``CURRENT``. A refresh that fails anywhere leaves the
old snapshot serving.

A refresh is *incremental* when the snapshot in service can be brought up to date: its
file is copied (a published snapshot is closed and checkpointed, so a byte copy is a
consistent database, and readers of the original are unaffected) and only what newer
warehouse rows change is recomputed (:func:`analytics.serving.snapshot.update_serving_tables`).
It is *full* (every table from the whole warehouse) when asked (``full=True``), when
there is no snapshot, or when anything the old snapshot was built on has changed: the
serving or contract version, the settings, the models, or the warehouse itself (fewer
ingest runs than the snapshot has seen), or when the as-of date moves backwards.
"""

from __future__ import annotations

import contextlib
import shutil
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import duckdb

from analytics.data.contract import CONTRACT_VERSION
from analytics.data.store import (
    DataDir,
    SnapshotInfo,
    connect,
    current_snapshot,
    new_snapshot_path,
    open_warehouse,
    pipeline_lock,
    publish_snapshot,
)
from analytics.files import open_private
from analytics.models.windows import data_as_of
from analytics.serving.snapshot import (
    SERVING_VERSION,
    Since,
    build_serving_tables,
    last_run_id,
    models_fingerprint,
    run_started,
    settings_fingerprint,
    update_serving_tables,
)
from analytics.settings import Settings

__all__ = ["EmptyWarehouseError", "RefreshPlan", "RefreshResult", "plan_refresh", "refresh"]


class EmptyWarehouseError(RuntimeError):
    """Nothing has been ingested yet, so there is nothing to serve."""


@dataclass(frozen=True)
class RefreshPlan:
    """How a refresh will build: ``full`` or ``incremental`` from ``base``, and why."""

    mode: str
    reason: str
    base: SnapshotInfo | None = None
    since: Since | None = None


@dataclass(frozen=True)
class RefreshResult:
    """What a refresh published, and how it was built."""

    snapshot: SnapshotInfo
    as_of: date
    patients: int
    active_patients: int
    table_rows: dict[str, int]
    mode: str = "full"
    reason: str = ""
    recomputed: dict[str, int] = field(default_factory=dict)


def plan_refresh(
    con: duckdb.DuckDBPyConnection,
    *,
    settings: Settings,
    as_of: date,
    full: bool = False,
) -> RefreshPlan:
    """Decide between a full and an incremental build (``con`` has the warehouse as ``wh``)."""
    if full:
        return RefreshPlan("full", "a full rebuild was asked for")
    data_dir = DataDir(settings.data_dir)
    base = current_snapshot(data_dir)
    if base is None or not base.path.is_file():
        return RefreshPlan("full", "no snapshot in service yet")
    try:
        old = duckdb.connect(str(base.path), read_only=True)
    except duckdb.Error as exc:
        return RefreshPlan("full", f"the snapshot in service could not be opened ({exc})")
    try:
        cur = old.execute("SELECT * FROM snapshot_meta")
        meta = dict(zip([d[0] for d in cur.description], cur.fetchall()[0], strict=True))
    except (duckdb.Error, IndexError):
        return RefreshPlan("full", "the snapshot in service has no build record")
    finally:
        old.close()
    checks = (
        (meta.get("serving_version") == SERVING_VERSION, "the serving tables' definitions changed"),
        (meta.get("contract_version") == CONTRACT_VERSION, "the data contract version changed"),
        (meta.get("settings_fingerprint") == settings_fingerprint(settings), "settings changed"),
        (meta.get("models_fingerprint") == models_fingerprint(settings), "the models changed"),
        (
            meta.get("last_run_id") is not None
            and meta["last_run_id"] <= last_run_id(con)
            and meta.get("last_run_started") == run_started(con, meta["last_run_id"]),
            "the warehouse is not the one the snapshot was built from",
        ),
        (meta.get("as_of") is not None and as_of >= meta["as_of"], "the as-of date moved back"),
    )
    for ok, reason in checks:
        if not ok:
            return RefreshPlan("full", reason)
    since = Since(as_of=meta["as_of"], run_id=int(meta["last_run_id"]))
    return RefreshPlan(
        "incremental", f"updating snapshot {base.snapshot_id} (as of {since.as_of})", base, since
    )


def refresh(*, settings: Settings, as_of: date | None = None, full: bool = False) -> RefreshResult:
    """Build and publish a serving snapshot from the warehouse, holding the pipeline lock:
    incremental when the snapshot in service allows it (see the module notes), else full."""
    data_dir = DataDir(settings.data_dir)
    with pipeline_lock(data_dir, purpose="refresh"):
        # Create the warehouse schema if this is a fresh directory, then release it so the
        # snapshot connection can attach it read-only.
        open_warehouse(data_dir, settings=settings).close()
        snapshot_id, building = new_snapshot_path(data_dir)
        try:
            probe = connect(Path(":memory:"), settings=settings)
            try:
                probe.execute("ATTACH ? AS wh (READ_ONLY)", [str(data_dir.warehouse)])
                when = as_of or data_as_of(probe)
                if when is None:
                    raise EmptyWarehouseError(
                        f"the warehouse in {data_dir.root} holds no check-ins, messages, "
                        "wearable days or assessments yet: run `caseload ingest` first"
                    )
                plan = plan_refresh(probe, settings=settings, as_of=when, full=full)
            finally:
                probe.close()
            recomputed: dict[str, int] = {}
            if plan.mode == "incremental":
                # Into a file created 0600 (copyfile would create it with the umask's mode).
                with (
                    open(plan.base.path, "rb") as src,
                    open_private(building, "wb", exclusive=True) as dst,
                ):
                    shutil.copyfileobj(src, dst, 1 << 20)
            con = connect(building, settings=settings)
            try:
                con.execute("ATTACH ? AS wh (READ_ONLY)", [str(data_dir.warehouse)])
                if plan.mode == "incremental":
                    recomputed = update_serving_tables(
                        con, settings=settings, as_of=when, since=plan.since
                    )
                else:
                    build_serving_tables(con, settings=settings, as_of=when)
                rows = {
                    name: con.execute(f'SELECT count(*) FROM "{name}"').fetchall()[0][0]
                    for (name,) in con.execute(
                        "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database() "
                        "AND NOT temporary ORDER BY 1"
                    ).fetchall()
                }
                patients, active = con.execute(
                    "SELECT count(*), count(*) FILTER (WHERE active) FROM patient_summary"
                ).fetchall()[0]
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
    return RefreshResult(info, when, patients, active, rows, plan.mode, plan.reason, recomputed)
