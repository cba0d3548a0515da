"""Baseline copy (issue 13): analytics/text as it was before issue 13, kept only so that
benchmarks/text_speed.py can measure both in the same run. Not used by the product.

Patient chat message analysis, run at ingest: language, sentiment, crisis language.

The three analyses are independent on purpose. Sentiment is not crisis detection (VADER
scores "I have the pills ready" as positive), and crisis rules for every supported
language run whatever the language identifier said, so a misidentified or mixed-language
message still gets flagged.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TextIO

from benchmarks.text_baseline.crisis import LEVELS, detect_crisis
from benchmarks.text_baseline.language import UNDETERMINED, detect_language, detect_languages
from benchmarks.text_baseline.sentiment import score_sentiment

__all__ = [
    "LEVELS",
    "UNDETERMINED",
    "MessageAnalysis",
    "analyze_message",
    "analyze_messages",
    "text_check",
]


@dataclass(frozen=True)
class MessageAnalysis:
    """What ingest stores for one patient message."""

    language: str  # ISO 639-1 code, or "und" when undetermined
    sentiment: float | None  # VADER compound in [-1, 1]; None when unsupported
    sentiment_note: str | None  # why sentiment is missing, else None
    crisis_level: str  # "none" | "concern" | "crisis"
    matched: str | None  # the phrase, as written, that set crisis_level


def _analyze(text: str, language: str) -> MessageAnalysis:
    sentiment, note = score_sentiment(text, language)
    crisis = detect_crisis(text)
    return MessageAnalysis(language, sentiment, note, crisis.level, crisis.matched)


def analyze_message(text: str) -> MessageAnalysis:
    """Language, sentiment and crisis level of one message."""
    return _analyze(text, detect_language(text))


def analyze_messages(texts: Sequence[str]) -> list[MessageAnalysis]:
    """:func:`analyze_message` for many messages, using lingua's batch detection."""
    texts = list(texts)
    languages = detect_languages(texts)
    return [_analyze(text, lang) for text, lang in zip(texts, languages, strict=True)]


_CHECK_BATCH = 1000  # lines analysed at a time, so a large file streams in bounded memory


def _write_results(messages: list[str], out: TextIO) -> None:
    for result in analyze_messages(messages):
        record = {
            "language": result.language,
            "sentiment": result.sentiment,
            "crisis_level": result.crisis_level,
            "matched": result.matched,
        }
        out.write(json.dumps(record, ensure_ascii=False) + "\n")


def text_check(lines: Iterable[str], out: TextIO) -> int:
    """Analyse one message per non-blank line; write one JSON object per line to ``out``.

    Each object has exactly the keys ``language``, ``sentiment``, ``crisis_level`` and
    ``matched``, in input order. Returns the number of messages analysed.
    """
    count = 0
    pending: list[str] = []
    for line in lines:
        message = line.rstrip("\r\n")
        if not message.strip():
            continue
        pending.append(message)
        if len(pending) == _CHECK_BATCH:
            _write_results(pending, out)
            count += len(pending)
            pending = []
    if pending:
        _write_results(pending, out)
        count += len(pending)
    return count
