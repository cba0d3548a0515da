"""Caseload (therapist): who needs me this week, safety flags first."""

from __future__ import annotations

import polars as pl
import streamlit as st

from analytics import views
from dashboard.format import ARROWS, tier_label

__all__ = ["TIERS", "render"]

TIERS = ("any", "high", "high or medium")


def render() -> None:
    ctx, actor = st.session_state["ctx"], st.session_state["actor"]
    st.title("My caseload")
    c1, c2, c3 = st.columns([2, 1, 1])
    search = c1.text_input("Search by name or id", key="caseload_search", max_chars=100)
    flag_only = c2.toggle("Safety flags only", key="caseload_flags")
    tier = c3.selectbox("Risk tier", TIERS, key="caseload_tier")
    rows = views.caseload(ctx, actor, search=search or None)
    if rows.is_empty():
        if search:
            st.info("No patient on your caseload matches that search.")
        else:
            st.info(
                "You have no active patients in the current data. New patients appear after the next data refresh."
            )
        return
    flagged = rows.filter(pl.col("safety_level") > 0).height
    st.caption(
        f"{rows.height} active patients · {flagged} with safety flags · ordered by safety, "
        "then relapse risk, then engagement risk. Scores are prompts to look, not decisions."
    )
    if flag_only:
        rows = rows.filter(pl.col("safety_level") > 0)
    if tier != "any":
        wanted = ["high"] if tier == "high" else ["high", "medium"]
        rows = rows.filter(
            pl.col("relapse_tier").is_in(wanted) | pl.col("engagement_tier").is_in(wanted)
        )
    table = rows.select(
        pl.when(pl.col("safety_level") == 2)
        .then(pl.lit("⚠ SAFETY"))
        .when(pl.col("safety_level") == 1)
        .then(pl.lit("△ review"))
        .otherwise(pl.lit(""))
        .alias("Flag"),
        pl.coalesce("display_name", "patient_id").alias("Patient"),
        pl.format(
            "{} {} {}",
            pl.col("phq9_latest_total"),
            pl.col("phq9_latest_band"),
            pl.col("phq9_reliable_change").replace_strict(ARROWS, default=""),
        ).alias("PHQ-9"),
        pl.format(
            "{} {} {}",
            pl.col("gad7_latest_total"),
            pl.col("gad7_latest_band"),
            pl.col("gad7_reliable_change").replace_strict(ARROWS, default=""),
        ).alias("GAD-7"),
        # Days without a check-in are left out of the sparkline rather than drawn as 0.
        pl.col("mood_28d").list.drop_nulls().alias("Mood, 28 days"),
        pl.col("sleep_change_h").round(1).alias("Sleep vs usual (h)"),
        pl.col("days_since_checkin").alias("Days since check-in"),
        tier_label("relapse").alias("Relapse risk"),
        tier_label("engagement").alias("Engagement risk"),
        # A safety-flagged row says why it is flagged, before any model's reason.
        pl.when(pl.col("safety_level") > 0)
        .then(pl.col("safety_reasons"))
        .otherwise(pl.coalesce("relapse_top_reason", "engagement_top_reason"))
        .alias("Why"),
        pl.col("patient_id"),
    )
    event = st.dataframe(
        table.drop("patient_id"),
        hide_index=True,
        on_select="rerun",
        selection_mode="single-row",
        key="caseload_table",
        height=min(36 * (table.height + 1) + 4, 900),
        column_config={
            "Mood, 28 days": st.column_config.LineChartColumn(
                y_min=0, y_max=10, help="0 worst, 10 best"
            ),
            "Sleep vs usual (h)": st.column_config.NumberColumn(format="%+.1f"),
            "Why": st.column_config.TextColumn(width="large"),
        },
    )
    st.caption(
        "Select a row to open the patient. ↑ reliable deterioration · ↓ reliable improvement · → no reliable change."
    )
    selected = event.selection.rows if event is not None else []
    if selected:
        patient_id = table["patient_id"][selected[0]]
        st.switch_page(st.session_state["pages"]["patient"], query_params={"patient": patient_id})
