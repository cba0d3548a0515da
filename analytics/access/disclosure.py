"""Free-text categories (gender, language, insurance, ...) as groups.

The contract keeps categories as written, trimmed. Where they are grouped (audits,
exports), spellings that differ only in case or surrounding spaces are one group, named
by their most common spelling (ties: the alphabetically first).
"""

from __future__ import annotations

import polars as pl


def fold_spellings(values: pl.Series) -> pl.Series:
    """Each value replaced by the most common spelling of its case-folded form; nulls stay."""
    clean = values.cast(pl.String).str.strip_chars()
    counts: dict[str, dict[str, int]] = {}
    for value, n in clean.drop_nulls().value_counts().iter_rows():
        counts.setdefault(value.casefold(), {})[value] = n
    name = {
        fold: min(spellings, key=lambda s: (-spellings[s], s)) for fold, spellings in counts.items()
    }
    return clean.map_elements(lambda v: name[v.casefold()], return_dtype=pl.String).alias(
        values.name
    )
