"""The per-language lexicons under ``analytics/text/lexicons/``, loaded and compiled.

Each ``<code>.toml`` file is reviewable data, not code: a clinician can read a diff of
words. A file has

* ``[meta]``: ``language`` (ISO 639-1), ``name``, ``confidence`` ("tuned" for lexicons
  tuned on the project's corpus, "draft" for the others) and a header comment on sources;
* ``[language]``: ``markers``, common words that identify the language quickly (and the
  only way Haitian Creole is identified: lingua does not know it); ``word_boundaries``
  (false for scripts written without spaces between words);
* ``[normalise]``: token replacements (slang, misspellings, emoji) applied before matching;
* ``[fragments]``: named pieces that patterns insert as ``<name>``;
* ``[signals]``: named lists of patterns the detector combines (idioms, negation, ...);
  lists with the same name in several files are merged;
* ``[compose]``: word lists for compositional matching within a sentence;
* ``[[rule]]``: ``name``, ``level`` (crisis, concern, or other = about someone else),
  ``category`` and ``patterns`` (regular expressions) and/or ``phrases`` (plain words;
  a trailing ``*`` allows any ending).

Everything is matched against normalised text (see :mod:`analytics.text.normalise`).
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from functools import cache
from importlib import resources

from analytics.text.normalise import canonical_base

__all__ = ["LEXICON_LANGUAGES", "Lexicon", "LexiconRule", "load_lexicons"]

# The order is the order rules are tried in; English and Spanish first (the tuned ones).
LEXICON_LANGUAGES = ("en", "es", "zh", "vi", "tl", "ar", "fr", "ht", "pt", "ko", "ru")

_FRAGMENT = re.compile(r"<([a-z_]+)>")


@dataclass(frozen=True)
class LexiconRule:
    name: str
    level: str  # "crisis" | "concern" | "other"
    category: str
    pattern: str  # one regular expression (alternatives joined)
    bounded: bool  # whether the language writes spaces between words
    language: str = ""


@dataclass(frozen=True)
class Lexicon:
    language: str
    name: str
    confidence: str
    markers: frozenset[str]
    word_boundaries: bool
    replacements: dict[str, str] = field(default_factory=dict)
    signals: dict[str, list[str]] = field(default_factory=dict)
    compose: dict[str, list[str]] = field(default_factory=dict)
    rules: tuple[LexiconRule, ...] = ()
    screen: tuple[str, ...] = ()  # word starts that make a message worth the model's look
    # First four letters of one word of every phrase: a message with none of them
    # cannot match this lexicon's phrases, so they are skipped (None: always run).
    gate: frozenset[str] | None = None


def _expand(pattern: str, fragments: dict[str, str]) -> str:
    for _ in range(5):  # fragments may use fragments
        new = _FRAGMENT.sub(lambda m: fragments.get(m.group(1), m.group(0)), pattern)
        if new == pattern:
            break
        pattern = new
    return pattern


def phrase_pattern(phrase: str, *, bounded: bool) -> str:
    """A regular expression for one plain phrase of a lexicon."""
    prefix = phrase.endswith("*")
    text = canonical_base(phrase.rstrip("*")).strip()
    body = r"\s?".join(re.escape(part) for part in text.split(" ")) if bounded else re.escape(text)
    if not bounded:
        return body
    return rf"(?<!\w){body}" + ("" if prefix else r"(?!\w)")


def _read(code: str) -> dict:
    raw = resources.files("analytics.text").joinpath("lexicons", f"{code}.toml").read_bytes()
    return tomllib.loads(raw.decode("utf-8"))


def _load(code: str, shared: dict[str, str]) -> Lexicon:
    data = _read(code)
    meta = data["meta"]
    lang = data.get("language", {})
    bounded = bool(lang.get("word_boundaries", True))
    # Fragments of every file are shared: a Spanish rule may use the English <meds>.
    fragments = shared | dict(data.get("fragments", {}))
    rules = []
    markers = frozenset(canonical_base(w).strip() for w in lang.get("markers", []))
    gate: set[str] | None = set()
    for entry in data.get("rule", []):
        if entry.get("patterns") or not bounded:
            gate = None
        for phrase in entry.get("phrases", []):
            words = canonical_base(phrase.rstrip("*")).split()
            if gate is not None and words:
                # The longest uncommon word: short ones may be written joined ("jai").
                uncommon = [w for w in words if w not in markers and len(w) >= 3]
                key = max(uncommon or words, key=len)
                gate.add(key[:4])
        alternatives = [_expand(p, fragments) for p in entry.get("patterns", [])]
        alternatives += [phrase_pattern(p, bounded=bounded) for p in entry.get("phrases", [])]
        if not alternatives:
            continue
        rules.append(
            LexiconRule(
                name=entry["name"],
                level=entry["level"],
                category=entry["category"],
                pattern="|".join(f"(?:{a})" for a in alternatives),
                bounded=bounded,
                language=meta["language"],
            )
        )
    signals = {
        name: [_expand(p, fragments) for p in patterns]
        for name, patterns in data.get("signals", {}).items()
    }
    for name, phrases in data.get("signal_phrases", {}).items():
        signals.setdefault(name, []).extend(phrase_pattern(p, bounded=bounded) for p in phrases)
    return Lexicon(
        language=meta["language"],
        name=meta["name"],
        confidence=meta.get("confidence", "draft"),
        markers=markers,
        word_boundaries=bounded,
        replacements=dict(data.get("normalise", {})),
        signals=signals,
        compose={k: list(v) for k, v in data.get("compose", {}).items()},
        rules=tuple(rules),
        gate=None if gate is None else frozenset(gate),
        screen=tuple(canonical_base(w).strip() for w in data.get("screen", {}).get("stems", [])),
    )


@cache
def load_lexicons() -> dict[str, Lexicon]:
    """Every shipped lexicon, by language code."""
    shared: dict[str, str] = {}
    for code in LEXICON_LANGUAGES:
        shared.update(_read(code).get("fragments", {}))
    return {code: _load(code, shared) for code in LEXICON_LANGUAGES}
