"""The time windows every clinical summary is read over: the data's as-of date.

Serving, the model features and the patient chart all read their windows from here, so a
patient's "recent" and "usual" mean the same days wherever they are shown.
"""

from __future__ import annotations

from datetime import date

import duckdb

__all__ = ["data_as_of"]


def data_as_of(con: duckdb.DuckDBPyConnection) -> date | None:
    """The newest clinic-local date with a check-in, patient message or wearable day."""
    row = con.execute(
        """SELECT greatest(
               (SELECT max(CAST(checked_in_at AS DATE)) FROM wh.checkins),
               (SELECT max(CAST(sent_at AS DATE)) FROM wh.messages),
               (SELECT max(date) FROM wh.wearable_daily),
               (SELECT max(CAST(completed_at AS DATE)) FROM wh.assessments))"""
    ).fetchone()
    return row[0] if row else None
