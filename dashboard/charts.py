"""Chart builders: pure functions from frames to Plotly figures, tested without a browser.

Colours are Okabe–Ito (safe for colour-blind readers) and no chart relies on colour
alone: series also differ by marker, dash or label, and bands are labelled in text.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta

import plotly.graph_objects as go
import polars as pl
from plotly.subplots import make_subplots

from analytics.models.windows import UsualRange

__all__ = [
    "BAND_SHADES",
    "FLAG_STYLE",
    "METHOD_STYLE",
    "OKABE_ITO",
    "curve_chart",
    "dependence_chart",
    "disparity_chart",
    "drift_chart",
    "engagement_chart",
    "group_calibration_chart",
    "importance_chart",
    "metric_timeline",
    "metrics_table",
    "mood_sparkline_values",
    "risk_history",
    "score_timeline",
    "sentiment_chart",
    "weekly_trend",
]

OKABE_ITO = {
    "blue": "#0072B2",
    "orange": "#E69F00",
    "sky": "#56B4E9",
    "green": "#009E73",
    "yellow": "#F0E442",
    "vermillion": "#D55E00",
    "purple": "#CC79A7",
    "black": "#000000",
}
# Severity bands from light to dark: the order carries the meaning, the label names it.
BAND_SHADES = ("#f7f7f7", "#e0e0e0", "#c6c6c6", "#a8a8a8", "#8a8a8a")


def _layout(fig: go.Figure, *, title: str, y_title: str, height: int = 260) -> go.Figure:
    fig.update_layout(
        title={"text": title, "font": {"size": 15}},
        height=height,
        margin={"l": 50, "r": 20, "t": 40, "b": 30},
        yaxis_title=y_title,
        plot_bgcolor="white",
        legend={"orientation": "h", "y": -0.2},
        hovermode="x unified",
    )
    fig.update_xaxes(showgrid=True, gridcolor="#eeeeee")
    fig.update_yaxes(showgrid=True, gridcolor="#eeeeee")
    return fig


def score_timeline(
    assessments: pl.DataFrame,
    *,
    instrument: str,
    bands: Sequence[tuple[int, int, str]],
    reliable_change: int,
) -> go.Figure:
    """PHQ-9 or GAD-7 totals over time on shaded, labelled severity bands.

    Points whose change from the first (baseline) score reaches the reliable-change
    threshold are marked with a triangle (up: deterioration, down: improvement).
    """
    rows = assessments.filter(pl.col("instrument") == instrument).sort("completed_at")
    top = bands[-1][1]
    fig = go.Figure()
    for (low, high, name), shade in zip(bands, BAND_SHADES, strict=False):
        fig.add_hrect(
            y0=low - 0.5,
            y1=high + 0.5,
            fillcolor=shade,
            opacity=0.5,
            line_width=0,
            annotation_text=name,
            annotation_position="right",
            annotation_font_size=10,
        )
    if rows.height:
        baseline = rows["total"][0]
        change = rows["total"] - baseline
        symbols = [
            "triangle-up"
            if c >= reliable_change
            else "triangle-down"
            if c <= -reliable_change
            else "circle"
            for c in change.to_list()
        ]
        fig.add_trace(
            go.Scatter(
                x=rows["completed_at"].to_list(),
                y=rows["total"].to_list(),
                mode="lines+markers",
                name=f"{instrument} total",
                line={"color": OKABE_ITO["blue"], "width": 2},
                marker={
                    "symbol": symbols,
                    "size": [12 if s != "circle" else 7 for s in symbols],
                    "color": OKABE_ITO["blue"],
                    "line": {"color": "black", "width": 1},
                },
                customdata=[
                    [b, c] for b, c in zip(rows["band"].to_list(), change.to_list(), strict=True)
                ],
                hovertemplate="%{y} (%{customdata[0]}), change from baseline %{customdata[1]:+d}<extra></extra>",
            )
        )
    fig.update_yaxes(range=[-0.5, top + 0.5])
    note = f"triangles: reliable change (±{reliable_change}) from baseline"
    return _layout(fig, title=f"{instrument} ({note})", y_title="total")


def metric_timeline(
    daily: pl.DataFrame,
    *,
    column: str,
    title: str,
    unit: str,
    scale: float = 1.0,
    usual: UsualRange | None = None,
) -> go.Figure:
    """A daily measure against the patient's own usual range.

    ``usual`` is that range in the column's units, computed by the analytics layer as of
    the snapshot's date (the same usual the caseload and the risk reasons quote); the band
    is drawn from it as given, and left out when there is none (too little history).
    """
    rows = daily.filter(pl.col(column).is_not_null()).sort("date")
    fig = go.Figure()
    if usual is not None:
        fig.add_hrect(
            y0=usual.low * scale,
            y1=usual.high * scale,
            fillcolor=OKABE_ITO["sky"],
            opacity=0.2,
            line_width=0,
            annotation_text="usual range",
            annotation_position="top left",
            annotation_font_size=10,
        )
        fig.add_hline(
            y=usual.mean * scale, line_dash="dot", line_color=OKABE_ITO["black"], line_width=1
        )
    if rows.height:
        fig.add_trace(
            go.Scatter(
                x=rows["date"].to_list(),
                y=(rows[column] * scale).to_list(),
                mode="lines+markers",
                name=title,
                line={"color": OKABE_ITO["blue"], "width": 1.5},
                marker={"size": 4},
                hovertemplate=f"%{{y:.1f}} {unit}<extra></extra>",
            )
        )
    return _layout(fig, title=title, y_title=unit)


def engagement_chart(daily: pl.DataFrame) -> go.Figure:
    """Check-in days and patient messages per week, as grouped bars with patterns."""
    if daily.height:
        weekly = (
            daily.with_columns(pl.col("date").dt.truncate("1w").alias("week"))
            .group_by("week")
            .agg((pl.col("checkins") > 0).sum().alias("checkin_days"), pl.col("messages").sum())
            .sort("week")
        )
    else:
        weekly = pl.DataFrame(
            schema={"week": pl.Date, "checkin_days": pl.UInt32, "messages": pl.Int64}
        )
    fig = go.Figure()
    fig.add_trace(
        go.Bar(
            x=weekly["week"].to_list(),
            y=weekly["checkin_days"].to_list(),
            name="check-in days",
            marker={"color": OKABE_ITO["blue"]},
        )
    )
    fig.add_trace(
        go.Bar(
            x=weekly["week"].to_list(),
            y=weekly["messages"].to_list(),
            name="messages sent",
            marker={"color": OKABE_ITO["orange"], "pattern": {"shape": "/"}},
        )
    )
    fig.update_layout(barmode="group")
    return _layout(fig, title="Engagement per week", y_title="count")


def sentiment_chart(daily: pl.DataFrame) -> go.Figure:
    """Mean daily message sentiment (VADER, English only) with a zero line."""
    rows = daily.filter(pl.col("sentiment").is_not_null()).sort("date")
    fig = go.Figure()
    fig.add_hline(y=0, line_color=OKABE_ITO["black"], line_width=1)
    fig.add_trace(
        go.Scatter(
            x=rows["date"].to_list(),
            y=rows["sentiment"].to_list(),
            mode="markers+lines",
            name="sentiment",
            line={"color": OKABE_ITO["purple"]},
            marker={"symbol": "diamond", "size": 6},
        )
    )
    fig.update_yaxes(range=[-1.05, 1.05])
    return _layout(fig, title="Message sentiment (-1 negative … +1 positive)", y_title="score")


def risk_history(history: pl.DataFrame, *, title: str) -> go.Figure:
    """A model's weekly probability for one patient."""
    fig = go.Figure(
        go.Scatter(
            x=history["as_of"].to_list(),
            y=(history["probability"] * 100).to_list(),
            mode="lines+markers",
            name="probability",
            line={"color": OKABE_ITO["vermillion"]},
            marker={"symbol": "square"},
            hovertemplate="%{y:.0f}%<extra></extra>",
        )
    )
    fig.update_yaxes(range=[0, 100])
    return _layout(fig, title=f"{title} over time", y_title="%", height=220)


def weekly_trend(
    frame: pl.DataFrame, *, x: str, series: Sequence[tuple[str, str]], title: str, y_title: str
) -> go.Figure:
    """Several weekly series, each with its own colour, marker and dash."""
    styles = [
        ("blue", "circle", "solid"),
        ("orange", "square", "dash"),
        ("green", "diamond", "dot"),
        ("vermillion", "triangle-up", "dashdot"),
    ]
    fig = go.Figure()
    for (column, label), (colour, symbol, dash) in zip(series, styles, strict=False):
        fig.add_trace(
            go.Scatter(
                x=frame[x].to_list(),
                y=frame[column].to_list(),
                name=label,
                mode="lines+markers",
                line={"color": OKABE_ITO[colour], "dash": dash},
                marker={"symbol": symbol},
            )
        )
    return _layout(fig, title=title, y_title=y_title, height=300)


def mood_sparkline_values(
    daily: pl.DataFrame, *, as_of: date, days: int = 28
) -> list[float | None]:
    """The last ``days`` of mood, one value per day (None where no check-in)."""
    start = as_of - timedelta(days=days - 1)
    by_day = {d: m for d, m in zip(daily["date"].to_list(), daily["mood"].to_list(), strict=True)}
    return [by_day.get(start + timedelta(days=i)) for i in range(days)]


# --- models -------------------------------------------------------------------------

METHOD_STYLE = {
    "model": ("blue", "solid", "circle", "gradient boosting (calibrated)"),
    "logistic": ("orange", "dash", "square", "logistic regression"),
    "clinical_rule": ("vermillion", "dot", "x", "clinical rule"),
}


def metrics_table(metrics: pl.DataFrame) -> pl.DataFrame:
    """Metric rows as "estimate (low–high)" text, one column per method."""
    if metrics.is_empty():
        return pl.DataFrame({"metric": []})
    cell = metrics.with_columns(
        pl.format(
            "{} ({}–{})",
            pl.col("estimate").round(3),
            pl.col("ci_low").round(3),
            pl.col("ci_high").round(3),
        ).alias("value")
    )
    wide = cell.pivot(on="method", index="metric", values="value", aggregate_function="first")
    order = [m for m in METHOD_STYLE if m in wide.columns]
    return wide.select("metric", *order).rename({m: METHOD_STYLE[m][3] for m in order})


_CURVES = {
    "roc": ("ROC curve (held out)", "false positive rate", "true positive rate"),
    "pr": ("Precision–recall (held out)", "recall", "precision"),
    "calibration": (
        "Calibration (held out): observed vs predicted",
        "predicted probability",
        "observed rate",
    ),
    "budget": ("Recall at alert budget", "share of patients reviewed", "share of events caught"),
}


def curve_chart(curves: pl.DataFrame, *, kind: str) -> go.Figure:
    """One evaluation curve for every method present, each with its own dash and marker."""
    title, x_title, y_title = _CURVES[kind]
    fig = go.Figure()
    if kind in ("roc", "calibration", "budget"):
        fig.add_trace(
            go.Scatter(
                x=[0, 1],
                y=[0, 1],
                mode="lines",
                name="chance / perfect calibration" if kind == "calibration" else "chance",
                line={"color": "#999999", "dash": "dot", "width": 1},
            )
        )
    for method, (colour, dash, symbol, label) in METHOD_STYLE.items():
        part = curves.filter((pl.col("curve") == kind) & (pl.col("method") == method)).sort("x")
        if part.is_empty():
            continue
        fig.add_trace(
            go.Scatter(
                x=part["x"].to_list(),
                y=part["y"].to_list(),
                name=label,
                mode="lines+markers" if kind == "calibration" else "lines",
                line={"color": OKABE_ITO[colour], "dash": dash},
                marker={"symbol": symbol},
            )
        )
    fig.update_xaxes(range=[0, 1], title=x_title)
    fig.update_yaxes(range=[0, 1])
    return _layout(fig, title=title, y_title=y_title, height=320)


def importance_chart(importance: pl.DataFrame, *, top: int = 15) -> go.Figure:
    """Mean |SHAP| per feature, largest at the top."""
    rows = importance.sort("rank").head(top).reverse()
    fig = go.Figure(
        go.Bar(
            x=rows["mean_abs_shap"].to_list(),
            y=rows["feature"].to_list(),
            orientation="h",
            marker={"color": OKABE_ITO["blue"]},
            text=[f"{v:.3f}" for v in rows["mean_abs_shap"].to_list()],
            textposition="outside",
        )
    )
    fig.update_layout(hovermode="closest")
    return _layout(
        fig,
        title="Global importance (mean |SHAP|, log-odds)",
        y_title="",
        height=max(260, 24 * rows.height + 80),
    )


def dependence_chart(points: pl.DataFrame, *, feature: str) -> go.Figure:
    """SHAP value against feature value for a sample of held-out rows."""
    fig = go.Figure(
        go.Scatter(
            x=points["value"].to_list(),
            y=points["shap_value"].to_list(),
            mode="markers",
            marker={"color": OKABE_ITO["blue"], "size": 5, "opacity": 0.5},
            name=feature,
        )
    )
    fig.add_hline(y=0, line_color=OKABE_ITO["black"], line_width=1)
    fig.update_layout(hovermode="closest")
    fig.update_xaxes(title=feature)
    return _layout(fig, title=f"Dependence: {feature}", y_title="SHAP value (log-odds)", height=300)


def drift_chart(drift: pl.DataFrame) -> go.Figure:
    """Weekly mean of each top feature in its own small panel and units, so a slope near
    zero and a step count can both be read."""

    features = drift["feature"].unique(maintain_order=True).to_list()
    cols = 3
    rows = max(1, -(-len(features) // cols))
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=features, vertical_spacing=0.18)
    for i, feature in enumerate(features):
        part = drift.filter(pl.col("feature") == feature).sort("week")
        fig.add_trace(
            go.Scatter(
                x=part["week"].to_list(),
                y=part["mean"].to_list(),
                mode="lines+markers",
                name=feature,
                showlegend=False,
                line={"color": OKABE_ITO["blue"]},
                marker={"size": 3},
            ),
            row=i // cols + 1,
            col=i % cols + 1,
        )
    fig.update_layout(hovermode="closest")
    return _layout(
        fig,
        title="Feature drift: weekly mean of the top features",
        y_title="",
        height=220 * rows + 60,
    )


# --- fairness -----------------------------------------------------------------------

FLAG_STYLE = {
    "disparity": ("vermillion", "diamond", "disparity"),
    "uncertain": ("orange", "circle-open", "uncertain (interval includes parity)"),
    "ok": ("blue", "circle", "within band"),
    "undefined": ("black", "x", "undefined"),
}


def disparity_chart(
    disparities: pl.DataFrame, *, band: tuple[float, float] = (0.8, 1.25)
) -> go.Figure:
    """Ratio to the reference group with 95% intervals, per group and metric, on the
    0.8-1.25 band. Flags differ by marker and legend label, not only colour."""
    fig = go.Figure()
    rows = disparities.filter(pl.col("ratio").is_not_null())
    labels = [
        f"{g} · {m}" for g, m in zip(rows["group"].to_list(), rows["metric"].to_list(), strict=True)
    ]
    fig.add_vrect(
        x0=band[0],
        x1=band[1],
        fillcolor=OKABE_ITO["green"],
        opacity=0.12,
        line_width=0,
        annotation_text=f"{band[0]}–{band[1]} band",
        annotation_position="top left",
    )
    fig.add_vline(x=1.0, line_color=OKABE_ITO["black"], line_width=1)
    for flag, (colour, symbol, name) in FLAG_STYLE.items():
        part = rows.with_row_index("i").filter(pl.col("flag") == flag)
        if part.is_empty():
            continue
        ratio = part["ratio"].to_list()
        fig.add_trace(
            go.Scatter(
                x=ratio,
                y=[labels[i] for i in part["i"].to_list()],
                mode="markers",
                name=name,
                marker={"color": OKABE_ITO[colour], "symbol": symbol, "size": 10},
                error_x={
                    "type": "data",
                    "symmetric": False,
                    "array": [
                        (h - r) if h is not None else 0
                        for h, r in zip(part["ratio_high"].to_list(), ratio, strict=True)
                    ],
                    "arrayminus": [
                        (r - lo) if lo is not None else 0
                        for lo, r in zip(part["ratio_low"].to_list(), ratio, strict=True)
                    ],
                },
            )
        )
    fig.update_xaxes(type="log", title="ratio to reference (log scale)")
    fig.update_layout(hovermode="closest")
    return _layout(
        fig,
        title="Disparity against the reference group",
        y_title="",
        height=max(300, 22 * len(labels) + 120),
    )


def group_calibration_chart(calibration: pl.DataFrame) -> go.Figure:
    """Observed rate against mean predicted probability, one marked line per group."""
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=[0, 1],
            y=[0, 1],
            mode="lines",
            name="perfect calibration",
            line={"color": "#999999", "dash": "dot", "width": 1},
        )
    )
    colours = ["blue", "orange", "green", "vermillion", "purple", "sky", "black"]
    symbols = ["circle", "square", "diamond", "triangle-up", "x", "star", "cross"]
    for i, group in enumerate(calibration["group"].unique(maintain_order=True).to_list()):
        part = calibration.filter(pl.col("group") == group).sort("mean_predicted")
        fig.add_trace(
            go.Scatter(
                x=part["mean_predicted"].to_list(),
                y=part["observed"].to_list(),
                name=group,
                mode="lines+markers",
                line={"color": OKABE_ITO[colours[i % len(colours)]]},
                marker={"symbol": symbols[i % len(symbols)], "size": 8},
            )
        )
    fig.update_xaxes(range=[0, 1], title="mean predicted probability")
    fig.update_yaxes(range=[0, 1])
    return _layout(fig, title="Calibration by group", y_title="observed rate", height=340)
