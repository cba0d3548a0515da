"""What may be shown of a group of patients, in one place for every audience.

- **Age bands** (:mod:`._ages`): one table (:data:`AGE_BANDS`: Under 18, 18-24, 25-34,
  35-44, 45-54, 55-64, 65+, and Unknown), as a polars expression (:func:`age_band`) and
  as the SQL fragment training uses (:func:`age_band_sql`), both read from the table;
  age on the as-of date of the data.
- **Attributes** (:data:`ATTRIBUTES`): the demographics that model cards, bias audits and
  exports group by.
- **Category folding** (:func:`fold_category`): spelling variants are one group; language
  codes and names are one language (:data:`LANGUAGES`).
- **Pooling** (:func:`pool_rare`, :func:`k_anonymise`): rare values of a row-level file
  become :data:`OTHER`.
- **Small-cell suppression** (:mod:`._cells`): the one primary rule (:func:`primary`,
  :func:`discloses`) and complementary suppression, for tables of groups over rows
  (:func:`suppress_table`: bias audits, model cards, export aggregates) and for frames of
  counts (:func:`suppress_small`, :func:`disclose`: the manager's overview).
"""

from analytics.access.disclosure._ages import (
    AGE_BAND_LABELS,
    AGE_BANDS,
    UNKNOWN_AGE,
    age_band,
    age_band_sql,
)
from analytics.access.disclosure._categories import (
    ATTRIBUTES,
    LANGUAGES,
    fold_category,
    fold_language,
    fold_spellings,
    language_name,
)
from analytics.access.disclosure._cells import (
    Counts,
    complementary,
    complementary_note,
    counts,
    disclose,
    discloses,
    outcome_note,
    passes,
    primary,
    size_note,
    suppress_small,
    suppress_table,
)
from analytics.access.disclosure._pooling import OTHER, k_anonymise, pool_rare

__all__ = [
    "AGE_BANDS",
    "AGE_BAND_LABELS",
    "ATTRIBUTES",
    "LANGUAGES",
    "OTHER",
    "UNKNOWN_AGE",
    "Counts",
    "age_band",
    "age_band_sql",
    "complementary",
    "complementary_note",
    "counts",
    "disclose",
    "discloses",
    "fold_category",
    "fold_language",
    "fold_spellings",
    "k_anonymise",
    "language_name",
    "outcome_note",
    "passes",
    "pool_rare",
    "primary",
    "size_note",
    "suppress_small",
    "suppress_table",
]
