"""The therapist's views: the caseload, one patient, risk cards, notes and alerts."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime

import polars as pl

from analytics.access.roles import Actor, Context, Role, require_own_patient, require_role
from analytics.models.labels import MODELS
from analytics.models.windows import DAILY_MEASURES, USUAL, UsualRange, usual_range
from analytics.serving import alerts as safety_alerts
from analytics.views._common import has_table, read_frame

__all__ = [
    "PatientView",
    "RiskCard",
    "act_on_alert",
    "add_note",
    "alerts",
    "caseload",
    "patient",
    "patient_risk",
]


# Item-9 answers of questionnaires held in quarantine, per patient, within the look-back
# window (the same window as the summary's item9_flag_current).
_HELD_ITEM9 = """SELECT q.patient_id, max(q.item_9) AS held_item9
    FROM quarantined_item9 q, snapshot_meta m
    WHERE q.completed_on > m.as_of - CAST($lookback AS INTEGER) GROUP BY q.patient_id"""
_NO_HELD = "SELECT NULL::VARCHAR AS patient_id, NULL::INTEGER AS held_item9 WHERE FALSE"


def caseload(ctx: Context, actor: Actor, *, search: str | None = None) -> pl.DataFrame:
    """The therapist's own active patients, safety flags first.

    Columns: patient_id, display_name, safety_level (2 item-9 answer above 0 in the
    look-back window, a quarantined questionnaire's included, or an unreviewed crisis
    message; 1 unreviewed concern message; 0 none), safety_reasons, held_item9 (the
    highest such answer held in quarantine, else null), phq9_latest_total,
    phq9_latest_band, phq9_reliable_change, gad7_latest_total, gad7_latest_band,
    gad7_reliable_change, days_since_checkin, checkin_adherence_14d,
    wearable_coverage_14d, sleep_change_h, mood_28d (28 daily values, None for no
    check-in), and relapse_/engagement_ probability, tier and top_reason (null until
    models are trained).
    """
    require_role(ctx, actor, Role.THERAPIST, action="view_caseload")
    pattern = f"%{search.strip()}%" if search and search.strip() else None
    frame = read_frame(
        ctx,
        """SELECT s.patient_id, s.display_name, s.item9_flag_current, s.item9_last_positive_value,
                  s.phq9_latest_total, s.phq9_latest_band, s.phq9_reliable_change,
                  s.gad7_latest_total, s.gad7_latest_band, s.gad7_reliable_change,
                  date_diff('day', CAST(s.last_checkin_at AS DATE), m.as_of) AS days_since_checkin,
                  s.checkin_adherence_14d, s.wearable_coverage_14d, s.sleep_change_h, s.mood_28d,
                  h.held_item9
           FROM patient_summary s CROSS JOIN snapshot_meta m
           LEFT JOIN ({held}) h USING (patient_id)
           WHERE s.clinician_id = $clinician AND s.active
             AND ($pattern IS NULL OR s.patient_id ILIKE $pattern OR s.display_name ILIKE $pattern)
           ORDER BY s.patient_id""".format(
            held=_HELD_ITEM9 if has_table(ctx, "quarantined_item9") else _NO_HELD
        ),
        {
            "clinician": actor.clinician_id,
            "pattern": pattern,
            "lookback": ctx.settings.clinical.item9_lookback_days,
        },
    )
    # A PHQ-9 held in quarantine is not in the summary's item-9 flag; its answer is
    # current for the caseload all the same (the Alerts page already lists it).
    frame = frame.with_columns(
        (pl.col("item9_flag_current") | pl.col("held_item9").is_not_null()).alias("item9_now")
    )
    # The same alerts, with the same live status, as the Alerts page: nobody has yet
    # acknowledged or resolved them.
    waiting = safety_alerts.list_alerts(ctx, actor).filter(pl.col("status") == "open")
    per_patient = waiting.group_by("patient_id").agg(
        (pl.col("level") == "crisis").sum().cast(pl.UInt32).alias("open_crisis"),
        (pl.col("level") == "concern").sum().cast(pl.UInt32).alias("open_concern"),
    )
    out = frame.join(per_patient, on="patient_id", how="left").with_columns(
        pl.col("open_crisis").fill_null(0), pl.col("open_concern").fill_null(0)
    )
    out = out.with_columns(
        pl.when(pl.col("item9_now") | (pl.col("open_crisis") > 0))
        .then(2)
        .when(pl.col("open_concern") > 0)
        .then(1)
        .otherwise(0)
        .alias("safety_level"),
        pl.concat_str(
            [
                pl.when(pl.col("item9_flag_current")).then(
                    pl.format(
                        "PHQ-9 item 9 answered {} in the last {} days",
                        pl.col("item9_last_positive_value"),
                        pl.lit(ctx.settings.clinical.item9_lookback_days),
                    )
                ),
                pl.when(~pl.col("item9_flag_current") & pl.col("held_item9").is_not_null()).then(
                    pl.format(
                        "PHQ-9 item 9 answered {} in the last {} days (questionnaire held in "
                        "quarantine)",
                        pl.col("held_item9"),
                        pl.lit(ctx.settings.clinical.item9_lookback_days),
                    )
                ),
                pl.when(pl.col("open_crisis") > 0).then(
                    pl.format("{} crisis message(s) to review", pl.col("open_crisis"))
                ),
                pl.when(pl.col("open_concern") > 0).then(
                    pl.format("{} concern message(s) to review", pl.col("open_concern"))
                ),
            ],
            separator="; ",
            ignore_nulls=True,
        ).alias("safety_reasons"),
    )
    out = _join_predictions(ctx, out.drop("item9_now"))
    order = ["safety_level", "relapse_tier_rank", "engagement_tier_rank", "patient_id"]
    return out.sort(order, descending=[True, True, True, False], nulls_last=True)


_TIER_RANK = {"high": 3, "medium": 2, "low": 1}
# Engagement tiers are ranks within the clinic this week (analytics.models.scoring.clinic_tiers).
_TIER_TEXT = {
    ("engagement_drop", "high"): "high: top 10% of engagement risk this week",
    ("engagement_drop", "medium"): "medium: next 10% of engagement risk this week",
    ("engagement_drop", "low"): "low: below the top 20% of engagement risk this week",
}


def _join_predictions(ctx: Context, frame: pl.DataFrame) -> pl.DataFrame:
    """Add relapse_* and engagement_* probability, tier and top reason when scored."""
    cols = {}
    if has_table(ctx, "predictions"):
        # Only these patients' rows: the whole table is every active patient's.
        preds = read_frame(
            ctx,
            """SELECT patient_id, model, probability, tier, top_reason FROM predictions
               WHERE patient_id IN (SELECT unnest($ids))""",
            {"ids": frame["patient_id"].to_list()},
        )
        for model, prefix in (("relapse_risk", "relapse"), ("engagement_drop", "engagement")):
            part = preds.filter(pl.col("model") == model).select(
                "patient_id",
                pl.col("probability").alias(f"{prefix}_probability"),
                pl.col("tier").alias(f"{prefix}_tier"),
                pl.col("top_reason").alias(f"{prefix}_top_reason"),
            )
            frame = frame.join(part, on="patient_id", how="left")
            cols[prefix] = True
    for prefix in ("relapse", "engagement"):
        if prefix not in cols:
            frame = frame.with_columns(
                pl.lit(None, pl.Float64).alias(f"{prefix}_probability"),
                pl.lit(None, pl.String).alias(f"{prefix}_tier"),
                pl.lit(None, pl.String).alias(f"{prefix}_top_reason"),
            )
        frame = frame.with_columns(
            pl.col(f"{prefix}_tier")
            .replace_strict(_TIER_RANK, default=0, return_dtype=pl.Int8)
            .alias(f"{prefix}_tier_rank")
        )
    return frame


@dataclass(frozen=True)
class PatientView:
    """Everything the patient page shows, for one of the therapist's patients."""

    patient_id: str
    summary: dict[str, object]
    # completed_at, instrument, total (prorated, or null: incomplete), band, item_9 (null:
    # not answered), items_answered, complete
    assessments: pl.DataFrame
    daily: (
        pl.DataFrame
    )  # date, mood, anxiety, sleep_minutes, steps, resting_hr, hrv_rmssd_ms, messages, sentiment
    flagged_messages: (
        pl.DataFrame
    )  # message_id, sent_at, crisis_level, crisis_matched, text, status
    notes: pl.DataFrame  # at, author, body
    # The snapshot's as-of date, which every window of the page is counted back from.
    as_of: date | None = None
    # patient_daily column -> the patient's usual range of it (None: too few values), the
    # band the page's charts shade: the same usual as the caseload's and the risk reasons'.
    usual: dict[str, UsualRange | None] = field(default_factory=dict)
    usual_definition: str = (
        f"mean ± 1 SD over {USUAL.describe()} (at least {USUAL.min_values} days with a value)"
    )


def patient(ctx: Context, actor: Actor, patient_id: str) -> PatientView:
    """One patient's page; refused unless they are on the therapist's active caseload."""
    require_own_patient(ctx, actor, patient_id, action="view_patient")
    ctx.record(actor, "view_patient", target="patient", patient_id=patient_id)
    summary = read_frame(
        ctx, "SELECT * FROM patient_summary WHERE patient_id = ?", [patient_id]
    ).to_dicts()[0]
    # A snapshot built before partial questionnaires were stored holds complete ones only.
    completeness = (
        "items_answered, complete"
        if safety_alerts.has_completeness(ctx)
        else "CASE instrument WHEN 'PHQ-9' THEN 9 ELSE 7 END AS items_answered, TRUE AS complete"
    )
    assessments = read_frame(
        ctx,
        f"""SELECT completed_at, instrument, total, band, item_9, {completeness}
           FROM assessments_scored WHERE patient_id = ? ORDER BY completed_at""",
        [patient_id],
    )
    daily = read_frame(
        ctx,
        """SELECT date, mood, anxiety, energy, checkins, sleep_minutes, steps, resting_hr,
                  hrv_rmssd_ms, wear_minutes, messages, sentiment
           FROM patient_daily WHERE patient_id = ? ORDER BY date""",
        [patient_id],
    )
    flagged = read_frame(
        ctx,
        """SELECT message_id, sent_at, crisis_level, crisis_matched, text FROM flagged_messages
           WHERE patient_id = ? ORDER BY sent_at DESC""",
        [patient_id],
    )
    # Each message's alert status, live, as the Alerts page reads it.
    status = safety_alerts.list_alerts(
        ctx, actor, include_resolved=True, patient_id=patient_id
    ).select("message_id", "status")
    flagged = flagged.join(status, on="message_id", how="left")
    notes = pl.DataFrame(
        ctx.workspace.execute(
            "SELECT at, author, body FROM notes WHERE patient_id = ? ORDER BY id DESC", [patient_id]
        ).fetchall(),
        schema={"at": pl.String, "author": pl.String, "body": pl.String},
        orient="row",
    )
    as_of = read_frame(ctx, "SELECT as_of FROM snapshot_meta")["as_of"][0]
    usual = {column: usual_range(daily, column, as_of=as_of) for column in DAILY_MEASURES.values()}
    return PatientView(
        patient_id, summary, assessments, daily, flagged, notes, as_of=as_of, usual=usual
    )


@dataclass(frozen=True)
class RiskCard:
    """One model's score for one patient, with its reasons, or why there is none."""

    model: str
    title: str
    definition: str
    probability: float | None
    tier: str | None
    version: str | None
    as_of: date | None
    coverage_note: str | None
    reasons_for: tuple[str, ...]
    reasons_against: tuple[str, ...]
    history: pl.DataFrame  # as_of, probability
    unavailable_reason: str | None


def patient_risk(ctx: Context, actor: Actor, patient_id: str) -> list[RiskCard]:
    """Both risk cards for one of the therapist's patients."""
    require_own_patient(ctx, actor, patient_id, action="view_patient_risk")
    cards = []
    for model, spec in MODELS.items():
        # Rendered from the label definition and this clinic's thresholds, as trained.
        title, definition = (
            spec.title,
            "Probability of " + spec.outcome(ctx.settings.clinical) + ".",
        )
        empty_history = pl.DataFrame(schema={"as_of": pl.Date, "probability": pl.Float64})
        pred = (
            read_frame(
                ctx,
                "SELECT * FROM predictions WHERE patient_id = ? AND model = ?",
                [patient_id, model],
            )
            if has_table(ctx, "predictions")
            else pl.DataFrame()
        )
        if pred.is_empty():
            reason = "Not scored."
            if has_table(ctx, "model_status"):
                status = ctx.snapshot.execute(
                    "SELECT status, message FROM model_status WHERE model = ?", [model]
                ).fetchone()
                if status and status[0] != "ok":
                    reason = f"Score unavailable: {status[1]}"
                elif status:
                    reason = "Not scored: this patient was not eligible or had too little data."
            cards.append(
                RiskCard(
                    model,
                    title,
                    definition,
                    None,
                    None,
                    None,
                    None,
                    None,
                    (),
                    (),
                    empty_history,
                    reason,
                )
            )
            continue
        row = pred.row(0, named=True)
        reasons = read_frame(
            ctx,
            """SELECT direction, sentence FROM explanations WHERE patient_id = ? AND model = ?
               ORDER BY direction, rank""",
            [patient_id, model],
        )
        history = (
            read_frame(
                ctx,
                "SELECT as_of, probability FROM prediction_history WHERE patient_id = ? AND model = ? ORDER BY as_of",
                [patient_id, model],
            )
            if has_table(ctx, "prediction_history")
            else empty_history
        )
        cards.append(
            RiskCard(
                model=model,
                title=title,
                definition=definition,
                probability=row["probability"],
                tier=_TIER_TEXT.get((model, row["tier"]), row["tier"]),
                version=row["version"],
                as_of=row["as_of"],
                coverage_note=row.get("coverage_note"),
                reasons_for=tuple(reasons.filter(pl.col("direction") == "raises")["sentence"]),
                reasons_against=tuple(reasons.filter(pl.col("direction") == "lowers")["sentence"]),
                history=history,
                # Not scored (in an episode, already disengaged, ...): scoring says why.
                unavailable_reason=None
                if row["probability"] is not None
                else row.get("coverage_note") or "Not scored.",
            )
        )
    return cards


def add_note(ctx: Context, actor: Actor, patient_id: str, body: str) -> None:
    """Store a clinical note; the note text never enters the audit trail."""
    require_own_patient(ctx, actor, patient_id, action="add_note")
    text = body.strip()
    if not text:
        raise ValueError("a note needs some text")
    ctx.workspace.execute(
        "INSERT INTO notes (patient_id, author, body, at) VALUES (?, ?, ?, ?)",
        [patient_id, actor.user, text, datetime.now(UTC).isoformat(timespec="seconds")],
    )
    ctx.record(actor, "add_note", target="note", patient_id=patient_id)


def alerts(
    ctx: Context,
    actor: Actor,
    *,
    include_resolved: bool = False,
    levels: tuple[str, ...] | list[str] | None = None,
    patient_id: str | None = None,
) -> pl.DataFrame:
    """Safety alerts for the therapist's patients (a discharged one's until resolved), most
    urgent first; open ones
    stay however old (resolved ones on request). See :func:`analytics.serving.alerts.list_alerts`
    for the columns."""
    return safety_alerts.list_alerts(
        ctx, actor, include_resolved=include_resolved, levels=levels, patient_id=patient_id
    )


def act_on_alert(ctx: Context, actor: Actor, alert_id: str, action: str, note: str) -> str:
    """Acknowledge, resolve (a note is required) or re-open an alert. Nothing is ever
    cleared automatically. Returns the alert's new status."""
    return safety_alerts.act(ctx, actor, alert_id, action, note)
