"""``caseload status``: what a data directory holds, for people and for monitoring.

The JSON form (``caseload status --json``) is a documented interface; see
``docs/status.md``. Its keys are stable within a ``schema_version``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from analytics.data.contract import TABLES
from analytics.data.store import DataDir, connect, current_snapshot
from analytics.settings import Settings

__all__ = ["STATUS_SCHEMA_VERSION", "Status", "collect_status"]

STATUS_SCHEMA_VERSION = 1


@dataclass(frozen=True)
class Status:
    """A point-in-time view of a data directory."""

    data_dir: Path
    warehouse: str  # "absent" | "ok" | "busy"
    table_rows: dict[str, int]
    quarantined_rows: int
    last_ingest: dict[str, Any] | None
    snapshot_id: str | None
    snapshot_published_at: str | None
    snapshot_as_of: str | None
    models: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """The documented JSON shape."""
        return {
            "schema_version": STATUS_SCHEMA_VERSION,
            "data_dir": str(self.data_dir),
            "warehouse": self.warehouse,
            "table_rows": self.table_rows,
            "quarantined_rows": self.quarantined_rows,
            "last_ingest": self.last_ingest,
            "snapshot": None
            if self.snapshot_id is None
            else {
                "id": self.snapshot_id,
                "published_at": self.snapshot_published_at,
                "as_of": self.snapshot_as_of,
            },
            "models": self.models,
        }

    def to_text(self) -> str:
        lines = [f"data directory: {self.data_dir}"]
        if self.warehouse == "absent":
            lines.append("warehouse: none yet (run `caseload ingest` or `caseload demo`)")
        elif self.warehouse == "busy":
            lines.append("warehouse: busy (an ingest or refresh is running); counts unavailable")
        else:
            lines.append("warehouse rows:")
            lines += [f"    {name:<15} {n:>12,}" for name, n in self.table_rows.items()]
            lines.append(f"quarantined rows: {self.quarantined_rows:,}")
            if self.last_ingest:
                li = self.last_ingest
                lines.append(
                    f"last ingest: run {li['run_id']} ({li['status']}) finished {li['finished_at']}"
                )
        if self.snapshot_id is None:
            lines.append("serving snapshot: none yet (run `caseload refresh`)")
        else:
            lines.append(
                f"serving snapshot: {self.snapshot_id}, published {self.snapshot_published_at}, "
                f"data as of {self.snapshot_as_of}"
            )
        if self.models:
            lines.append("models:")
            lines += [f"    {m['name']} {m['version']}" for m in self.models]
        else:
            lines.append("models: none trained yet")
        return "\n".join(lines)


def collect_status(*, settings: Settings) -> Status:
    """Read counts, the snapshot pointer and the model registry without writing anything."""
    data_dir = DataDir(settings.data_dir)
    rows: dict[str, int] = {}
    quarantined = 0
    last_ingest = None
    state = "absent"
    if data_dir.warehouse.exists():
        try:
            con = connect(data_dir.warehouse, settings=settings, read_only=True)
        except duckdb.IOException:
            state = "busy"
        else:
            state = "ok"
            try:
                rows = {
                    name: con.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0]
                    for name in TABLES
                }
                quarantined = con.execute("SELECT count(*) FROM quarantine").fetchone()[0]
                last = con.execute(
                    """SELECT run_id, status, CAST(finished_at AS VARCHAR) FROM ingest_runs
                       WHERE finished_at IS NOT NULL ORDER BY run_id DESC LIMIT 1"""
                ).fetchone()
                if last:
                    last_ingest = {"run_id": last[0], "status": last[1], "finished_at": last[2]}
            finally:
                con.close()
    snap = current_snapshot(data_dir)
    as_of = None
    if snap is not None:
        try:
            scon = connect(snap.path, settings=settings, read_only=True)
            try:
                as_of = str(scon.execute("SELECT as_of FROM snapshot_meta").fetchone()[0])
            finally:
                scon.close()
        except duckdb.Error:
            as_of = None
    return Status(
        data_dir=data_dir.root,
        warehouse=state,
        table_rows=rows,
        quarantined_rows=quarantined,
        last_ingest=last_ingest,
        snapshot_id=snap.snapshot_id if snap else None,
        snapshot_published_at=snap.published_at.isoformat() if snap else None,
        snapshot_as_of=as_of,
        models=_models(data_dir),
    )


def _models(data_dir: DataDir) -> list[dict[str, Any]]:
    """Current models from the registry's ``current.json``, when one exists."""
    pointer = data_dir.models / "current.json"
    if not pointer.is_file():
        return []
    return list(json.loads(pointer.read_text(encoding="utf-8")).get("models", []))
