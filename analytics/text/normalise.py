"""Text normalisation before crisis-language matching, with a map back to the original.

Rules and lexicons are written against one canonical spelling, so everything a patient
may type differently is folded first: case, accents, apostrophes ("im", "dont"),
elongations ("soooo" -> "so", while real doubles such as "kill" stay), leetspeak inside
words ("k1ll" -> "kill"), emoji used for a means ("💊" -> "pills"), and the slang and
misspellings listed in each lexicon's ``[normalise]`` table ("kms" -> "kill myself").

Two entry points must agree exactly on the text (a property test checks it):

* :func:`normalise` keeps, per normalised character, the span of the original it came
  from, so evidence is quoted exactly as written. It is a character loop, so it is only
  run for messages that matched something.
* :func:`canonical` returns the same text through ``str`` methods and one regex pass, for
  the fast path every message takes.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping

__all__ = ["APOSTROPHES", "Normaliser", "canonical_base", "normalise_base"]

APOSTROPHES = "'\u2019\u2018\u02bc\u00b4`\u2032"
_STRIP_APOSTROPHES = str.maketrans("", "", APOSTROPHES)
_SPACES = re.compile(r"\s+")
_TOKENS = re.compile(r"[a-z0-9]+")
_ELONGATED = re.compile(r"([a-z])\1\1+")
# Digits read as letters, only inside tokens that are mostly letters ("k1ll", "su1c1de").
# ("@" is left alone: in chat it is a mention far more often than an "a".)
_LEET = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t"})
_LEET_TOKEN = re.compile(r"(?<!\w)(?=\w*[a-z])(?=\w*[0-9])[a-z0-9]{3,}(?!\w)")
# Units and ordinals stay as they are ("20mg", "3rd", "10pm").
_NOT_LEET = re.compile(r"\d+(?:mg|ml|mcg|g|kg|lbs?|min|mins|h|hr|hrs|am|pm|st|nd|rd|th|x|k|s|yo)")


# Letters that Unicode does not decompose but people type without the mark anyway.
_UNDECOMPOSED = str.maketrans(
    {"đ": "d", "Đ": "d", "ð": "d", "ø": "o", "Ø": "o", "ł": "l", "Ł": "l"}
)


def _fold_char(ch: str) -> str:
    if ch.isascii():
        return ch.lower()
    # Lower-case first so that e.g. U+0130 decomposes to a plain "i"; compatibility forms
    # can decompose to capitals ("𝐀" is a bold "A"), hence the second lower().
    decomposed = unicodedata.normalize("NFKD", ch.lower())
    folded = "".join(c for c in decomposed if not unicodedata.combining(c)).lower()
    return folded.translate(_UNDECOMPOSED)


def normalise_base(text: str) -> tuple[str, list[int], list[int]]:
    """Folded text and, per folded character, its start and end in ``text``."""
    chars: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    run_char = ""
    run_len = 0
    for i, ch in enumerate(text):
        if ch in APOSTROPHES:
            continue
        if ch.isspace():
            if chars and chars[-1] == " ":
                ends[-1] = i + 1
                continue
            pieces = " "
        else:
            pieces = _fold_char(ch)
        for piece in pieces:
            if piece.isspace():
                if chars and chars[-1] == " ":
                    ends[-1] = i + 1
                    continue
                piece = " "
            if piece == run_char and piece.isalpha():
                run_len += 1
            else:
                run_char, run_len = piece, 1
            # Elongation ("dieeee") becomes one letter; a real double ("kill") is kept, so
            # a third repeat removes the second one again.
            if run_len == 3:
                chars.pop()
                starts.pop()
                ends.pop()
                ends[-1] = i + 1
                continue
            if run_len > 3:
                ends[-1] = i + 1
                continue
            chars.append(piece)
            starts.append(i)
            ends.append(i + 1)
    return "".join(chars), starts, ends


def canonical_base(text: str) -> str:
    """``normalise_base(text)[0]``, fast for plain ASCII text."""
    if not text.isascii():
        return normalise_base(text)[0]
    folded = _SPACES.sub(" ", text.translate(_STRIP_APOSTROPHES).lower())
    return _ELONGATED.sub(r"\1", folded)


class Normaliser:
    """Folding plus the token replacements (slang, misspellings, emoji) of the lexicons."""

    def __init__(self, replacements: Mapping[str, str]) -> None:
        # Keys are folded like any text so that a lexicon may spell them naturally.
        table: dict[str, str] = {}
        for key, value in replacements.items():
            folded_key = canonical_base(key).strip()
            folded_value = canonical_base(value).strip()
            if not folded_key:
                continue
            if not folded_key[0].isalnum():
                # Emoji and symbols stand for a word: keep it apart from its neighbours.
                folded_value = f" {folded_value} "
            if folded_key and folded_key != folded_value:
                table[folded_key] = folded_value
        self._table = table
        # Single words are looked up token by token (a set test first, so a message with
        # none of them costs one findall); phrases and symbols go through one regex.
        self._words = frozenset(k for k in table if re.fullmatch(r"[a-z0-9]+", k))
        phrases = sorted((k for k in table if k not in self._words), key=len, reverse=True)
        parts = []
        for w in phrases:
            escaped = re.escape(w)
            left = r"\b" if w[0].isalnum() else ""
            right = r"\b" if w[-1].isalnum() else ""
            parts.append(f"{left}{escaped}{right}")
        words = sorted(self._words, key=len, reverse=True)
        if words:
            parts.append(r"\b(?:" + "|".join(re.escape(w) for w in words) + r")\b")
        self._pattern = re.compile("|".join(parts)) if parts else None
        self._phrase_starts = frozenset(p.split(" ")[0] for p in phrases if p[0].isalnum())
        self._symbols = frozenset(p for p in phrases if not p[0].isalnum())

    def _may_replace(self, folded: str) -> bool:
        tokens = set(_TOKENS.findall(folded))
        if tokens & self._words or tokens & self._phrase_starts:
            return True
        return not folded.isascii() and any(sym in folded for sym in self._symbols)

    def _replace(self, match: re.Match[str]) -> str:
        return self._table[match.group()]

    @staticmethod
    def _leet(match: re.Match[str]) -> str:
        token = match.group()
        if _NOT_LEET.fullmatch(token) or sum(c.isdigit() for c in token) * 2 > len(token):
            return token
        # Collapse again: "a4a" reads "aaa", an elongation.
        return _ELONGATED.sub(r"\1", token.translate(_LEET))

    def canonical(self, text: str) -> str:
        """The normalised text alone (the fast path)."""
        folded = canonical_base(text)
        if any(c.isdigit() for c in folded):
            folded = _LEET_TOKEN.sub(self._leet, folded)
        if self._pattern is not None and self._may_replace(folded):
            folded = self._pattern.sub(self._replace, folded)
        if "  " in folded:
            folded = _SPACES.sub(" ", folded)
        return folded

    def normalise(self, text: str) -> tuple[str, list[int], list[int]]:
        """Normalised text and, per character, its start and end in ``text``."""
        folded, starts, ends = normalise_base(text)
        if any(c.isdigit() for c in folded):
            folded, starts, ends = _rewrite(folded, starts, ends, _LEET_TOKEN, self._leet)
        if self._pattern is not None:
            folded, starts, ends = _rewrite(folded, starts, ends, self._pattern, self._replace)
        if "  " not in folded:
            return folded, starts, ends
        # Squeeze spaces a replacement may have doubled, as canonical() does.
        out_c: list[str] = []
        out_s: list[int] = []
        out_e: list[int] = []
        for ch, s, e in zip(folded, starts, ends, strict=True):
            if ch == " " and out_c and out_c[-1] == " ":
                out_e[-1] = max(out_e[-1], e)
                continue
            out_c.append(ch)
            out_s.append(s)
            out_e.append(e)
        return "".join(out_c), out_s, out_e


def _rewrite(
    text: str,
    starts: list[int],
    ends: list[int],
    pattern: re.Pattern[str],
    fn: Callable[[re.Match[str]], str],
) -> tuple[str, list[int], list[int]]:
    """``pattern.sub(fn, text)``, each replacement character mapped to the whole match."""
    chars: list[str] = []
    new_starts: list[int] = []
    new_ends: list[int] = []
    last = 0
    for m in pattern.finditer(text):
        replacement = fn(m)
        chars.extend(text[last : m.start()])
        new_starts.extend(starts[last : m.start()])
        new_ends.extend(ends[last : m.start()])
        if replacement == m.group():
            chars.extend(replacement)
            new_starts.extend(starts[m.start() : m.end()])
            new_ends.extend(ends[m.start() : m.end()])
        else:
            span_start, span_end = starts[m.start()], ends[m.end() - 1]
            chars.extend(replacement)
            new_starts.extend([span_start] * len(replacement))
            new_ends.extend([span_end] * len(replacement))
        last = m.end()
    chars.extend(text[last:])
    new_starts.extend(starts[last:])
    new_ends.extend(ends[last:])
    return "".join(chars), new_starts, new_ends
