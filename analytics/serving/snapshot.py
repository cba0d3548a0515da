"""The serving tables: what the dashboard reads, built into a new snapshot file.

Every table is computed as of one date (``as_of``, the clinic-local date of the newest
check-in, message or wearable day unless given), from data on or before that date.

Tables (one row per ...):

- ``patient_summary`` (patient): care team, demographics, latest PHQ-9/GAD-7 with band and
  date, change from baseline and reliable-change status, item-9 flag and its date, the
  NHS paired outcome, last check-in, check-in adherence over 14 and 28 days, last patient
  message, wearable coverage over 14 days (valid
  wearable days), sleep over the recent week against the usual (the windows and minimum
  counts of :mod:`analytics.models.windows`, the ones the risk reasons and the patient
  chart use), mood for each of the last 28 days (a list, None where no check-in).
- ``patient_daily`` (patient, date): mean mood and anxiety, sleep, steps, resting HR, HRV
  (wearable measures on valid wearable days only, ``wear_day`` says which), patient
  message count and mean sentiment.
- ``assessments_scored`` (assessment): totals with band and item 9.
- ``flagged_messages`` (patient message flagged concern or crisis, or left unchecked by
  the detector): level, matched phrase,
  text (for the treating clinician only; access rules apply on read).
- ``quarantined_item9`` (a PHQ-9 held in quarantine whose item 9 is above 0) and
  ``safety_alerts`` (alert): every safety alert with its id, kind, level, raised time and
  detail, made once here (:data:`analytics.serving.alerts.SAFETY_ALERTS_SQL`). Whether an
  alert is open, acknowledged or resolved is never stored here: the app reads it live
  from the workspace.
- ``ingest_history`` (file ingested), ``quarantine`` (quarantined row: where and why, no
  cell values).
- ``clinicians``, ``snapshot_meta`` (one row: as_of, built_at, contract and serving
  versions, the last ingest run included, fingerprints of the settings and models, and
  whether the build was full or incremental).

Two ways to build them, with the same SQL:

- :func:`build_serving_tables` builds every table from the whole warehouse (a *full*
  build, into an empty file).
- :func:`update_serving_tables` brings a copy of the snapshot in service up to date (an
  *incremental* build). Warehouse rows are never deleted (ingest replaces an updated row
  by deleting it and inserting the new one under the new run id, and an update keeps the
  row's patient and date, which are part of every key), so the rows that changed since
  the old snapshot are exactly those with a newer ``_run_id`` plus those dated after its
  as-of date. From them it recomputes only the (patient, day) rows of ``patient_daily``
  that they touch, appends the new assessments and flagged messages, and rebuilds
  ``patient_summary`` from bounded inputs: the last 74 days of ``patient_daily`` (the
  reach of the usual window), the
  old summary's last check-in and message times against the new rows, questionnaire
  outcomes only for patients with new questionnaires. Scores are recomputed for every
  active patient (the as-of date moved, so every windowed value did) from the last 180
  days of data. Bias audits, which depend only on the models, are kept as they are.
  :func:`analytics.serving.pipeline.refresh` decides which build to run.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from datetime import date

import duckdb

from analytics.clinical import band_sql, patient_outcomes, prorated_total_sql
from analytics.data.contract import CONTRACT_VERSION, TABLES
from analytics.data.store import DataDir
from analytics.models import registry
from analytics.models.model_audits import store_model_audits
from analytics.models.scoring import SCORING_TABLES, score_snapshot
from analytics.models.windows import REACH_DAYS, RECENT, USUAL, wearable_days_sql
from analytics.serving.alerts import QUARANTINED_ITEM9_SQL, SAFETY_ALERTS_SQL
from analytics.settings import Settings

__all__ = [
    "AUDIT_TABLES",
    "SERVING_VERSION",
    "SUMMARY_REACH_DAYS",
    "WAREHOUSE_TABLES",
    "Since",
    "build_serving_tables",
    "last_run_id",
    "models_fingerprint",
    "run_started",
    "settings_fingerprint",
    "update_serving_tables",
]

# Bump when a serving table's definition changes: a snapshot built by another version is
# never updated in place, only rebuilt.
SERVING_VERSION = 5
# The patient summary's windows reach back this far (the usual window's oldest day).
SUMMARY_REACH_DAYS = REACH_DAYS
# Tables that only depend on the models, kept by an incremental build.
AUDIT_TABLES = (
    "heldout_predictions",
    "fairness_summary",
    "fairness_groups",
    "fairness_disparities",
    "fairness_calibration",
    "fairness_coverage",
    "fairness_whatif",
)


@dataclass(frozen=True)
class Since:
    """What an incremental build starts from: the old snapshot's as-of date and the last
    ingest run it included. Rows of later runs, or dated after that date, are new."""

    as_of: date
    run_id: int


def settings_fingerprint(settings: Settings) -> str:
    """A digest of every setting that shapes the serving tables (all but the directory)."""
    values = asdict(settings)
    values.pop("data_dir", None)
    payload = json.dumps(values, sort_keys=True, default=str)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:16]


def models_fingerprint(settings: Settings) -> str:
    """A digest of the current model versions (their registry entries' names and hashes)."""

    entries = sorted(
        (str(m.get("name")), str(m.get("version")), str(m.get("sha256")))
        for m in registry.current_models(DataDir(settings.data_dir))
    )
    return hashlib.sha256(json.dumps(entries).encode("utf-8")).hexdigest()[:16]


def last_run_id(con: duckdb.DuckDBPyConnection) -> int:
    """The newest ingest run in the attached warehouse (0 before any)."""
    return int(con.execute("SELECT coalesce(max(run_id), 0) FROM wh.ingest_runs").fetchall()[0][0])


def run_started(con: duckdb.DuckDBPyConnection, run_id: int) -> str | None:
    """When ingest run ``run_id`` of the attached warehouse started (its identity: a
    rebuilt warehouse reuses run numbers, not start times)."""
    rows = con.execute(
        "SELECT CAST(started_at AS VARCHAR) FROM wh.ingest_runs WHERE run_id = ?", [run_id]
    ).fetchall()
    return rows[0][0] if rows else None


# --- the SQL, shared by both builds ---------------------------------------------------
#
# ``changed`` below is a condition on a warehouse row that is TRUE in a full build and
# "newer than the old snapshot" in an incremental one.


def _changed(since: Since | None, day: str, alias: str = "") -> str:
    if since is None:
        return "TRUE"
    prefix = f"{alias}." if alias else ""
    return f"({prefix}_run_id > $since_run OR {day} > $since_as_of)"


def _params(as_of: date, since: Since | None) -> dict[str, object]:
    params: dict[str, object] = {"as_of": as_of}
    if since is not None:
        params.update(since_run=since.run_id, since_as_of=since.as_of)
    return params


def _assessments_sql(settings: Settings, since: Since | None) -> str:
    """Scored assessments on or before as_of (the changed ones in an incremental build).

    ``total`` is prorated under the published rule or NULL (``complete`` false and too
    many blanks: shown as incomplete); ``items_answered`` counts the answered items;
    ``item_9`` stays NULL when not answered (never 0).
    """
    answered = " + ".join(f"CAST(item_{i} IS NOT NULL AS INTEGER)" for i in range(1, 10))
    day = "CAST(completed_at AS DATE)"
    return f"""
        SELECT *, {band_sql("instrument", "total", settings=settings.clinical)} AS band
        FROM (SELECT patient_id, completed_at, {day} AS completed_on,
                     instrument, {prorated_total_sql("instrument")} AS total, item_9,
                     {answered} AS items_answered,
                     ({answered}) = CASE instrument WHEN 'PHQ-9' THEN 9 ELSE 7 END AS complete
              FROM wh.assessments WHERE {day} <= $as_of AND {_changed(since, day)})
        ORDER BY patient_id, completed_at"""


def _flagged_sql(since: Since | None) -> str:
    """Flagged patient messages on or before as_of. Whether someone has reviewed one is
    live workspace state (analytics.serving.alerts), never copied into the snapshot."""
    day = "CAST(m.sent_at AS DATE)"
    return f"""
        SELECT m.message_id, m.patient_id, m.sent_at, m.crisis_level, m.crisis_matched,
               m.language, m.text
        FROM wh.messages m
        WHERE m.sender = 'patient' AND m.crisis_level IN ('concern', 'crisis', 'unchecked')
          AND {day} <= $as_of AND {_changed(since, day, "m")}
        ORDER BY m.sent_at"""


def _daily_sql(keys: str | None) -> str:
    """patient_daily rows; with ``keys`` (a table of patient_id, date) only those days."""

    def only(day: str, alias: str) -> str:
        if keys is None:
            return ""
        return f"SEMI JOIN {keys} k ON k.patient_id = {alias}.patient_id AND k.date = {day}"

    return f"""
        WITH c AS (
            SELECT x.patient_id, CAST(x.checked_in_at AS DATE) AS date,
                   avg(x.mood) AS mood, avg(x.anxiety) AS anxiety, avg(x.energy) AS energy,
                   count(*) AS checkins
            FROM wh.checkins x {only("CAST(x.checked_in_at AS DATE)", "x")}
            WHERE CAST(x.checked_in_at AS DATE) <= $as_of GROUP BY ALL),
        w AS ({wearable_days_sql("x.date <= $as_of", join=only("x.date", "x"))}),
        m AS (
            SELECT x.patient_id, CAST(x.sent_at AS DATE) AS date, count(*) AS messages,
                   avg(x.sentiment) AS sentiment
            FROM wh.messages x {only("CAST(x.sent_at AS DATE)", "x")}
            WHERE x.sender = 'patient' AND CAST(x.sent_at AS DATE) <= $as_of
            GROUP BY ALL)
        SELECT patient_id, date, c.mood, c.anxiety, c.energy, coalesce(c.checkins, 0) AS checkins,
               w.sleep_minutes, w.steps, w.resting_hr, w.hrv_rmssd_ms, w.wear_minutes,
               coalesce(w.wear_day, false) AS wear_day,
               coalesce(m.messages, 0) AS messages, m.sentiment
        FROM c FULL JOIN w USING (patient_id, date) FULL JOIN m USING (patient_id, date)
        ORDER BY patient_id, date"""


def _summary_sql(settings: Settings, since: Since | None) -> str:
    """patient_summary from patient_daily (last 74 days), flagged_messages, the outcomes
    temp table and, for the last check-in and message, the warehouse (full build) or the
    old summary and the new rows (incremental build: ``_old_last`` holds the old times)."""
    lookback = int(settings.clinical.item9_lookback_days)
    if since is None:
        last_checkin = """SELECT patient_id, max(checked_in_at) AS last_checkin_at
            FROM wh.checkins WHERE CAST(checked_in_at AS DATE) <= $as_of GROUP BY patient_id"""
        last_message = """SELECT patient_id, max(sent_at) AS last_message_at FROM wh.messages
            WHERE sender = 'patient' AND CAST(sent_at AS DATE) <= $as_of GROUP BY patient_id"""
    else:
        # Rows are never removed, so the newest time is the old one or a newer row's.
        ck_day, msg_day = "CAST(checked_in_at AS DATE)", "CAST(sent_at AS DATE)"
        last_checkin = f"""SELECT patient_id, max(t) AS last_checkin_at FROM (
                SELECT patient_id, last_checkin_at AS t FROM _old_last
                UNION ALL SELECT patient_id, checked_in_at FROM wh.checkins
                WHERE {ck_day} <= $as_of AND {_changed(since, ck_day)})
            GROUP BY patient_id"""
        last_message = f"""SELECT patient_id, max(t) AS last_message_at FROM (
                SELECT patient_id, last_message_at AS t FROM _old_last
                UNION ALL SELECT patient_id, sent_at FROM wh.messages
                WHERE sender = 'patient' AND {msg_day} <= $as_of
                  AND {_changed(since, msg_day)})
            GROUP BY patient_id"""
    return f"""
        WITH recent AS (
            SELECT * FROM patient_daily WHERE date > $as_of - {SUMMARY_REACH_DAYS}),
        checkin_stats AS (
            SELECT patient_id,
                   count(*) FILTER (WHERE checkins > 0 AND date > $as_of - 14) AS checkin_days_14d,
                   count(*) FILTER (WHERE checkins > 0 AND date > $as_of - 28) AS checkin_days_28d,
                   count(*) FILTER (WHERE date > $as_of - 14 AND wear_day) AS wear_days_14d
            FROM recent GROUP BY patient_id),
        last_checkin AS ({last_checkin}),
        last_message AS ({last_message}),
        sleep AS (
            SELECT patient_id,
                   {RECENT.mean_sql("sleep_minutes", "date")} / 60 AS sleep_recent_7d_h,
                   {USUAL.mean_sql("sleep_minutes", "date")} / 60 AS sleep_baseline_h
            FROM recent GROUP BY patient_id),
        mood AS (
            SELECT p.patient_id, list(d.mood ORDER BY g.day) AS mood_28d
            FROM wh.patients p
            CROSS JOIN (SELECT CAST(unnest(generate_series($as_of - 27, $as_of, INTERVAL 1 DAY)) AS DATE) AS day) g
            LEFT JOIN (SELECT patient_id, date, mood FROM recent WHERE date > $as_of - 28) d
              ON d.patient_id = p.patient_id AND d.date = g.day
            WHERE p.enrolled_on <= $as_of
            GROUP BY p.patient_id),
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
               coalesce(cs.wear_days_14d, 0)
                   / greatest(1, least(14, date_diff('day', p.enrolled_on, $as_of) + 1))
                   AS wearable_coverage_14d,
               sl.sleep_recent_7d_h, sl.sleep_baseline_h,
               sl.sleep_recent_7d_h - sl.sleep_baseline_h AS sleep_change_h,
               md.mood_28d
        FROM wh.patients p
        LEFT JOIN outcomes o USING (patient_id)
        LEFT JOIN checkin_stats cs USING (patient_id)
        LEFT JOIN last_checkin lc USING (patient_id)
        LEFT JOIN last_message lm USING (patient_id)
        LEFT JOIN sleep sl USING (patient_id)
        LEFT JOIN mood md USING (patient_id)
        WHERE p.enrolled_on <= $as_of
        ORDER BY p.patient_id"""


# --- the two builds -------------------------------------------------------------------


def build_serving_tables(
    con: duckdb.DuckDBPyConnection,
    *,
    settings: Settings,
    as_of: date,
) -> None:
    """Create every serving table in ``con`` (a new, empty snapshot) from attached ``wh``."""
    params = _params(as_of, None)
    con.execute(f"CREATE TABLE assessments_scored AS {_assessments_sql(settings, None)}", params)
    _store_outcomes(con, settings=settings, patients=None)
    con.execute(f"CREATE TABLE flagged_messages AS {_flagged_sql(None)}", params)
    con.execute(f"CREATE TABLE patient_daily AS {_daily_sql(None)}", params)
    con.execute(f"CREATE TABLE patient_summary AS {_summary_sql(settings, None)}", params)
    con.execute(f"CREATE TABLE quarantined_item9 AS {QUARANTINED_ITEM9_SQL}", {"as_of": as_of})
    con.execute(f"CREATE TABLE safety_alerts AS {SAFETY_ALERTS_SQL}")
    _copy_operations(con)
    _write_meta(con, settings=settings, as_of=as_of, mode="full")
    # Risk scores, reasons and model cards (empty tables and a status when no model).

    score_snapshot(con, settings=settings, as_of=as_of)
    # Bias audits of the current models' held-out predictions, for the Fairness page.

    store_model_audits(con, settings=settings)


def update_serving_tables(
    con: duckdb.DuckDBPyConnection,
    *,
    settings: Settings,
    as_of: date,
    since: Since,
) -> dict[str, int]:
    """Bring ``con`` (a copy of the snapshot in service) up to ``as_of`` from attached
    ``wh``, recomputing only what rows newer than ``since`` change (see the module notes).

    Returns how many rows of each kind were recomputed, for the refresh's report.
    """

    params = _params(as_of, since)
    plain = {"as_of": as_of}  # for statements that do not ask what changed
    done: dict[str, int] = {}
    # The (patient, day) pairs with a new or updated row, up to as_of.
    con.execute(
        f"""CREATE TEMP TABLE _changed_days AS
        SELECT DISTINCT patient_id, date FROM (
            SELECT patient_id, CAST(checked_in_at AS DATE) AS date, _run_id FROM wh.checkins
            UNION ALL SELECT patient_id, date, _run_id FROM wh.wearable_daily
            UNION ALL SELECT patient_id, CAST(sent_at AS DATE), _run_id FROM wh.messages
                      WHERE sender = 'patient')
        WHERE date <= $as_of AND {_changed(since, "date")}""",
        params,
    )
    done["changed patient days"] = _count(con, "_changed_days")
    con.execute(
        """DELETE FROM patient_daily d USING _changed_days k
           WHERE d.patient_id = k.patient_id AND d.date = k.date"""
    )
    con.execute(f"INSERT INTO patient_daily {_daily_sql('_changed_days')}", plain)

    con.execute(
        f"CREATE TEMP TABLE _new_assessments AS {_assessments_sql(settings, since)}", params
    )
    done["new assessments"] = _count(con, "_new_assessments")
    con.execute(
        """DELETE FROM assessments_scored a USING _new_assessments n
           WHERE a.patient_id = n.patient_id AND a.instrument = n.instrument
             AND a.completed_at = n.completed_at"""
    )
    con.execute("INSERT INTO assessments_scored SELECT * FROM _new_assessments")

    con.execute(f"CREATE TEMP TABLE _new_flags AS {_flagged_sql(since)}", params)
    con.execute(
        "DELETE FROM flagged_messages WHERE message_id IN (SELECT message_id FROM _new_flags)"
    )
    con.execute("INSERT INTO flagged_messages SELECT * FROM _new_flags")
    done["new flagged messages"] = _count(con, "_new_flags")

    # Questionnaire outcomes change only for patients with new questionnaires, or who were
    # not in the old summary (enrolled after its as-of date); the rest are the old ones.
    con.execute(
        """CREATE TEMP TABLE _outcome_patients AS
           SELECT DISTINCT patient_id FROM _new_assessments
           UNION SELECT patient_id FROM wh.patients
           WHERE enrolled_on <= $as_of AND patient_id NOT IN
                 (SELECT patient_id FROM patient_summary)""",
        plain,
    )
    done["patients with new outcomes"] = _count(con, "_outcome_patients")
    _store_outcomes(con, settings=settings, patients="_outcome_patients")
    con.execute(
        """CREATE TEMP TABLE _old_last AS
           SELECT patient_id, last_checkin_at, last_message_at FROM patient_summary"""
    )
    # Small, and a quarantined row can be fixed at any time: rebuilt whole.
    con.execute("DROP TABLE IF EXISTS quarantined_item9")
    con.execute(f"CREATE TABLE quarantined_item9 AS {QUARANTINED_ITEM9_SQL}", {"as_of": as_of})
    con.execute("DROP TABLE IF EXISTS safety_alerts")
    con.execute(f"CREATE TABLE safety_alerts AS {SAFETY_ALERTS_SQL}")
    con.execute("DROP TABLE patient_summary")
    con.execute(f"CREATE TABLE patient_summary AS {_summary_sql(settings, since)}", params)
    for table in ("clinicians", "ingest_history", "quarantine", "snapshot_meta", *SCORING_TABLES):
        con.execute(f'DROP TABLE IF EXISTS "{table}"')
    _copy_operations(con)
    _write_meta(con, settings=settings, as_of=as_of, mode="incremental")
    score_snapshot(con, settings=settings, as_of=as_of)
    for name in ("_changed_days", "_new_assessments", "_new_flags", "_outcome_patients"):
        con.execute(f"DROP TABLE {name}")
    con.execute("DROP TABLE _old_last")
    return done


# --- pieces -----------------------------------------------------------------------------


def _count(con: duckdb.DuckDBPyConnection, table: str) -> int:
    return int(con.execute(f'SELECT count(*) FROM "{table}"').fetchall()[0][0])


def _store_outcomes(con: duckdb.DuckDBPyConnection, *, settings: Settings, patients) -> None:
    """Temp table ``outcomes``: questionnaire outcomes per patient (see
    :func:`analytics.clinical.patient_outcomes`). With ``patients`` (a table of patient
    ids), computed for those and taken from the old ``patient_summary`` for the others."""
    only = f"WHERE patient_id IN (SELECT patient_id FROM {patients})" if patients else ""
    frame = patient_outcomes(
        con.sql(
            "SELECT patient_id, instrument, completed_at, total, item_9 "
            f"FROM assessments_scored {only}"
        ).pl(),
        settings=settings.clinical,
    )
    con.register("outcomes_frame", frame)
    try:
        con.execute("CREATE OR REPLACE TEMP TABLE outcomes AS SELECT * FROM outcomes_frame")
    finally:
        con.unregister("outcomes_frame")
    if patients:
        cols = ", ".join(f'"{c}"' for c in frame.columns)
        # Only patients with at least one questionnaire have outcomes in a full build.
        con.execute(
            f"""INSERT INTO outcomes SELECT {cols} FROM patient_summary
                WHERE patient_id NOT IN (SELECT patient_id FROM {patients})
                  AND patient_id IN (SELECT patient_id FROM assessments_scored)"""
        )


def _copy_operations(con: duckdb.DuckDBPyConnection) -> None:
    """Clinicians and data operations for admins, copied so the app never opens the
    warehouse. Quarantined cell values stay behind: the app shows where and why,
    `caseload quarantine --export` gives the values to whoever fixes the file."""
    con.execute("CREATE TABLE clinicians AS SELECT * EXCLUDE (_run_id) FROM wh.clinicians")
    con.execute("CREATE TABLE ingest_history AS SELECT * FROM wh.ingest_log ORDER BY run_id, file")
    con.execute(
        """CREATE TABLE quarantine AS
        SELECT run_id, file, line, "table", "column", reason, quarantined_at
        FROM wh.quarantine ORDER BY run_id, file, line"""
    )


# The contract's tables, in its order: the snapshot records a count of each.
WAREHOUSE_TABLES = tuple(TABLES)


def _write_meta(
    con: duckdb.DuckDBPyConnection, *, settings: Settings, as_of: date, mode: str
) -> None:
    counts = {name: _wh_count(con, name) for name in WAREHOUSE_TABLES}
    run_id = last_run_id(con)
    con.execute(
        """CREATE TABLE snapshot_meta AS
        SELECT $as_of AS as_of, now() AS built_at, $contract AS contract_version,
               $counts AS warehouse_counts, $serving AS serving_version,
               $run_id AS last_run_id, $started AS last_run_started,
               $settings AS settings_fingerprint,
               $models AS models_fingerprint, $mode AS build_mode""",
        {
            "as_of": as_of,
            "contract": CONTRACT_VERSION,
            "counts": json.dumps(counts, sort_keys=True),
            "serving": SERVING_VERSION,
            "run_id": run_id,
            "started": run_started(con, run_id),
            "settings": settings_fingerprint(settings),
            "models": models_fingerprint(settings),
            "mode": mode,
        },
    )


def _wh_count(con: duckdb.DuckDBPyConnection, name: str) -> int:
    return int(con.execute(f'SELECT count(*) FROM wh."{name}"').fetchall()[0][0])
