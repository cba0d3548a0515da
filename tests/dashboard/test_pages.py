"""AppTest: each page rendered with seeded session state, asserting on rendered values.

Charts come back as unknown elements in AppTest, so this checks text, tables and
metrics; the chart builders have their own tests and the browser test sees the rest.
"""

from __future__ import annotations

import html
from pathlib import Path

import duckdb
import pytest
from streamlit.testing.v1 import AppTest

from analytics.data.store import DataDir, current_snapshot
from analytics.settings import load_settings


def _page_script(page: str, data_dir: str, clinician: str, patient: str | None) -> None:
    import importlib

    import streamlit as st

    from analytics.access.roles import Context, actor_for_clinician
    from analytics.settings import load_settings

    if "ctx" not in st.session_state:
        ctx = Context.open(load_settings(data_dir), check_same_thread=False)
        st.session_state["ctx"] = ctx
        st.session_state["actor"] = actor_for_clinician(ctx, clinician)
        st.session_state["pages"] = {}
    if patient is not None:
        st.query_params["patient"] = patient
    importlib.import_module(f"dashboard.screens.{page}").render()


@pytest.fixture(scope="module")
def clinic(small_demo) -> Path:
    return small_demo


@pytest.fixture(scope="module")
def facts(clinic):
    """Names, ids and message text straight from the snapshot, to search pages for."""
    info = current_snapshot(DataDir(clinic))
    con = duckdb.connect(str(info.path), read_only=True)
    try:
        people = con.execute(
            """SELECT c.clinician_id, c.role, count(s.patient_id) FILTER (WHERE s.active)
               FROM clinicians c LEFT JOIN patient_summary s USING (clinician_id)
               GROUP BY ALL ORDER BY 1"""
        ).fetchall()
        therapists = [c for c, role, n in people if role == "therapist" and n > 0]
        patients = con.execute(
            "SELECT patient_id, display_name, clinician_id, active FROM patient_summary"
        ).fetchall()
        texts = [r[0] for r in con.execute("SELECT text FROM flagged_messages").fetchall()]
        roles = {role: c for c, role, _ in people}
        flagged = con.execute(
            """SELECT clinician_id FROM patient_summary
               WHERE active AND (item9_flag_current OR patient_id IN
                   (SELECT patient_id FROM flagged_messages WHERE crisis_level = 'crisis'))
               ORDER BY clinician_id LIMIT 1"""
        ).fetchone()
    finally:
        con.close()
    return {
        "therapists": therapists,
        "patients": patients,
        "texts": texts,
        "roles": roles,
        "flagged_therapist": flagged[0] if flagged else None,
    }


def _run(clinic, page, clinician, patient=None) -> AppTest:
    at = AppTest.from_function(
        _page_script, args=(page, str(clinic), clinician, patient), default_timeout=60
    )
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _rendered_text(at: AppTest) -> str:
    parts = []
    for kind in (
        "title",
        "header",
        "subheader",
        "markdown",
        "text",
        "caption",
        "error",
        "info",
        "warning",
        "success",
    ):
        parts += [str(e.value) for e in getattr(at, kind)]
    parts += [f"{m.label} {m.value}" for m in at.metric]
    parts += [df.value.to_string() for df in at.dataframe]
    # Names and sites are shown through escaped st.html (dashboard.format.html_text).
    parts += [html.unescape(e.proto.body) for e in at.get("html")]
    return "\n".join(parts)


def test_flagged_patient_is_first_in_the_caseload(clinic, facts):
    therapist = facts["flagged_therapist"]
    assert therapist is not None, "the demo clinic should have a safety flag somewhere"
    at = _run(clinic, "caseload", therapist)
    table = at.dataframe[0].value
    flags = table["Flag"].tolist()
    assert flags[0] == "⚠ SAFETY"
    # Safety flags first, then review, then the rest: the order never goes back up.
    rank = {"⚠ SAFETY": 2, "△ review": 1, "": 0}
    assert [rank[f] for f in flags] == sorted((rank[f] for f in flags), reverse=True)


def test_therapist_pages_never_show_another_clinicians_patient(clinic, facts):
    therapist = facts["therapists"][0]
    own_names = {name for _, name, clin, _ in facts["patients"] if clin == therapist}
    # Synthetic names repeat; a name shared with one of the therapist's own patients proves nothing.
    others = [
        (pid, name)
        for pid, name, clin, _ in facts["patients"]
        if clin != therapist and name not in own_names
    ]
    own_active = {pid for pid, _, clin, active in facts["patients"] if clin == therapist and active}
    for page in ("caseload", "alerts"):
        text = _rendered_text(_run(clinic, page, therapist))
        leaked = [name for _, name in others if name and name in text]
        assert leaked == []
    table = _run(clinic, "caseload", therapist).dataframe[0].value
    shown = set(table["Patient"])
    assert shown <= {name for pid, name, _, _ in facts["patients"] if pid in own_active}
    assert len(shown) >= 5


def test_patient_query_parameter_for_someone_elses_patient_is_refused(clinic, facts):
    therapist = facts["therapists"][0]
    own_names = {name for _, name, clin, _ in facts["patients"] if clin == therapist}
    other_id, other_name, _, _ = next(
        p for p in facts["patients"] if p[2] != therapist and p[1] not in own_names
    )
    at = _run(clinic, "patient", therapist, patient=other_id)
    assert "not on your active caseload" in at.error[0].value
    assert other_name not in _rendered_text(at)


def test_own_patient_page_shows_safety_first(clinic, facts):
    therapist = facts["therapists"][0]
    own = next(p[0] for p in facts["patients"] if p[2] == therapist and p[3])
    at = _run(clinic, "patient", therapist, patient=own)
    assert at.subheader[0].value == "Safety"


@pytest.mark.parametrize(
    ("role", "pages"), [("manager", ["clinic"]), ("researcher", ["models", "fairness"])]
)
def test_managers_and_researchers_never_see_names_or_message_text(clinic, facts, role, pages):
    for page in pages:
        text = _rendered_text(_run(clinic, page, facts["roles"][role]))
        names = [name for _, name, _, _ in facts["patients"] if name and name in text]
        assert names == []
        ids = [pid for pid, _, _, _ in facts["patients"] if pid in text]
        assert ids == []
        assert [t for t in facts["texts"] if t in text] == []


def test_session_state_cannot_grant_a_view_without_sign_in(clinic, facts, monkeypatch):
    """Outside demo mode, an actor planted in session state is ignored: with no sign-in
    configured the app shows set-up instructions and no patient data."""
    from analytics.access.roles import Actor, Role

    monkeypatch.setenv("CASELOAD_DATA_DIR", str(clinic))
    monkeypatch.delenv("CASELOAD_DEMO", raising=False)
    at = AppTest.from_file(
        str(Path(__file__).resolve().parents[2] / "dashboard" / "app.py"), default_timeout=60
    )
    at.session_state["actor"] = Actor(
        user="x", role=Role.THERAPIST, clinician_id=facts["therapists"][0]
    )
    at.run()
    assert not at.exception
    assert at.title[0].value == "Sign-in is not configured"
    assert not at.dataframe
    text = _rendered_text(at)
    assert [name for _, name, _, _ in facts["patients"] if name and name in text] == []


def test_demo_identity_picker_only_in_demo_mode(clinic, facts, monkeypatch):
    monkeypatch.setenv("CASELOAD_DATA_DIR", str(clinic))
    monkeypatch.setenv("CASELOAD_DEMO", "1")
    at = AppTest.from_file(
        str(Path(__file__).resolve().parents[2] / "dashboard" / "app.py"), default_timeout=60
    )
    at.run()
    assert not at.exception
    assert at.sidebar.selectbox[0].label == "Viewing as (demo)"
    assert "Demo mode" in at.info[0].value
    monkeypatch.delenv("CASELOAD_DEMO")
    at = AppTest.from_file(
        str(Path(__file__).resolve().parents[2] / "dashboard" / "app.py"), default_timeout=60
    )
    at.run()
    assert not at.sidebar.selectbox


def test_empty_data_directory_shows_how_to_start(tmp_path, monkeypatch):
    monkeypatch.setenv("CASELOAD_DATA_DIR", str(tmp_path / "empty"))
    monkeypatch.setenv("CASELOAD_DEMO", "1")
    load_settings(tmp_path / "empty")
    at = AppTest.from_file(
        str(Path(__file__).resolve().parents[2] / "dashboard" / "app.py"), default_timeout=60
    )
    at.run()
    assert not at.exception
    assert at.title[0].value == "Welcome to Caseload Insight"
    assert "caseload ingest" in at.code[0].value


def test_app_caseload_through_the_session_path_uses_local_dates(clinic, monkeypatch):
    """The app reads through per-run cursors; dates must still be the clinic's local dates
    (a UTC cursor once showed evening check-ins as -1 days ago)."""
    monkeypatch.setenv("CASELOAD_DATA_DIR", str(clinic))
    monkeypatch.setenv("CASELOAD_DEMO", "1")
    at = AppTest.from_file(
        str(Path(__file__).resolve().parents[2] / "dashboard" / "app.py"), default_timeout=60
    )
    at.run()
    assert not at.exception
    days = at.dataframe[0].value["Days since check-in"].dropna()
    assert len(days) > 0 and (days >= 0).all()


def test_with_sign_in_configured_an_anonymous_visitor_sees_only_sign_in(clinic, facts, monkeypatch):
    monkeypatch.setenv("CASELOAD_DATA_DIR", str(clinic))
    monkeypatch.delenv("CASELOAD_DEMO", raising=False)
    at = AppTest.from_file(
        str(Path(__file__).resolve().parents[2] / "dashboard" / "app.py"), default_timeout=60
    )
    at.secrets["auth"] = {
        "redirect_uri": "http://localhost:8501/oauth2callback",
        "cookie_secret": "x" * 32,
        "client_id": "id",
        "client_secret": "secret",
        "server_metadata_url": "https://idp.example.org/.well-known/openid-configuration",
    }
    at.run()
    assert not at.exception
    assert at.button[0].label == "Sign in"
    assert not at.dataframe and not at.sidebar.selectbox
    text = _rendered_text(at)
    assert [name for _, name, _, _ in facts["patients"] if name and name in text] == []


@pytest.mark.parametrize("payload", ["' OR 1=1 --", "%", "_", "'; DROP TABLE patient_summary; --"])
def test_search_box_payloads_return_nothing_extra(clinic, facts, payload):
    therapist = facts["therapists"][0]
    at = _run(clinic, "caseload", therapist)
    everyone = len(at.dataframe[0].value)
    at.text_input(key="caseload_search").input(payload).run()
    assert not at.exception
    shown = at.dataframe[0].value["Patient"].tolist() if at.dataframe else []
    own = {name for _, name, clin, active in facts["patients"] if clin == therapist and active}
    assert set(shown) <= own and len(shown) <= everyone
