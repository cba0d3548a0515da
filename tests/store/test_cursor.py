"""Cursors carry the clinic's time zone, so dates computed in views are local dates."""

from __future__ import annotations

from analytics.data.store import connect, cursor
from analytics.settings import Settings


def test_cursor_has_clinic_time_zone(tmp_path):
    settings = Settings(data_dir=tmp_path, clinic_timezone="America/New_York")
    con = connect(tmp_path / "x.duckdb", settings=settings)
    try:
        cur = cursor(con, settings=settings)
        # 02:30 UTC on the 4th is still the evening of the 3rd in New York.
        day = cur.execute("SELECT CAST(TIMESTAMPTZ '2026-11-04 02:30:00+00' AS DATE)").fetchone()[0]
        assert str(day) == "2026-11-03"
        assert (
            con.cursor().execute("SELECT current_setting('TimeZone')").fetchone()[0]
            != "America/New_York"
        )
    finally:
        con.close()
