"""Patient chat message analysis, run at ingest: language, sentiment, crisis language.

The analyses are independent on purpose. Sentiment is not crisis detection (VADER scores
"I have the pills ready" as positive), and the crisis lexicons of every supported
language run whatever the language identifier said, so a misidentified or mixed-language
message still gets flagged.

``crisis_level`` is one of ``crisis``, ``concern``, ``none`` or ``unchecked``. A message
is ``unchecked`` (with a ``reason``) when nothing was found *and* the detector could not
read it: its language is not one of the supported ones, or was identified with low
confidence. Never a silent ``none``: an unchecked message goes to review too. A level a
rule found is never lowered because of the language.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TextIO

from analytics.text.crisis import (
    CATEGORY_LABELS,
    CONCERN,
    LEVELS,
    NONE,
    UNCHECKED,
    _engine,
    canonical,
    detect_crisis,
)
from analytics.text.language import MIN_LETTERS, LanguageGuess, detect_languages
from analytics.text.lexicon import LEXICON_LANGUAGES
from analytics.text.model import THRESHOLD, get_model
from analytics.text.sentiment import score_sentiment

__all__ = [
    "CATEGORY_LABELS",
    "LEVELS",
    "MIN_CONFIDENCE",
    "SUPPORTED_LANGUAGES",
    "MessageAnalysis",
    "analyze_message",
    "analyze_messages",
    "text_check",
]

SUPPORTED_LANGUAGES = frozenset(LEXICON_LANGUAGES)
# Below this language confidence a message with no finding is "unchecked".
MIN_CONFIDENCE = 0.5


@dataclass(frozen=True)
class MessageAnalysis:
    """What ingest stores for one patient message."""

    language: str | None  # ISO 639-1 code, or None when there is nothing to identify
    language_confidence: float  # 0-1
    sentiment: float | None  # VADER compound in [-1, 1]; None unless English
    sentiment_note: str | None  # why sentiment is missing, else None
    crisis_level: str  # "crisis" | "concern" | "none" | "unchecked"
    category: str | None  # C-SSRS category (see CATEGORY_LABELS), or None
    about_other: bool  # the words found are about someone else
    evidence: str | None  # the words that decided the level, as written
    reason: str | None  # why unchecked, else None

    @property
    def matched(self) -> str | None:
        """The name the warehouse column keeps (``crisis_matched``)."""
        return self.evidence


_SENTENCE = re.compile(r"[^.!?\n]+[.!?]*")


def _unchecked_reason(text: str, guess: LanguageGuess) -> str | None:
    if guess.language is None:
        letters = sum(ch.isalpha() for ch in text)
        if letters < MIN_LETTERS:
            return None  # nothing to read ("ok", digits); emoji were read as words
        return "language not identified"
    if guess.language not in SUPPORTED_LANGUAGES:
        return f"language '{guess.language}' not supported"
    if guess.supported < MIN_CONFIDENCE:
        return f"language '{guess.language}' identified with low confidence"
    return None


def _model_evidence(text: str, probability: float) -> str:
    """The sentence the model finds most like a flagged message, as written."""
    sentences = [s.strip() for s in _SENTENCE.findall(text) if s.strip()] or [text.strip()]
    if len(sentences) > 1:
        scores = get_model().probabilities([canonical(s) for s in sentences])
        best = sentences[max(range(len(sentences)), key=scores.__getitem__)]
    else:
        best = sentences[0]
    return f"learned model, not a rule (p={probability:.2f}): {best[:200]}"


def analyze_messages(texts: Iterable[str]) -> list[MessageAnalysis]:
    """Language, sentiment and crisis level of each message, in order."""
    texts = list(texts)
    norms = [canonical(t) for t in texts]
    guesses = detect_languages(texts, normalised=norms)
    crisis = [detect_crisis(t, normalised=n) for t, n in zip(texts, norms, strict=True)]
    # The model looks only where the rules found nothing, the language is readable and
    # the message has a word worth a second look.
    worth = _engine().worth_a_second_look
    ask = [
        i
        for i, (t, g, c) in enumerate(zip(texts, guesses, crisis, strict=True))
        if c.level == NONE
        and not c.about_other
        and _unchecked_reason(t, g) is None
        and worth(norms[i])
    ]
    probabilities = dict(zip(ask, get_model().probabilities([norms[i] for i in ask]), strict=True))
    out = []
    for i, (text, guess, found) in enumerate(zip(texts, guesses, crisis, strict=True)):
        language = guess.language
        sentiment, note = score_sentiment(text, language)
        level, category, evidence, reason = found.level, found.category, found.evidence, None
        if level == NONE and not found.about_other:
            reason = _unchecked_reason(text, guess)
            if reason is not None:
                level, category = UNCHECKED, None
            elif probabilities.get(i, 0.0) >= THRESHOLD:
                level, category = CONCERN, "model"
                evidence = _model_evidence(text, probabilities[i])
        out.append(
            MessageAnalysis(
                language=language,
                language_confidence=float(guess.confidence),
                sentiment=sentiment,
                sentiment_note=note,
                crisis_level=level,
                category=category,
                about_other=found.about_other,
                evidence=evidence,
                reason=reason,
            )
        )
    return out


def analyze_message(text: str) -> MessageAnalysis:
    """:func:`analyze_messages` for one message."""
    return analyze_messages([text])[0]


_CHECK_BATCH = 1000  # lines analysed at a time, so a large file streams in bounded memory


def to_record(result: MessageAnalysis) -> dict:
    """The ``caseload text-check`` JSON object of one analysis."""
    record = {
        "language": result.language,
        "language_confidence": result.language_confidence,
        "sentiment": result.sentiment,
        "crisis_level": result.crisis_level,
        "category": result.category,
        "about_other": result.about_other,
        "evidence": result.evidence,
    }
    if result.crisis_level == UNCHECKED:
        record["reason"] = result.reason
    return record


def _write_results(messages: list[str], out: TextIO) -> None:
    for result in analyze_messages(messages):
        out.write(json.dumps(to_record(result), ensure_ascii=False) + "\n")


def text_check(lines: Iterable[str], out: TextIO) -> int:
    """Analyse one message per non-blank line; write one JSON object per line to ``out``.

    Each object has ``language``, ``language_confidence``, ``sentiment``,
    ``crisis_level``, ``category``, ``about_other``, ``evidence``, and ``reason`` when
    the level is ``unchecked``, in input order. Returns the number of messages analysed.
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
