"""Offline language identification for patient messages, with a confidence.

Three steps, cheapest first:

1. **Script.** Hangul is Korean; Han is Chinese (unless kana says Japanese); Arabic
   script is read as Arabic and Cyrillic as Russian (the clinic languages using them).
2. **Marker words.** Each lexicon lists common words of its language (``[language]
   markers``). A Latin-script message whose words clearly belong to one language is
   identified without a model; this is the fast path for most chat messages and the only
   way Haitian Creole is recognised (lingua does not know it). Vietnamese letters
   (ơ, ư, đ, ă and stacked tone marks) count as strong markers.
3. **lingua** (offline: its n-gram models ship inside the wheel), restricted to the
   clinic's candidate languages, for whatever the markers leave unsure. lingua's
   confidence is the reported confidence; English and Spanish get a prior
   (``PRIMARY_PRIOR``) because lingua often confuses short Spanish with Portuguese or
   Italian and short English with Tagalog.

Text with fewer than ``MIN_LETTERS`` letters (``"ok"``, emoji, digits) has no language
(``None``). The caller decides what low confidence means (see :mod:`analytics.text`).
"""

from __future__ import annotations

import re
import threading
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING

from analytics.text.lexicon import load_lexicons
from analytics.text.normalise import canonical_base

if TYPE_CHECKING:
    from lingua import LanguageDetector

__all__ = [
    "CANDIDATE_LANGUAGES",
    "MIN_LETTERS",
    "LanguageGuess",
    "detect_language",
    "detect_languages",
]

MIN_LETTERS = 3
PRIMARY_LANGUAGES = ("en", "es")
PRIMARY_PRIOR = 3.0
LONG_TEXT = 120
MAX_CHARS = 1000

# ISO 639-1 codes lingua chooses among (all supported by lingua 2.x). German and Italian
# are here so that they are recognised, and reported as unsupported, not misread.
CANDIDATE_LANGUAGES = (
    "en", "es", "fr", "pt", "de", "it", "zh", "vi", "ar", "ru", "ko", "tl", "ja",
)  # fmt: skip


@dataclass(frozen=True)
class LanguageGuess:
    language: str | None  # ISO 639-1, or None when there is nothing to identify
    confidence: float  # 0-1
    method: str
    # How sure it is one of the languages the lexicons cover, whichever it is: lingua
    # often splits short Romance text between Spanish and Portuguese, both checked.
    supported: float = 0.0  # "script" | "markers" | "lingua" | "none"


_detectors: dict[bool, LanguageDetector] = {}
_lock = threading.Lock()


def _get_detector(long_text: bool = False) -> LanguageDetector:
    detector = _detectors.get(long_text)
    if detector is None:
        with _lock:
            detector = _detectors.get(long_text)
            if detector is None:
                # lazy: lingua loads its language models (seconds, ~100 MB) on first use
                from lingua import IsoCode639_1, LanguageDetectorBuilder

                codes = [getattr(IsoCode639_1, code.upper()) for code in CANDIDATE_LANGUAGES]
                builder = LanguageDetectorBuilder.from_iso_codes_639_1(*codes)
                if long_text:
                    builder = builder.with_low_accuracy_mode()
                detector = _detectors[long_text] = builder.build()
    return detector


_TOKEN = re.compile(r"[^\W\d_]+")
_VI_LETTERS = frozenset("ơưđăƠƯĐĂ")
_VI_STACKED = re.compile("[ạảấầẩẫậắằẳẵặẹẻẽếềểễệỉịọỏốồổỗộớờởỡợụủứừửữựỳỵỷỹ]")


@cache
def _markers() -> dict[str, frozenset[str]]:
    return {code: lex.markers for code, lex in load_lexicons().items() if lex.markers}


@cache
def _supported() -> frozenset[str]:
    return frozenset(load_lexicons())


def _script(text: str) -> tuple[str | None, int]:
    """The dominant non-Latin clinic script's language, and the letter count."""
    counts = {"latin": 0, "han": 0, "hangul": 0, "kana": 0, "arabic": 0, "cyrillic": 0}
    letters = 0
    for ch in text:
        if not ch.isalpha():
            continue
        letters += 1
        if ch.isascii():
            counts["latin"] += 1
            continue
        o = ord(ch)
        if 0xAC00 <= o <= 0xD7AF or 0x1100 <= o <= 0x11FF or 0x3130 <= o <= 0x318F:
            counts["hangul"] += 1
        elif 0x3040 <= o <= 0x30FF:
            counts["kana"] += 1
        elif 0x4E00 <= o <= 0x9FFF or 0x3400 <= o <= 0x4DBF:
            counts["han"] += 1
        elif 0x0600 <= o <= 0x06FF or 0x0750 <= o <= 0x077F:
            counts["arabic"] += 1
        elif 0x0400 <= o <= 0x04FF:
            counts["cyrillic"] += 1
        else:
            counts["latin"] += 1
    if not letters:
        return None, 0
    best = max(counts, key=lambda k: counts[k])
    if best == "latin" or counts[best] * 2 < letters:
        return None, letters
    if best in ("han", "kana"):
        return ("ja" if counts["kana"] else "zh"), letters
    return {"hangul": "ko", "arabic": "ar", "cyrillic": "ru"}[best], letters


def _by_markers(text: str, folded: str | None = None) -> LanguageGuess | None:
    tokens = _TOKEN.findall(canonical_base(text[:MAX_CHARS]) if folded is None else folded)
    if not tokens:
        return None
    scores = {code: sum(t in words for t in tokens) for code, words in _markers().items()}
    if any(ch in _VI_LETTERS for ch in text) or _VI_STACKED.search(text):
        scores["vi"] = scores.get("vi", 0) + 3
    ranked = sorted(scores.items(), key=lambda kv: kv[1], reverse=True)
    (best, b), (_, s) = ranked[0], ranked[1]
    if b < 2 or b < 2 * s or b * 4 < len(tokens):
        return None
    confidence = min(0.99, 0.55 + 0.45 * (b - s) / b * min(1.0, b / 4))
    return LanguageGuess(best, round(confidence, 3), "markers", round(confidence, 3))


def detect_language(text: str) -> LanguageGuess:
    """Language and confidence of ``text``."""
    return detect_languages([text])[0]


def detect_languages(
    texts: Sequence[str], *, normalised: Sequence[str] | None = None
) -> list[LanguageGuess]:
    """:func:`detect_language` for many texts, using lingua's batch API for the rest.

    ``normalised`` (the crisis normaliser's text, when the caller has it) saves folding
    the text again for the marker words.
    """
    out: list[LanguageGuess | None] = [None] * len(texts)
    pending: dict[bool, list[int]] = {False: [], True: []}
    for i, text in enumerate(texts):
        clipped = text[:MAX_CHARS]
        lang, letters = _script(clipped)
        if letters < MIN_LETTERS:
            out[i] = LanguageGuess(None, 0.0, "none")
        elif lang is not None:
            out[i] = LanguageGuess(lang, 0.95, "script", 0.95 if lang != "ja" else 0.0)
        else:
            guess = _by_markers(
                clipped, None if normalised is None else normalised[i][: MAX_CHARS * 2]
            )
            if guess is not None:
                out[i] = guess
            else:
                pending[len(clipped) >= LONG_TEXT].append(i)
    for long_text, indices in pending.items():
        if not indices:
            continue
        detector = _get_detector(long_text)
        batch = [texts[i][:MAX_CHARS] for i in indices]
        results = detector.compute_language_confidence_values_in_parallel(batch)
        for i, confidences in zip(indices, results, strict=True):
            out[i] = _pick(confidences)
    return [g if g is not None else LanguageGuess(None, 0.0, "none") for g in out]


def _pick(confidences: Sequence) -> LanguageGuess:
    """Best language after the primary-language prior; its lingua confidence."""
    best_code, best_score, best_value = None, 0.0, 0.0
    supported = 0.0
    for entry in confidences:
        code = entry.language.iso_code_639_1.name.lower()
        score = entry.value * (PRIMARY_PRIOR if code in PRIMARY_LANGUAGES else 1.0)
        if code in _supported():
            supported += entry.value
        if score > best_score:
            best_code, best_score, best_value = code, score, entry.value
    if best_code is None:
        return LanguageGuess(None, 0.0, "lingua")
    # The prior changes which language wins, not how sure lingua was of it.
    return LanguageGuess(
        best_code, round(min(1.0, best_value), 3), "lingua", round(min(1.0, supported), 3)
    )


def strip_accents(text: str) -> str:
    """For tests and tools: ``text`` without combining marks."""
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
