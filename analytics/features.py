"""As-of features for the risk models, in DuckDB SQL: the one place that defines them.

For each patient and each as-of date, every feature is computed from data dated on or
before that date only. The SQL builds a dense per-patient daily calendar once (one row per
patient per day, from the earlier of enrolment and the first data day up to the last
as-of date or the day before discharge), aggregates every source onto it, computes rolling
windows with ``ROWS BETWEEN n PRECEDING AND CURRENT ROW`` (the calendar is dense, so
``n`` rows are ``n`` days) and only then keeps the as-of rows. A window never reaches past
its own row, so no value can depend on anything after its as-of date: leakage-free by
construction, and checked by a property test that mutates later data.

Choices (documented here because explanations quote them):

- *Recent* means the last 7 days including the as-of date; a recent mean needs at least
  3 days with a value, otherwise it is missing.
- A *personal baseline* ("their usual") is the mean over days 15 to 60 before the as-of
  date, so a change that started in the last two weeks does not hide in its own baseline;
  it needs at least 7 days with a value. *Delta* is recent minus baseline.
- A wearable day is one with sleep, resting HR or HRV, or at least 10 hours of wear time.
  When several sources report one day, the one worn longest is used (as in the serving
  tables); steps only count on wearable days, so a short-wear, steps-only export does not
  read as a very inactive day.
- Sentiment is the mean score of the patient's own messages; where the sentiment method
  does not support a language the score is missing, and ``sentiment_available`` says so.
- Missing stays missing (NULL in SQL, NaN in the matrix): no measurement is ever filled
  with 0. Counts of things that happen (check-in days, messages, flags, events) are real
  zeros when nothing happened.
- Demographic attributes are not features; they are used only to audit the models.

Call :func:`build_features` on a connection that has the warehouse attached as ``wh`` (a
serving snapshot under construction, or an in-memory connection for training).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

import duckdb
import numpy as np
import pandas as pd

__all__ = [
    "BASELINE_WINDOW",
    "FEATURES",
    "FEATURE_NAMES",
    "RECENT_DAYS",
    "Feature",
    "build_features",
    "feature_matrix",
    "weekly_as_of_dates",
]

RECENT_DAYS = 7
BASELINE_WINDOW = (15, 60)  # days before the as-of date, inclusive
MIN_RECENT_VALUES = 3
MIN_BASELINE_VALUES = 7
MIN_WEAR_MINUTES = 600
# Relapse, hospitalization, crisis contact and self-harm: the clinical events of interest.
CLINICAL_EVENT_KINDS = ("relapse", "hospitalization", "crisis_contact", "self_harm")


@dataclass(frozen=True)
class Feature:
    """One model input and how to talk about it.

    ``group`` joins features that explanations phrase as one reason (for example
    ``sleep_7d``, ``sleep_baseline`` and ``sleep_delta`` are all "sleep"); ``label`` and
    ``unit`` are for people; ``decimals`` is how precisely a value is worth quoting;
    ``phrase`` says in words how the value is put to a clinician.
    """

    name: str
    label: str
    unit: str
    group: str
    description: str
    decimals: int = 0
    phrase: str = ""


def _stream(key: str, label: str, unit: str, decimals: int, what: str) -> tuple[Feature, ...]:
    lo, hi = BASELINE_WINDOW
    return (
        Feature(
            f"{key}_7d",
            f"{label}, last 7 days",
            unit,
            key,
            f"mean {what} over the last {RECENT_DAYS} days (at least {MIN_RECENT_VALUES} days)",
            decimals,
            f"'{label} averaged <7d> {unit} over the last 7 days, <|delta|> {unit} "
            f"below/above their usual <baseline> {unit}'",
        ),
        Feature(
            f"{key}_baseline",
            f"usual {label.lower()}",
            unit,
            key,
            f"mean {what} over days {lo}-{hi} before (at least {MIN_BASELINE_VALUES} days)",
            decimals,
            "quoted as 'their usual' in the same sentence as the 7-day mean",
        ),
        Feature(
            f"{key}_delta",
            f"change in {label.lower()} from usual",
            unit,
            key,
            "7-day mean minus the personal baseline",
            decimals,
            "quoted as 'N below/above their usual' in the same sentence",
        ),
    )


FEATURES: tuple[Feature, ...] = (
    *_stream("sleep", "Sleep", "h", 1, "hours of sleep per night"),
    Feature(
        "sleep_sd_14d",
        "night-to-night variation in sleep",
        "h",
        "sleep_variability",
        "standard deviation of nightly sleep over the last 14 days (at least 5 nights)",
        1,
        "'Sleep varied by about <v> h from night to night over the last 14 days'",
    ),
    *_stream("steps", "Daily steps", "steps", 0, "steps per wearable day"),
    *_stream("resting_hr", "Resting heart rate", "bpm", 0, "resting heart rate"),
    *_stream("hrv", "Heart-rate variability", "ms", 0, "HRV (RMSSD)"),
    *_stream("mood", "Mood", "/10", 1, "check-in mood (0 worst, 10 best)"),
    Feature(
        "mood_sd_14d",
        "day-to-day variation in mood",
        "points",
        "mood_variability",
        "standard deviation of daily mood over the last 14 days (at least 5 days)",
        1,
        "'Mood varied by about <v> points from day to day over the last 14 days'",
    ),
    *_stream("anxiety", "Anxiety", "/10", 1, "check-in anxiety (0 none, 10 worst)"),
    Feature(
        "phq9_latest",
        "latest PHQ-9",
        "points",
        "phq9",
        "total of the latest PHQ-9 on or before the date",
        0,
        "'PHQ-9 was <v> on <date>, up/down N points over the last 4 weeks'",
    ),
    Feature(
        "phq9_change_28d",
        "PHQ-9 change over 4 weeks",
        "points",
        "phq9",
        "latest PHQ-9 minus the first one in the last 28 days (at least two)",
        0,
        "quoted as 'up/down N points over the last 4 weeks'",
    ),
    Feature(
        "phq9_slope_56d",
        "PHQ-9 trend",
        "points/week",
        "phq9",
        "least-squares slope of PHQ-9 totals over the last 56 days (at least three)",
        1,
        "'PHQ-9 has been rising/falling by about N points a week'",
    ),
    Feature(
        "gad7_latest",
        "latest GAD-7",
        "points",
        "gad7",
        "total of the latest GAD-7 on or before the date",
        0,
        "'GAD-7 was <v>, up/down N points over the last 4 weeks'",
    ),
    Feature(
        "gad7_change_28d",
        "GAD-7 change over 4 weeks",
        "points",
        "gad7",
        "latest GAD-7 minus the first one in the last 28 days (at least two)",
        0,
        "quoted with the latest GAD-7",
    ),
    Feature(
        "gad7_slope_56d",
        "GAD-7 trend",
        "points/week",
        "gad7",
        "least-squares slope of GAD-7 totals over the last 56 days (at least three)",
        1,
        "'GAD-7 has been rising/falling by about N points a week'",
    ),
    Feature(
        "days_since_assessment",
        "days since the last questionnaire",
        "days",
        "assessment_recency",
        "days since the latest PHQ-9 or GAD-7 (missing if none)",
        0,
        "'Last questionnaire was N days ago'",
    ),
    Feature(
        "item9_latest",
        "item 9 on the latest PHQ-9",
        "0-3",
        "item9",
        "answer to PHQ-9 item 9 (thoughts of self-harm) on the latest PHQ-9",
        0,
        "'PHQ-9 item 9 (thoughts of self-harm) was <v> on the latest questionnaire'",
    ),
    Feature(
        "item9_positive_90d",
        "PHQ-9s with item 9 above 0, last 90 days",
        "questionnaires",
        "item9",
        "PHQ-9s in the last 90 days with item 9 above 0 (missing if no PHQ-9)",
        0,
        "'Item 9 was above 0 on N questionnaires in the last 90 days'",
    ),
    Feature(
        "checkin_days_7d",
        "check-in days, last 7",
        "days",
        "checkins",
        "days with a check-in in the last 7",
        0,
        "'Checked in on N of the last 14 days; last check-in D days ago'",
    ),
    Feature(
        "checkin_days_14d",
        "check-in days, last 14",
        "days",
        "checkins",
        "days with a check-in in the last 14",
        0,
        "as above",
    ),
    Feature(
        "checkin_days_28d",
        "check-in days, last 28",
        "days",
        "checkins",
        "days with a check-in in the last 28",
        0,
        "as above",
    ),
    Feature(
        "checkin_days_baseline",
        "usual check-in days per week",
        "days",
        "checkins",
        f"check-in days per 7 days over days {BASELINE_WINDOW[0]}-{BASELINE_WINDOW[1]} before "
        "(missing with fewer than 14 days in care then)",
        1,
        "quoted as 'usually N days a week'",
    ),
    Feature(
        "checkin_delta",
        "change in check-in days from usual",
        "days",
        "checkins",
        "check-in days in the last 7 minus the usual days per week",
        1,
        "as above",
    ),
    Feature(
        "days_since_checkin",
        "days since the last check-in",
        "days",
        "checkins",
        "days since the latest check-in (missing if never)",
        0,
        "as above",
    ),
    Feature(
        "messages_14d",
        "messages sent, last 14 days",
        "messages",
        "messages",
        "messages the patient sent in the last 14 days",
        0,
        "'Sent N messages in the last 14 days (M in the two weeks before); last D days ago'",
    ),
    Feature(
        "message_trend",
        "change in messages sent",
        "messages",
        "messages",
        "messages in the last 14 days minus messages in the 14 days before",
        0,
        "as above",
    ),
    Feature(
        "days_since_message",
        "days since the last message",
        "days",
        "messages",
        "days since the patient's latest message (missing if never)",
        0,
        "as above",
    ),
    Feature(
        "no_show_rate_90d",
        "missed appointments, last 90 days",
        "%",
        "appointments",
        "no-shows / (attended + no-shows) over the last 90 days (missing if none)",
        0,
        "'Missed N% of appointments in the last 90 days'",
    ),
    Feature(
        "sentiment_14d",
        "message sentiment, last 14 days",
        "(-1 to +1)",
        "sentiment",
        "mean sentiment of the patient's messages over the last 14 days",
        2,
        "'Message tone averaged <v> (-1 to +1) over the last 14 days, N below/above usual'",
    ),
    Feature(
        "sentiment_trend",
        "change in message sentiment",
        "(-1 to +1)",
        "sentiment",
        "14-day mean sentiment minus the mean over days 15-60 before",
        2,
        "quoted in the same sentence",
    ),
    Feature(
        "flags_28d",
        "flagged messages, last 28 days",
        "messages",
        "flags",
        "patient messages flagged for concern or crisis language in the last 28 days",
        0,
        "'N messages flagged for concerning language in the last 28 days'",
    ),
    Feature(
        "wear_days_14d",
        "wearable days, last 14",
        "days",
        "wearable_coverage",
        "days with wearable data in the last 14",
        0,
        "'Wearable data on N of the last 14 days'",
    ),
    Feature(
        "sentiment_available",
        "message sentiment available",
        "yes/no",
        "sentiment_coverage",
        "1 if any message in the last 28 days has a sentiment score, else 0",
        0,
        "'Message sentiment was (not) available in the last 28 days'",
    ),
    Feature(
        "events_180d",
        "recorded clinical events, last 180 days",
        "events",
        "events",
        "relapse, hospitalization, crisis-contact or self-harm events in the last 180 days",
        0,
        "'N recorded relapse, hospitalization, crisis or self-harm events in 180 days'",
    ),
    Feature(
        "days_in_care",
        "days in care",
        "days",
        "days_in_care",
        "days since enrolment",
        0,
        "'In care for N days'",
    ),
)
FEATURE_NAMES: tuple[str, ...] = tuple(f.name for f in FEATURES)
FEATURES_BY_NAME = {f.name: f for f in FEATURES}


def weekly_as_of_dates(con: duckdb.DuckDBPyConnection, *, min_history_days: int = 28) -> list[date]:
    """Every Sunday from ``min_history_days`` after the first data day to the last data day."""
    from analytics.serving import data_as_of

    end = data_as_of(con)
    if end is None:
        return []
    first = con.execute(
        """SELECT least(
               (SELECT min(CAST(checked_in_at AS DATE)) FROM wh.checkins),
               (SELECT min(CAST(sent_at AS DATE)) FROM wh.messages),
               (SELECT min(date) FROM wh.wearable_daily),
               (SELECT min(CAST(completed_at AS DATE)) FROM wh.assessments))"""
    ).fetchall()[0][0]
    rows = con.execute(
        """SELECT CAST(d AS DATE) FROM generate_series(
               CAST($start AS TIMESTAMP), CAST($end AS TIMESTAMP), INTERVAL 1 DAY) t(d)
           WHERE dayofweek(d) = 0 ORDER BY 1""",
        {"start": first + timedelta(days=min_history_days), "end": end},
    ).fetchall()
    return [r[0] for r in rows]


def _stream_sql(col: str) -> str:
    return f"""
        CASE WHEN count({col}) OVER w7 >= {MIN_RECENT_VALUES} THEN avg({col}) OVER w7 END
            AS {col}_7d,
        CASE WHEN count({col}) OVER wb >= {MIN_BASELINE_VALUES} THEN avg({col}) OVER wb END
            AS {col}_baseline"""


_STREAMS = ("sleep", "steps", "resting_hr", "hrv", "mood", "anxiety")
_CLINICAL = ", ".join(f"'{k}'" for k in CLINICAL_EVENT_KINDS)
_PHQ9_SUM = " + ".join(f"item_{i}" for i in range(1, 10))
_GAD7_SUM = " + ".join(f"item_{i}" for i in range(1, 8))


def _feature_sql(table: str) -> str:
    lo, hi = BASELINE_WINDOW
    streams = ",".join(_stream_sql(s) for s in _STREAMS)
    deltas = ",\n".join(f"{s}_7d - {s}_baseline AS {s}_delta" for s in _STREAMS)
    return f"""
CREATE OR REPLACE TEMP TABLE "{table}" AS
WITH
bounds AS (SELECT min(as_of) AS lo, max(as_of) AS hi FROM _feature_as_of),
pts AS (
    SELECT p.patient_id, p.enrolled_on, p.discharged_on
    FROM wh.patients p, bounds b
    WHERE p.enrolled_on <= b.hi AND (p.discharged_on IS NULL OR p.discharged_on > b.lo)),
ck AS (
    SELECT patient_id, CAST(checked_in_at AS DATE) AS d, count(*) AS checkins,
           avg(mood) AS mood, avg(anxiety) AS anxiety
    FROM wh.checkins, bounds WHERE CAST(checked_in_at AS DATE) <= bounds.hi GROUP BY ALL),
wd AS (
    SELECT patient_id, d,
           CASE WHEN wear_day THEN sleep END AS sleep,
           CASE WHEN wear_day THEN steps END AS steps,
           resting_hr, hrv, wear_day
    FROM (
        -- several sources on one day: the one worn longest
        SELECT patient_id, date AS d,
               arg_max(sleep_minutes, coalesce(wear_minutes, 0)) / 60.0 AS sleep,
               arg_max(steps, coalesce(wear_minutes, 0)) AS steps,
               arg_max(resting_hr, coalesce(wear_minutes, 0)) AS resting_hr,
               arg_max(hrv_rmssd_ms, coalesce(wear_minutes, 0)) AS hrv,
               (count(sleep_minutes) + count(resting_hr) + count(hrv_rmssd_ms) > 0
                OR coalesce(max(wear_minutes), 0) >= {MIN_WEAR_MINUTES}) AS wear_day
        FROM wh.wearable_daily, bounds WHERE date <= bounds.hi GROUP BY ALL)),
msg AS (
    SELECT patient_id, CAST(sent_at AS DATE) AS d, count(*) AS messages,
           sum(sentiment) AS sent_sum, count(sentiment) AS sent_n,
           count(*) FILTER (WHERE crisis_level IN ('concern', 'crisis')) AS flags
    FROM wh.messages, bounds
    WHERE sender = 'patient' AND CAST(sent_at AS DATE) <= bounds.hi GROUP BY ALL),
asm AS (
    SELECT patient_id, CAST(completed_at AS DATE) AS d,
           arg_max({_PHQ9_SUM}, completed_at) FILTER (WHERE instrument = 'PHQ-9') AS phq9,
           arg_max(item_9, completed_at) FILTER (WHERE instrument = 'PHQ-9') AS item9,
           arg_max({_GAD7_SUM}, completed_at) FILTER (WHERE instrument = 'GAD-7') AS gad7
    FROM wh.assessments, bounds
    WHERE CAST(completed_at AS DATE) <= bounds.hi GROUP BY ALL),
appt AS (
    SELECT patient_id, CAST(scheduled_at AS DATE) AS d,
           count(*) FILTER (WHERE status = 'attended') AS attended,
           count(*) FILTER (WHERE status = 'no_show') AS no_shows
    FROM wh.appointments, bounds
    WHERE CAST(scheduled_at AS DATE) <= bounds.hi GROUP BY ALL),
ev AS (
    SELECT patient_id, CAST(occurred_at AS DATE) AS d, count(*) AS events
    FROM wh.events, bounds
    WHERE kind IN ({_CLINICAL}) AND CAST(occurred_at AS DATE) <= bounds.hi GROUP BY ALL),
first_day AS (
    SELECT patient_id, min(d) AS d FROM (
        SELECT patient_id, d FROM ck UNION ALL SELECT patient_id, d FROM wd
        UNION ALL SELECT patient_id, d FROM msg UNION ALL SELECT patient_id, d FROM asm
        UNION ALL SELECT patient_id, d FROM appt UNION ALL SELECT patient_id, d FROM ev)
    GROUP BY patient_id),
span AS (
    -- The calendar starts at the earlier of enrolment and the first data day. When the
    -- first data day is after an as-of date the start is enrolment, so later data never
    -- moves it for an as-of date the patient is active on.
    SELECT p.patient_id, p.enrolled_on,
           least(p.enrolled_on, coalesce(f.d, p.enrolled_on)) AS start,
           least(b.hi, coalesce(p.discharged_on - 1, b.hi)) AS stop
    FROM pts p LEFT JOIN first_day f USING (patient_id), bounds b),
cal AS (
    SELECT patient_id, enrolled_on, start + CAST(i AS INTEGER) AS d
    FROM span, range(0, CAST(stop - start AS BIGINT) + 1) r(i)
    WHERE stop >= start),
daily AS (
    SELECT c.patient_id, c.d, c.enrolled_on,
           date_diff('day', DATE '1970-01-01', c.d) AS dn,
           coalesce(ck.checkins, 0) AS checkins, ck.mood, ck.anxiety,
           wd.sleep, wd.steps, wd.resting_hr, wd.hrv, coalesce(wd.wear_day, false) AS wear_day,
           coalesce(msg.messages, 0) AS messages, coalesce(msg.sent_sum, 0) AS sent_sum,
           coalesce(msg.sent_n, 0) AS sent_n, coalesce(msg.flags, 0) AS flags,
           asm.phq9, asm.item9, asm.gad7,
           coalesce(appt.attended, 0) AS attended, coalesce(appt.no_shows, 0) AS no_shows,
           coalesce(ev.events, 0) AS events
    FROM cal c
    LEFT JOIN ck USING (patient_id, d) LEFT JOIN wd USING (patient_id, d)
    LEFT JOIN msg USING (patient_id, d) LEFT JOIN asm USING (patient_id, d)
    LEFT JOIN appt USING (patient_id, d) LEFT JOIN ev USING (patient_id, d)),
win AS (
    SELECT patient_id, d, enrolled_on, {streams},
        CASE WHEN count(sleep) OVER w14 >= 5 THEN stddev_samp(sleep) OVER w14 END
            AS sleep_sd_14d,
        CASE WHEN count(mood) OVER w14 >= 5 THEN stddev_samp(mood) OVER w14 END
            AS mood_sd_14d,
        last_value(phq9 IGNORE NULLS) OVER wall AS phq9_latest,
        CASE WHEN count(phq9) OVER w29 >= 2
             THEN last_value(phq9 IGNORE NULLS) OVER w29 - first_value(phq9 IGNORE NULLS) OVER w29
        END AS phq9_change_28d,
        CASE WHEN count(phq9) OVER w56 >= 3 THEN 7 * regr_slope(phq9, dn) OVER w56 END
            AS phq9_slope_56d,
        last_value(gad7 IGNORE NULLS) OVER wall AS gad7_latest,
        CASE WHEN count(gad7) OVER w29 >= 2
             THEN last_value(gad7 IGNORE NULLS) OVER w29 - first_value(gad7 IGNORE NULLS) OVER w29
        END AS gad7_change_28d,
        CASE WHEN count(gad7) OVER w56 >= 3 THEN 7 * regr_slope(gad7, dn) OVER w56 END
            AS gad7_slope_56d,
        dn - max(CASE WHEN phq9 IS NOT NULL OR gad7 IS NOT NULL THEN dn END) OVER wall
            AS days_since_assessment,
        last_value(item9 IGNORE NULLS) OVER wall AS item9_latest,
        CASE WHEN count(item9) OVER w90 > 0
             THEN sum(CASE WHEN item9 > 0 THEN 1 ELSE 0 END) OVER w90 END AS item9_positive_90d,
        sum(CASE WHEN checkins > 0 THEN 1 ELSE 0 END) OVER w7 AS checkin_days_7d,
        sum(CASE WHEN checkins > 0 THEN 1 ELSE 0 END) OVER w14 AS checkin_days_14d,
        sum(CASE WHEN checkins > 0 THEN 1 ELSE 0 END) OVER w28 AS checkin_days_28d,
        CASE WHEN count(*) OVER wb >= 14
             THEN 7.0 * sum(CASE WHEN checkins > 0 THEN 1 ELSE 0 END) OVER wb / count(*) OVER wb
        END AS checkin_days_baseline,
        dn - max(CASE WHEN checkins > 0 THEN dn END) OVER wall AS days_since_checkin,
        sum(messages) OVER w14 AS messages_14d,
        sum(messages) OVER w14 - sum(messages) OVER wprev14 AS message_trend,
        dn - max(CASE WHEN messages > 0 THEN dn END) OVER wall AS days_since_message,
        100.0 * sum(no_shows) OVER w90
            / nullif(sum(attended) OVER w90 + sum(no_shows) OVER w90, 0) AS no_show_rate_90d,
        sum(sent_sum) OVER w14 / nullif(sum(sent_n) OVER w14, 0) AS sentiment_14d,
        sum(sent_sum) OVER wb / nullif(sum(sent_n) OVER wb, 0) AS sentiment_baseline,
        sum(flags) OVER w28 AS flags_28d,
        sum(CASE WHEN wear_day THEN 1 ELSE 0 END) OVER w14 AS wear_days_14d,
        CASE WHEN sum(sent_n) OVER w28 > 0 THEN 1 ELSE 0 END AS sentiment_available,
        sum(events) OVER w180 AS events_180d,
        date_diff('day', enrolled_on, d) AS days_in_care
    FROM daily
    WINDOW
        w7 AS (PARTITION BY patient_id ORDER BY d ROWS BETWEEN 6 PRECEDING AND CURRENT ROW),
        w14 AS (PARTITION BY patient_id ORDER BY d ROWS BETWEEN 13 PRECEDING AND CURRENT ROW),
        w28 AS (PARTITION BY patient_id ORDER BY d ROWS BETWEEN 27 PRECEDING AND CURRENT ROW),
        w29 AS (PARTITION BY patient_id ORDER BY d ROWS BETWEEN 28 PRECEDING AND CURRENT ROW),
        w56 AS (PARTITION BY patient_id ORDER BY d ROWS BETWEEN 55 PRECEDING AND CURRENT ROW),
        w90 AS (PARTITION BY patient_id ORDER BY d ROWS BETWEEN 89 PRECEDING AND CURRENT ROW),
        w180 AS (PARTITION BY patient_id ORDER BY d ROWS BETWEEN 179 PRECEDING AND CURRENT ROW),
        wprev14 AS (PARTITION BY patient_id ORDER BY d ROWS BETWEEN 27 PRECEDING AND 14 PRECEDING),
        wb AS (PARTITION BY patient_id ORDER BY d ROWS BETWEEN {hi} PRECEDING AND {lo} PRECEDING),
        wall AS (PARTITION BY patient_id ORDER BY d ROWS UNBOUNDED PRECEDING))
SELECT w.patient_id, a.as_of,
       {", ".join(f"CAST({n} AS DOUBLE) AS {n}" for n in FEATURE_NAMES)}
FROM (SELECT *, {deltas},
             sentiment_14d - sentiment_baseline AS sentiment_trend,
             checkin_days_7d - checkin_days_baseline AS checkin_delta
      FROM win) w
JOIN _feature_as_of a ON a.as_of = w.d
ORDER BY w.patient_id, a.as_of
"""


def build_features(
    con: duckdb.DuckDBPyConnection,
    *,
    as_of: date | Sequence[date],
    table: str = "features",
) -> int:
    """Create temp table ``table`` (patient_id, as_of, one DOUBLE column per feature).

    One row per patient active on each as-of date (enrolled on or before it and not
    discharged by it), from the warehouse attached as ``wh``. Returns the row count.
    """
    dates = [as_of] if isinstance(as_of, date) else list(as_of)
    con.execute("CREATE OR REPLACE TEMP TABLE _feature_as_of (as_of DATE)")
    if dates:
        con.executemany("INSERT INTO _feature_as_of VALUES (?)", [[d] for d in sorted(set(dates))])
    con.execute(_feature_sql(table))
    con.execute("DROP TABLE _feature_as_of")
    return con.execute(f'SELECT count(*) FROM "{table}"').fetchall()[0][0]


def feature_matrix(frame: pd.DataFrame, names: Sequence[str] = FEATURE_NAMES) -> np.ndarray:
    """The features of ``frame`` as a float64 array (NaN for missing), in ``names`` order.

    scikit-learn and SHAP get plain float64: pandas' nullable dtypes are not accepted by
    every SHAP code path.
    """
    cols = [pd.to_numeric(frame[n], errors="raise").astype("float64") for n in names]
    if not cols:
        return np.empty((len(frame), 0))
    return np.column_stack([c.to_numpy(dtype=np.float64, na_value=np.nan) for c in cols])
