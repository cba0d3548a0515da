"""Demographic categories as groups: which attributes, and which spellings are one group.

The contract keeps categories as written (trimmed). Where they are grouped (audits, model
cards, the cohort, exports), two values are one group when they differ only in case,
accents-as-typed (Unicode form) or spacing; the group is named by its most common
spelling (ties: the alphabetically first), so folding never invents a name. Languages
are folded further through a small table (:data:`LANGUAGES`): a BCP 47 tag ("en-US"), its
primary code ("EN") and the language's English or own name ("Español") are one language,
named in English. A value outside the table keeps its folded spelling.
"""

from __future__ import annotations

import re
import unicodedata

import polars as pl

# The attributes every audience groups patients by: the model cards, the fairness audit
# and the research export (which adds the site). Demographics only, never model inputs.
ATTRIBUTES: tuple[str, ...] = (
    "gender",
    "race_ethnicity",
    "primary_language",
    "insurance",
    "rurality",
    "age_band",
)

# Language (named in English) -> other ways a clinic records it: ISO 639-1 code (a BCP 47
# tag such as "es-MX" or "zh-Hant" is read by its first part), English name, own name.
# Accents and case do not matter ("espanol" matches "Español"). The languages are the ones
# the message analysis supports (analytics/text/lexicons). Mandarin and Cantonese are left
# as written: they are different spoken languages for interpreting, which "Chinese" is not.
LANGUAGES: dict[str, tuple[str, ...]] = {
    "Arabic": ("ar", "arabic", "العربية"),
    "Chinese": ("zh", "chinese", "中文"),
    "English": ("en", "english"),
    "French": ("fr", "french", "français"),
    "Haitian Creole": ("ht", "haitian creole", "haitian", "kreyòl", "kreyòl ayisyen"),
    "Korean": ("ko", "korean", "한국어"),
    "Portuguese": ("pt", "portuguese", "português"),
    "Russian": ("ru", "russian", "русский"),
    "Spanish": ("es", "spanish", "español", "castellano"),
    "Tagalog": ("tl", "tagalog"),
    "Vietnamese": ("vi", "vietnamese", "tiếng việt"),
}
LANGUAGE_ATTRIBUTE = "primary_language"

_SPACES = re.compile(r"\s+")
_TAG = re.compile(r"^([a-z]{2,3})(?:[-_][a-z0-9]{1,8})+$")


def _clean(value: str) -> str:
    """Trimmed, one space between words, composed Unicode (the spelling that is shown)."""
    return _SPACES.sub(" ", unicodedata.normalize("NFC", value)).strip()


def _key(value: str) -> str:
    """What two spellings of one group share: no case, no accents, single spaces."""
    decomposed = unicodedata.normalize("NFKD", _clean(value))
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


_LANGUAGE_BY_KEY = {
    _key(alias): name for name, aliases in LANGUAGES.items() for alias in (name, *aliases)
}


def language_name(value: str) -> str | None:
    """The English name of a recorded language (``"en-US"`` -> ``"English"``), or None when
    it is not in :data:`LANGUAGES`."""
    key = _key(value)
    tag = _TAG.match(key)
    return _LANGUAGE_BY_KEY.get(key) or (_LANGUAGE_BY_KEY.get(tag.group(1)) if tag else None)


def fold_spellings(values: pl.Series) -> pl.Series:
    """Each value replaced by the most common spelling of its folded form; nulls stay."""
    raw = values.cast(pl.String)
    # Work on the distinct values (a column of an audit has a handful among many rows).
    counts: dict[str, dict[str, int]] = {}  # key -> shown spelling -> rows
    for value, n in raw.drop_nulls().value_counts().iter_rows():
        spellings = counts.setdefault(_key(value), {})
        spellings[_clean(value)] = spellings.get(_clean(value), 0) + n
    commonest = {
        key: min(spellings, key=lambda s: (-spellings[s], s)) for key, spellings in counts.items()
    }
    mapping = {v: commonest[_key(v)] for v in raw.drop_nulls().unique().to_list()}
    return raw.replace_strict(mapping, default=None, return_dtype=pl.String).alias(values.name)


def fold_language(values: pl.Series) -> pl.Series:
    """Languages in :data:`LANGUAGES` by their English name; the rest by spelling."""
    clean = values.cast(pl.String)
    named = {v: language_name(v) for v in clean.drop_nulls().unique().to_list()}
    mapped = clean.replace_strict(
        {v: name or v for v, name in named.items()}, default=None, return_dtype=pl.String
    )
    return fold_spellings(mapped).alias(values.name)


def fold_category(values: pl.Series, attribute: str) -> pl.Series:
    """The grouping of one attribute's values (languages by name, others by spelling)."""
    return fold_language(values) if attribute == LANGUAGE_ATTRIBUTE else fold_spellings(values)
