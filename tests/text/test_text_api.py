"""The public API used by ingest and by `caseload text-check`."""

from __future__ import annotations

import dataclasses
import io
import json

import pytest

from analytics.text import MessageAnalysis, analyze_message, analyze_messages, text_check


def test_message_analysis_is_frozen_with_the_agreed_fields():
    fields = [f.name for f in dataclasses.fields(MessageAnalysis)]
    assert fields == [
        "language",
        "language_confidence",
        "sentiment",
        "sentiment_note",
        "crisis_level",
        "category",
        "about_other",
        "evidence",
        "reason",
    ]
    result = analyze_message("I have the pills ready")
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.crisis_level = "none"  # type: ignore[misc]


def test_analyze_message_all_fields():
    result = analyze_message("I'm going to kill myself tonight")
    assert result.language == "en"
    assert isinstance(result.sentiment, float)
    assert result.sentiment_note is None
    assert result.crisis_level == "crisis"
    assert result.category == "intent"
    assert result.evidence == result.matched == "going to kill myself"
    assert result.about_other is False and result.reason is None
    assert 0.5 <= result.language_confidence <= 1.0

    result = analyze_message("Me muero de risa con este video")
    assert (result.language, result.sentiment, result.crisis_level, result.evidence) == (
        "es",
        None,
        "none",
        None,
    )


def test_batch_equals_one_by_one(corpus):
    texts = [row.text for row in corpus[::7]] + ["", "ok", "a" * 500]
    assert analyze_messages(texts) == [analyze_message(t) for t in texts]
    assert analyze_messages(iter(texts)) == analyze_messages(texts)
    assert analyze_messages([]) == []


def test_text_check_writes_one_json_object_per_message():
    lines = [
        "I have the pills ready\n",
        "\n",
        "   \r\n",
        "me muero de risa jaja\r\n",
        "I'm not going to hurt myself\n",
        "ok",
    ]
    out = io.StringIO()
    assert text_check(lines, out) == 4
    records = [json.loads(line) for line in out.getvalue().splitlines()]
    assert len(records) == 4
    keys = {"language", "language_confidence", "sentiment", "crisis_level", "category"}
    keys |= {"about_other", "evidence"}
    for record in records:
        assert set(record) == keys
    assert [r["crisis_level"] for r in records] == ["crisis", "none", "concern", "none"]
    assert records[0]["language"] == "en" and isinstance(records[0]["sentiment"], float)
    assert records[0]["category"] == "preparatory"
    assert records[0]["evidence"] == "have the pills ready"
    assert {k: v for k, v in records[1].items() if k != "language_confidence"} == {
        "language": "es",
        "sentiment": None,
        "crisis_level": "none",
        "category": None,
        "about_other": False,
        "evidence": None,
    }
    assert records[2]["evidence"] == "not going to hurt myself"
    assert records[2]["category"] == "negated"
    assert records[3]["language"] is None and records[3]["sentiment"] is None


def test_text_check_reports_the_reason_when_unchecked():
    out = io.StringIO()
    text_check(["Ich habe heute Nacht sehr schlecht geschlafen und bin müde\n"], out)
    record = json.loads(out.getvalue())
    assert record["crisis_level"] == "unchecked"
    assert record["language"] == "de"
    assert record["reason"] == "language 'de' not supported"
    assert record["evidence"] is None


def test_text_check_streams_in_batches_and_keeps_order():
    lines = [f"message number {i}, all good here\n" for i in range(2500)]
    lines[1234] = "voy a quitarme la vida\n"
    out = io.StringIO()
    assert text_check(iter(lines), out) == 2500
    records = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [i for i, r in enumerate(records) if r["crisis_level"] != "none"] == [1234]


def test_text_check_on_empty_input():
    out = io.StringIO()
    assert text_check([], out) == 0
    assert out.getvalue() == ""


def test_analytics_text_does_not_import_ui_libraries():
    import subprocess
    import sys

    code = (
        "import sys, analytics.text as t; t.analyze_message('hello there friend');"
        "bad = [m for m in ('streamlit', 'plotly') if m in sys.modules]; print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
