"""The researcher's views: the de-identified cohort and the model report."""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from analytics.access.disclosure import ATTRIBUTES, age_band, fold_category
from analytics.access.roles import Actor, Context, Role, require_role
from analytics.views._common import has_table, read_frame

__all__ = ["ModelReport", "model_report", "research_cohort"]


def research_cohort(ctx: Context, actor: Actor) -> pl.DataFrame:
    """De-identified per-patient outcomes: pseudonymous ids, no names, no free text,
    dates as days since enrolment, birth year as an age band on the snapshot's as-of date
    (:func:`~analytics.access.disclosure.age_band`), categories folded as in the audits
    and the export (``es`` and ``Español`` are Spanish)."""
    require_role(ctx, actor, Role.RESEARCHER, action="view_research")
    frame = read_frame(
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
    recorded = [a for a in ATTRIBUTES if a in frame.columns]  # all but the derived age band
    return (
        frame.with_columns(
            pl.col("patient_id")
            .map_elements(ctx.pseudonym, return_dtype=pl.String)
            .alias("patient_key"),
            # Age as of the data, not the calendar: the same snapshot, the same bands.
            age_band(pl.col("birth_year"), as_of_year=pl.col("as_of_year")).alias("age_band"),
            *(fold_category(frame[a], a) for a in recorded),
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
    if not has_table(ctx, name):
        return pl.DataFrame(schema=schema)
    return read_frame(ctx, f'SELECT {", ".join(schema)} FROM "{name}"')


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
