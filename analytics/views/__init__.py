"""Role-scoped reads over the serving snapshot and the workspace.

Each function takes a :class:`~analytics.access.roles.Context` and an
:class:`~analytics.access.roles.Actor`, checks access first, and returns a typed result or a
documented polars frame. Every view of a patient and every alert action is audited.
Values from users (search text, ids) reach SQL only as parameters.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

import polars as pl

from analytics.access.roles import Actor, Context, Role, require_own_patient, require_role
from analytics.data.store import cursor
from analytics.serving import alerts as safety_alerts

ALERT_ACTIONS = safety_alerts.ACTIONS


def _frame(
    ctx: Context, sql: str, params: list[object] | dict[str, object] | None = None
) -> pl.DataFrame:
    cur = cursor(ctx.snapshot, settings=ctx.settings)  # connections are not thread-safe
    try:
        frame = cur.sql(sql, params=params or []).pl()
    finally:
        cur.close()
    # Show instants in the clinic's own time zone, as the clinicians live them.
    zone = ctx.settings.clinic_timezone
    local = [
        pl.col(name).dt.convert_time_zone(zone)
        for name, dtype in frame.schema.items()
        if isinstance(dtype, pl.Datetime) and dtype.time_zone is not None
    ]
    return frame.with_columns(local) if local else frame


def _has_table(ctx: Context, name: str) -> bool:
    return bool(
        ctx.snapshot.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE table_name = ? AND NOT temporary", [name]
        ).fetchone()[0]
    )


def _reviewed_alerts(ctx: Context, patient_ids: list[str]) -> dict[str, str]:
    """Alerts of these patients someone has acknowledged or resolved, with the latest
    action (live, not as of refresh). A re-opened alert is not handled."""
    if not patient_ids:
        return {}
    marks = ", ".join("?" * len(patient_ids))
    rows = ctx.workspace.execute(
        f"""SELECT alert_id, action FROM alert_actions a
            WHERE patient_id IN ({marks})
              AND id = (SELECT max(id) FROM alert_actions b WHERE b.alert_id = a.alert_id)""",
        patient_ids,
    ).fetchall()
    return {alert_id: action for alert_id, action in rows if action != "reopen"}


# --- therapist -------------------------------------------------------------------------


def caseload(ctx: Context, actor: Actor, *, search: str | None = None) -> pl.DataFrame:
    """The therapist's own active patients, safety flags first.

    Columns: patient_id, display_name, safety_level (2 item-9 or unreviewed crisis
    message, 1 unreviewed concern message, 0 none), safety_reasons, phq9_latest_total,
    phq9_latest_band, phq9_reliable_change, gad7_latest_total, gad7_latest_band,
    gad7_reliable_change, days_since_checkin, checkin_adherence_14d,
    wearable_coverage_14d, sleep_change_h, mood_28d (28 daily values, None for no
    check-in), and relapse_/engagement_ probability, tier and top_reason (null until
    models are trained).
    """
    require_role(ctx, actor, Role.THERAPIST, action="view_caseload")
    pattern = f"%{search.strip()}%" if search and search.strip() else None
    frame = _frame(
        ctx,
        """SELECT s.patient_id, s.display_name, s.item9_flag_current, s.item9_last_positive_value,
                  s.phq9_latest_total, s.phq9_latest_band, s.phq9_reliable_change,
                  s.gad7_latest_total, s.gad7_latest_band, s.gad7_reliable_change,
                  date_diff('day', CAST(s.last_checkin_at AS DATE), m.as_of) AS days_since_checkin,
                  s.checkin_adherence_14d, s.wearable_coverage_14d, s.sleep_change_h, s.mood_28d
           FROM patient_summary s, snapshot_meta m
           WHERE s.clinician_id = $clinician AND s.active
             AND ($pattern IS NULL OR s.patient_id ILIKE $pattern OR s.display_name ILIKE $pattern)
           ORDER BY s.patient_id""",
        {"clinician": actor.clinician_id, "pattern": pattern},
    )
    flags = _frame(
        ctx,
        """SELECT f.patient_id, f.message_id, f.crisis_level FROM flagged_messages f
           JOIN patient_summary s USING (patient_id)
           WHERE s.clinician_id = ? AND s.active""",
        [actor.clinician_id],
    )
    handled = _reviewed_alerts(ctx, frame["patient_id"].to_list())
    open_flags = (
        flags.filter(
            ~pl.col("message_id").map_elements(
                lambda m: safety_alerts.message_alert_id(m) in handled, return_dtype=pl.Boolean
            )
        )
        if flags.height
        else flags
    )
    per_patient = (
        open_flags.group_by("patient_id").agg(
            (pl.col("crisis_level") == "crisis").sum().alias("open_crisis"),
            (pl.col("crisis_level") == "concern").sum().alias("open_concern"),
        )
        if open_flags.height
        else pl.DataFrame(
            schema={"patient_id": pl.String, "open_crisis": pl.UInt32, "open_concern": pl.UInt32}
        )
    )
    out = frame.join(per_patient, on="patient_id", how="left").with_columns(
        pl.col("open_crisis").fill_null(0), pl.col("open_concern").fill_null(0)
    )
    out = out.with_columns(
        pl.when(pl.col("item9_flag_current") | (pl.col("open_crisis") > 0))
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
    out = _join_predictions(ctx, out)
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
    if _has_table(ctx, "predictions"):
        # Only these patients' rows: the whole table is every active patient's.
        preds = _frame(
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


def patient(ctx: Context, actor: Actor, patient_id: str) -> PatientView:
    """One patient's page; refused unless they are on the therapist's active caseload."""
    require_own_patient(ctx, actor, patient_id, action="view_patient")
    ctx.record(actor, "view_patient", target="patient", patient_id=patient_id)
    summary = _frame(
        ctx, "SELECT * FROM patient_summary WHERE patient_id = ?", [patient_id]
    ).to_dicts()[0]
    # A snapshot built before partial questionnaires were stored holds complete ones only.
    completeness = (
        "items_answered, complete"
        if safety_alerts.has_completeness(ctx)
        else "CASE instrument WHEN 'PHQ-9' THEN 9 ELSE 7 END AS items_answered, TRUE AS complete"
    )
    assessments = _frame(
        ctx,
        f"""SELECT completed_at, instrument, total, band, item_9, {completeness}
           FROM assessments_scored WHERE patient_id = ? ORDER BY completed_at""",
        [patient_id],
    )
    daily = _frame(
        ctx,
        """SELECT date, mood, anxiety, energy, checkins, sleep_minutes, steps, resting_hr,
                  hrv_rmssd_ms, wear_minutes, messages, sentiment
           FROM patient_daily WHERE patient_id = ? ORDER BY date""",
        [patient_id],
    )
    flagged = _frame(
        ctx,
        """SELECT message_id, sent_at, crisis_level, crisis_matched, text FROM flagged_messages
           WHERE patient_id = ? ORDER BY sent_at DESC""",
        [patient_id],
    )
    handled = _reviewed_alerts(ctx, [patient_id])
    flagged = (
        flagged.with_columns(
            pl.col("message_id")
            .map_elements(
                lambda m: handled.get(safety_alerts.message_alert_id(m), "open"),
                return_dtype=pl.String,
            )
            .alias("status")
        )
        if flagged.height
        else flagged.with_columns(pl.lit(None, pl.String).alias("status"))
    )
    notes = pl.DataFrame(
        ctx.workspace.execute(
            "SELECT at, author, body FROM notes WHERE patient_id = ? ORDER BY id DESC", [patient_id]
        ).fetchall(),
        schema={"at": pl.String, "author": pl.String, "body": pl.String},
        orient="row",
    )
    return PatientView(patient_id, summary, assessments, daily, flagged, notes)


MODEL_TITLES = {
    "relapse_risk": (
        "Relapse risk",
        "Probability of reliable deterioration (PHQ-9 up 6 or more reaching 10+, or GAD-7 up 4 "
        "or more reaching 10+) or a recorded relapse, hospitalisation, crisis contact or "
        "self-harm in the next 28 days.",
    ),
    "engagement_drop": (
        "Engagement risk",
        "Probability of no check-in and no message in the next 14 days, for a patient who "
        "was engaged in the last 14.",
    ),
}


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
    for model, (title, definition) in MODEL_TITLES.items():
        empty_history = pl.DataFrame(schema={"as_of": pl.Date, "probability": pl.Float64})
        pred = (
            _frame(
                ctx,
                "SELECT * FROM predictions WHERE patient_id = ? AND model = ?",
                [patient_id, model],
            )
            if _has_table(ctx, "predictions")
            else pl.DataFrame()
        )
        if pred.is_empty():
            reason = "Not scored."
            if _has_table(ctx, "model_status"):
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
        reasons = _frame(
            ctx,
            """SELECT direction, sentence FROM explanations WHERE patient_id = ? AND model = ?
               ORDER BY direction, rank""",
            [patient_id, model],
        )
        history = (
            _frame(
                ctx,
                "SELECT as_of, probability FROM prediction_history WHERE patient_id = ? AND model = ? ORDER BY as_of",
                [patient_id, model],
            )
            if _has_table(ctx, "prediction_history")
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
    """Safety alerts for the therapist's active patients, most urgent first; open ones
    stay however old (resolved ones on request). See :func:`analytics.serving.alerts.list_alerts`
    for the columns."""
    return safety_alerts.list_alerts(
        ctx, actor, include_resolved=include_resolved, levels=levels, patient_id=patient_id
    )


def act_on_alert(ctx: Context, actor: Actor, alert_id: str, action: str, note: str) -> str:
    """Acknowledge, resolve (a note is required) or re-open an alert. Nothing is ever
    cleared automatically. Returns the alert's new status."""
    return safety_alerts.act(ctx, actor, alert_id, action, note)


# --- manager ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ClinicOverview:
    """Aggregates for a manager's sites. Figures of cells below the minimum size are None.

    - ``totals``: one row: active_patients, engaged_7d_rate, reliable_improvement_rate,
      recovery_rate, wearable_coverage_rate, open_alerts, overdue_alerts,
      median_hours_to_acknowledge.
    - ``by_site`` / ``by_clinician`` (pseudonymous clinician ids): active_patients,
      engaged_7d, engaged_7d_rate, reliable_improvement_rate, recovery_rate,
      wearable_coverage_rate, suppressed. Every rate follows :func:`discloses` with
      complementary suppression (:func:`disclose`).
    - ``weekly``: week, active_patients, engaged_rate, mean_phq9 (last 26 weeks).
    - ``retention``: week_since_enrolment, enrolled, engaged_rate.
    - ``alerts_by_clinician``: open and overdue safety alerts per pseudonymous clinician
      (overdue: unacknowledged past ``alert_response_hours`` for the alert's level).
    """

    as_of: date
    sites: tuple[str, ...]
    totals: dict[str, object]
    by_site: pl.DataFrame
    by_clinician: pl.DataFrame
    weekly: pl.DataFrame
    retention: pl.DataFrame
    suppressed_note: str
    # site_id, clinician (pseudonymous), open_alerts, overdue_alerts: counts only.
    alerts_by_clinician: pl.DataFrame | None = None


def clinic_overview(ctx: Context, actor: Actor) -> ClinicOverview:
    """Engagement, outcomes and alert handling by site and clinician; no names, no free
    text, small cells suppressed."""
    require_role(ctx, actor, Role.MANAGER, action="view_clinic")
    sites = sorted(actor.sites)
    n = ctx.settings.min_cell_size
    marks = ", ".join("?" * len(sites)) or "NULL"
    as_of = ctx.snapshot.execute("SELECT as_of FROM snapshot_meta").fetchone()[0]
    per_clinician = _frame(
        ctx,
        f"""SELECT s.site_id, s.clinician_id,
                   count(*) AS active_patients,
                   count(*) FILTER (WHERE date_diff('day', CAST(s.last_checkin_at AS DATE), m.as_of) < 7
                                       OR date_diff('day', CAST(s.last_message_at AS DATE), m.as_of) < 7)
                       AS engaged_7d,
                   count(*) FILTER (WHERE s.reliably_improved) AS improved,
                   count(*) FILTER (WHERE s.reliably_improved IS NOT NULL) AS improved_known,
                   count(*) FILTER (WHERE s.recovered) AS recovered,
                   count(*) FILTER (WHERE s.recovered IS NOT NULL) AS recovery_known,
                   count(*) FILTER (WHERE s.wearable_coverage_14d > 0) AS with_wearable
            FROM patient_summary s, snapshot_meta m
            WHERE s.active AND s.site_id IN ({marks})
            GROUP BY ALL""",
        sites,
    )
    by_site = (
        per_clinician.group_by("site_id").agg(pl.exclude("clinician_id").sum()).sort("site_id")
    )
    by_clinician = per_clinician.with_columns(
        pl.col("clinician_id").map_elements(ctx.clinician_pseudonym, return_dtype=pl.String)
    ).sort(["site_id", "clinician_id"])
    totals = _clinic_totals(ctx, per_clinician, sites, n)
    # Every kind of safety alert, each against its level's response time.
    alert_load = safety_alerts.overdue_by_clinician(ctx, actor)
    totals["open_alerts"] = int(alert_load["open_alerts"].sum())
    totals["overdue_alerts"] = int(alert_load["overdue_alerts"].sum())
    weekly = _frame(
        ctx,
        f"""WITH weeks AS (
                SELECT CAST(unnest(generate_series(date_trunc('week', m.as_of) - INTERVAL 25 WEEK,
                                                   date_trunc('week', m.as_of), INTERVAL 1 WEEK)) AS DATE) AS week
                FROM snapshot_meta m),
            active AS (
                SELECT w.week, s.patient_id FROM weeks w JOIN patient_summary s
                  ON s.enrolled_on <= w.week + 6 AND (s.discharged_on IS NULL OR s.discharged_on > w.week)
                WHERE s.site_id IN ({marks})),
            engaged AS (
                -- only the weeks shown and the manager's sites: not the whole history
                SELECT DISTINCT date_trunc('week', d.date) AS week, d.patient_id FROM patient_daily d
                SEMI JOIN (SELECT patient_id FROM patient_summary WHERE site_id IN ({marks})) s
                  ON s.patient_id = d.patient_id
                WHERE (d.checkins > 0 OR d.messages > 0) AND d.date >= (SELECT min(week) FROM weeks)),
            phq AS (
                SELECT date_trunc('week', completed_on) AS week, avg(total) AS mean_phq9, count(*) AS phq9_n
                FROM assessments_scored a JOIN patient_summary s USING (patient_id)
                WHERE a.instrument = 'PHQ-9' AND s.site_id IN ({marks})
                  AND a.completed_on >= (SELECT min(week) FROM weeks) GROUP BY 1)
            SELECT a.week, count(*) AS active_patients, count(e.patient_id) AS engaged_n,
                   count(e.patient_id) / count(*) AS engaged_rate,
                   any_value(p.mean_phq9) AS mean_phq9, any_value(p.phq9_n) AS phq9_n
            FROM active a LEFT JOIN engaged e USING (week, patient_id) LEFT JOIN phq p USING (week)
            GROUP BY a.week ORDER BY a.week""",
        sites + sites + sites,
    )
    weekly = weekly.with_columns(
        pl.when(
            (pl.col("active_patients") < n)
            | (pl.col("engaged_n") < n)
            | (pl.col("active_patients") - pl.col("engaged_n") < n)
        )
        .then(None)
        .otherwise(pl.col("engaged_rate"))
        .alias("engaged_rate"),
        pl.when(pl.col("phq9_n") < n).then(None).otherwise(pl.col("mean_phq9")).alias("mean_phq9"),
        pl.when(pl.col("active_patients") < n)
        .then(None)
        .otherwise(pl.col("active_patients"))
        .alias("active_patients"),
    ).drop("phq9_n", "engaged_n")
    retention = _frame(
        ctx,
        f"""WITH enrolled AS (
                SELECT s.patient_id, s.enrolled_on, k.week_since_enrolment
                FROM patient_summary s, snapshot_meta m,
                     (SELECT CAST(unnest(range(0, 27)) AS INTEGER) AS week_since_enrolment) k
                WHERE s.site_id IN ({marks})
                  AND s.enrolled_on + 7 * (k.week_since_enrolment + 1) <= m.as_of + 1),
            engaged AS (
                -- the week since enrolment of every active day, in one pass (an equi-join;
                -- a range join per (patient, week) grows with the clinic's history)
                SELECT DISTINCT d.patient_id,
                       CAST(date_diff('day', s.enrolled_on, d.date) // 7 AS INTEGER)
                           AS week_since_enrolment
                FROM patient_daily d JOIN patient_summary s USING (patient_id)
                WHERE s.site_id IN ({marks}) AND d.date >= s.enrolled_on
                  AND d.date < s.enrolled_on + 7 * 27 AND (d.checkins > 0 OR d.messages > 0))
            SELECT e.week_since_enrolment, count(*) AS enrolled,
                   count(g.patient_id) AS engaged_n,
                   count(g.patient_id) / count(*) AS engaged_rate
            FROM enrolled e LEFT JOIN engaged g USING (patient_id, week_since_enrolment)
            GROUP BY 1 ORDER BY 1""",
        sites + sites,
    )
    retention = retention.with_columns(
        pl.when(
            (pl.col("enrolled") < n)
            | (pl.col("engaged_n") < n)
            | (pl.col("enrolled") - pl.col("engaged_n") < n)
        )
        .then(None)
        .otherwise(pl.col("engaged_rate"))
        .alias("engaged_rate"),
        pl.when(pl.col("enrolled") < n).then(None).otherwise(pl.col("enrolled")).alias("enrolled"),
    ).drop("engaged_n")
    ctx.record(actor, "view_clinic", target="aggregates", detail=f"sites={len(sites)}")
    return ClinicOverview(
        as_of=as_of,
        sites=tuple(sites),
        totals=totals,
        by_site=_rates(suppress_small(by_site, "active_patients", n, within=None), n, within=None),
        by_clinician=_rates(
            suppress_small(by_clinician, "active_patients", n, within="site_id"),
            n,
            within="site_id",
        ),
        weekly=weekly,
        retention=retention,
        suppressed_note=f"Groups with fewer than {n} patients, or fewer than {n} with or "
        "without an outcome, are not shown (nor a figure that would give one away).",
        alerts_by_clinician=alert_load,
    )


def _clinic_totals(
    ctx: Context, per_clinician: pl.DataFrame, sites: list[str], n: int
) -> dict[str, object]:
    sums = (
        per_clinician.select(pl.exclude("site_id", "clinician_id").sum()).to_dicts()[0]
        if per_clinician.height
        else {}
    )
    active = sums.get("active_patients", 0) or 0

    def rate(num: str, den: str) -> float | None:
        return sums[num] / sums[den] if discloses(sums.get(num), sums.get(den), n) else None

    marks = ", ".join("?" * len(sites)) or "NULL"
    raised = _frame(
        ctx,
        f"""SELECT '{safety_alerts.MESSAGE_PREFIX}' || f.message_id AS alert_id, f.sent_at AS raised_at
            FROM flagged_messages f JOIN patient_summary s USING (patient_id)
            WHERE s.active AND s.site_id IN ({marks})""",
        sites,
    )
    actions = ctx.workspace.execute(
        "SELECT alert_id, action, min(at) FROM alert_actions WHERE alert_id LIKE ? || '%' "
        "GROUP BY alert_id, action",
        [safety_alerts.MESSAGE_PREFIX],
    ).fetchall()
    first: dict[str, dict[str, str]] = {}
    for alert_id, action, at in actions:
        first.setdefault(alert_id, {})[action] = at
    hours: list[float] = []
    for alert_id, raised_at in raised.iter_rows():
        acts = first.get(alert_id, {})
        handled = min(acts.values()) if acts else None
        if handled:
            hours.append((datetime.fromisoformat(handled) - raised_at).total_seconds() / 3600)
    hours.sort()
    median = (
        None
        if len(hours) < n
        else hours[len(hours) // 2]
        if len(hours) % 2
        else (hours[len(hours) // 2 - 1] + hours[len(hours) // 2]) / 2
    )
    return {
        "active_patients": active if active >= n else None,
        "engaged_7d_rate": rate("engaged_7d", "active_patients"),
        "reliable_improvement_rate": rate("improved", "improved_known"),
        "recovery_rate": rate("recovered", "recovery_known"),
        "wearable_coverage_rate": rate("with_wearable", "active_patients"),
        "median_hours_to_acknowledge": median,
    }


def suppress_small(
    frame: pl.DataFrame, count: str, minimum: int, *, within: str | None = None
) -> pl.DataFrame:
    """Blank every figure of a row whose ``count`` is below ``minimum``.

    Where exactly one row in a ``within`` group is blanked, the next smallest is blanked
    too, so the group's total cannot give the small one away.
    """
    figures = [c for c in frame.columns if frame[c].dtype.is_numeric()]
    small = frame[count] < minimum
    if within is not None and frame.height:
        keyed = frame.with_columns(small.alias("_small"), pl.int_range(pl.len()).alias("_row"))
        extra: set[int] = set()
        for _, part in keyed.group_by(within):
            if part["_small"].sum() == 1 and part.height > 1:
                rest = part.filter(~pl.col("_small")).sort(count)
                extra.add(rest["_row"][0])
        small = small | pl.Series([i in extra for i in range(frame.height)])
    return frame.with_columns(
        [pl.when(small).then(None).otherwise(pl.col(c)).alias(c) for c in figures]
        + [small.alias("suppressed")]
    )


# Every proportion a manager sees: rate name -> (numerator, denominator).
RATES = {
    "engaged_7d_rate": ("engaged_7d", "active_patients"),
    "reliable_improvement_rate": ("improved", "improved_known"),
    "recovery_rate": ("recovered", "recovery_known"),
    "wearable_coverage_rate": ("with_wearable", "active_patients"),
}


def discloses(num: float | None, den: float | None, minimum: int) -> bool:
    """The one disclosure rule for a proportion (the export and the fairness audit use the
    same): at least ``minimum`` in the group, with and without the outcome. "3 of 23" and
    "33 of 34" both single out a handful of people."""
    if num is None or den is None:
        return False
    return den >= minimum and num >= minimum and den - num >= minimum


def disclose(
    frame: pl.DataFrame,
    rates: dict[str, tuple[str, str]],
    minimum: int,
    *,
    within: str | None = None,
) -> pl.DataFrame:
    """Each rate (and its numerator) shown only where :func:`discloses` holds (primary
    suppression); then, in every ``within`` group (the whole table when None, whose total
    is shown elsewhere), rows are hidden smallest first until the hidden rows pooled pass
    the rule too, so no hidden figure can be had by subtraction (complementary)."""
    out = frame
    groups = (
        [list(range(frame.height))]
        if within is None
        else [
            part["_row"].to_list()
            for _, part in frame.with_row_index("_row").group_by(within, maintain_order=True)
        ]
    )
    for rate, (num, den) in rates.items():
        nums, dens = frame[num].to_list(), frame[den].to_list()
        hidden = {i for i in range(frame.height) if not discloses(nums[i], dens[i], minimum)}
        for members in groups:
            while True:
                gone = [i for i in members if i in hidden]
                shown = [i for i in members if i not in hidden]
                if not gone or not shown:
                    break
                pooled_num = sum(nums[i] or 0 for i in gone)
                pooled_den = sum(dens[i] or 0 for i in gone)
                if discloses(pooled_num, pooled_den, minimum):
                    break
                hidden.add(min(shown, key=lambda i: (dens[i] or 0, i)))
        mask = pl.Series([i in hidden for i in range(frame.height)])
        value = pl.col(num) / pl.col(den)
        out = out.with_columns(
            pl.when(mask).then(None).otherwise(value).alias(rate),
            pl.when(mask).then(None).otherwise(pl.col(num)).alias(num),
        )
    return out


def _rates(frame: pl.DataFrame, minimum: int, *, within: str | None) -> pl.DataFrame:
    keep = {"engaged_7d"}  # shown as a count beside active_patients, where disclosed
    drop = [c for pair in RATES.values() for c in pair[:1] if c not in keep]
    drop += ["improved_known", "recovery_known"]
    return disclose(frame, RATES, minimum, within=within).drop(drop)


# --- researcher ------------------------------------------------------------------------


def research_cohort(ctx: Context, actor: Actor) -> pl.DataFrame:
    """De-identified per-patient outcomes: pseudonymous ids, no names, no free text,
    dates as days since enrolment, birth year as a 10-year band (90+ together)."""
    require_role(ctx, actor, Role.RESEARCHER, action="view_research")
    frame = _frame(
        ctx,
        """SELECT s.patient_id, s.gender, s.race_ethnicity, s.primary_language, s.insurance,
                  s.rurality, s.birth_year, year(m.as_of) AS as_of_year,
                  date_diff('day', s.enrolled_on, m.as_of) AS days_enrolled,
                  s.phq9_baseline_total, s.phq9_latest_total, s.gad7_baseline_total,
                  s.gad7_latest_total, s.recovered, s.reliably_improved,
                  s.checkin_adherence_28d, s.wearable_coverage_14d
           FROM patient_summary s, snapshot_meta m""",
    )
    ctx.record(actor, "view_research", target="cohort", detail=f"rows={frame.height}")
    return (
        frame.with_columns(
            pl.col("patient_id")
            .map_elements(ctx.pseudonym, return_dtype=pl.String)
            .alias("patient_key"),
            # Age as of the data, not the calendar: the same snapshot, the same bands.
            age_band(pl.col("birth_year"), ref_year=pl.col("as_of_year")).alias("age_band"),
        )
        .drop("patient_id", "birth_year", "as_of_year")
        .select("patient_key", pl.exclude("patient_key"))
    )


@dataclass(frozen=True)
class ModelReport:
    """What the Models page shows; aggregates only, no patient rows.

    Frames (empty when the snapshot has none): ``status`` (model, status, version,
    message), ``metrics`` (model, version, method, metric, estimate, ci_low, ci_high),
    ``curves`` (model, method, curve, x, y), ``importance`` (model, feature,
    mean_abs_shap, rank), ``dependence`` (model, feature, value, shap_value), ``drift``
    (model, feature, week, mean), ``cards`` (model, version, markdown).
    """

    status: pl.DataFrame
    metrics: pl.DataFrame
    curves: pl.DataFrame
    importance: pl.DataFrame
    dependence: pl.DataFrame
    drift: pl.DataFrame
    cards: pl.DataFrame


def _table_or_empty(ctx: Context, name: str, schema: dict[str, pl.DataType]) -> pl.DataFrame:
    if not _has_table(ctx, name):
        return pl.DataFrame(schema=schema)
    return _frame(ctx, f'SELECT {", ".join(schema)} FROM "{name}"')


def model_report(ctx: Context, actor: Actor) -> ModelReport:
    """Held-out evaluation, explanations and model cards, for researchers."""
    require_role(ctx, actor, Role.RESEARCHER, action="view_models")
    s, f = pl.String, pl.Float64
    report = ModelReport(
        status=_table_or_empty(
            ctx, "model_status", {"model": s, "status": s, "version": s, "message": s}
        ),
        metrics=_table_or_empty(
            ctx,
            "model_metrics",
            {
                "model": s,
                "version": s,
                "method": s,
                "metric": s,
                "estimate": f,
                "ci_low": f,
                "ci_high": f,
            },
        ),
        curves=_table_or_empty(
            ctx, "model_curves", {"model": s, "method": s, "curve": s, "x": f, "y": f}
        ),
        importance=_table_or_empty(
            ctx,
            "global_importance",
            {"model": s, "feature": s, "mean_abs_shap": f, "rank": pl.Int64},
        ),
        dependence=_table_or_empty(
            ctx, "shap_dependence", {"model": s, "feature": s, "value": f, "shap_value": f}
        ),
        drift=_table_or_empty(
            ctx, "feature_drift", {"model": s, "feature": s, "week": pl.Date, "mean": f}
        ),
        cards=_table_or_empty(ctx, "model_cards", {"model": s, "version": s, "markdown": s}),
    )
    ctx.record(actor, "view_models", target="model evaluation")
    return report


def age_band(birth_year: pl.Expr, *, ref_year: int | pl.Expr) -> pl.Expr:
    """Ten-year age bands ("30-39"), with 90 and over together and missing as "Unknown"."""
    age = ref_year - birth_year
    low = (age // 10) * 10
    return (
        pl.when(birth_year.is_null())
        .then(pl.lit("Unknown"))
        .when(age >= 90)
        .then(pl.lit("90+"))
        .otherwise(pl.format("{}-{}", low, low + 9))
    )


# --- fairness ------------------------------------------------------------------------


@dataclass(frozen=True)
class FairnessOptions:
    """What the Fairness page can offer: audited models, attributes and alert budgets."""

    models: tuple[str, ...]
    attributes: tuple[str, ...]
    budgets: tuple[float, ...]


def fairness_options(ctx: Context, actor: Actor) -> FairnessOptions:
    """Models with held-out predictions to audit, for researchers."""
    from analytics.models.model_audits import ATTRIBUTES

    require_role(ctx, actor, Role.RESEARCHER, action="view_fairness")
    models: tuple[str, ...] = ()
    if _has_table(ctx, "heldout_predictions"):
        models = tuple(
            _frame(ctx, "SELECT DISTINCT model FROM heldout_predictions ORDER BY 1")["model"]
        )
    return FairnessOptions(models, ATTRIBUTES, tuple(ctx.settings.alert_budgets))


@dataclass(frozen=True)
class FairnessView:
    """One audit, ready to show: every frame already free of suppressed groups' figures.

    ``groups``: group, n, patients, positives, and per metric "value (low-high)" text;
    ``disparities``: group, metric, ratio, ratio_low, ratio_high, flag; ``calibration``:
    group, mean_predicted, observed, observed_low, observed_high; ``coverage``: group,
    measure, share, ratio, flag; ``whatif``: attribute, group, metric, before, after.
    """

    model: str
    reference: str | None
    threshold: float
    summary: str
    groups: pl.DataFrame
    disparities: pl.DataFrame
    calibration: pl.DataFrame
    coverage: pl.DataFrame
    whatif: pl.DataFrame
    suppressed: tuple[str, ...]
    html: str
    json: str


FAIRNESS_METRICS = ("selection_rate", "tpr", "fpr", "ppv", "auroc", "brier", "calibration_error")


def fairness_audit(
    ctx: Context,
    actor: Actor,
    *,
    model: str,
    attributes: tuple[str, ...],
    budget: float,
    reference: str | None = None,
    n_boot: int = 1000,
) -> FairnessView:
    """Audit a model's held-out predictions by one attribute or an intersection."""
    import json as _json

    from analytics.data.store import DataDir
    from analytics.fairness import to_html, to_json
    from analytics.models.model_audits import audit_model, thresholds_for

    require_role(ctx, actor, Role.RESEARCHER, action="view_fairness")
    heldout = _frame(ctx, "SELECT * FROM heldout_predictions WHERE model = ?", [model]).to_pandas()
    threshold = thresholds_for(DataDir(ctx.settings.data_dir), model, settings=ctx.settings)[budget]
    result = audit_model(
        heldout,
        model=model,
        threshold=threshold,
        settings=ctx.settings,
        attributes=attributes[:1] if len(attributes) == 1 else attributes,
        intersections=[tuple(attributes)] if len(attributes) > 1 else False,
        reference=reference,
        n_boot=n_boot,
    )
    table = " & ".join(attributes)
    ctx.record(actor, "view_fairness", target=f"{model}: {table}")
    shown = [g for g in result.groups if g.table == table]

    def text(e) -> str | None:
        if e is None or e.value is None:
            return None
        if e.low is None:
            return f"{e.value:.3f}"
        return f"{e.value:.3f} ({e.low:.3f}-{e.high:.3f})"

    groups = (
        pl.DataFrame(
            [
                {
                    "group": g.label + (" (reference)" if g.is_reference else ""),
                    "n": g.n,
                    "patients": g.patients,
                    "positives": g.positives,
                    **{m: text(g.metrics.get(m)) for m in FAIRNESS_METRICS},
                    "note": g.note,
                }
                for g in shown
            ],
            schema={
                "group": pl.String,
                "n": pl.Int64,
                "patients": pl.Int64,
                "positives": pl.Int64,
                **{m: pl.String for m in FAIRNESS_METRICS},
                "note": pl.String,
            },
            orient="row",
        )
        if shown
        else pl.DataFrame()
    )
    disparities = pl.DataFrame(
        [
            {
                "group": d.group,
                "metric": d.metric,
                "ratio": d.ratio.value,
                "ratio_low": d.ratio.low,
                "ratio_high": d.ratio.high,
                "flag": d.flag,
            }
            for d in result.disparities
            if d.table == table
        ],
        schema={
            "group": pl.String,
            "metric": pl.String,
            "ratio": pl.Float64,
            "ratio_low": pl.Float64,
            "ratio_high": pl.Float64,
            "flag": pl.String,
        },
        orient="row",
    )
    calibration = pl.DataFrame(
        [
            {
                "group": c.group,
                "mean_predicted": c.mean_predicted,
                "observed": c.observed.value,
                "observed_low": c.observed.low,
                "observed_high": c.observed.high,
            }
            for c in result.calibration
            if c.table == table
        ],
        schema={
            "group": pl.String,
            "mean_predicted": pl.Float64,
            "observed": pl.Float64,
            "observed_low": pl.Float64,
            "observed_high": pl.Float64,
        },
        orient="row",
    )
    coverage = pl.DataFrame(
        [
            {
                "group": c.group,
                "measure": c.measure,
                "share": c.share.value,
                "ratio": c.ratio.value,
                "flag": c.flag,
            }
            for c in result.coverage
            if c.table == table
        ],
        schema={
            "group": pl.String,
            "measure": pl.String,
            "share": pl.Float64,
            "ratio": pl.Float64,
            "flag": pl.String,
        },
        orient="row",
    )
    whatif_rows = (
        []
        if result.whatif is None
        else [
            {
                "attribute": w.attribute,
                "group": w.group,
                "metric": w.metric,
                "before": w.before,
                "after": w.after,
            }
            for w in result.whatif.rows
            if w.attribute == table
        ]
    )
    whatif = pl.DataFrame(
        whatif_rows,
        schema={
            "attribute": pl.String,
            "group": pl.String,
            "metric": pl.String,
            "before": pl.Float64,
            "after": pl.Float64,
        },
        orient="row",
    )
    summary = "\n".join(f"- {f.text}" for f in result.findings if f.table in (None, table))
    return FairnessView(
        model=model,
        reference=next((g.label for g in shown if g.is_reference), None),
        threshold=threshold,
        summary=summary,
        groups=groups,
        disparities=disparities,
        calibration=calibration,
        coverage=coverage,
        whatif=whatif,
        suppressed=tuple(g.label for g in shown if g.suppressed),
        html=to_html(result),
        json=_json.dumps(to_json(result), indent=2),
    )


# --- admin -----------------------------------------------------------------------------


@dataclass(frozen=True)
class DataStatus:
    """Data operations: what was ingested, what is quarantined, what is served."""

    snapshot_id: str
    as_of: date
    built_at: datetime
    table_rows: dict[str, int]
    ingest_history: pl.DataFrame
    quarantine: pl.DataFrame  # run_id, file, line, table, column, reason, quarantined_at


def data_status(ctx: Context, actor: Actor) -> DataStatus:
    """Ingest history, quarantine reasons and table counts; for admins."""
    import json

    require_role(ctx, actor, Role.ADMIN, action="view_data")
    as_of, built, counts = ctx.snapshot.execute(
        "SELECT as_of, built_at, warehouse_counts FROM snapshot_meta"
    ).fetchone()
    ctx.record(actor, "view_data", target="data operations")
    return DataStatus(
        snapshot_id=ctx.snapshot_id,
        as_of=as_of,
        built_at=built,
        table_rows=json.loads(counts),
        ingest_history=_frame(ctx, "SELECT * FROM ingest_history ORDER BY run_id DESC, file"),
        quarantine=_frame(ctx, "SELECT * FROM quarantine ORDER BY run_id DESC, file, line"),
    )
