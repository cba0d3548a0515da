"""Message sentiment: VADER's compound score, for English only.

VADER's lexicon and rules are English; scoring other languages with it returns values
near 0 that look like "neutral" but mean "not understood". For any other language the
score is therefore missing (``None``) with a note, never 0, so that features and charts
can tell "neutral" from "unknown" (see the data contract).

Sentiment is not crisis detection: VADER scores "I have the pills ready" as positive.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

__all__ = ["SENTIMENT_LANGUAGES", "score_sentiment", "unsupported_note"]

SENTIMENT_LANGUAGES = frozenset({"en"})

_analyzer: SentimentIntensityAnalyzer | None = None
_lock = threading.Lock()


def _get_analyzer() -> SentimentIntensityAnalyzer:
    global _analyzer
    if _analyzer is None:
        with _lock:
            if _analyzer is None:
                # lazy: VADER reads its lexicon file when constructed; only English needs it
                from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

                _analyzer = SentimentIntensityAnalyzer()
    return _analyzer


def unsupported_note(language: str | None) -> str:
    """Why a message in ``language`` has no sentiment score."""
    if language in (None, "und"):
        return "sentiment not computed: language undetermined"
    return f"sentiment not supported for language '{language}'"


def score_sentiment(text: str, language: str | None) -> tuple[float | None, str | None]:
    """``(compound, None)`` for English; ``(None, note)`` for any other language."""
    if language not in SENTIMENT_LANGUAGES:
        return None, unsupported_note(language)
    compound = _get_analyzer().polarity_scores(text)["compound"]
    return float(compound), None
