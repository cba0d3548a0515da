"""AppTest of the Alerts page and the patient's safety panel on a hand-made clinic:
urgency order with icon and word, resolve refused without a note, and the note, actor
and time shown again after a reload (a fresh session)."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from analytics.access.roles import actor_for_clinician
from analytics.views import act_on_alert
from tests.alerts.conftest import item9_alert_id


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


def _run(data_dir, page, patient=None) -> AppTest:
    at = AppTest.from_function(
        _page_script, args=(page, str(data_dir), "c1", patient), default_timeout=60
    )
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _card(at: AppTest, alert_id: str):
    """The expander of one alert (its form key names the alert)."""
    for exp in at.expander:
        if any(alert_id in str(getattr(f, "key", "")) for f in exp.text_input):
            return exp
    raise AssertionError(f"no card for {alert_id}")


@pytest.mark.dates
def test_alerts_page_order_resolve_needs_note_and_history_survives_reload(clinic):
    data_dir = clinic.settings.data_dir
    at = _run(data_dir, "alerts")
    labels = [e.label for e in at.expander]
    words = ["Crisis", "Item 9 answered 2-3", "Item 9 answered 1", "Concern", "not screened"]
    assert [next(w for w in words if w in label) for label in labels] == words
    assert labels[0].startswith("**Crisis**")  # the word; the icon is the expander's
    assert [e.proto.icon for e in at.expander][:2] == [
        ":material/crisis_alert:",
        ":material/priority_high:",
    ]
    assert "open " in labels[2] and "day" in labels[2]

    target = item9_alert_id("p1", "2026-04-20")
    card = _card(at, target)
    next(b for b in card.button if b.label == "Resolve").click()
    at.run()
    assert any("Resolving an alert needs a note" in e.value for e in at.error)

    card = _card(at, target)
    card.text_input[0].input("called; safety plan in place")
    next(b for b in card.button if b.label == "Acknowledge").click()
    at.run()
    assert not at.exception

    # A reload is a fresh session: the history comes from the workspace.
    again = _run(data_dir, "alerts")
    card = _card(again, target)
    assert "acknowledged" in card.label
    shown = "\n".join(t.value for t in card.text)
    assert "Acknowledged by ada@example.org — called; safety plan in place" in shown
    assert " UTC · Acknowledged" in shown  # the time, with the zone's label

    panel = _run(data_dir, "patient", patient="p1")
    assert panel.subheader[0].value == "Safety"
    texts = "\n".join(m.value for m in panel.markdown)
    assert "item 9 **answered 2**" in texts and "partly answered" in texts
    card = _card(panel, target)
    assert "called; safety plan in place" in "\n".join(t.value for t in card.text)


@pytest.mark.dates
def test_patient_panel_shows_item9_not_answered(clinic):
    panel = _run(clinic.settings.data_dir, "patient", patient="p2")
    texts = "\n".join(m.value for m in panel.markdown)
    assert "item 9 **not answered**" in texts


@pytest.mark.dates
def test_show_resolved_keeps_the_history_and_offers_reopen(clinic):
    c1 = actor_for_clinician(clinic, "c1")
    target = item9_alert_id("p1", "2026-03-21")
    act_on_alert(clinic, c1, target, "resolve", "reviewed at session; no current ideation")
    at = _run(clinic.settings.data_dir, "alerts")
    assert all(target not in str(f.key) for e in at.expander for f in e.text_input)
    at.toggle(key="alerts_resolved").set_value(True).run()
    card = _card(at, target)
    assert "resolved" in card.label and "raised " in card.label
    shown = "\n".join(t.value for t in card.text)
    assert "Resolved by ada@example.org — reviewed at session; no current ideation" in shown
    assert [b.label for b in card.button] == ["Re-open", "Open patient"]  # no Resolve
    card.button[0].click()
    at.run()
    assert "not yet acknowledged" in _card(at, target).label
