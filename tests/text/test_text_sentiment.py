"""Sentiment: VADER for English, missing (never 0) for everything else."""

from __future__ import annotations

import pytest

from analytics.text import analyze_message
from analytics.text.sentiment import score_sentiment


@pytest.mark.parametrize(
    "text",
    [
        "I had a wonderful day, thank you so much!",
        "Feeling great after the session, really hopeful",
        "I finally slept well and I'm happy",
    ],
)
def test_positive_english_is_positive(text):
    result = analyze_message(text)
    assert result.language == "en"
    assert result.sentiment is not None and result.sentiment > 0.3
    assert result.sentiment_note is None


@pytest.mark.parametrize(
    "text",
    [
        "I feel awful and everything is terrible",
        "Work was horrible, I hate it",
        "I'm so sad and lonely tonight",
    ],
)
def test_negative_english_is_negative(text):
    result = analyze_message(text)
    assert result.language == "en"
    assert result.sentiment is not None and result.sentiment < -0.3


def test_spanish_has_no_sentiment_and_says_why():
    result = analyze_message("Hoy me siento muy triste y cansada")
    assert result.language == "es"
    assert result.sentiment is None
    assert result.sentiment_note == "sentiment not supported for language 'es'"


def test_every_non_english_corpus_message_has_none_never_zero(corpus, corpus_results):
    for row, result in zip(corpus, corpus_results, strict=True):
        if result.language != "en":
            assert result.sentiment is None, f"line {row.line}"
            assert result.sentiment_note, f"line {row.line}"
        else:
            assert result.sentiment is not None and -1.0 <= result.sentiment <= 1.0
            assert result.sentiment_note is None


def test_undetermined_language_has_no_sentiment():
    result = analyze_message("ok")
    assert result.language is None
    assert result.sentiment is None
    assert result.sentiment_note == "sentiment not computed: language undetermined"


def test_score_sentiment_directly():
    assert score_sentiment("anything", "fr") == (None, "sentiment not supported for language 'fr'")
    score, note = score_sentiment("Can we move Thursday's session?", "en")
    assert score == 0.0 and note is None  # a real neutral score, not a stand-in
