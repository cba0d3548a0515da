"""Row 6: names and sites render as the characters typed, never as Markdown (a link, bold
text, an image fetched from another host)."""

from __future__ import annotations

import html
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st_
from streamlit.testing.v1 import AppTest

from analytics.data.ingest import ingest
from analytics.serving.pipeline import refresh
from dashboard.format import _MARKDOWN_SPECIAL, plain

HOSTILE = "**Bold** [link](http://evil.example/) ![img](http://evil.example/x.png) <b>x</b> :red[y]"


def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text)


@pytest.mark.attack(6)
@given(st_.text())
def test_plain_escapes_every_markdown_character(text):
    shown = plain(text)
    assert "\n" not in shown
    assert _unescape(shown) == " ".join(text.split())
    # No special character is left without its backslash.
    unescaped = re.sub(r"\\.", "", shown)
    assert not set(unescaped) & _MARKDOWN_SPECIAL


def _page(data_dir: str) -> None:
    import streamlit as st

    from analytics.access.roles import Context, actor_for_clinician
    from analytics.settings import load_settings
    from dashboard.screens import patient

    if "ctx" not in st.session_state:
        ctx = Context.open(load_settings(data_dir), check_same_thread=False)
        st.session_state["ctx"] = ctx
        st.session_state["actor"] = actor_for_clinician(ctx, "c1")
        st.session_state["pages"] = {}
    st.query_params["patient"] = "p1"
    patient.render()


@pytest.mark.attack(6)
def test_patient_page_shows_a_hostile_name_and_site_as_typed(staffed, write_csv):
    rows = (
        "patient_id,clinician_id,enrolled_on,display_name,site_id\n"
        f'p1,c1,2026-01-05,"{HOSTILE}","_north_ ![s](http://evil.example/s.png)"\n'
    )
    assert ingest([write_csv("patients-2.csv", rows)], settings=staffed).exit_code == 0
    refresh(settings=staffed)
    at = AppTest.from_function(_page, args=(str(staffed.data_dir),), default_timeout=60)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    # The name is not in any Markdown element (where a bare URL would become a link)...
    markdown = [e.value for kind in ("title", "caption", "markdown") for e in at.get(kind)]
    assert not [v for v in markdown if "evil.example" in v]
    # ...but escaped HTML, which shows exactly the characters typed.
    bodies = [e.proto.body for e in at.get("html")]
    assert f"<h1>{html.escape(HOSTILE)}</h1>" in bodies
    assert any(html.escape("_north_ ![s](http://evil.example/s.png)") in b for b in bodies)
    assert not [b for b in bodies if "<a" in b or "<img" in b or "<b>" in b]
