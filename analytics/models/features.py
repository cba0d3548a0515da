"""As-of features for the risk models: the one place that defines them.

For each patient and each as-of date, every feature is computed from data dated on or
before that date only. The definitions are those of a dense per-patient daily calendar
(one row per patient per day, from the earlier of enrolment and the first data day up to
the last as-of date or the day before discharge) with rolling windows of n days ending
at the as-of day (or, for baselines, ending some days before it). A window never reaches
past its own as-of day, so no value can depend on anything after it: leakage-free by
construction, and checked by a property test that mutates later data.

How they are computed, for speed: DuckDB aggregates each source to one row per patient
and day (the SQL below), and numpy turns every window into a difference of prefix sums
over those rows, found by binary search on (patient, day) keys. Nothing is done per
calendar day, and nothing older than the longest window (180 days before the earliest
as-of date) is aggregated, except the few all-history facts (first data day, last
check-in, message and questionnaire). An earlier version computed the same values with
SQL window functions over a materialised calendar; it was several times slower and
agreed to 1e-9 on every feature (the benchmark's ``features_check`` stage compares
against an independent pandas implementation on every run).

Choices (documented here because explanations quote them):

- *Recent*, *their usual* (the personal baseline), their minimum counts and what counts
  as a wearable day are the product's one definition in :mod:`analytics.models.windows`
  (with the clinical reasons): recent is the last 7 days including the as-of date (at
  least 3 days with a value), usual is days 14-73 before it (at least 7 days with a
  value), so a change that started in the last two weeks does not hide in its own
  baseline. *Delta* is recent minus usual. The caseload's "sleep vs usual" and the
  patient chart's usual band are the same numbers.
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
import polars as pl

from analytics.clinical import prorated_total_sql
from analytics.models.windows import (
    DAILY_MEASURES,
    RECENT,
    USUAL,
    data_as_of,
    wearable_days_sql,
)
from analytics.settings import ClinicalSettings

__all__ = [
    "EPISODE_FEATURES",
    "EPISODE_HISTORY_SQL",
    "FEATURES",
    "FEATURE_NAMES",
    "WINDOW_REACH_DAYS",
    "Feature",
    "build_features",
    "feature_matrix",
    "weekly_as_of_dates",
]

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
    return (
        Feature(
            f"{key}_7d",
            f"{label}, last 7 days",
            unit,
            key,
            f"mean {what} over {RECENT.describe()} (at least {RECENT.min_values} days)",
            decimals,
            f"'{label} averaged <7d> {unit} over the last 7 days, <|delta|> {unit} "
            f"below/above their usual <baseline> {unit}'",
        ),
        Feature(
            f"{key}_baseline",
            f"usual {label.lower()}",
            unit,
            key,
            f"mean {what} over {USUAL.describe()} (at least {USUAL.min_values} days)",
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
        f"check-in days per 7 days over {USUAL.describe()} "
        f"(missing with fewer than {USUAL.min_values} days in care then)",
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
        f"14-day mean sentiment minus the mean over {USUAL.describe()} "
        f"(missing with fewer than {USUAL.min_values} scored messages then)",
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
    # Episode history, from questionnaire trajectories and recorded events (see
    # EPISODE_HISTORY_SQL): the strongest known predictors of a new episode.
    Feature(
        "episodes_so_far",
        "new episodes since enrolment",
        "episodes",
        "episode_history",
        "onsets of a new episode after a well period: a recorded relapse, hospitalization, "
        "crisis contact or self-harm, or reliable deterioration to caseness",
        0,
        "'N new episodes since enrolment'",
    ),
    Feature(
        "days_since_onset",
        "days since the last episode began",
        "days",
        "episode_history",
        "days since the latest onset (missing if none)",
        0,
        "'The last episode began N days ago'",
    ),
    Feature(
        "days_since_episode_end",
        "days since the last episode ended",
        "days",
        "episode_history",
        "days since the latest questionnaire below caseness on both measures that followed "
        "a questionnaire at caseness or an event (missing if never)",
        0,
        "'Well again for N days after an episode'",
    ),
    Feature(
        "in_episode",
        "in an episode",
        "yes/no",
        "episode_status",
        "1 if at caseness (PHQ-9 or GAD-7) at the latest questionnaire, or a clinical event "
        "was recorded after it; 0 if below caseness on both; missing without a questionnaire",
        0,
        "'In an episode' (a status, not a reason)",
    ),
)
EPISODE_FEATURES = ("episodes_so_far", "days_since_onset", "days_since_episode_end", "in_episode")
FEATURE_NAMES: tuple[str, ...] = tuple(f.name for f in FEATURES)
FEATURES_BY_NAME = {f.name: f for f in FEATURES}


def weekly_as_of_dates(con: duckdb.DuckDBPyConnection, *, min_history_days: int = 28) -> list[date]:
    """Every Sunday from ``min_history_days`` after the first data day to the last data day."""
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


_CLINICAL = ", ".join(f"'{k}'" for k in CLINICAL_EVENT_KINDS)
# The questionnaire total the dashboard shows (analytics.clinical: prorated under the
# published rule, NULL when too many items are blank), so a partly answered PHQ-9 counts.
_PHQ9_SUM = _GAD7_SUM = prorated_total_sql("instrument")

# Episode history as of each row of ``{rows}`` (patient_id, as_of), from every
# questionnaire and clinical event on or before the as-of date (all history, not only the
# 180-day reach: an episode a year ago still counts). A "mark" is a questionnaire day (the
# latest PHQ-9 and GAD-7 carried forward) or a clinical-event day. A mark is unwell at
# caseness on either measure or when it is an event; the patient stays in the state of
# their latest mark. An onset is an unwell mark after a well one that is an event or a
# reliable rise from the last well values; an episode ends at the first well mark after an
# unwell one. The presenting episode (unwell from the first mark) is not counted as a new
# episode. Parameters: $phq_case, $gad_case, $phq_rc, $gad_rc.
EPISODE_HISTORY_SQL = f"""
WITH sittings AS (
    SELECT patient_id, CAST(completed_at AS DATE) AS d,
           arg_max({_PHQ9_SUM}, completed_at) FILTER (WHERE instrument = 'PHQ-9') AS phq9,
           arg_max({_GAD7_SUM}, completed_at) FILTER (WHERE instrument = 'GAD-7') AS gad7
    FROM wh.assessments
    WHERE patient_id IN (SELECT DISTINCT patient_id FROM {{rows}})
      AND CAST(completed_at AS DATE) <= (SELECT max(as_of) FROM {{rows}})
    GROUP BY ALL),
marks AS (
    SELECT patient_id, d, 0 AS is_event,
           last_value(phq9 IGNORE NULLS) OVER w AS phq9,
           last_value(gad7 IGNORE NULLS) OVER w AS gad7
    FROM sittings
    WINDOW w AS (PARTITION BY patient_id ORDER BY d
                 ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
    UNION ALL
    SELECT DISTINCT patient_id, CAST(occurred_at AS DATE), 1, NULL, NULL
    FROM wh.events
    WHERE kind IN ({", ".join(f"'{k}'" for k in CLINICAL_EVENT_KINDS)})
      AND patient_id IN (SELECT DISTINCT patient_id FROM {{rows}})
      AND CAST(occurred_at AS DATE) <= (SELECT max(as_of) FROM {{rows}})),
states AS (
    SELECT *, (is_event = 1 OR coalesce(phq9 >= $phq_case, FALSE)
               OR coalesce(gad7 >= $gad_case, FALSE)) AS unwell
    FROM marks),
ordered AS (
    SELECT *,
           lag(unwell) OVER w AS prev_unwell,
           -- the last well values before this mark, to judge a reliable rise
           last_value(CASE WHEN NOT unwell THEN phq9 END IGNORE NULLS) OVER wp AS well_phq9,
           last_value(CASE WHEN NOT unwell THEN gad7 END IGNORE NULLS) OVER wp AS well_gad7
    FROM states
    WINDOW w AS (PARTITION BY patient_id ORDER BY d, is_event),
           wp AS (PARTITION BY patient_id ORDER BY d, is_event
                  ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)),
flagged AS (
    SELECT patient_id, d, is_event, unwell,
           unwell AND prev_unwell = FALSE
             AND (is_event = 1 OR phq9 >= well_phq9 + $phq_rc
                  OR gad7 >= well_gad7 + $gad_rc) AS onset,
           NOT unwell AND prev_unwell = TRUE AS ended
    FROM ordered)
SELECT r.patient_id, r.as_of,
       CAST(count(*) FILTER (WHERE m.onset) AS DOUBLE) AS episodes_so_far,
       CAST(r.as_of - max(m.d) FILTER (WHERE m.onset) AS DOUBLE) AS days_since_onset,
       CAST(r.as_of - max(m.d) FILTER (WHERE m.ended) AS DOUBLE) AS days_since_episode_end,
       CAST(arg_max(m.unwell, (m.d - DATE '1970-01-01') * 2 + m.is_event) AS DOUBLE)
           AS in_episode
FROM {{rows}} r LEFT JOIN flagged m ON m.patient_id = r.patient_id AND m.d <= r.as_of
GROUP BY r.patient_id, r.as_of
"""
# The longest window (events over 180 days) reaches this many days back, as-of day included:
# nothing older than that enters a windowed feature, so no older day is read for one.
WINDOW_REACH_DAYS = 180
_DAY = "CAST(date_diff('day', DATE '1970-01-01', {}) AS INTEGER)"

# Each source as (patient, day) rows with the day's values, like the serving tables' daily
# aggregates. $lo and $hi bound the days read.
_SOURCES: dict[str, str] = {
    "ck": """
        SELECT patient_id, CAST(checked_in_at AS DATE) AS d, count(*) AS checkins,
               avg(mood) AS mood, avg(anxiety) AS anxiety
        FROM wh.checkins WHERE CAST(checked_in_at AS DATE) BETWEEN $lo AND $hi GROUP BY ALL""",
    # The valid wearable days and their measures, by the one rule the serving tables use.
    "wd": f"""
        SELECT patient_id, date AS d, sleep_minutes / 60.0 AS sleep, steps, resting_hr,
               hrv_rmssd_ms AS hrv, wear_day
        FROM ({wearable_days_sql("x.date BETWEEN $lo AND $hi")})""",
    "msg": """
        SELECT patient_id, CAST(sent_at AS DATE) AS d, count(*) AS messages,
               sum(sentiment) AS sent_sum, count(sentiment) AS sent_n,
               count(*) FILTER (WHERE crisis_level IN ('concern', 'crisis')) AS flags
        FROM wh.messages
        WHERE sender = 'patient' AND CAST(sent_at AS DATE) BETWEEN $lo AND $hi GROUP BY ALL""",
    "asm": f"""
        SELECT patient_id, CAST(completed_at AS DATE) AS d,
               arg_max({_PHQ9_SUM}, completed_at) FILTER (WHERE instrument = 'PHQ-9') AS phq9,
               arg_max(item_9, completed_at) FILTER (WHERE instrument = 'PHQ-9') AS item9,
               arg_max({_GAD7_SUM}, completed_at) FILTER (WHERE instrument = 'GAD-7') AS gad7
        FROM wh.assessments WHERE CAST(completed_at AS DATE) BETWEEN $lo AND $hi GROUP BY ALL""",
    "appt": """
        SELECT patient_id, CAST(scheduled_at AS DATE) AS d,
               count(*) FILTER (WHERE status = 'attended') AS attended,
               count(*) FILTER (WHERE status = 'no_show') AS no_shows
        FROM wh.appointments WHERE CAST(scheduled_at AS DATE) BETWEEN $lo AND $hi GROUP BY ALL""",
    "ev": f"""
        SELECT patient_id, CAST(occurred_at AS DATE) AS d, count(*) AS events
        FROM wh.events
        WHERE kind IN ({_CLINICAL}) AND CAST(occurred_at AS DATE) BETWEEN $lo AND $hi
        GROUP BY ALL""",
}

# What each patient's history before the window reach says: the first day with any data
# (where the daily calendar starts) and the latest check-in, message and questionnaire
# answers (the "days since" and "latest" features look back without limit).
_HISTORY_SQL = f"""
WITH days AS (
    SELECT patient_id, min(d) AS first_day,
           max(d) FILTER (WHERE src = 'ck' AND d < $reach) AS checkin_before,
           max(d) FILTER (WHERE src = 'msg' AND d < $reach) AS message_before
    FROM (
        SELECT patient_id, CAST(checked_in_at AS DATE) AS d, 'ck' AS src FROM wh.checkins
        UNION ALL SELECT patient_id, date, 'wd' FROM wh.wearable_daily
        UNION ALL SELECT patient_id, CAST(sent_at AS DATE), 'msg' FROM wh.messages
                  WHERE sender = 'patient'
        UNION ALL SELECT patient_id, CAST(completed_at AS DATE), 'asm' FROM wh.assessments
        UNION ALL SELECT patient_id, CAST(scheduled_at AS DATE), 'appt' FROM wh.appointments
        UNION ALL SELECT patient_id, CAST(occurred_at AS DATE), 'ev' FROM wh.events
                  WHERE kind IN ({_CLINICAL}))
    WHERE d <= $hi GROUP BY patient_id),
asm AS (
    -- the latest answers per day first, as the calendar sees them, then the latest day
    SELECT patient_id,
           arg_max(phq9, d) FILTER (WHERE phq9 IS NOT NULL) AS phq9_before,
           arg_max(item9, d) FILTER (WHERE item9 IS NOT NULL) AS item9_before,
           arg_max(gad7, d) FILTER (WHERE gad7 IS NOT NULL) AS gad7_before,
           max(d) FILTER (WHERE phq9 IS NOT NULL OR gad7 IS NOT NULL) AS assessed_before
    FROM ({_SOURCES["asm"].replace("BETWEEN $lo AND $hi", "< $reach")})
    GROUP BY patient_id)
SELECT p.pid, {_DAY.format("p.enrolled_on")} AS enrolled,
       {_DAY.format("least($hi, coalesce(p.discharged_on - 1, $hi))")} AS stop,
       {_DAY.format("least(p.enrolled_on, coalesce(days.first_day, p.enrolled_on))")} AS start,
       {_DAY.format("days.checkin_before")} AS checkin_before,
       {_DAY.format("days.message_before")} AS message_before,
       {_DAY.format("asm.assessed_before")} AS assessed_before,
       CAST(asm.phq9_before AS DOUBLE) AS phq9_before,
       CAST(asm.item9_before AS DOUBLE) AS item9_before,
       CAST(asm.gad7_before AS DOUBLE) AS gad7_before
FROM _f_pts p LEFT JOIN days USING (patient_id) LEFT JOIN asm USING (patient_id)
ORDER BY p.pid
"""


def _array(values, dtype) -> np.ndarray:
    """A fetched column as a plain array: NULL becomes NaN (floats) or ``_NO_DAY`` (ints)."""
    if np.ma.isMaskedArray(values):
        fill = np.nan if np.dtype(dtype).kind == "f" else _NO_DAY
        return np.ma.filled(values.astype(dtype), fill)
    return np.asarray(values, dtype=dtype)


_NO_DAY = np.iinfo(np.int32).min  # a missing day number
_EPOCH = date(1970, 1, 1)
_ANSWERS_BEFORE = ("phq9_before", "item9_before", "gad7_before")


def _fetch_sources(con: duckdb.DuckDBPyConnection, lo: date, hi: date) -> dict[str, dict]:
    """Every source's (patient index, day) rows from ``lo`` to ``hi``, sorted by patient."""
    out = {}
    for name, sql in _SOURCES.items():
        fetched = con.execute(
            f"""SELECT p.pid, {_DAY.format("s.d")} AS day, s.* EXCLUDE (patient_id, d)
                FROM ({sql}) s JOIN _f_pts p USING (patient_id) ORDER BY p.pid, day""",
            {"lo": lo, "hi": hi},
        ).fetchnumpy()
        out[name] = {
            k: _array(v, np.int32 if k in ("pid", "day") else np.float64)
            for k, v in fetched.items()
        }
    return out


class _Source:
    """One source's (patient, day) rows inside the window reach, sorted by patient and day,
    for window sums over the as-of rows.

    A window's sum is a difference of prefix sums over the source's rows, found by binary
    search of (patient, day) keys: the work grows with the rows and the as-of rows, not
    with a patient-by-day calendar. Integer sums are exact; float values are centred on
    the patient's mean first, so prefix sums stay small and precise.
    """

    def __init__(self, cols: dict[str, np.ndarray], rows: _Rows) -> None:
        pid = cols["pid"]
        # Days after discharge are not in the patient's calendar.
        keep = cols["day"] <= rows.stop[pid]
        self.cols = {k: v[keep] for k, v in cols.items()}
        self.pid = self.cols["pid"].astype(np.int64)
        self.key = (self.pid << _DAY_BITS) | (self.cols["day"] - rows.day0)
        self.rows = rows
        self._index: dict[tuple[int, str], np.ndarray] = {}
        self.n = len(self.key)

    def index(self, offset: int, side: str) -> np.ndarray:
        """Per as-of row: the position of (patient, t - offset) among the source's keys."""
        found = self._index.get((offset, side))
        if found is None:
            found = np.searchsorted(self.key, self.rows.key - offset, side=side)
            self._index[(offset, side)] = found
        return found

    def window(self, prefix: np.ndarray, a: int, b: int = 0) -> np.ndarray:
        """Sum over days [t-a, t-b] of the values behind ``prefix``."""
        return prefix[self.index(b, "right")] - prefix[self.index(a, "left")]

    def present(self, column: str) -> np.ndarray:
        values = self.cols[column]
        return ~np.isnan(values) if values.dtype.kind == "f" else values > 0

    def counts(self, mask: np.ndarray) -> np.ndarray:
        """Prefix counts of rows where ``mask``."""
        return _prefix(mask.astype(np.int64))

    def ints(self, values: np.ndarray) -> np.ndarray:
        """Prefix sums of a whole-number column (missing as 0)."""
        return _prefix(np.nan_to_num(values, nan=0).astype(np.int64))

    def latest(self, mask: np.ndarray, values: np.ndarray, seed: np.ndarray) -> np.ndarray:
        """The last value where ``mask`` on or before t, looking back without limit (the
        patient's value from before the reach, ``seed``, when the reach has none)."""
        if self.n == 0:
            return seed[self.rows.pid]
        last = np.maximum.accumulate(np.where(mask, np.arange(self.n), -1))
        at = self.index(0, "right") - 1
        j = np.where(at >= 0, last[np.maximum(at, 0)], -1)
        safe = np.maximum(j, 0)
        mine = (j >= 0) & (self.pid[safe] == self.rows.pid)
        return np.where(mine, values[safe], seed[self.rows.pid])

    def days_since(self, mask: np.ndarray, seed: np.ndarray) -> np.ndarray:
        """Days since the last row where ``mask``, without limit (NaN: never)."""
        day = self.cols["day"].astype(np.int64)
        last_day = self.latest(mask, day, seed.astype(np.int64))
        return np.where(last_day == _NO_DAY, np.nan, (self.rows.t - last_day).astype(np.float64))

    def first_in(self, mask: np.ndarray, values: np.ndarray, a: int) -> np.ndarray:
        """The first value where ``mask`` on or after t-a (callers check there is one)."""
        if self.n == 0:
            return np.full(len(self.rows.t), np.nan)
        after = np.minimum.accumulate(np.where(mask, np.arange(self.n), self.n - 1)[::-1])[::-1]
        return values[after[np.minimum(self.index(a, "left"), self.n - 1)]]


class _Stream:
    """Means and spreads of one float column of a source over the as-of rows."""

    def __init__(self, source: _Source, column: str) -> None:
        values = source.cols[column]
        self.source = source
        self.mask = ~np.isnan(values)
        n_pid = len(source.rows.stop)
        weights = np.where(self.mask, values, 0.0)
        count = np.bincount(source.pid, weights=self.mask, minlength=n_pid)
        centre = np.bincount(source.pid, weights=weights, minlength=n_pid) / np.maximum(count, 1)
        self.centred = np.where(self.mask, values - centre[source.pid], 0.0)
        self.sums = _prefix(self.centred)
        self.counts = source.counts(self.mask)
        self.centre = centre[source.rows.pid]

    def total(self, a: int, b: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """(sum of values, number of values) over days [t-a, t-b]."""
        n = self.source.window(self.counts, a, b)
        return self.source.window(self.sums, a, b) + self.centre * n, n

    def mean(self, a: int, b: int, minimum: int) -> np.ndarray:
        """The mean over days [t-a, t-b], NaN with fewer than ``minimum`` values."""
        total, n = self.total(a, b)
        return np.where(n >= minimum, total / np.maximum(n, 1), np.nan)

    def sd(self, a: int, minimum: int) -> np.ndarray:
        """Sample standard deviation over days [t-a, t], from the values themselves.

        A window holds at most a+1 rows (one per day), so they are gathered and summed in
        two passes: differences of prefix sums of squares lose the precision that the
        square root then magnifies when the spread is near zero.
        """
        lo, hi = self.source.index(a, "left"), self.source.index(0, "right")
        if self.source.n == 0:
            return np.full(len(lo), np.nan)
        at = lo[:, None] + np.arange(a + 1)
        safe = np.minimum(at, self.source.n - 1)
        present = (at < hi[:, None]) & self.mask[safe]
        values = self.centred[safe]
        n = present.sum(axis=1)
        mean = values.sum(axis=1, where=present) / np.maximum(n, 1)
        squares = ((values - mean[:, None]) ** 2).sum(axis=1, where=present)
        return np.where(n >= minimum, np.sqrt(squares / np.maximum(n - 1, 1)), np.nan)


def _prefix(values: np.ndarray) -> np.ndarray:
    """Prefix sums with a leading zero: the sum of rows [i, j) is P[j] - P[i]."""
    out = np.zeros(len(values) + 1, dtype=values.dtype)
    np.cumsum(values, out=out[1:])
    return out


_DAY_BITS = 20  # days from the reach to the last as-of date fit in 20 bits


@dataclass(frozen=True)
class _Rows:
    """The (patient, as-of day) rows to compute, patient-major, with their search keys."""

    pid: np.ndarray
    t: np.ndarray
    key: np.ndarray
    day0: int
    start: np.ndarray  # per patient: the calendar's first day
    stop: np.ndarray  # per patient: the calendar's last day

    def frame_days(self, a: int, b: int = 0) -> np.ndarray:
        """Calendar days in [t-a, t-b]: the row count of that frame in a dense calendar."""
        return np.maximum(0, (self.t - b) - np.maximum(self.t - a, self.start[self.pid]) + 1)


# Where each daily measure of analytics.models.windows.DAILY_MEASURES is read: (source, column).
_STREAM_SOURCES = {
    "sleep": ("wd", "sleep"),
    "steps": ("wd", "steps"),
    "resting_hr": ("wd", "resting_hr"),
    "hrv": ("wd", "hrv"),
    "mood": ("ck", "mood"),
    "anxiety": ("ck", "anxiety"),
}


def _features(rows: _Rows, fetched: dict[str, dict], before: dict) -> dict[str, np.ndarray]:
    """Every feature for ``rows``, as float64 (NaN: missing). Each window is the frame of
    the definition: days [t-a, t-b] around the as-of day t."""
    out: dict[str, np.ndarray] = {}
    src = {name: _Source(cols, rows) for name, cols in fetched.items()}

    # numeric streams: the last 7 days, the personal baseline, the change, the spread
    for key in DAILY_MEASURES:
        name, column = _STREAM_SOURCES[key]
        stream = _Stream(src[name], column)
        out[f"{key}_7d"] = stream.mean(RECENT.oldest, RECENT.newest, RECENT.min_values)
        out[f"{key}_baseline"] = stream.mean(USUAL.oldest, USUAL.newest, USUAL.min_values)
        out[f"{key}_delta"] = out[f"{key}_7d"] - out[f"{key}_baseline"]
        if key in ("sleep", "mood"):
            out[f"{key}_sd_14d"] = stream.sd(13, 5)

    # questionnaires
    asm = src["asm"]
    day = asm.cols["day"].astype(np.int64)
    for key in ("phq9", "gad7"):
        values = asm.cols[key]
        mask = asm.present(key)
        out[f"{key}_latest"] = asm.latest(mask, values, before[f"{key}_before"])
        counts = asm.counts(mask)
        # Least squares over 56 days in integers (totals and days are whole numbers, so
        # the sums are exact); x is the day counted from the reach.
        y = np.where(mask, np.nan_to_num(values), 0).astype(np.int64)
        x = np.where(mask, day - rows.day0, 0)
        n = asm.window(counts, 55)
        sx, sy = asm.window(_prefix(x), 55), asm.window(_prefix(y), 55)
        sxy, sxx = asm.window(_prefix(x * y), 55), asm.window(_prefix(x * x), 55)
        with np.errstate(invalid="ignore", divide="ignore"):
            slope = (n * sxy - sx * sy) / (n * sxx - sx * sx)
        out[f"{key}_slope_56d"] = np.where(n >= 3, 7 * slope, np.nan)
        # The latest minus the first answer of the last 29 days (when there are two).
        first = asm.first_in(mask, values, 28)
        out[f"{key}_change_28d"] = np.where(
            asm.window(counts, 28) >= 2, out[f"{key}_latest"] - first, np.nan
        )
    assessed = asm.present("phq9") | asm.present("gad7")
    out["days_since_assessment"] = asm.days_since(assessed, before["assessed_before"])
    item9 = asm.cols["item9"]
    answered = asm.present("item9")
    out["item9_latest"] = asm.latest(answered, item9, before["item9_before"])
    positive = asm.window(asm.counts(np.nan_to_num(item9) > 0), 89)
    out["item9_positive_90d"] = np.where(asm.window(asm.counts(answered), 89) > 0, positive, np.nan)

    # check-ins (every row of the check-in source is a day with a check-in)
    ck = src["ck"]
    days = ck.counts(np.ones(ck.n, dtype=bool))
    for n in (7, 14, 28):
        out[f"checkin_days_{n}d"] = ck.window(days, n - 1).astype(np.float64)
    # Every day in care in the usual window is a value (checked in or not).
    base_days = rows.frame_days(USUAL.oldest, USUAL.newest)
    out["checkin_days_baseline"] = np.where(
        base_days >= USUAL.min_values,
        7.0 * ck.window(days, USUAL.oldest, USUAL.newest) / np.maximum(base_days, 1),
        np.nan,
    )
    out["checkin_delta"] = out["checkin_days_7d"] - out["checkin_days_baseline"]
    out["days_since_checkin"] = ck.days_since(np.ones(ck.n, dtype=bool), before["checkin_before"])

    # messages, sentiment, flags (every row of the message source has a message)
    msg = src["msg"]
    sent = msg.ints(msg.cols["messages"])
    out["messages_14d"] = msg.window(sent, 13).astype(np.float64)
    # The two weeks before are an empty frame (no sum) for a calendar under 15 days old.
    earlier = np.where(rows.frame_days(27, 14) > 0, msg.window(sent, 27, 14), np.nan)
    out["message_trend"] = out["messages_14d"] - earlier
    out["days_since_message"] = msg.days_since(np.ones(msg.n, dtype=bool), before["message_before"])
    scored = msg.ints(msg.cols["sent_n"])
    day_sums = _Stream(msg, "sent_sum")  # mean score = the days' sums / number of scores

    def sentiment(a: int, b: int = 0, minimum: int = 1) -> np.ndarray:
        n = msg.window(scored, a, b)
        return np.where(n >= minimum, day_sums.total(a, b)[0] / np.maximum(n, 1), np.nan)

    out["sentiment_14d"] = sentiment(13)
    # Each scored message is a value of the usual tone.
    usual = sentiment(USUAL.oldest, USUAL.newest, USUAL.min_values)
    out["sentiment_trend"] = out["sentiment_14d"] - usual
    out["sentiment_available"] = (msg.window(scored, 27) > 0).astype(np.float64)
    out["flags_28d"] = msg.window(msg.ints(msg.cols["flags"]), 27).astype(np.float64)

    # appointments, events, wearable coverage, time in care
    appt = src["appt"]
    attended = appt.window(appt.ints(appt.cols["attended"]), 89)
    no_shows = appt.window(appt.ints(appt.cols["no_shows"]), 89)
    seen = attended + no_shows
    out["no_show_rate_90d"] = np.where(seen > 0, 100.0 * no_shows / np.maximum(seen, 1), np.nan)
    ev = src["ev"]
    out["events_180d"] = ev.window(ev.ints(ev.cols["events"]), 179).astype(np.float64)
    wd = src["wd"]
    out["wear_days_14d"] = wd.window(wd.counts(wd.cols["wear_day"] > 0), 13).astype(np.float64)
    out["days_in_care"] = (rows.t - before["enrolled"][rows.pid]).astype(np.float64)
    return out


def build_features(
    con: duckdb.DuckDBPyConnection,
    *,
    as_of: date | Sequence[date],
    table: str = "features",
    clinical: ClinicalSettings | None = None,
) -> int:
    """Create temp table ``table`` (patient_id, as_of, one DOUBLE column per feature).

    One row per patient active on each as-of date (enrolled on or before it and not
    discharged by it), from the warehouse attached as ``wh``. Returns the row count.

    DuckDB aggregates each source to (patient, day) rows from 180 days before the earliest
    as-of date to the latest; numpy computes every window as a difference of prefix sums
    over those rows (SQL window functions over a dense calendar took several times longer
    for the same values). One as-of date, as scored at refresh, therefore reads 180 days
    of data, not the whole history: only each patient's first data day and their latest
    check-in, message and questionnaire from before then come from one grouped scan of
    the older rows.
    """
    dates = sorted(set([as_of] if isinstance(as_of, date) else as_of))
    schema = ", ".join(f'"{n}" DOUBLE' for n in FEATURE_NAMES)
    con.execute(
        f'CREATE OR REPLACE TEMP TABLE "{table}" (patient_id VARCHAR, as_of DATE, {schema})'
    )
    if not dates:
        return 0
    lo, hi = dates[0], dates[-1]
    reach = lo - timedelta(days=WINDOW_REACH_DAYS - 1)
    con.execute(
        """CREATE OR REPLACE TEMP TABLE _f_pts AS
           SELECT CAST(row_number() OVER (ORDER BY patient_id) - 1 AS INTEGER) AS pid,
                  patient_id, enrolled_on, discharged_on
           FROM wh.patients
           WHERE enrolled_on <= $hi AND (discharged_on IS NULL OR discharged_on > $lo)""",
        {"lo": lo, "hi": hi},
    )
    try:
        ids = con.execute("SELECT patient_id FROM _f_pts ORDER BY pid").fetchnumpy()["patient_id"]
        history = con.execute(_HISTORY_SQL, {"hi": hi, "reach": reach}).fetchnumpy()
        fetched = _fetch_sources(con, reach, hi)
    finally:
        con.execute("DROP TABLE IF EXISTS _f_pts")
    before = {
        k: _array(v, np.float64 if k in _ANSWERS_BEFORE else np.int32) for k, v in history.items()
    }
    start, stop = before["start"].astype(np.int64), before["stop"].astype(np.int64)
    days = np.array([(d - _EPOCH).days for d in dates], dtype=np.int64)
    # every (patient, as-of day) inside the patient's calendar, patient-major
    pid, which = np.nonzero((days[None, :] >= start[:, None]) & (days[None, :] <= stop[:, None]))
    day0 = (reach - _EPOCH).days
    t = days[which]
    rows = _Rows(pid, t, (pid.astype(np.int64) << _DAY_BITS) | (t - day0), day0, start, stop)
    values = _features(rows, fetched, before)
    for name in EPISODE_FEATURES:  # filled in SQL below
        values[name] = np.full(len(t), np.nan)
    frame = pl.DataFrame(
        {
            "patient_id": pl.Series(ids, dtype=pl.String).gather(pid),
            "as_of": pl.Series(t.astype(np.int32)).cast(pl.Date),
            **{n: values[n] for n in FEATURE_NAMES},
        }
    ).with_columns(pl.col(FEATURE_NAMES).fill_nan(None))
    con.register("_f_rows", frame)
    try:
        con.execute(f'INSERT INTO "{table}" SELECT * FROM _f_rows')
    finally:
        con.unregister("_f_rows")
    c = clinical or ClinicalSettings()
    sets = ", ".join(f'"{n}" = e."{n}"' for n in EPISODE_FEATURES)
    con.execute(
        f"""UPDATE "{table}" AS t SET {sets}
        FROM ({EPISODE_HISTORY_SQL.format(rows=f'"{table}"')}) AS e
        WHERE t.patient_id = e.patient_id AND t.as_of = e.as_of""",
        {
            "phq_case": c.phq9_caseness,
            "gad_case": c.gad7_caseness,
            "phq_rc": c.phq9_reliable_change,
            "gad_rc": c.gad7_reliable_change,
        },
    )
    return frame.height


def feature_matrix(frame: pd.DataFrame, names: Sequence[str] = FEATURE_NAMES) -> np.ndarray:
    """The features of ``frame`` as a float64 array (NaN for missing), in ``names`` order.

    scikit-learn and SHAP get plain float64: pandas' nullable dtypes are not accepted by
    every SHAP code path.
    """
    cols = [pd.to_numeric(frame[n], errors="raise").astype("float64") for n in names]
    if not cols:
        return np.empty((len(frame), 0))
    return np.column_stack([c.to_numpy(dtype=np.float64, na_value=np.nan) for c in cols])
