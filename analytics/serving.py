"""The serving tables: what the dashboard reads, built into a new snapshot file.

Every table is computed as of one date (``as_of``, the clinic-local date of the newest
check-in, message or wearable day unless given), from data on or before that date.

Tables (one row per ...):

- ``patient_summary`` (patient): care team, demographics, latest PHQ-9/GAD-7 with band and
  date, change from baseline and reliable-change status, item-9 flag and its date, the
  NHS paired outcome, last check-in, check-in adherence over 14 and 28 days, last patient
  message, unreviewed crisis/concern flags, wearable coverage over 14 days, sleep over the
  last 7 days against the usual (days 15-74 before; needs 14 nights), mood for each of
  the last 28 days (a list, None where no check-in).
- ``patient_daily`` (patient, date): mean mood and anxiety, sleep, steps, resting HR, HRV,
  patient message count and mean sentiment.
- ``assessments_scored`` (assessment): totals with band and item 9.
- ``flagged_messages`` (patient message flagged concern or crisis): level, matched phrase,
  text (for the treating clinician only; access rules apply on read).
- ``ingest_history`` (file ingested), ``quarantine`` (quarantined row: where and why, no
  cell values).
- ``clinicians``, ``snapshot_meta`` (one row).
"""

from __future__ import annotations

import json
import sqlite3
from datetime import date

import duckdb
import polars as pl

from analytics.clinical import band_sql, patient_outcomes
from analytics.contract import CONTRACT_VERSION
from analytics.settings import Settings


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


def reviewed_message_ids(workspace: sqlite3.Connection) -> list[str]:
    """Flagged messages a clinician has reviewed (their alert id is ``msg:<message_id>``)."""
    rows = workspace.execute(
        "SELECT DISTINCT alert_id FROM alert_actions WHERE alert_id LIKE 'msg:%'"
    ).fetchall()
    return [r[0][4:] for r in rows]


def build_serving_tables(
    con: duckdb.DuckDBPyConnection,
    *,
    settings: Settings,
    as_of: date,
    reviewed: list[str],
) -> None:
    """Create the serving tables in ``con`` (the new snapshot) from attached ``wh``."""
    params = {"as_of": as_of}
    clinical = settings.clinical
    con.execute("CREATE TABLE clinicians AS SELECT * EXCLUDE (_run_id) FROM wh.clinicians")
    item_sum = " + ".join(f"item_{i}" for i in range(1, 10) if i <= 7) + (
        " + coalesce(item_8, 0) + coalesce(item_9, 0)"
    )
    con.execute(
        f"""CREATE TABLE assessments_scored AS
        SELECT *, {band_sql("instrument", "total", settings=clinical)} AS band
        FROM (SELECT patient_id, completed_at, CAST(completed_at AS DATE) AS completed_on,
                     instrument, {item_sum} AS total, item_9
              FROM wh.assessments WHERE CAST(completed_at AS DATE) <= $as_of)
        ORDER BY patient_id, completed_at""",
        params,
    )
    outcomes = patient_outcomes(
        con.sql(
            "SELECT patient_id, instrument, completed_at, total, item_9 FROM assessments_scored"
        ).pl(),
        settings=clinical,
    )
    con.register("outcomes_frame", outcomes)
    con.execute("CREATE TEMP TABLE outcomes AS SELECT * FROM outcomes_frame")
    con.unregister("outcomes_frame")

    reviewed_frame = pl.DataFrame({"message_id": reviewed}, schema={"message_id": pl.String})
    con.register("reviewed_frame", reviewed_frame)
    con.execute(
        """CREATE TABLE flagged_messages AS
        SELECT m.message_id, m.patient_id, m.sent_at, m.crisis_level, m.crisis_matched,
               m.language, m.text, r.message_id IS NOT NULL AS reviewed
        FROM wh.messages m LEFT JOIN reviewed_frame r USING (message_id)
        WHERE m.sender = 'patient' AND m.crisis_level IN ('concern', 'crisis')
          AND CAST(m.sent_at AS DATE) <= $as_of
        ORDER BY m.sent_at""",
        params,
    )
    con.unregister("reviewed_frame")

    con.execute(
        """CREATE TABLE patient_daily AS
        WITH c AS (
            SELECT patient_id, CAST(checked_in_at AS DATE) AS date,
                   avg(mood) AS mood, avg(anxiety) AS anxiety, avg(energy) AS energy,
                   count(*) AS checkins
            FROM wh.checkins WHERE CAST(checked_in_at AS DATE) <= $as_of GROUP BY ALL),
        w AS (
            -- several sources on one day: keep the one worn longest
            SELECT patient_id, date,
                   arg_max(sleep_minutes, coalesce(wear_minutes, 0)) AS sleep_minutes,
                   arg_max(steps, coalesce(wear_minutes, 0)) AS steps,
                   arg_max(resting_hr, coalesce(wear_minutes, 0)) AS resting_hr,
                   arg_max(hrv_rmssd_ms, coalesce(wear_minutes, 0)) AS hrv_rmssd_ms,
                   max(wear_minutes) AS wear_minutes
            FROM wh.wearable_daily WHERE date <= $as_of GROUP BY ALL),
        m AS (
            SELECT patient_id, CAST(sent_at AS DATE) AS date, count(*) AS messages,
                   avg(sentiment) AS sentiment
            FROM wh.messages WHERE sender = 'patient' AND CAST(sent_at AS DATE) <= $as_of
            GROUP BY ALL)
        SELECT patient_id, date, c.mood, c.anxiety, c.energy, coalesce(c.checkins, 0) AS checkins,
               w.sleep_minutes, w.steps, w.resting_hr, w.hrv_rmssd_ms, w.wear_minutes,
               coalesce(m.messages, 0) AS messages, m.sentiment
        FROM c FULL JOIN w USING (patient_id, date) FULL JOIN m USING (patient_id, date)
        ORDER BY patient_id, date""",
        params,
    )

    lookback = int(settings.clinical.item9_lookback_days)
    con.execute(
        f"""CREATE TABLE patient_summary AS
        WITH checkin_stats AS (
            SELECT patient_id,
                   count(*) FILTER (WHERE checkins > 0 AND date > $as_of - 14) AS checkin_days_14d,
                   count(*) FILTER (WHERE checkins > 0 AND date > $as_of - 28) AS checkin_days_28d,
                   count(*) FILTER (
                       WHERE date > $as_of - 14
                         AND (wear_minutes IS NULL OR wear_minutes > 0)
                         AND coalesce(sleep_minutes, steps, resting_hr, hrv_rmssd_ms, wear_minutes)
                             IS NOT NULL) AS wear_days_14d
            FROM patient_daily GROUP BY patient_id),
        last_checkin AS (
            SELECT patient_id, max(checked_in_at) AS last_checkin_at FROM wh.checkins
            WHERE CAST(checked_in_at AS DATE) <= $as_of GROUP BY patient_id),
        last_message AS (
            SELECT patient_id, max(sent_at) AS last_message_at FROM wh.messages
            WHERE sender = 'patient' AND CAST(sent_at AS DATE) <= $as_of GROUP BY patient_id),
        sleep AS (
            -- recent week against the patient's usual: days 15-74 before as_of
            SELECT patient_id,
                   avg(sleep_minutes) FILTER (WHERE date > $as_of - 7) / 60 AS sleep_recent_7d_h,
                   avg(sleep_minutes) FILTER (WHERE date <= $as_of - 14 AND date > $as_of - 74) / 60
                       AS sleep_baseline_h,
                   count(sleep_minutes) FILTER (WHERE date <= $as_of - 14 AND date > $as_of - 74)
                       AS sleep_baseline_days
            FROM patient_daily GROUP BY patient_id),
        mood AS (
            SELECT p.patient_id, list(d.mood ORDER BY g.day) AS mood_28d
            FROM wh.patients p
            CROSS JOIN (SELECT CAST(unnest(generate_series($as_of - 27, $as_of, INTERVAL 1 DAY)) AS DATE) AS day) g
            LEFT JOIN patient_daily d ON d.patient_id = p.patient_id AND d.date = g.day
            GROUP BY p.patient_id),
        flags AS (
            SELECT patient_id,
                   count(*) FILTER (WHERE crisis_level = 'crisis') AS unreviewed_crisis_flags,
                   count(*) FILTER (WHERE crisis_level = 'concern') AS unreviewed_concern_flags
            FROM flagged_messages WHERE NOT reviewed GROUP BY patient_id)
        SELECT p.patient_id, p.clinician_id, p.site_id, p.display_name, p.enrolled_on,
               p.discharged_on,
               p.enrolled_on <= $as_of AND (p.discharged_on IS NULL OR p.discharged_on > $as_of)
                   AS active,
               p.birth_year, p.gender, p.race_ethnicity, p.primary_language, p.insurance,
               p.rurality,
               o.* EXCLUDE (patient_id),
               coalesce(CAST(o.item9_last_positive_at AS DATE) > $as_of - {lookback}, false)
                   AS item9_flag_current,
               lc.last_checkin_at,
               -- days the patient could have checked in: the window, cut at enrolment
               coalesce(cs.checkin_days_14d, 0)
                   / greatest(1, least(14, date_diff('day', p.enrolled_on, $as_of) + 1))
                   AS checkin_adherence_14d,
               coalesce(cs.checkin_days_28d, 0)
                   / greatest(1, least(28, date_diff('day', p.enrolled_on, $as_of) + 1))
                   AS checkin_adherence_28d,
               lm.last_message_at,
               coalesce(f.unreviewed_crisis_flags, 0) AS unreviewed_crisis_flags,
               coalesce(f.unreviewed_concern_flags, 0) AS unreviewed_concern_flags,
               coalesce(cs.wear_days_14d, 0)
                   / greatest(1, least(14, date_diff('day', p.enrolled_on, $as_of) + 1))
                   AS wearable_coverage_14d,
               sl.sleep_recent_7d_h,
               CASE WHEN sl.sleep_baseline_days >= 14 THEN sl.sleep_baseline_h END AS sleep_baseline_h,
               CASE WHEN sl.sleep_baseline_days >= 14
                    THEN sl.sleep_recent_7d_h - sl.sleep_baseline_h END AS sleep_change_h,
               md.mood_28d
        FROM wh.patients p
        LEFT JOIN outcomes o USING (patient_id)
        LEFT JOIN checkin_stats cs USING (patient_id)
        LEFT JOIN last_checkin lc USING (patient_id)
        LEFT JOIN last_message lm USING (patient_id)
        LEFT JOIN flags f USING (patient_id)
        LEFT JOIN sleep sl USING (patient_id)
        LEFT JOIN mood md USING (patient_id)
        WHERE p.enrolled_on <= $as_of
        ORDER BY p.patient_id""",
        params,
    )
    # Data operations for admins, copied so the app never opens the warehouse. Quarantined
    # cell values stay behind: the app shows where and why, `caseload quarantine --export`
    # gives the values to whoever fixes the file.
    con.execute("CREATE TABLE ingest_history AS SELECT * FROM wh.ingest_log ORDER BY run_id, file")
    con.execute(
        """CREATE TABLE quarantine AS
        SELECT run_id, file, line, "table", "column", reason, quarantined_at
        FROM wh.quarantine ORDER BY run_id, file, line"""
    )
    counts = {
        name: con.execute(f'SELECT count(*) FROM wh."{name}"').fetchone()[0]
        for name in (
            "clinicians",
            "patients",
            "assessments",
            "checkins",
            "wearable_daily",
            "messages",
            "appointments",
            "events",
        )
    }
    con.execute(
        """CREATE TABLE snapshot_meta AS
        SELECT $as_of AS as_of, now() AS built_at, $contract AS contract_version,
               $counts AS warehouse_counts""",
        {**params, "contract": CONTRACT_VERSION, "counts": _json(counts)},
    )
    # Risk scores, reasons and model cards (empty tables and a status when no model).
    from analytics.scoring import score_snapshot

    score_snapshot(con, settings=settings, as_of=as_of)
    # Bias audits of the current models' held-out predictions, for the Fairness page.
    from analytics.model_audits import store_model_audits

    store_model_audits(con, settings=settings)


def _json(value: dict[str, int]) -> str:
    return json.dumps(value, sort_keys=True)
