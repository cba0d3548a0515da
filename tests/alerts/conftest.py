"""A hand-made clinic with partial questionnaires and every kind of safety alert."""

from __future__ import annotations

import duckdb
import pytest

from analytics.access.roles import Context
from analytics.data.ingest import ingest
from analytics.data.store import DataDir
from analytics.serving.pipeline import refresh

ITEMS = [f"item_{i}" for i in range(1, 10)]


def item9_alert_id(patient_id: str, day: str) -> str:
    """The id a day's item-9 alert is stored under (known answer: workspaces hold actions
    under these ids, so the format made in analytics.serving.alerts must never change)."""
    return f"item9:{patient_id}:{day}"


def phq(patient_id: str, when: str, answers: list[int | None], **extra) -> dict:
    return {
        "patient_id": patient_id,
        "completed_at": when,
        "instrument": "PHQ-9",
        **{c: ("" if v is None else v) for c, v in zip(ITEMS, answers, strict=True)},
        **extra,
    }


def gad(patient_id: str, when: str, answers: list[int | None]) -> dict:
    row = {"patient_id": patient_id, "completed_at": when, "instrument": "GAD-7"}
    row.update({c: ("" if v is None else v) for c, v in zip(ITEMS[:7], answers, strict=True)})
    row.update({"item_8": "", "item_9": ""})
    return row


def _set_level(settings, text_like: str, level: str) -> None:
    con = duckdb.connect(str(DataDir(settings.data_dir).warehouse))
    try:
        con.execute("UPDATE messages SET crisis_level = ? WHERE text LIKE ?", [level, text_like])
    finally:
        con.close()


@pytest.fixture
def clinic(base_clinic, write_csv):
    assessments = [
        # p1: item 4 blank and item 9 = 2 on the last day -> an open item-9 alert
        phq("p1", "2026-04-20T09:00:00Z", [1, 1, 1, None, 1, 1, 1, 1, 2]),
        # p1: an item-9 answer of 1, 40 days before the as-of date (2026-04-30), unreviewed
        phq("p1", "2026-03-21T09:00:00Z", [0, 0, 0, 0, 0, 0, 0, 0, 1]),
        # p2: three blanks, item 9 not answered: stored, incomplete, no total
        phq("p2", "2026-04-10T09:00:00Z", [2, 2, 2, 2, 2, 2, None, None, None]),
        # p2: a GAD-7 with a blank: stored, incomplete
        gad("p2", "2026-04-10T09:05:00Z", [1, 1, 1, None, 1, 1, 1]),
    ]
    messages = [
        # the crisis message is the NEWEST; the concern and unscreened ones older
        {
            "patient_id": "p2",
            "sent_at": "2026-04-29T10:00:00Z",
            "sender": "patient",
            "text": "msg crisis",
        },
        {
            "patient_id": "p2",
            "sent_at": "2026-03-01T10:00:00Z",
            "sender": "patient",
            "text": "msg concern",
        },
        {
            "patient_id": "p1",
            "sent_at": "2026-02-15T10:00:00Z",
            "sender": "patient",
            "text": "msg unread",
        },
    ]
    checkins = [{"patient_id": "p1", "checked_in_at": "2026-04-30T08:00:00Z", "mood": 5}]
    result = ingest(
        [
            write_csv("assessments.csv", assessments),
            write_csv("messages.csv", messages),
            write_csv("checkins.csv", checkins),
        ],
        settings=base_clinic,
    )
    assert result.exit_code == 0, result
    _set_level(base_clinic, "msg crisis", "crisis")
    _set_level(base_clinic, "msg concern", "concern")
    _set_level(base_clinic, "msg unread", "unchecked")
    refresh(settings=base_clinic)
    ctx = Context.open(base_clinic)
    yield ctx
    ctx.close()
