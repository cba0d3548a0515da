"""Caseload Insight: the Streamlit entry point. Run it with `caseload serve`.

The page modules live in `dashboard/screens/`, not `pages/`: Streamlit treats a folder
named `pages` beside the entry script as an old-style multipage app.

It resolves who is looking (sign-in, or the demo identity picker in demo mode), builds
the navigation their role allows, and runs the chosen page. Pages are thin: they read
widgets, call ``analytics.views`` and render.
"""

from __future__ import annotations

import streamlit as st

from analytics.access.roles import Role
from dashboard import session
from dashboard.format import plain
from dashboard.screens import alerts, caseload, clinic, data, empty, fairness, models, patient

__all__ = ["PAGES", "main"]

st.set_page_config(
    page_title="Caseload Insight", page_icon=":material/monitor_heart:", layout="wide"
)

PAGES = {
    Role.THERAPIST: [
        st.Page(
            caseload.render,
            title="Caseload",
            icon=":material/groups:",
            url_path="caseload",
            default=True,
        ),
        st.Page(patient.render, title="Patient", icon=":material/person:", url_path="patient"),
        st.Page(alerts.render, title="Alerts", icon=":material/notifications:", url_path="alerts"),
    ],
    Role.MANAGER: [
        st.Page(
            clinic.render, title="Clinic", icon=":material/domain:", url_path="clinic", default=True
        )
    ],
    Role.RESEARCHER: [
        st.Page(
            models.render,
            title="Models",
            icon=":material/insights:",
            url_path="models",
            default=True,
        ),
        st.Page(fairness.render, title="Fairness", icon=":material/balance:", url_path="fairness"),
    ],
    Role.ADMIN: [
        st.Page(
            data.render, title="Data", icon=":material/database:", url_path="data", default=True
        )
    ],
}


def main() -> None:
    ctx = session.context()
    if ctx is None:
        st.navigation([st.Page(empty.no_snapshot, title="Getting started", default=True)]).run()
        return
    # Configured sign-in always wins: the demo picker is considered only without it.
    if session.auth_configured():
        actor = session.signed_in_actor(ctx)
        if actor is None:
            page = empty.sign_in if not session.logged_in() else empty.unknown_user
            st.navigation([st.Page(page, title="Sign in", default=True)]).run()
            return
        st.sidebar.caption(f"Signed in as {plain(actor.user)}")
        st.sidebar.button("Sign out", on_click=st.logout)
    elif session.demo_mode():
        st.info(
            "**Demo mode** — synthetic patients only. Choose whose view to see under "
            "*Viewing as* in the sidebar; a real clinic signs in instead.",
            icon=":material/science:",
        )
        actor = session.demo_actor(ctx)
    else:
        st.navigation([st.Page(empty.no_auth, title="Sign-in not configured", default=True)]).run()
        return
    st.session_state["actor"] = actor
    st.session_state["ctx"] = ctx
    st.session_state["pages"] = {
        "patient": PAGES[Role.THERAPIST][1],
        "caseload": PAGES[Role.THERAPIST][0],
    }
    st.sidebar.caption(f"Data as of snapshot {ctx.snapshot_id}")
    st.navigation(PAGES[actor.role]).run()


main()
