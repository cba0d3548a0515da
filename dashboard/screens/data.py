"""Data (admin): what was ingested, what is quarantined and why, what is served."""

from __future__ import annotations

import polars as pl
import streamlit as st

from analytics import views

__all__ = ["render"]


def render() -> None:
    ctx, actor = st.session_state["ctx"], st.session_state["actor"]
    status = views.data_status(ctx, actor)
    st.title("Data")
    c1, c2 = st.columns(2)
    c1.metric("Data as of", str(status.as_of))
    c2.metric("Snapshot published", f"{status.built_at:%Y-%m-%d %H:%M}")
    st.caption(f"Snapshot in service: {status.snapshot_id}")
    st.subheader("Rows stored")
    st.dataframe(
        pl.DataFrame({"table": list(status.table_rows), "rows": list(status.table_rows.values())}),
        hide_index=True,
    )
    st.subheader("Ingest history")
    if status.ingest_history.is_empty():
        st.info("Nothing has been ingested yet: `caseload ingest PATH` loads contract files.")
    else:
        st.dataframe(
            status.ingest_history.select(
                "run_id",
                "file",
                "table",
                "status",
                "rows_read",
                "stored",
                "updated",
                "duplicates",
                "quarantined",
                "message",
                "logged_at",
            ),
            hide_index=True,
        )
    st.subheader("Quarantined rows")
    if status.quarantine.is_empty():
        st.success("No quarantined rows.")
    else:
        st.caption(
            "Where and why only; `caseload quarantine --export DIR` writes the rows to fix and re-ingest."
        )
        st.dataframe(status.quarantine, hide_index=True)
