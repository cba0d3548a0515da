"""Clinic (manager): engagement, outcomes and alert handling; aggregates only."""

from __future__ import annotations

import polars as pl
import streamlit as st

from analytics import views
from analytics.settings import response_hours
from dashboard import charts
from dashboard.format import html_text

__all__ = ["render"]


def _pct(value) -> str:
    return "suppressed" if value is None else f"{value:.0%}"


def render() -> None:
    ctx, actor = st.session_state["ctx"], st.session_state["actor"]
    o = views.clinic_overview(ctx, actor)
    st.title("Clinic overview")
    sites = ", ".join(html_text(site) for site in o.sites)
    st.html(
        f"<p><small>Sites: {sites} · data as of {o.as_of} · "
        f"{html_text(o.suppressed_note)}</small></p>"
    )
    t = o.totals
    c = st.columns(4)
    c[0].metric(
        "Active patients",
        "suppressed" if t["active_patients"] is None else f"{t['active_patients']:,}",
    )
    c[1].metric("Engaged in last 7 days", _pct(t["engaged_7d_rate"]))
    c[2].metric("Reliable improvement", _pct(t["reliable_improvement_rate"]))
    c[3].metric("Recovery", _pct(t["recovery_rate"]))
    c = st.columns(4)
    c[0].metric("Open alerts", t["open_alerts"])
    hours = response_hours(ctx.settings)
    c[1].metric(
        "Overdue alerts",
        t["overdue_alerts"],
        help="Not acknowledged within the response time for their level: "
        + ", ".join(f"{level.replace('_', ' ')} {h:g} h" for level, h in hours.items()),
    )
    median = t["median_hours_to_acknowledge"]
    c[2].metric(
        "Median time to acknowledge", "too few to show" if median is None else f"{median:.1f} h"
    )
    c[3].metric("Wearable coverage (14 days)", _pct(t["wearable_coverage_rate"]))
    if o.alerts_by_clinician is not None and o.alerts_by_clinician.height:
        st.subheader("Safety alerts by clinician")
        st.dataframe(
            o.alerts_by_clinician.rename(
                {
                    "site_id": "Site",
                    "clinician": "Clinician",
                    "open_alerts": "Open",
                    "overdue_alerts": "Overdue",
                }
            ),
            hide_index=True,
        )
    st.subheader("Weekly trends")
    if o.weekly.is_empty():
        st.info("No weeks to show yet.")
    else:
        left, right = st.columns(2)
        left.plotly_chart(
            charts.weekly_trend(
                o.weekly.with_columns(pl.col("engaged_rate") * 100),
                x="week",
                series=[("engaged_rate", "engaged that week (%)")],
                title="Share of active patients engaged each week",
                y_title="%",
            ),
            key="weekly_engaged",
        )
        right.plotly_chart(
            charts.weekly_trend(
                o.weekly,
                x="week",
                series=[("mean_phq9", "mean PHQ-9")],
                title="Mean PHQ-9 of assessments each week",
                y_title="PHQ-9",
            ),
            key="weekly_phq9",
        )
    st.subheader("Engagement by weeks since enrolment")
    st.plotly_chart(
        charts.weekly_trend(
            o.retention.with_columns(pl.col("engaged_rate") * 100),
            x="week_since_enrolment",
            series=[("engaged_rate", "engaged (%)")],
            title="Share of patients engaged in each week after enrolment",
            y_title="%",
        ),
        key="retention",
    )
    st.subheader("By site")
    st.dataframe(_table(o.by_site), hide_index=True)
    st.subheader("By clinician (pseudonymous)")
    st.dataframe(_table(o.by_clinician), hide_index=True)


def _table(frame: pl.DataFrame) -> pl.DataFrame:
    rates = [
        "engaged_7d_rate",
        "reliable_improvement_rate",
        "recovery_rate",
        "wearable_coverage_rate",
    ]
    return (
        frame.with_columns([(pl.col(r) * 100).round(0).alias(r) for r in rates])
        .with_columns(
            pl.when(pl.col("suppressed"))
            .then(pl.lit("suppressed: fewer than the minimum"))
            .otherwise(pl.lit(""))
            .alias("note")
        )
        .drop("suppressed")
    )
