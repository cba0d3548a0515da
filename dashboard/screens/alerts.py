"""Alerts (therapist): safety alerts, most urgent first, each with its age, its level in
icon and word, every action taken on it, and a note to acknowledge, resolve or re-open."""

from __future__ import annotations

import streamlit as st

from analytics import views
from analytics.serving.alerts import LEVELS
from dashboard.format import plain

__all__ = ["LEVEL_ICON", "LEVEL_LABEL", "STATUS", "alert_card", "render"]

STATUS = {"open": "not yet acknowledged", "acknowledged": "acknowledged", "resolved": "resolved"}
LEVEL_LABEL = {lv.key: lv.word for lv in LEVELS}
# Material icons (Streamlit ships their font; colour emoji need a font that a clinic's
# browser may lack, which showed as empty boxes in the screenshots). Always with the word.
LEVEL_ICON = {
    "crisis": ":material/crisis_alert:",
    "item9_high": ":material/priority_high:",
    "item9": ":material/report:",
    "concern": ":material/warning:",
    "not_screened": ":material/help:",
}


def render() -> None:
    ctx, actor = st.session_state["ctx"], st.session_state["actor"]
    st.title("Alerts")
    st.caption(
        "Nothing here is cleared automatically: every alert stays until someone resolves it "
        "with a note, and each action is recorded with who and when. Most urgent first, then "
        "the longest waiting."
    )
    c1, c2, c3 = st.columns([2, 2, 1])
    levels = c1.multiselect(
        "Level",
        list(LEVEL_LABEL),
        format_func=LEVEL_LABEL.get,  # the level's word; the order is the urgency order
        key="alerts_levels",
        placeholder="All levels",
    )
    show_resolved = c3.toggle("Show resolved", key="alerts_resolved")
    everything = views.alerts(ctx, actor, include_resolved=show_resolved)
    patients = sorted(set(everything["patient_id"].to_list()))
    names = dict(
        zip(everything["patient_id"], everything["display_name"].fill_null(""), strict=True)
    )
    patient = c2.selectbox(
        "Patient",
        patients,
        index=None,
        format_func=lambda p: f"{names.get(p) or p} ({p})",
        key="alerts_patient",
        placeholder="All patients",
    )
    rows = views.alerts(
        ctx, actor, include_resolved=show_resolved, levels=levels or None, patient_id=patient
    )
    if rows.is_empty():
        st.success(
            "No open alerts for your patients."
            if not levels and not patient
            else "No alerts match."
        )
        return
    unresolved = rows.filter(rows["status"] != "resolved")
    st.markdown(
        f"**{unresolved.height}** open · **{int(unresolved['overdue'].sum())}** overdue "
        "(not acknowledged within the response time for their level)"
    )
    for row in rows.iter_rows(named=True):
        alert_card(ctx, actor, row, key="alerts", show_patient=True)


def alert_card(ctx, actor, row: dict, *, key: str, show_patient: bool) -> None:
    """One alert as a compact row that expands: history, then the actions."""
    # The label is Markdown: a name or id goes through plain() so it shows as typed.
    who = (
        f"{plain(row['display_name'] or row['patient_id'])} ({plain(row['patient_id'])}) · "
        if show_patient
        else ""
    )
    late = " · **OVERDUE**" if row["overdue"] else ""
    gone = " (discharged)" if row.get("discharged") else ""
    label = (
        f"**{LEVEL_LABEL[row['level']]}** · {who}{row['kind']}{gone} · {row['age_text']} · "
        f"{STATUS[row['status']]}{late}"
    )
    with st.expander(label, expanded=False, icon=LEVEL_ICON[row["level"]]):
        st.text(row["detail"])  # plain text: never rendered as markdown or HTML
        st.caption(
            f"Raised {row['raised_at']:%Y-%m-%d %H:%M %Z} · acknowledge by "
            f"{row['due_by'].astimezone(row['raised_at'].tzinfo):%Y-%m-%d %H:%M %Z}"
        )
        if row["history"]:
            st.markdown("**History**")
            for h in row["history"]:
                note = f" — {h['note']}" if h["note"] else ""
                st.text(f"{h['at']} · {h['action']} by {h['actor']}{note}")
        else:
            st.caption("No action yet.")
        aid = row["alert_id"]
        with st.form(f"{key}_form_{aid}", clear_on_submit=False):
            note = st.text_input(
                "Note (what you did; needed to resolve)", key=f"{key}_note_{aid}", max_chars=2000
            )
            if row["status"] == "resolved":
                buttons = {"reopen": st.form_submit_button("Re-open")}
            else:
                c1, c2, _ = st.columns([1, 1, 3])
                buttons = {
                    "acknowledge": c1.form_submit_button("Acknowledge"),
                    "resolve": c2.form_submit_button("Resolve"),
                }
        chosen = next((action for action, pressed in buttons.items() if pressed), None)
        if chosen:
            try:
                views.act_on_alert(ctx, actor, aid, chosen, note)
            except ValueError as exc:
                st.error(str(exc))
            else:
                st.toast("Recorded.")
                st.rerun()
        if show_patient and st.button("Open patient", key=f"{key}_open_{aid}"):
            st.switch_page(
                st.session_state["pages"]["patient"], query_params={"patient": row["patient_id"]}
            )
