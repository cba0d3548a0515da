"""Fairness (researcher): per-group performance with intervals, disparities against a
reference group with the 0.8-1.25 band, calibration by group, data coverage, and the
mitigation what-if. Small groups are suppressed."""

from __future__ import annotations

import streamlit as st

from analytics import views
from dashboard import charts


def render() -> None:
    ctx, actor = st.session_state["ctx"], st.session_state["actor"]
    options = views.fairness_options(ctx, actor)
    st.title("Fairness")
    if not options.models:
        st.info("No audits yet: they are computed for trained models at `caseload refresh`.")
        return
    c1, c2, c3 = st.columns(3)
    model = c1.selectbox("Model", options.models, key="fair_model")
    attributes = c2.multiselect(
        "Attributes (two or more: intersection)",
        options.attributes,
        default=options.attributes[:1],
        key="fair_attrs",
        max_selections=2,
    )
    threshold = c3.select_slider(
        "Alert budget",
        options=options.budgets,
        value=options.budgets[0],
        format_func=lambda b: f"top {b:.0%}",
        key="fair_budget",
    )
    if not attributes:
        st.info("Choose at least one attribute.")
        return
    groups = views.fairness_groups(ctx, actor, model=model, attributes=attributes)
    reference = st.selectbox("Reference group", groups.reference_choices, index=0, key="fair_ref")
    audit = views.fairness_audit(
        ctx, actor, model=model, attributes=attributes, reference=reference, budget=threshold
    )
    st.markdown(audit.summary)
    st.subheader("Per group (95% intervals)")
    st.dataframe(audit.groups, hide_index=True)
    if audit.suppressed:
        st.caption("Suppressed (fewer than the minimum cell size): " + ", ".join(audit.suppressed))
    st.subheader(f"Disparity against {reference}")
    st.plotly_chart(charts.disparity_chart(audit.disparities), key="disparity")
    st.subheader("Calibration by group")
    st.plotly_chart(charts.group_calibration_chart(audit.calibration), key="group_calibration")
    st.subheader("Data coverage by group")
    st.dataframe(audit.coverage, hide_index=True)
    st.subheader("Mitigation what-if (analysis only; clinicians' scores never change)")
    st.dataframe(audit.whatif, hide_index=True)
    c1, c2 = st.columns(2)
    c1.download_button(
        "Download HTML report", audit.html, file_name=f"fairness-{model}.html", mime="text/html"
    )
    c2.download_button(
        "Download JSON report",
        audit.json,
        file_name=f"fairness-{model}.json",
        mime="application/json",
    )
