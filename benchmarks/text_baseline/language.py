"""Offline language identification for patient messages.

Lingua ships its n-gram models inside the wheel, so nothing is fetched at run time. The
detector is restricted to languages a clinic commonly sees: a small candidate set is both
faster and more accurate on short chat messages than the full 75-language model.

Policy for short or ambiguous text:

* fewer than ``MIN_LETTERS`` letters (``"ok"``, ``"no"``, ``"si"``, emoji, digits) -> ``"und"``;
  such strings are shared by several languages and guessing would be noise.
* otherwise lingua's confidence for English and Spanish is multiplied by ``PRIMARY_PRIOR``
  before taking the best language. These are the clinic's primary languages, and lingua
  often confuses short Spanish with Portuguese or Italian ("no tengo futuro") and short
  English with Tagalog ("feeling meh but ok"); a prior reflects who actually writes to us.
  A confident other-language detection (e.g. a full French sentence) still wins.

Speed: lingua's high-accuracy mode costs about 0.25 ms per short message and most of
the ingest budget. Lingua documents its low-accuracy mode as "mostly unaffected" from
``LONG_TEXT`` (120) characters up, and on our corpus it was 99.8% right there, so long
messages use it. Only the first ``MAX_CHARS`` characters are read: a message's language
is settled well before that, and the cost stays bounded for 10,000-character messages.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lingua import ConfidenceValue, LanguageDetector

UNDETERMINED = "und"
MIN_LETTERS = 3
PRIMARY_LANGUAGES = ("en", "es")
PRIMARY_PRIOR = 3.0
LONG_TEXT = 120
MAX_CHARS = 1000

# ISO 639-1 codes of the candidate languages; every one is supported by lingua 2.x.
CANDIDATE_LANGUAGES = (
    "en",  # English
    "es",  # Spanish
    "fr",  # French
    "pt",  # Portuguese
    "de",  # German
    "it",  # Italian
    "zh",  # Chinese
    "vi",  # Vietnamese
    "ar",  # Arabic
    "ru",  # Russian
    "ko",  # Korean
    "tl",  # Tagalog
)

_detectors: dict[bool, LanguageDetector] = {}
_lock = threading.Lock()


def _get_detector(long_text: bool = False) -> LanguageDetector:
    """The lingua detector for short (high accuracy) or long (low accuracy) texts."""
    detector = _detectors.get(long_text)
    if detector is None:
        with _lock:
            detector = _detectors.get(long_text)
            if detector is None:
                from lingua import IsoCode639_1, LanguageDetectorBuilder

                codes = [getattr(IsoCode639_1, code.upper()) for code in CANDIDATE_LANGUAGES]
                builder = LanguageDetectorBuilder.from_iso_codes_639_1(*codes)
                if long_text:
                    builder = builder.with_low_accuracy_mode()
                detector = _detectors[long_text] = builder.build()
    return detector


def _letter_count(text: str) -> int:
    return sum(1 for ch in text if ch.isalpha())


def _pick(confidences: Sequence[ConfidenceValue]) -> str:
    """Best language after applying the primary-language prior, or ``und``."""
    best_code = UNDETERMINED
    best_score = 0.0
    for entry in confidences:
        code = entry.language.iso_code_639_1.name.lower()
        score = entry.value
        if code in PRIMARY_LANGUAGES:
            score *= PRIMARY_PRIOR
        if score > best_score:
            best_code, best_score = code, score
    return best_code


def detect_language(text: str) -> str:
    """ISO 639-1 code of ``text`` (e.g. ``"en"``), or ``"und"`` when undetermined."""
    return detect_languages([text])[0]


def detect_languages(texts: Sequence[str]) -> list[str]:
    """ISO 639-1 codes (or ``"und"``) of many texts, using lingua's batch API."""
    out = [UNDETERMINED] * len(texts)
    groups: dict[bool, list[int]] = {False: [], True: []}
    clipped = [text[:MAX_CHARS] for text in texts]
    for i, text in enumerate(clipped):
        if _letter_count(text) >= MIN_LETTERS:
            groups[len(text) >= LONG_TEXT].append(i)
    for long_text, indices in groups.items():
        if not indices:
            continue
        detector = _get_detector(long_text)
        batch = [clipped[i] for i in indices]
        results = detector.compute_language_confidence_values_in_parallel(batch)
        for i, confidences in zip(indices, results, strict=True):
            out[i] = _pick(confidences)
    return out
