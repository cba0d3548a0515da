"""The one definition of recent, usual and a wearable day: its edges, minimums and rule."""

from __future__ import annotations

import math
from datetime import date, timedelta

import duckdb
import polars as pl
import pytest

from analytics.models.features import build_features
from analytics.models.windows import RECENT, USUAL, usual_range, wearable_days_sql

AS_OF = date(2026, 6, 30)


def _day(k: int) -> date:
    """The date ``k`` days before the as-of date."""
    return AS_OF - timedelta(days=k)


def test_the_windows_are_the_documented_days():
    assert (RECENT.newest, RECENT.oldest, RECENT.days, RECENT.min_values) == (0, 6, 7, 3)
    assert (USUAL.newest, USUAL.oldest, USUAL.days, USUAL.min_values) == (14, 73, 60, 7)
    assert (USUAL.first_day(AS_OF), USUAL.last_day(AS_OF)) == (_day(73), _day(14))
    # The usual never overlaps the recent week it is compared with.
    assert USUAL.newest > RECENT.oldest


def test_sql_and_polars_agree_on_the_edges():
    days = list(range(0, 80))
    inside = duckdb.execute(
        f"""SELECT k FROM (SELECT unnest($ks) AS k)
            WHERE {USUAL.contains_sql("CAST($as_of AS DATE) - k", "CAST($as_of AS DATE)")}
            ORDER BY k""",
        {"ks": days, "as_of": AS_OF},
    ).fetchall()
    assert [r[0] for r in inside] == list(range(14, 74))
    frame = pl.DataFrame({"date": [_day(k) for k in days], "v": [float(k) for k in days]})
    found = usual_range(frame, "v", as_of=AS_OF)
    assert found is not None and found.n == 60
    assert found.mean == pytest.approx(sum(range(14, 74)) / 60)


def _usual_frame(values: dict[int, float]) -> pl.DataFrame:
    return pl.DataFrame(
        {"date": [_day(k) for k in values], "sleep_minutes": list(values.values())},
        schema={"date": pl.Date, "sleep_minutes": pl.Float64},
    )


def test_usual_range_is_mean_and_sample_sd_of_the_window_only():
    # Seven nights inside (the minimum), and loud values just outside both edges.
    inside = {14: 400.0, 20: 420.0, 30: 440.0, 40: 460.0, 50: 480.0, 60: 500.0, 73: 520.0}
    found = usual_range(_usual_frame({13: 0.0, 74: 9000.0, **inside}), "sleep_minutes", as_of=AS_OF)
    assert found is not None
    assert (found.mean, found.n) == (460.0, 7)
    assert found.sd == pytest.approx(math.sqrt(sum((v - 460.0) ** 2 for v in inside.values()) / 6))
    assert (found.low, found.high) == pytest.approx((460.0 - found.sd, 460.0 + found.sd))


def test_usual_range_needs_seven_values():
    six = {14 + 5 * i: 420.0 for i in range(6)}
    assert usual_range(_usual_frame(six), "sleep_minutes", as_of=AS_OF) is None
    # Missing values are not values.
    frame = pl.concat(
        [
            _usual_frame(six),
            pl.DataFrame(
                {"date": [_day(50)], "sleep_minutes": [None]},
                schema={"date": pl.Date, "sleep_minutes": pl.Float64},
            ),
        ]
    )
    assert usual_range(frame, "sleep_minutes", as_of=AS_OF) is None


def test_features_use_the_same_edges_and_minimums(make_warehouse):
    def features(sleep: dict[int, int]) -> dict:
        con = make_warehouse(
            {
                "patients": [{"patient_id": "p", "clinician_id": "c", "enrolled_on": _day(200)}],
                "wearable_daily": [
                    {"patient_id": "p", "date": _day(k), "sleep_minutes": v}
                    for k, v in sleep.items()
                ],
            }
        )
        build_features(con, as_of=AS_OF)
        return con.execute("SELECT * FROM features").df().to_dict("records")[0]

    usual = {14: 400, 20: 420, 30: 440, 40: 460, 50: 480, 60: 500, 73: 520}
    recent = {0: 300, 3: 360, 6: 420}  # three nights: the minimum
    row = features({13: 0, 7: 0, 74: 9000, **usual, **recent})
    assert row["sleep_baseline"] == pytest.approx(460 / 60)
    assert row["sleep_7d"] == pytest.approx(360 / 60)
    del usual[73]
    del recent[6]
    row = features({**usual, **recent})
    assert math.isnan(row["sleep_baseline"]) and math.isnan(row["sleep_7d"])


def test_a_wearable_day_needs_a_physiological_measure_or_ten_hours_of_wear(make_warehouse):
    def row(day, source, sleep, steps, hrv, wear):
        return {
            "patient_id": "p",
            "date": date(2026, 6, day),
            "source": source,
            "sleep_minutes": sleep,
            "steps": steps,
            "hrv_rmssd_ms": hrv,
            "wear_minutes": wear,
        }

    con = make_warehouse(
        {
            "wearable_daily": [
                row(1, "phone", None, 900, None, 120),  # short wear, steps only
                row(2, "phone", None, 900, None, None),  # wear time unknown, steps only
                row(3, "watch", None, 8000, None, 600),  # ten hours
                row(4, "phone", None, 900, None, 100),
                row(4, "ring", 420, None, None, 500),  # sleep recorded by another source
                row(5, "watch", None, 3000, 40, 0),  # HRV recorded
            ]
        }
    )
    rows = con.execute(
        f"SELECT date, steps, sleep_minutes, wear_day FROM ({wearable_days_sql('TRUE')}) "
        "ORDER BY date"
    ).fetchall()
    assert [(r[0].day, r[1], r[2], r[3]) for r in rows] == [
        (1, None, None, False),
        (2, None, None, False),
        (3, 8000, None, True),
        (4, 900, 420, True),  # each measure from the longest-worn source that has it
        (5, 3000, None, True),
    ]
