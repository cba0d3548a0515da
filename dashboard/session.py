"""The one place for Streamlit caching and per-session state.

The serving snapshot connection is cached per snapshot id, so a newly published
snapshot is picked up at the next rerun without a restart. Each rerun reads through its
own cursor (DuckDB connections are not thread-safe); the workspace connection belongs to
the session. Views are not cached: each one checks access and may write to the audit
trail, which a cache hit would skip.
"""

from __future__ import annotations

import os

import duckdb
import streamlit as st

from analytics import views
from analytics.access.keys import load_key, pseudonym_key
from analytics.access.roles import Actor, Context, UnknownUser, actor_for_clinician, actor_for_email
from analytics.data.store import DataDir, connect, current_snapshot, cursor, open_workspace
from analytics.launcher import is_demo_dir
from analytics.settings import Settings, audit_anchor_path, audit_key_path, load_settings

__all__ = [
    "DEMO_ENV",
    "auth_configured",
    "context",
    "demo_actor",
    "demo_mode",
    "fairness_audit",
    "logged_in",
    "settings",
    "signed_in_actor",
]

DEMO_ENV = "CASELOAD_DEMO"


def demo_mode() -> bool:
    """Demo identity picker: asked for by `caseload serve`, in a directory demo built, and
    never when sign-in is configured (configured sign-in always wins)."""
    return (
        os.environ.get(DEMO_ENV) == "1"
        and is_demo_dir(settings().data_dir)
        and not auth_configured()
    )


@st.cache_resource(show_spinner=False)
def _settings(data_dir: str | None) -> Settings:
    return load_settings(data_dir)


def settings() -> Settings:
    return _settings(os.environ.get("CASELOAD_DATA_DIR"))


@st.cache_resource(show_spinner=False, max_entries=2)
def _snapshot(path: str, snapshot_id: str, timezone: str) -> duckdb.DuckDBPyConnection:
    # One read-only connection per published snapshot, shared by all sessions.
    return connect(path, settings=settings(), read_only=True)


def context() -> Context | None:
    """This rerun's context, or None when no snapshot has been published yet."""
    s = settings()
    data_dir = DataDir(s.data_dir)
    info = current_snapshot(data_dir)
    if info is None:
        return None
    shared = _snapshot(str(info.path), info.snapshot_id, s.clinic_timezone)
    if "workspace" not in st.session_state:
        st.session_state["workspace"] = open_workspace(data_dir, check_same_thread=False)
    return Context(
        settings=s,
        snapshot=cursor(shared, settings=s),
        workspace=st.session_state["workspace"],
        pseudonym_key=pseudonym_key(data_dir.root),
        audit_key=load_key(audit_key_path(s)),
        snapshot_id=info.snapshot_id,
        audit_anchor=audit_anchor_path(s),
    )


def auth_configured() -> bool:
    try:
        return "auth" in st.secrets
    except FileNotFoundError:
        return False
    except Exception:  # a malformed secrets file: treat as not configured, say so in the UI
        return False


def logged_in() -> bool:
    """Whether someone has signed in (``st.user`` has no such field until sign-in is set up)."""
    return bool(getattr(st.user, "is_logged_in", False))


def signed_in_actor(ctx: Context) -> Actor | None:
    """The actor from OpenID Connect sign-in, or None (the caller shows why)."""
    if not logged_in():
        return None
    try:
        return actor_for_email(ctx, str(st.user.email))
    except UnknownUser:
        return None


def demo_actor(ctx: Context) -> Actor:
    """The demo identity picker ("viewing as"), only ever called in demo mode."""
    people = ctx.snapshot.execute(
        """SELECT clinician_id, display_name, role, site_id FROM clinicians
           ORDER BY CASE role WHEN 'therapist' THEN 0 WHEN 'manager' THEN 1
                    WHEN 'researcher' THEN 2 ELSE 3 END, clinician_id"""
    ).fetchall()
    labels = {row[0]: f"{row[1]} ({row[2]}, {row[3]})" for row in people}
    chosen = st.sidebar.selectbox(
        "Viewing as (demo)",
        list(labels),
        format_func=labels.__getitem__,
        key="demo_identity",
        help="Demo mode only: pick whose view to see. A real clinic signs in instead.",
    )
    return actor_for_clinician(ctx, chosen)


@st.cache_data(show_spinner="Auditing...", max_entries=32)
def _fairness_audit(
    snapshot_id: str,
    _ctx: Context,
    _actor: Actor,
    model: str,
    attributes: tuple[str, ...],
    budget: float,
    reference: str | None,
):

    return views.fairness_audit(
        _ctx, _actor, model=model, attributes=attributes, budget=budget, reference=reference
    )


def fairness_audit(
    ctx: Context,
    actor: Actor,
    *,
    model: str,
    attributes: tuple[str, ...],
    budget: float,
    reference: str | None,
):
    """A bias audit, cached per snapshot and options. The caller has already passed the
    researcher check (``views.fairness_options``) in this run; the audit is aggregate."""
    return _fairness_audit(ctx.snapshot_id, ctx, actor, model, attributes, budget, reference)
