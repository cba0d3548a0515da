"""Pages shown before there is anything to show: they say what to do next."""

from __future__ import annotations

import streamlit as st

__all__ = ["no_auth", "no_snapshot", "sign_in", "unknown_user"]


def no_snapshot() -> None:
    st.title("Welcome to Caseload Insight")
    st.write("There is no data to show yet. To load your clinic's data:")
    st.code(
        "caseload ingest path/to/exports/   # CSV or Parquet files, see docs/data-contract.md\n"
        "caseload refresh                    # publish what the dashboard shows",
        language="bash",
    )
    st.write("Or try it with synthetic data: `caseload demo`.")


def no_auth() -> None:
    st.title("Sign-in is not configured")
    st.write(
        "This dashboard shows patient data only to signed-in staff. Configure your "
        "identity provider in `.streamlit/secrets.toml` (see the README, *Sign-in*), or "
        "run `caseload demo` to explore synthetic data."
    )


def sign_in() -> None:
    st.title("Caseload Insight")
    st.write("Sign in with your clinic account to continue.")
    st.button("Sign in", on_click=st.login, type="primary")


def unknown_user() -> None:
    st.title("Your account is not linked to this clinic")
    st.write(
        "You are signed in, but your email is not in this clinic's staff list. Ask an "
        "administrator to add it to the clinicians file."
    )
    st.button("Sign out", on_click=st.logout)
