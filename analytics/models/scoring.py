"""Scoring at refresh: every active patient, each current model, with reasons.

:func:`score_snapshot` runs at the end of the serving build. It always creates these
snapshot tables (empty when no model could score), so the dashboard can rely on them:

- ``predictions`` (patient, model): patient_id, model, version, as_of, probability
  (calibrated; NULL when the model does not apply), tier (``high`` / ``medium`` / ``low``,
  or, when the model does not apply, ``in an episode`` / ``unknown`` (relapse) or
  ``already disengaged`` (engagement), with the reason in coverage_note),
  coverage_note (NULL unless the inputs were thin), top_reason (the strongest reason
  raising the risk).
- ``explanations`` (patient, model, direction, rank): patient_id, model, rank (1 = the
  strongest), direction (``raises`` / ``lowers``), feature (the reason group, e.g.
  ``sleep``), shap_value (sum over the group, log-odds), value (the patient's value),
  baseline (their usual or earlier value, NULL if none), sentence.
- ``model_metrics``: model, version, method (``model`` / ``clinical_rule`` /
  ``logistic``), metric, estimate, ci_low, ci_high (test period, from the registry).
- ``global_importance``: model, feature, mean_abs_shap, rank (test period).
- ``shap_dependence``: model, feature, value, shap_value (a sample of test rows for the
  top features).
- ``model_cards``: model, version, markdown.
- ``model_status``: model, status (``ok`` / ``not trained`` / ``refused``), version,
  message (why scores are unavailable, or notes such as a refused retraining).

Relapse tiers: ``high`` when the probability is at or above the threshold that flagged
the top ``alert_budgets[0]`` (10%) of the latest calibration slice, ``medium`` at or
above the one for the last budget (20%), else ``low``; only patients who are well get
one. Others get the tier ``in an episode`` or ``unknown`` (no recent questionnaire) with
a note saying so, never a probability. Engagement tiers are relative to the clinic this
week (top 10% ``high``, next 10% ``medium``); a patient already out of contact gets
``already disengaged`` with the days since their last contact and an outreach prompt.
"""

from __future__ import annotations

import math
from datetime import date

import duckdb
import numpy as np
import pandas as pd

from analytics.data.store import DataDir
from analytics.models import registry
from analytics.models.explain import explain_rows
from analytics.models.features import build_features, feature_matrix
from analytics.models.labels import MODELS, WELL_CURRENT_DAYS, eligible_sql
from analytics.settings import Settings

__all__ = [
    "CLINIC_TIER_SHARES",
    "SCORING_TABLES",
    "clinic_tiers",
    "coverage_notes",
    "not_scored_status",
    "score_snapshot",
    "tiers",
]

THIN_CHECKIN_DAYS = 4  # of the last 14
THIN_WEAR_DAYS = 4  # of the last 14
STALE_ASSESSMENT_DAYS = 42
NEW_PATIENT_DAYS = 28
CLINIC_TIER_SHARES = (0.10, 0.10)  # engagement: top 10% high, next 10% medium, this week

_DDL = (
    """CREATE TABLE IF NOT EXISTS predictions (patient_id VARCHAR, model VARCHAR,
        version VARCHAR, as_of DATE, probability DOUBLE, tier VARCHAR, coverage_note VARCHAR,
        top_reason VARCHAR)""",
    """CREATE TABLE IF NOT EXISTS explanations (patient_id VARCHAR, model VARCHAR,
        rank INTEGER, direction VARCHAR, feature VARCHAR, shap_value DOUBLE, value DOUBLE,
        baseline DOUBLE, sentence VARCHAR)""",
    """CREATE TABLE IF NOT EXISTS model_metrics (model VARCHAR, version VARCHAR,
        method VARCHAR, metric VARCHAR, estimate DOUBLE, ci_low DOUBLE, ci_high DOUBLE)""",
    """CREATE TABLE IF NOT EXISTS global_importance (model VARCHAR, feature VARCHAR,
        mean_abs_shap DOUBLE, rank INTEGER)""",
    """CREATE TABLE IF NOT EXISTS shap_dependence (model VARCHAR, feature VARCHAR,
        value DOUBLE, shap_value DOUBLE)""",
    "CREATE TABLE IF NOT EXISTS model_cards (model VARCHAR, version VARCHAR, markdown VARCHAR)",
    """CREATE TABLE IF NOT EXISTS model_status (model VARCHAR, status VARCHAR,
        version VARCHAR, message VARCHAR)""",
    """CREATE TABLE IF NOT EXISTS model_curves (model VARCHAR, method VARCHAR, curve VARCHAR,
        x DOUBLE, y DOUBLE)""",
    "CREATE TABLE IF NOT EXISTS feature_drift (model VARCHAR, feature VARCHAR, week DATE, mean DOUBLE)",
)


# Every table score_snapshot creates (an incremental refresh drops and rebuilds them all).
SCORING_TABLES = tuple(ddl.split("EXISTS ")[1].split(" ")[0] for ddl in _DDL)


def coverage_notes(frame: pd.DataFrame) -> list[str | None]:
    """A plain-language note per row when the model's inputs were thin, else None."""
    notes: list[str | None] = []
    for row in frame.to_dict("records"):
        parts = []
        in_care = row.get("days_in_care")
        if in_care is not None and in_care == in_care and in_care < NEW_PATIENT_DAYS:
            parts.append(f"in care for only {int(in_care)} days, so little personal history")
        if row["checkin_days_14d"] < THIN_CHECKIN_DAYS:
            parts.append(f"check-ins on {int(row['checkin_days_14d'])} of the last 14 days")
        if row["wear_days_14d"] < THIN_WEAR_DAYS:
            parts.append(f"wearable data on {int(row['wear_days_14d'])} of the last 14 days")
        since = row["days_since_assessment"]
        if since != since or since > STALE_ASSESSMENT_DAYS:
            parts.append("no questionnaire in the last 6 weeks")
        if not row["sentiment_available"]:
            parts.append("no message sentiment in the last 28 days")
        notes.append("Thin inputs: " + "; ".join(parts) + "." if parts else None)
    return notes


def clinic_tiers(probability: np.ndarray) -> np.ndarray:
    """Engagement tiers relative to the clinic this week: 'high' for the top
    ``CLINIC_TIER_SHARES[0]`` (10%) of the scored patients, 'medium' for the next 10%,
    else 'low' (ties share the higher tier). An absolute threshold made 'high 2%' sit
    beside a relapse 'low 20%'; a rank says what a clinician can act on."""
    p = np.asarray(probability, dtype=np.float64)
    if len(p) == 0:
        return np.empty(0, dtype=object)
    # A patient is in the top share when fewer than ceil(share x n) patients score higher.
    higher = len(p) - np.searchsorted(np.sort(p), p, side="right")
    high, medium = CLINIC_TIER_SHARES
    k_high, k_medium = math.ceil(high * len(p)), math.ceil((high + medium) * len(p))
    return np.where(higher < k_high, "high", np.where(higher < k_medium, "medium", "low"))


def not_scored_status(model: str, row: dict) -> tuple[str, str]:
    """(tier, note) for a patient the model does not score: what is known instead."""
    if model == "engagement_drop":
        since = [row.get("days_since_checkin"), row.get("days_since_message")]
        known = [float(v) for v in since if v is not None and v == v]
        if known:
            n = int(min(known))
            return (
                "already disengaged",
                f"Already disengaged: no check-in or message for {n} days. Consider reaching "
                "out; the engagement model only scores patients still in contact.",
            )
        return (
            "already disengaged",
            "No check-in or message on record. Consider reaching out; the engagement model "
            "only scores patients in contact.",
        )
    in_episode = row.get("in_episode")
    if in_episode is not None and in_episode == in_episode and in_episode >= 1:
        return (
            "in an episode",
            "In an episode: at caseness on PHQ-9 or GAD-7 at the latest questionnaire, or a "
            "relapse, hospitalization, crisis contact or self-harm recorded since. Relapse "
            "risk is estimated for patients who are well; follow the questionnaire trend.",
        )
    return (
        "unknown",
        f"No relapse estimate: no PHQ-9 or GAD-7 in the last {WELL_CURRENT_DAYS} days, so "
        "whether the patient is well now is unknown. A questionnaire would tell.",
    )


def tiers(probability: np.ndarray, thresholds: dict[str, float]) -> np.ndarray:
    """'high' / 'medium' / 'low' per probability from the model's stored thresholds."""
    p = np.asarray(probability, dtype=np.float64)
    return np.where(
        p >= thresholds["high"], "high", np.where(p >= thresholds["medium"], "medium", "low")
    )


def _insert(con: duckdb.DuckDBPyConnection, table: str, frame: pd.DataFrame) -> None:
    if frame.empty:
        return
    con.register("_scoring_rows", frame)
    try:
        cols = ", ".join(f'"{c}"' for c in frame.columns)
        con.execute(f'INSERT INTO "{table}" ({cols}) SELECT {cols} FROM _scoring_rows')
    finally:
        con.unregister("_scoring_rows")


def score_snapshot(con: duckdb.DuckDBPyConnection, *, settings: Settings, as_of: date) -> None:
    """Score every active patient with each current model into the snapshot ``con``."""

    for ddl in _DDL:
        con.execute(ddl)
    data_dir = DataDir(settings.data_dir)
    loaded = []
    status = []
    for name in MODELS:
        attempt = registry.last_attempt(data_dir, name)
        try:
            model = registry.load_current(data_dir, name)
        except registry.NotTrainedError as exc:
            if attempt and attempt.get("status") == "refused":
                status.append((name, "refused", None, attempt["message"]))
            else:
                status.append((name, "not trained", None, str(exc)))
            continue
        except registry.ModelLoadError as exc:
            status.append((name, "refused", None, str(exc)))
            continue
        note = f"{name} {model.version}, trained on data up to {model.manifest['data_end']}"
        if attempt and attempt.get("status") == "refused":
            note += f"; the latest retraining refused: {attempt['message']}"
        loaded.append(model)
        status.append((name, "ok", model.version, note))

    if loaded:
        build_features(con, as_of=as_of, table="_score_features")
        frame = con.execute(
            f"""SELECT *, {eligible_sql("engagement_drop")} AS _engaged,
                       coalesce({eligible_sql("relapse_risk")}, FALSE) AS _well
                FROM _score_features f ORDER BY patient_id"""
        ).df()
        con.execute("DROP TABLE _score_features")
        notes = coverage_notes(frame) if len(frame) else []
        for model in loaded:
            _score_one(con, model, frame, notes, as_of=as_of, explain=explain_rows)
            _copy_artefacts(con, model)
    _insert(
        con,
        "model_status",
        pd.DataFrame(status, columns=["model", "status", "version", "message"]).astype(
            {"version": "object"}
        ),
    )


def _score_one(con, model, frame: pd.DataFrame, notes, *, as_of: date, explain) -> None:
    if frame.empty:
        return
    eligible = frame["_engaged" if model.name == "engagement_drop" else "_well"].to_numpy(
        dtype=bool
    )
    rows = frame[eligible].reset_index(drop=True)
    x = feature_matrix(rows, model.features)
    probability = model.calibrator.predict_proba(x)[:, 1] if len(rows) else np.empty(0)
    reasons, _values, _base, _raw = explain(model.estimator, rows, x, features=model.features)
    top = (
        reasons[(reasons["direction"] == "raises") & (reasons["rank"] == 1)]
        .set_index("patient_id")["sentence"]
        .to_dict()
    )
    scored = pd.DataFrame(
        {
            "patient_id": rows["patient_id"],
            "model": model.name,
            "version": model.version,
            "as_of": as_of,
            "probability": probability,
            "tier": (
                clinic_tiers(probability)
                if model.name == "engagement_drop"
                else tiers(probability, model.thresholds)
            ),
            "coverage_note": [n for n, e in zip(notes, eligible, strict=True) if e],
            "top_reason": [top.get(p) for p in rows["patient_id"]],
        }
    )
    skipped = frame[~eligible]
    status = [not_scored_status(model.name, r) for r in skipped.to_dict("records")]
    not_eligible = pd.DataFrame(
        {
            "patient_id": skipped["patient_id"],
            "model": model.name,
            "version": model.version,
            "as_of": as_of,
            "probability": np.nan,
            "tier": [t for t, _ in status],
            "coverage_note": [n for _, n in status],
            "top_reason": None,
        }
    )
    _insert(con, "predictions", pd.concat([scored, not_eligible], ignore_index=True))
    _insert(con, "explanations", reasons.assign(model=model.name))


def _copy_artefacts(con, model) -> None:
    path = model.path
    metrics = pd.read_parquet(path / "metrics.parquet")
    _insert(con, "model_metrics", metrics)
    _insert(con, "global_importance", pd.read_parquet(path / "importance.parquet"))
    _insert(con, "shap_dependence", pd.read_parquet(path / "dependence.parquet"))
    for table, file in (("model_curves", "curves.parquet"), ("feature_drift", "drift.parquet")):
        if (path / file).is_file():  # models trained before these reports existed have none
            _insert(con, table, pd.read_parquet(path / file))
    markdown = (path / "model_card.md").read_text(encoding="utf-8")
    _insert(
        con,
        "model_cards",
        pd.DataFrame({"model": [model.name], "version": [model.version], "markdown": [markdown]}),
    )
