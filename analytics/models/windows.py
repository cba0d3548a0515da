"""The time windows every clinical summary is read over, defined once.

A patient's "recent" and "usual" must mean the same days wherever a clinician reads them:
the caseload's "sleep vs usual" (the serving SQL in :mod:`analytics.serving.snapshot`),
the risk reasons' "their usual" (the model features in :mod:`analytics.models.features`)
and the usual-range band on the patient page's charts (computed by the patient view in
:mod:`analytics.views.therapist`, drawn by ``dashboard.charts``). Each of them derives its
windows, minimum counts and wear-day rule from this module; none keeps its own numbers.

Days are counted back from the as-of date (:func:`data_as_of`, or the date a caller asks
for), which is day 0: "days 14-73 before" are the dates ``as_of - 73`` to ``as_of - 14``,
both included. Every window is anchored at the as-of date, never at a stream's own last
data day, so two measures of one patient always compare the same calendar days.

The definitions, and why:

- **Recent** (:data:`RECENT`): days 0-6, the as-of date and the six before it. One whole
  week, so each weekday counts once. A recent mean needs 3 days with a value: the mean of
  one or two nights is a bad night, not a week.
- **Usual** (:data:`USUAL`): days 14-73, the 60 days before the last two weeks; the
  patient's usual level and, for charts, usual range (mean ± 1 SD).

  * It leaves out the last 14 days: the recent week being compared with it and a guard
    week before that, so a change that began up to two weeks ago (the span a PHQ-9 or
    GAD-7 asks about, and the shortest depressive episode) does not drag its own usual
    along with it and hide.
  * 60 days is long enough to be stable (weekdays and weekends, a bad week or a trip all
    average out) and short enough to be "usual lately" (about two months: the patient's
    level since a recovery, a new job or a new medication, not their state at intake).
  * A usual needs 7 days with a value. More would buy little: the uncertainty of "recent
    minus usual" is dominated by the recent week (with a night-to-night SD of 1 h and 3
    recent nights, its standard error is 0.69 h with 7 usual nights and 0.64 h with 14),
    while it would take a usual away from patients who wear a device about once a week,
    the groups already short of wearable data (see the fairness coverage audit).

- **Valid wearable day** (:func:`wearable_days_sql`): a day on which some source recorded
  sleep, resting heart rate or HRV, or a device was worn at least
  :data:`MIN_WEAR_MINUTES` (10 hours). On any other day no wearable measure counts, so a
  short-wear, steps-only export (a phone left on a desk) does not read as a very
  inactive day, nor as a day of wearable coverage. When several sources report one day,
  each measure comes from the source worn longest that has it.

The same windows and minimum apply to every stream with a usual: the daily measures
(:data:`DAILY_MEASURES`: sleep, steps, resting heart rate, HRV from valid wearable days;
mood and anxiety from check-ins), check-in days per week (every day in care in the window
is a value, checked in or not) and message sentiment (every scored message is a value;
its recent side is 14 days, since patients send a few messages a week).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import duckdb
import polars as pl

__all__ = [
    "DAILY_MEASURES",
    "MIN_WEAR_MINUTES",
    "REACH_DAYS",
    "RECENT",
    "USUAL",
    "UsualRange",
    "Window",
    "data_as_of",
    "usual_range",
    "wearable_days_sql",
]


@dataclass(frozen=True)
class Window:
    """Days ``newest`` to ``oldest`` before the as-of date (0 is the as-of date), both
    included; a mean over it needs at least ``min_values`` values, else it is missing."""

    newest: int
    oldest: int
    min_values: int

    @property
    def days(self) -> int:
        return self.oldest - self.newest + 1

    def first_day(self, as_of: date) -> date:
        return as_of - timedelta(days=self.oldest)

    def last_day(self, as_of: date) -> date:
        return as_of - timedelta(days=self.newest)

    def contains_sql(self, day: str, as_of: str = "$as_of") -> str:
        """A SQL condition: the DATE ``day`` is in this window before the DATE ``as_of``."""
        return f"({day} BETWEEN {as_of} - {self.oldest} AND {as_of} - {self.newest})"

    def mean_sql(self, value: str, day: str, as_of: str = "$as_of") -> str:
        """A SQL aggregate: the mean of ``value`` over the window, NULL with too few values."""
        inside = self.contains_sql(day, as_of)
        return (
            f"CASE WHEN count({value}) FILTER (WHERE {inside}) >= {self.min_values} "
            f"THEN avg({value}) FILTER (WHERE {inside}) END"
        )

    def describe(self) -> str:
        """The window in words, as the product quotes it."""
        if self.newest == 0:
            return f"the last {self.days} days"
        return f"days {self.newest}-{self.oldest} before the as-of date"


RECENT = Window(newest=0, oldest=6, min_values=3)
USUAL = Window(newest=14, oldest=73, min_values=7)
# How far back a recent-against-usual comparison reads, as-of date included.
REACH_DAYS = max(RECENT.oldest, USUAL.oldest) + 1
MIN_WEAR_MINUTES = 600

# The daily measures with a recent mean and a usual: the features' stream key -> the
# serving table ``patient_daily``'s column.
DAILY_MEASURES: dict[str, str] = {
    "sleep": "sleep_minutes",
    "steps": "steps",
    "resting_hr": "resting_hr",
    "hrv": "hrv_rmssd_ms",
    "mood": "mood",
    "anxiety": "anxiety",
}

_WEARABLE = ("sleep_minutes", "steps", "resting_hr", "hrv_rmssd_ms")


def wearable_days_sql(where: str, *, join: str = "") -> str:
    """One row per (patient_id, date) of ``wh.wearable_daily`` (aliased ``x``) matching
    ``where``, after ``join`` (e.g. a SEMI JOIN to the days wanted).

    Columns: patient_id, date, sleep_minutes, steps, resting_hr, hrv_rmssd_ms (each from
    the source worn longest that has it, NULL on a day that is not a valid wearable day),
    wear_minutes (the longest any source was worn, as reported) and wear_day (BOOLEAN:
    a valid wearable day).
    """
    picked = ",\n".join(f"arg_max(x.{c}, coalesce(x.wear_minutes, 0)) AS {c}" for c in _WEARABLE)
    kept = ", ".join(f"CASE WHEN wear_day THEN {c} END AS {c}" for c in _WEARABLE)
    return f"""
        SELECT patient_id, date, {kept}, wear_minutes, wear_day
        FROM (
            SELECT x.patient_id, x.date, {picked},
                   max(x.wear_minutes) AS wear_minutes,
                   (count(x.sleep_minutes) + count(x.resting_hr) + count(x.hrv_rmssd_ms) > 0
                    OR coalesce(max(x.wear_minutes), 0) >= {MIN_WEAR_MINUTES}) AS wear_day
            FROM wh.wearable_daily x {join}
            WHERE {where}
            GROUP BY x.patient_id, x.date)"""


@dataclass(frozen=True)
class UsualRange:
    """A patient's usual level of one daily measure over :data:`USUAL` before an as-of
    date, in the measure's own units: the band a chart shades is ``low`` to ``high``."""

    mean: float
    sd: float
    n: int
    first_day: date
    last_day: date

    @property
    def low(self) -> float:
        return self.mean - self.sd

    @property
    def high(self) -> float:
        return self.mean + self.sd


def usual_range(daily: pl.DataFrame, column: str, *, as_of: date) -> UsualRange | None:
    """Mean ± 1 SD (sample SD) of ``column`` over the usual window before ``as_of``, from a
    frame of one row per day (``date`` and the measure); None with too few values."""
    first, last = USUAL.first_day(as_of), USUAL.last_day(as_of)
    values = daily.filter(pl.col("date").is_between(first, last) & pl.col(column).is_not_null())[
        column
    ].cast(pl.Float64)
    if values.len() < USUAL.min_values:
        return None
    return UsualRange(float(values.mean()), float(values.std()), values.len(), first, last)


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
