"""Patient (therapist): safety first, then scores, risks with reasons, and timelines."""

from __future__ import annotations

import polars as pl
import streamlit as st

from analytics import views
from analytics.access.roles import AccessDenied
from analytics.clinical import item9_state
from dashboard import charts
from dashboard.format import ARROWS, html_text
from dashboard.screens.alerts import alert_card

__all__ = ["render"]


def render() -> None:
    ctx, actor = st.session_state["ctx"], st.session_state["actor"]
    patient_id = st.query_params.get("patient")
    if not patient_id:
        rows = views.caseload(ctx, actor)
        st.title("Patient")
        if rows.is_empty():
            st.info("You have no active patients to open.")
            return
        names = dict(
            zip(
                rows["patient_id"].to_list(),
                rows["display_name"].fill_null("").to_list(),
                strict=True,
            )
        )
        patient_id = st.selectbox(
            "Open a patient",
            list(names),
            index=None,
            format_func=lambda p: f"{names[p] or p} ({p})",
            placeholder="Choose a patient from your caseload",
        )
        if not patient_id:
            return
        st.query_params["patient"] = patient_id
    try:
        view = views.patient(ctx, actor, str(patient_id))
    except AccessDenied as exc:
        st.title("Patient")
        st.error(f"{exc}. You can open only your own active patients.")
        return
    s = view.summary
    # Names and sites are data, never Markdown (which would also turn a bare URL into a
    # link): escaped HTML shows them exactly as typed.
    st.html(f"<h1>{html_text(s.get('display_name') or view.patient_id)}</h1>")
    st.html(
        f"<p><small>Patient {html_text(view.patient_id)} · enrolled {s['enrolled_on']} · "
        f"site {html_text(s['site_id'])}</small></p>"
    )
    _safety_panel(ctx, actor, view)
    _scores(s)
    _risk_cards(ctx, actor, view)
    _timelines(ctx, view)
    _coverage(s)
    _notes(ctx, actor, view)


def _safety_panel(ctx, actor, view) -> None:
    with st.container(border=True):
        st.subheader("Safety")
        phq = view.assessments.filter(pl.col("instrument") == "PHQ-9")
        if phq.height:
            last = phq.row(-1, named=True)
            # A blank item 9 is its own state: never shown as 0, never as "safe".
            st.markdown(
                f"Latest PHQ-9 ({last['completed_at']:%Y-%m-%d}): item 9 "
                f"**{item9_state(last['item_9'])}**"
                + ("" if last["complete"] else " · questionnaire partly answered")
            )
        item9 = phq.filter(pl.col("item_9") > 0)
        if item9.height:
            message = (
                f"PHQ-9 item 9 (thoughts of being better off dead or of self-harm) answered above 0 "
                f"on {item9.height} occasion(s); most recent: {item9['item_9'][-1]} on "
                f"{item9['completed_at'][-1]:%Y-%m-%d}."
            )
            if view.summary.get("item9_flag_current"):
                st.error(message, icon=":material/warning:")
            else:  # still shown: a past answer is part of the risk history
                lookback = ctx.settings.clinical.item9_lookback_days
                st.warning(f"{message} Not in the last {lookback} days.", icon=":material/history:")
        else:
            st.write(
                'No PHQ-9 item 9 answer above 0 on record. (A 0 on item 9 never means "safe".)'
            )
        rows = views.alerts(ctx, actor, include_resolved=True, patient_id=view.patient_id)
        if rows.is_empty():
            st.write("No safety alerts.")
            return
        texts = dict(
            zip(view.flagged_messages["message_id"], view.flagged_messages["text"], strict=True)
        )
        st.markdown("**Safety alerts** (most urgent first; resolved ones last)")
        for row in rows.iter_rows(named=True):
            message_id = row["message_id"]
            if message_id not in texts:
                alert_card(ctx, actor, row, key="patient", show_patient=False)
                continue
            # The message goes in one box with its alert, so it is never read as the
            # next alert's (seen in the screenshots when it followed the card loose).
            with st.container(border=True):
                alert_card(ctx, actor, row, key="patient", show_patient=False)
                st.caption(f"Message, {row['raised_at']:%Y-%m-%d %H:%M %Z}:")
                st.text(texts[message_id])  # plain text: never rendered as markdown or HTML


def _scores(s) -> None:
    c1, c2 = st.columns(2)
    for col, prefix, name in ((c1, "phq9", "PHQ-9"), (c2, "gad7", "GAD-7")):
        total = s.get(f"{prefix}_latest_total")
        if total is None:
            col.metric(name, "no score")
            continue
        change = s.get(f"{prefix}_change")
        status = s.get(f"{prefix}_reliable_change") or "single assessment: no change yet"
        col.metric(
            name,
            f"{total} · {s[f'{prefix}_latest_band']}",
            delta=None if not change else f"{change:+d} since baseline",
            delta_color="inverse",  # for symptom scores, down is better
            help=f"{ARROWS.get(status, '')} {status}".strip(),
        )
        if change == 0:
            col.caption("no change since baseline")


def _risk_cards(ctx, actor, view) -> None:
    risk = views.patient_risk(ctx, actor, view.patient_id)
    cols = st.columns(2)
    for col, card in zip(cols, risk, strict=False):
        with col.container(border=True):
            st.subheader(card.title)
            if card.probability is None:
                st.write(card.unavailable_reason)
                continue
            shown = "<1%" if card.probability < 0.005 else f"{card.probability:.0%}"
            st.metric("Probability", shown, help=card.definition)
            st.write(f"Tier: **{card.tier}** · model {card.version} · as of {card.as_of}")
            if card.coverage_note:
                st.warning(card.coverage_note, icon=":material/info:")
            st.write("Pointing higher:")
            for sentence in card.reasons_for:
                st.text(f"▲ {sentence}")
            st.write("Pointing lower:")
            for sentence in card.reasons_against:
                st.text(f"▼ {sentence}")
            if card.history.height > 1:
                st.plotly_chart(
                    charts.risk_history(card.history, title=card.title), key=f"hist_{card.model}"
                )


def _timelines(ctx, view) -> None:
    clinical = ctx.settings.clinical
    st.subheader("Questionnaires")
    # Incomplete questionnaires (too many blank items to prorate) have no total to plot;
    # they are named here so a gap in the line is never read as "not asked".
    incomplete = view.assessments.filter(pl.col("total").is_null())
    if incomplete.height:
        st.caption(
            "Incomplete (too many blank items to score; item 9 still read): "
            + ", ".join(
                f"{r['instrument']} {r['completed_at']:%Y-%m-%d}"
                for r in incomplete.iter_rows(named=True)
            )
        )
    scored = view.assessments.filter(pl.col("total").is_not_null())
    c1, c2 = st.columns(2)
    c1.plotly_chart(
        charts.score_timeline(
            scored,
            instrument="PHQ-9",
            bands=clinical.phq9_bands,
            reliable_change=clinical.phq9_reliable_change,
        ),
        key="phq9",
    )
    c2.plotly_chart(
        charts.score_timeline(
            scored,
            instrument="GAD-7",
            bands=clinical.gad7_bands,
            reliable_change=clinical.gad7_reliable_change,
        ),
        key="gad7",
    )
    st.subheader("Daily measures against their usual range")
    st.caption(f"Shaded: their usual range as of {view.as_of}, {view.usual_definition}.")
    specs = [
        ("mood", "Mood (0 worst – 10 best)", "score", 1.0),
        ("anxiety", "Anxiety (0 none – 10 worst)", "score", 1.0),
        ("sleep_minutes", "Sleep", "hours", 1 / 60),
        ("steps", "Steps", "steps", 1.0),
        ("hrv_rmssd_ms", "Heart-rate variability (RMSSD)", "ms", 1.0),
        ("resting_hr", "Resting heart rate", "beats/min", 1.0),
    ]
    for i in range(0, len(specs), 2):
        cols = st.columns(2)
        for col, (column, title, unit, scale) in zip(cols, specs[i : i + 2], strict=False):
            if view.daily[column].is_null().all():
                col.markdown(f"**{title}**")
                wearable = column not in ("mood", "anxiety")
                col.caption("No wearable data recorded." if wearable else "No check-ins recorded.")
                continue
            col.plotly_chart(
                charts.metric_timeline(
                    view.daily,
                    column=column,
                    title=title,
                    unit=unit,
                    scale=scale,
                    usual=view.usual.get(column),
                ),
                key=f"t_{column}",
            )
    c1, c2 = st.columns(2)
    c1.plotly_chart(charts.sentiment_chart(view.daily), key="sentiment")
    c2.plotly_chart(charts.engagement_chart(view.daily), key="engagement")


def _coverage(s) -> None:
    st.subheader("Data coverage")
    c1, c2, c3 = st.columns(3)
    c1.metric("Check-in days, last 14", f"{s['checkin_adherence_14d']:.0%}")
    c2.metric("Check-in days, last 28", f"{s['checkin_adherence_28d']:.0%}")
    c3.metric("Wearable days, last 14", f"{s['wearable_coverage_14d']:.0%}")


def _notes(ctx, actor, view) -> None:
    st.subheader("Notes")
    with st.form("add_note", clear_on_submit=True):
        body = st.text_area("New note", max_chars=5000)
        if st.form_submit_button("Save note") and body.strip():
            views.add_note(ctx, actor, view.patient_id, body)
            st.rerun()
    for row in view.notes.iter_rows(named=True):
        st.html(f"<p><small>{html_text(row['at'])} · {html_text(row['author'])}</small></p>")
        st.text(row["body"])
