"""Helpers every role's views share: snapshot reads in the clinic's time zone, live alert
review state."""

from __future__ import annotations

import polars as pl

from analytics.access.roles import Context
from analytics.data.store import cursor
from analytics.data.store import has_table as store_has_table
from analytics.serving import alerts as safety_alerts

__all__ = ["ALERT_ACTIONS", "has_table", "read_frame"]

ALERT_ACTIONS = safety_alerts.ACTIONS


def read_frame(
    ctx: Context, sql: str, params: list[object] | dict[str, object] | None = None
) -> pl.DataFrame:
    cur = cursor(ctx.snapshot, settings=ctx.settings)  # connections are not thread-safe
    try:
        frame = cur.sql(sql, params=params or []).pl()
    finally:
        cur.close()
    # Show instants in the clinic's own time zone, as the clinicians live them.
    zone = ctx.settings.clinic_timezone
    local = [
        pl.col(name).dt.convert_time_zone(zone)
        for name, dtype in frame.schema.items()
        if isinstance(dtype, pl.Datetime) and dtype.time_zone is not None
    ]
    return frame.with_columns(local) if local else frame


def has_table(ctx: Context, name: str) -> bool:
    return store_has_table(ctx.snapshot, name)
