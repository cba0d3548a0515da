"""The clinic manager's views: the clinic overview, with small cells suppressed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

import polars as pl

from analytics.access.disclosure import Counts, disclose, discloses, passes, suppress_small
from analytics.access.roles import Actor, Context, Role, require_role
from analytics.serving import alerts as safety_alerts
from analytics.views._common import read_frame

__all__ = ["RATES", "ClinicOverview", "clinic_overview"]


@dataclass(frozen=True)
class ClinicOverview:
    """Aggregates for a manager's sites. Figures of cells below the minimum size are None.

    - ``totals``: one row: active_patients, engaged_7d_rate, reliable_improvement_rate,
      recovery_rate, wearable_coverage_rate, open_alerts, overdue_alerts,
      median_hours_to_acknowledge.
    - ``by_site`` / ``by_clinician`` (pseudonymous clinician ids): active_patients,
      engaged_7d, engaged_7d_rate, reliable_improvement_rate, recovery_rate,
      wearable_coverage_rate, suppressed. Every figure follows the one disclosure rule
      (:mod:`analytics.access.disclosure`: the rule of the model cards, bias audits and
      exports too): counts need ``min_cell_size`` patients, rates that many with and
      without the outcome; complementary suppression under the clinic total and under
      each site's row; a clinician's figure is hidden where the site's is.
    - ``weekly``: week, active_patients, engaged_rate, mean_phq9 (last 26 weeks; the mean
      needs ``min_cell_size`` patients with a PHQ-9 that week).
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
    per_clinician = read_frame(
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
    weekly = read_frame(
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
                SELECT date_trunc('week', completed_on) AS week, avg(total) AS mean_phq9,
                       count(DISTINCT a.patient_id) AS phq9_n
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
    # Weeks overlap (a patient is active in many), and no published figure adds them up,
    # so each week stands alone: the primary rule, no complementary suppression.
    weekly = disclose(weekly, {"engaged_rate": ("engaged_n", "active_patients")}, n, margins=False)
    weekly = weekly.with_columns(
        _count_or_none("mean_phq9", "phq9_n", n),
        _count_or_none("active_patients", "active_patients", n),
    ).drop("phq9_n", "engaged_n")
    retention = read_frame(
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
    retention = disclose(retention, {"engaged_rate": ("engaged_n", "enrolled")}, n, margins=False)
    retention = retention.with_columns(_count_or_none("enrolled", "enrolled", n)).drop("engaged_n")
    site_table, clinician_table = _site_and_clinician_tables(by_site, by_clinician, n)
    ctx.record(actor, "view_clinic", target="aggregates", detail=f"sites={len(sites)}")
    return ClinicOverview(
        as_of=as_of,
        sites=tuple(sites),
        totals=totals,
        by_site=site_table,
        by_clinician=clinician_table,
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

    # Every kind of alert counts, as on the Alerts page (message alerts only, before).
    raised = safety_alerts.raised_at_sites(ctx, list(sites))
    actions = ctx.workspace.execute(
        "SELECT alert_id, action, min(at) FROM alert_actions GROUP BY alert_id, action"
    ).fetchall()
    first: dict[str, dict[str, str]] = {}
    for alert_id, action, at in actions:
        first.setdefault(alert_id, {})[action] = at
    hours: list[float] = []
    patients: set[str] = set()
    for alert_id, patient_id, raised_at in raised.iter_rows():
        acts = first.get(alert_id, {})
        handled = min(acts.values()) if acts else None
        if handled:
            hours.append((datetime.fromisoformat(handled) - raised_at).total_seconds() / 3600)
            patients.add(patient_id)
    hours.sort()
    # A median over the alerts of a few patients describes those patients: the primary
    # rule counts the patients behind the figure, not the alerts.
    median = (
        None
        if not passes(Counts(rows=len(hours), patients=len(patients)), n)
        else hours[len(hours) // 2]
        if len(hours) % 2
        else (hours[len(hours) // 2 - 1] + hours[len(hours) // 2]) / 2
    )
    return {
        "active_patients": active if passes(Counts(rows=active), n) else None,
        "engaged_7d_rate": rate("engaged_7d", "active_patients"),
        "reliable_improvement_rate": rate("improved", "improved_known"),
        "recovery_rate": rate("recovered", "recovery_known"),
        "wearable_coverage_rate": rate("with_wearable", "active_patients"),
        "median_hours_to_acknowledge": median,
    }


# Every proportion a manager sees: rate name -> (numerator, denominator).
RATES = {
    "engaged_7d_rate": ("engaged_7d", "active_patients"),
    "reliable_improvement_rate": ("improved", "improved_known"),
    "recovery_rate": ("recovered", "recovery_known"),
    "wearable_coverage_rate": ("with_wearable", "active_patients"),
}


def _count_or_none(column: str, count: str, minimum: int) -> pl.Expr:
    """``column`` where the ``count`` of patients behind it passes the primary rule."""
    return (
        pl.when(
            pl.col(count).map_elements(
                lambda c: passes(Counts(rows=c), minimum), return_dtype=pl.Boolean
            )
        )
        .then(pl.col(column))
        .alias(column)
    )


def _site_and_clinician_tables(
    by_site: pl.DataFrame, by_clinician: pl.DataFrame, minimum: int
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The two linked tables: sites under the clinic total, clinicians under their site.

    A figure hidden for a site is hidden for each of its clinicians too: shown, they
    would add up to the site's and undo its suppression (the site may be hidden only to
    protect another).
    """
    sites = _rates(suppress_small(by_site, "active_patients", minimum), minimum)
    hidden = {
        figure: sites.filter(pl.col(figure).is_null())["site_id"]
        for figure in ("active_patients", *RATES)
    }

    def under_hidden(figure: str) -> pl.Series:
        return by_clinician["site_id"].is_in(hidden[figure].implode())

    clinicians = suppress_small(
        by_clinician,
        "active_patients",
        minimum,
        within="site_id",
        hide=under_hidden("active_patients"),
    )
    clinicians = _rates(
        clinicians, minimum, within="site_id", hide={r: under_hidden(r) for r in RATES}
    )
    return sites, clinicians


def _rates(
    frame: pl.DataFrame,
    minimum: int,
    *,
    within: str | None = None,
    hide: dict[str, pl.Series] | None = None,
) -> pl.DataFrame:
    keep = {"engaged_7d"}  # shown as a count beside active_patients, where disclosed
    drop = [c for pair in RATES.values() for c in pair[:1] if c not in keep]
    drop += ["improved_known", "recovery_known"]
    return disclose(frame, RATES, minimum, within=within, hide=hide).drop(drop)
