"""The bias-audit view over the snapshot's audit tables."""

from __future__ import annotations

import json as _json
from dataclasses import dataclass

import polars as pl

from analytics.access.disclosure import ATTRIBUTES
from analytics.access.roles import Actor, Context, Role, require_role
from analytics.data.store import DataDir
from analytics.fairness import to_html, to_json
from analytics.models.model_audits import audit_model, thresholds_for
from analytics.views._common import has_table, read_frame

__all__ = [
    "FAIRNESS_METRICS",
    "FairnessOptions",
    "FairnessView",
    "fairness_audit",
    "fairness_options",
]


@dataclass(frozen=True)
class FairnessOptions:
    """What the Fairness page can offer: audited models, attributes and alert budgets."""

    models: tuple[str, ...]
    attributes: tuple[str, ...]
    budgets: tuple[float, ...]


def fairness_options(ctx: Context, actor: Actor) -> FairnessOptions:
    """Models with held-out predictions to audit, for researchers."""
    require_role(ctx, actor, Role.RESEARCHER, action="view_fairness")
    models: tuple[str, ...] = ()
    if has_table(ctx, "heldout_predictions"):
        models = tuple(
            read_frame(ctx, "SELECT DISTINCT model FROM heldout_predictions ORDER BY 1")["model"]
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

    require_role(ctx, actor, Role.RESEARCHER, action="view_fairness")
    heldout = read_frame(
        ctx, "SELECT * FROM heldout_predictions WHERE model = ?", [model]
    ).to_pandas()
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
