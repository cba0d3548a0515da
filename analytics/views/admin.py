"""The administrator's view: the state of the data."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime

import polars as pl

from analytics.access.roles import Actor, Context, Role, require_role
from analytics.views._common import read_frame

__all__ = ["DataStatus", "data_status"]


@dataclass(frozen=True)
class DataStatus:
    """Data operations: what was ingested, what is quarantined, what is served."""

    snapshot_id: str
    as_of: date
    built_at: datetime
    table_rows: dict[str, int]
    ingest_history: pl.DataFrame
    quarantine: pl.DataFrame  # run_id, file, line, table, column, reason, quarantined_at


def data_status(ctx: Context, actor: Actor) -> DataStatus:
    """Ingest history, quarantine reasons and table counts; for admins."""

    require_role(ctx, actor, Role.ADMIN, action="view_data")
    as_of, built, counts = ctx.snapshot.execute(
        "SELECT as_of, built_at, warehouse_counts FROM snapshot_meta"
    ).fetchone()
    ctx.record(actor, "view_data", target="data operations")
    return DataStatus(
        snapshot_id=ctx.snapshot_id,
        as_of=as_of,
        built_at=built,
        table_rows=json.loads(counts),
        ingest_history=read_frame(ctx, "SELECT * FROM ingest_history ORDER BY run_id DESC, file"),
        quarantine=read_frame(ctx, "SELECT * FROM quarantine ORDER BY run_id DESC, file, line"),
    )
