"""Safety alerts: what they are, how urgent, who did what, and what is overdue.

An alert is raised by a patient message the crisis-language detector flagged (crisis or
concern) or could not read ("not screened"), or by a PHQ-9 item-9 answer above 0. It
stays open until a person resolves it with a note, however old it is: the item-9
look-back window only decides what counts as a *current* flag on the caseload. Every
action (acknowledge, resolve, re-open) is kept in the workspace with its note; the audit
trail records the action without the note text.

The alert id is made once, by :data:`SAFETY_ALERTS_SQL` when the snapshot is built; every
reader takes it from there. An alert's status (open, acknowledged, resolved) is live: it is
read from the workspace at each request, never from the snapshot.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import polars as pl

from analytics.access.roles import AccessDenied, Actor, Context, Role, require_role
from analytics.data.store import cursor, has_table
from analytics.settings import response_hours

__all__ = [
    "ACTIONS",
    "LEVELS",
    "SAFETY_ALERTS_SQL",
    "STATUSES",
    "AlertLevel",
    "act",
    "alert_history",
    "has_completeness",
    "list_alerts",
    "overdue_by_clinician",
    "raised_at_sites",
]


@dataclass(frozen=True)
class AlertLevel:
    """One urgency level: its rank (0 most urgent), word, icon and response setting."""

    key: str
    rank: int
    word: str
    icon: str
    response_key: str


# Urgency order. Icons always come with the word: never colour or symbol alone.
LEVELS: tuple[AlertLevel, ...] = (
    AlertLevel("crisis", 0, "Crisis", "🚨", "crisis"),
    AlertLevel("item9_high", 1, "Item 9 answered 2-3", "🔴", "item9"),
    AlertLevel("item9", 2, "Item 9 answered 1", "🟠", "item9"),
    AlertLevel("concern", 3, "Concern", "⚠️", "concern"),
    AlertLevel("not_screened", 4, "Message not screened", "❔", "not_screened"),
)
_LEVEL = {lv.key: lv for lv in LEVELS}

ACTIONS = ("acknowledge", "resolve", "reopen")
STATUSES = ("open", "acknowledged", "resolved")
# The last action decides the status; 'review' is the older pipeline word for a look.
_STATUS_AFTER = {
    "acknowledge": "acknowledged",
    "review": "acknowledged",
    "resolve": "resolved",
    "reopen": "open",
}
_ACTION_WORD = {
    "acknowledge": "Acknowledged",
    "review": "Reviewed",
    "resolve": "Resolved",
    "reopen": "Re-opened",
}

_SCHEMA = {
    "alert_id": pl.String,
    "patient_id": pl.String,
    "display_name": pl.String,
    "clinician_id": pl.String,
    "discharged": pl.Boolean,
    "message_id": pl.String,
    "kind": pl.String,
    "level": pl.String,
    "level_rank": pl.Int8,
    "level_label": pl.String,
    "raised_at": pl.Datetime("us", "UTC"),
    "detail": pl.String,
    "status": pl.String,
    "age_days": pl.Int64,
    "age_text": pl.String,
    "due_by": pl.Datetime("us", "UTC"),
    "overdue": pl.Boolean,
    "history": pl.List(
        pl.Struct({"at": pl.String, "actor": pl.String, "action": pl.String, "note": pl.String})
    ),
}

# A PHQ-9 held in quarantine (a supplied total that disagrees with the items, say) still
# answered item 9: the contract keeps the row out of the warehouse, the product keeps the
# safety signal (PRODUCT.md: item 9 flags "whatever the total"). Built into the snapshot
# from the warehouse's quarantine; rows fixed and re-ingested since are left out, the
# stored questionnaire speaks for itself. Only a valid answer (1-3) of a known patient.
QUARANTINED_ITEM9_SQL = """
    SELECT patient_id, completed_at, CAST(completed_at AS DATE) AS completed_on, item_9,
           reason
    FROM (SELECT q.record ->> 'patient_id' AS patient_id,
                 TRY_CAST(q.record ->> 'completed_at' AS TIMESTAMPTZ) AS completed_at,
                 TRY_CAST(q.record ->> 'item_9' AS INTEGER) AS item_9,
                 q.reason,
                 upper(regexp_replace(coalesce(q.record ->> 'instrument', ''), '[^A-Za-z0-9]',
                                      '', 'g')) AS instrument
          FROM wh.quarantine q WHERE q."table" = 'assessments') r
    WHERE instrument = 'PHQ9' AND item_9 BETWEEN 1 AND 3
      AND CAST(completed_at AS DATE) <= $as_of
      AND patient_id IN (SELECT patient_id FROM wh.patients)
      AND NOT EXISTS (SELECT 1 FROM wh.assessments a
                      WHERE a.patient_id = r.patient_id AND a.completed_at = r.completed_at
                        AND a.instrument = 'PHQ-9')
    QUALIFY row_number() OVER (PARTITION BY patient_id, completed_at ORDER BY reason) = 1"""

# Every safety alert, made once when the snapshot is built (the ``safety_alerts`` table),
# with the one alert-id format the workspace records actions under: ``msg:<message_id>``
# for a flagged or unscreened message, ``item9:<patient_id>:<clinic day>`` for a day's
# positive item-9 answers. Never rename: stored actions refer to these ids. Message alerts
# carry the level the detector gave; item-9 alerts one per patient-day with the day's
# highest answer, from stored questionnaires and quarantined ones alike. {complete} and
# {held} let a snapshot of an older release that lacks them be read the same way.
_ALERTS_TEMPLATE = """
    SELECT 'msg:' || f.message_id AS alert_id, f.patient_id, f.message_id,
           CASE f.crisis_level WHEN 'crisis' THEN 'crisis message'
                WHEN 'concern' THEN 'concern message' ELSE 'message not screened' END AS kind,
           CASE f.crisis_level WHEN 'crisis' THEN 'crisis' WHEN 'concern' THEN 'concern'
                ELSE 'not_screened' END AS level,
           f.sent_at AS raised_at,
           CASE WHEN f.crisis_level = 'unchecked'
                THEN 'the crisis-language detector could not read this message'
                ELSE 'matched "' || coalesce(f.crisis_matched, '') || '"' END AS detail
    FROM flagged_messages f
    UNION ALL
    SELECT 'item9:' || a.patient_id || ':' || CAST(a.completed_on AS VARCHAR),
           a.patient_id, NULL, 'item 9',
           CASE WHEN max(a.item_9) >= 2 THEN 'item9_high' ELSE 'item9' END,
           min(a.completed_at),
           'PHQ-9 item 9 answered ' || max(a.item_9)
               || CASE WHEN bool_and(a.held) THEN ' (questionnaire held in quarantine: '
                            || min(a.reason) || '; an admin can correct and re-ingest it)'
                       WHEN bool_and(a.complete) THEN ''
                       ELSE ' (questionnaire partly answered)' END
    FROM (SELECT patient_id, completed_at, completed_on, item_9, {complete} AS complete,
                 FALSE AS held, NULL AS reason
          FROM assessments_scored WHERE instrument = 'PHQ-9' AND item_9 > 0
          UNION ALL
          SELECT patient_id, completed_at, completed_on, item_9, TRUE, TRUE, reason
          FROM {held}) a
    GROUP BY a.patient_id, a.completed_on"""
SAFETY_ALERTS_SQL = _ALERTS_TEMPLATE.format(complete="complete", held="quarantined_item9")
_NO_HELD = (
    "(SELECT NULL::VARCHAR AS patient_id, NULL::TIMESTAMPTZ AS completed_at, "
    "NULL::DATE AS completed_on, NULL::INTEGER AS item_9, NULL::VARCHAR AS reason WHERE FALSE)"
)

# A discharged patient's alerts stay with their clinician until resolved: a discharge
# does not answer a safety signal.
_SOURCE_SQL = """
    SELECT a.alert_id, a.patient_id, s.display_name, s.clinician_id, s.site_id,
           NOT s.active AS discharged, a.message_id, a.kind, a.level, a.raised_at, a.detail
    FROM {alerts} a JOIN patient_summary s USING (patient_id)
    WHERE {scope}"""


def has_completeness(ctx: Context) -> bool:
    """Whether the snapshot in service records questionnaire completeness (one built
    before partial questionnaires were stored does not, until the next refresh)."""
    row = ctx.snapshot.execute(
        """SELECT count(*) FROM duckdb_columns()
           WHERE table_name = 'assessments_scored' AND column_name = 'complete'"""
    ).fetchone()
    return bool(row and row[0])


def _sources(ctx: Context, scope: str, params: list[object]) -> pl.DataFrame:
    cur = cursor(ctx.snapshot, settings=ctx.settings)  # connections are not thread-safe
    try:
        if has_table(ctx.snapshot, "safety_alerts"):
            alerts = "safety_alerts"
        else:  # a snapshot of an older release: the same SQL, read in place
            complete = "complete" if has_completeness(ctx) else "TRUE"
            held = "quarantined_item9" if has_table(ctx.snapshot, "quarantined_item9") else _NO_HELD
            alerts = f"({_ALERTS_TEMPLATE.format(complete=complete, held=held)})"
        return cur.sql(_SOURCE_SQL.format(alerts=alerts, scope=scope), params=params).pl()
    finally:
        cur.close()


_HISTORY = pl.List(
    pl.Struct({"at": pl.String, "actor": pl.String, "action": pl.String, "note": pl.String})
)


def _actions(ctx: Context, alert_ids: list[str]) -> pl.DataFrame:
    """Workspace actions on these alerts: alert_id, id, at (UTC), at_local (the clinic's
    time with its zone label), actor, action, note."""
    if len(alert_ids) <= 2000:
        rows: list[tuple] = []
        # Chunked: SQLite caps the number of parameters in one statement.
        for start in range(0, len(alert_ids), 500):
            chunk = alert_ids[start : start + 500]
            marks = ", ".join("?" * len(chunk))
            rows += ctx.workspace.execute(
                f"SELECT alert_id, id, at, actor, action, note FROM alert_actions "
                f"WHERE alert_id IN ({marks})",
                chunk,
            ).fetchall()
    else:  # a manager's whole sites: one scan beats hundreds of IN lists
        rows = ctx.workspace.execute(
            "SELECT alert_id, id, at, actor, action, note FROM alert_actions"
        ).fetchall()
    zone = ZoneInfo(ctx.settings.clinic_timezone)
    # Per action, not per alert: actions are few, and stored times vary in form.
    parsed = [(a, i, _as_utc(_parse(at)), actor, act, note) for a, i, at, actor, act, note in rows]
    return pl.DataFrame(
        [
            (a, i, at, at.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z"), actor, act, note)
            for a, i, at, actor, act, note in parsed
        ],
        schema={
            "alert_id": pl.String,
            "id": pl.Int64,
            "at": pl.Datetime("us", "UTC"),
            "at_local": pl.String,
            "actor": pl.String,
            "action": pl.String,
            "note": pl.String,
        },
        orient="row",
    )


def _parse(at: str) -> datetime:
    return datetime.fromisoformat(at)


def _as_utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _assemble(ctx: Context, raw: pl.DataFrame, now: datetime) -> pl.DataFrame:
    acts = _actions(ctx, raw["alert_id"].to_list()) if raw.height else _actions(ctx, [])
    hist = (
        acts.sort("id")
        .group_by("alert_id", maintain_order=True)
        .agg(
            pl.struct(
                pl.col("at_local").alias("at"),
                "actor",
                pl.col("action").replace_strict(_ACTION_WORD, default=pl.col("action")),
                "note",
            ).alias("history"),
            pl.col("action").last().alias("last_action"),
            pl.col("at").filter(pl.col("action") == "reopen").max().alias("reopened_at"),
        )
    )
    hours = response_hours(ctx.settings)
    level_hours = {lv.key: float(hours[lv.response_key]) for lv in LEVELS}
    now_lit = pl.lit(now, dtype=pl.Datetime("us", "UTC"))
    raised = pl.col("raised_at").dt.convert_time_zone("UTC").dt.cast_time_unit("us")
    frame = raw.with_columns(raised.alias("raised_at")).join(hist, on="alert_id", how="left")
    status = pl.col("last_action").replace_strict(_STATUS_AFTER, default="open").fill_null("open")
    # The response clock starts when the alert was raised, or again when re-opened.
    start = pl.max_horizontal("raised_at", "reopened_at")
    due = start + pl.duration(
        milliseconds=(pl.col("level").replace_strict(level_hours) * 3_600_000).cast(pl.Int64)
    )
    days = (now_lit - pl.col("raised_at")).dt.total_days().clip(lower_bound=0)
    frame = frame.with_columns(
        status.alias("status"),
        days.alias("age_days"),
        due.alias("due_by"),
        pl.col("level")
        .replace_strict({lv.key: lv.rank for lv in LEVELS}, return_dtype=pl.Int8)
        .alias("level_rank"),
        pl.col("level")
        .replace_strict({lv.key: f"{lv.icon} {lv.word}" for lv in LEVELS})
        .alias("level_label"),
        pl.col("history").fill_null(pl.lit([], dtype=_HISTORY)),
    )
    frame = (
        frame.with_columns(
            pl.when(pl.col("status") == "resolved")
            .then(pl.format("raised {} days ago", pl.col("age_days")))
            .when(pl.col("age_days") == 0)
            .then(pl.lit("open today"))
            .when(pl.col("age_days") == 1)
            .then(pl.lit("open 1 day"))
            .otherwise(pl.format("open {} days", pl.col("age_days")))
            .alias("age_text"),
            ((pl.col("status") == "open") & (now_lit > pl.col("due_by"))).alias("overdue"),
        )
        .select(list(_SCHEMA))
        .cast(_SCHEMA)
    )
    # Unresolved first; then urgency; then the oldest first (it has waited longest).
    return frame.sort(
        [pl.col("status") == "resolved", "level_rank", "raised_at", "alert_id"]
    ).with_columns(pl.col("raised_at").dt.convert_time_zone(ctx.settings.clinic_timezone))


def list_alerts(
    ctx: Context,
    actor: Actor,
    *,
    include_resolved: bool = False,
    levels: tuple[str, ...] | list[str] | None = None,
    patient_id: str | None = None,
    now: datetime | None = None,
) -> pl.DataFrame:
    """The therapist's alerts for their patients (a discharged patient's too, marked
    ``discharged``, until someone resolves them), most urgent first.

    Open and acknowledged alerts always (however old); resolved ones with
    ``include_resolved``. Filters: ``levels`` (keys of :data:`LEVELS`) and ``patient_id``.
    Columns: alert_id, patient_id, display_name, clinician_id, kind, level, level_rank,
    level_label (icon and word), raised_at (clinic time), detail, status ('open',
    'acknowledged', 'resolved'), age_days, age_text ("open 12 days"), due_by, overdue
    (unacknowledged past ``alert_response_hours`` for its level), history (at in the
    clinic's zone with its label, actor, action, note; oldest first).
    """
    require_role(ctx, actor, Role.THERAPIST, action="view_alerts")
    if levels is not None:
        unknown = sorted(set(levels) - set(_LEVEL))
        if unknown:
            raise ValueError(f"unknown alert level(s) {unknown}; expected {', '.join(_LEVEL)}")
    raw = _sources(ctx, "s.clinician_id = ?", [actor.clinician_id])
    frame = _assemble(ctx, raw, _as_utc(now or datetime.now(UTC)))
    if not include_resolved:
        frame = frame.filter(pl.col("status") != "resolved")
    if levels is not None:
        frame = frame.filter(pl.col("level").is_in(list(levels)))
    if patient_id:
        frame = frame.filter(pl.col("patient_id") == patient_id)
    return frame


def alert_history(ctx: Context, actor: Actor, alert_id: str) -> list[dict[str, str]]:
    """One of the therapist's alerts' actions, oldest first (see :func:`list_alerts`)."""
    rows = list_alerts(ctx, actor, include_resolved=True).filter(pl.col("alert_id") == alert_id)
    if rows.is_empty():
        raise AccessDenied("this alert is not for one of your active patients")
    return rows["history"][0].to_list()


def act(ctx: Context, actor: Actor, alert_id: str, action: str, note: str = "") -> str:
    """Acknowledge, resolve or re-open one of the therapist's alerts; returns its new
    status. Resolving needs a note (what was done); acknowledging keeps the alert open.
    The note stays in the workspace; the audit trail gets the action only."""
    if action not in ACTIONS:
        raise ValueError(f"action must be one of {', '.join(ACTIONS)}, not {action!r}")
    require_role(ctx, actor, Role.THERAPIST, action=f"{action}_alert")
    rows = list_alerts(ctx, actor, include_resolved=True).filter(pl.col("alert_id") == alert_id)
    if rows.is_empty():
        ctx.record(
            actor, f"{action}_alert", target="alert", outcome="denied", detail="not your alert"
        )
        raise AccessDenied("this alert is not for one of your active patients")
    text = (note or "").strip()
    status = rows["status"][0]
    if action == "resolve" and not text:
        raise ValueError("Resolving an alert needs a note: say what was done.")
    if action == "reopen" and status != "resolved":
        raise ValueError("Only a resolved alert can be re-opened.")
    if action in ("acknowledge", "resolve") and status == "resolved":
        raise ValueError("This alert is resolved; re-open it first.")
    patient_id = rows["patient_id"][0]
    with ctx.workspace:
        ctx.workspace.execute(
            "INSERT INTO alert_actions (alert_id, patient_id, action, note, actor, at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            [
                alert_id,
                patient_id,
                action,
                text or None,
                actor.user,
                datetime.now(UTC).isoformat(timespec="seconds"),
            ],
        )
    ctx.record(actor, f"{action}_alert", target="alert", patient_id=patient_id)
    return _STATUS_AFTER[action]


def raised_at_sites(ctx: Context, sites: list[str]) -> pl.DataFrame:
    """Every alert of these sites' patients (discharged ones too): alert_id, patient_id,
    raised_at (UTC). For aggregates a manager sees; access is the caller's to check."""
    if not sites:
        return pl.DataFrame(
            schema={
                "alert_id": pl.String,
                "patient_id": pl.String,
                "raised_at": _SCHEMA["raised_at"],
            }
        )
    marks = ", ".join("?" * len(sites))
    raw = _sources(ctx, f"s.site_id IN ({marks})", list(sites))
    return raw.select("alert_id", "patient_id", pl.col("raised_at").dt.convert_time_zone("UTC"))


def overdue_by_clinician(
    ctx: Context, actor: Actor, *, now: datetime | None = None
) -> pl.DataFrame:
    """For a manager's sites: per clinician (pseudonymous), open and overdue safety
    alerts. No patient, name or note. Columns: site_id, clinician, open_alerts,
    overdue_alerts; clinicians with overdue alerts first."""
    require_role(ctx, actor, Role.MANAGER, action="view_clinic")
    sites = sorted(actor.sites)
    marks = ", ".join("?" * len(sites)) or "NULL"
    raw = _sources(ctx, f"s.site_id IN ({marks})", list(sites))
    site_of = dict(zip(raw["alert_id"], raw["site_id"], strict=True)) if raw.height else {}
    frame = _assemble(ctx, raw, _as_utc(now or datetime.now(UTC)))
    frame = frame.filter(pl.col("status") != "resolved").with_columns(
        pl.col("alert_id").replace_strict(site_of, return_dtype=pl.String).alias("site_id")
    )
    out = (
        frame.group_by("site_id", "clinician_id")
        .agg(
            pl.len().cast(pl.Int64).alias("open_alerts"),
            pl.col("overdue").sum().cast(pl.Int64).alias("overdue_alerts"),
        )
        .with_columns(
            pl.col("clinician_id")
            .map_elements(ctx.clinician_pseudonym, return_dtype=pl.String)
            .alias("clinician")
        )
        .select("site_id", "clinician", "open_alerts", "overdue_alerts")
    )
    return out.sort(["overdue_alerts", "site_id", "clinician"], descending=[True, False, False])
