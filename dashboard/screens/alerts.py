"""Alerts (therapist): open safety alerts to acknowledge and resolve, each with a note."""

from __future__ import annotations

import streamlit as st

from analytics import views

STATUS = {"open": "open", "acknowledge": "acknowledged", "resolve": "resolved"}


def render() -> None:
    ctx, actor = st.session_state["ctx"], st.session_state["actor"]
    st.title("Alerts")
    show_resolved = st.toggle("Show resolved alerts", key="alerts_resolved")
    rows = views.alerts(ctx, actor, include_resolved=show_resolved)
    if rows.is_empty():
        st.success("No open alerts for your patients.")
        return
    st.caption(
        "Nothing here is cleared automatically: every alert stays until you resolve it, and each action is recorded."
    )
    for row in rows.iter_rows(named=True):
        with st.container(border=True):
            who = row["display_name"] or row["patient_id"]
            st.markdown(
                f"**{row['kind'].upper()}** · {STATUS[row['status']]} · {row['raised_at']:%Y-%m-%d %H:%M}"
            )
            st.text(f"{who} ({row['patient_id']}): {row['detail']}")
            if row["status"] == "resolve":
                continue
            with st.form(f"alert_{row['alert_id']}"):
                note = st.text_input("Note (what you did)", key=f"alert_note_{row['alert_id']}")
                c1, c2, _ = st.columns([1, 1, 3])
                ack = c1.form_submit_button("Acknowledge", disabled=row["status"] == "acknowledge")
                res = c2.form_submit_button("Resolve")
            if ack or res:
                views.act_on_alert(
                    ctx, actor, row["alert_id"], "resolve" if res else "acknowledge", note
                )
                st.toast("Recorded.")
                st.rerun()
            if st.button("Open patient", key=f"open_{row['alert_id']}"):
                st.switch_page(
                    st.session_state["pages"]["patient"],
                    query_params={"patient": row["patient_id"]},
                )
