"""Age bands: one table, read by a polars expression and by a SQL fragment.

The bands are the adult bands of US population health surveys (BRFSS, NSDUH report
adults as 18-24, 25-34, ..., 65+), with an "Under 18" band in front:

- 18-24 is its own band because it is clinically its own group (the peak age of onset of
  most mental disorders, transition-age youth), and the surveys a researcher compares
  this clinic with use the same cut-points;
- 65+ holds every older adult together, which also meets HIPAA Safe Harbor's rule that
  ages over 89 are aggregated (a "90+" band is not needed, and no band is so narrow at
  the top that it singles out the oldest patients);
- "Under 18" keeps minors apart from adults (other consent rules, other services)
  instead of losing them in "Unknown", which is for a missing or impossible birth year.

Age is whole years on the as-of date of the data it describes: a feature or prediction
row's ``as_of``, a patient table's snapshot date (the data's last day). Only the birth
year is stored, so age is the as-of year minus the birth year. One reference date means
that a patient has the same band in every view of the same data (cohort, export, audit
at the latest date), so two views cannot be intersected to narrow a birth year.
"""

from __future__ import annotations

import polars as pl

UNKNOWN_AGE = "Unknown"
# (label, lowest age, highest age); None: open-ended. Contiguous, in order: the polars
# expression and the SQL fragment below both read each band's upper bound only.
AGE_BANDS: tuple[tuple[str, int | None, int | None], ...] = (
    ("Under 18", None, 17),
    ("18-24", 18, 24),
    ("25-34", 25, 34),
    ("35-44", 35, 44),
    ("45-54", 45, 54),
    ("55-64", 55, 64),
    ("65+", 65, None),
)
AGE_BAND_LABELS: tuple[str, ...] = tuple(label for label, _, _ in AGE_BANDS) + (UNKNOWN_AGE,)


def age_band(birth_year: pl.Expr, *, as_of_year: int | pl.Expr) -> pl.Expr:
    """The age band (a label of :data:`AGE_BANDS`) of ``birth_year`` in ``as_of_year``.

    A missing birth year, and one after the as-of year (a data error: the person is not
    born yet), give ``"Unknown"``.
    """
    ref = as_of_year if isinstance(as_of_year, pl.Expr) else pl.lit(as_of_year)
    age = ref - birth_year
    expr = pl.when(birth_year.is_null() | ref.is_null() | (age < 0)).then(pl.lit(UNKNOWN_AGE))
    for label, _, high in AGE_BANDS[:-1]:
        expr = expr.when(age <= high).then(pl.lit(label))
    return expr.otherwise(pl.lit(AGE_BANDS[-1][0]))


def age_band_sql(birth_year: str, as_of_year: str) -> str:
    """The same bands as :func:`age_band`, as a SQL ``CASE`` expression (DuckDB) over the
    SQL expressions ``birth_year`` and ``as_of_year`` (both whole years)."""
    age = f"(({as_of_year}) - ({birth_year}))"
    whens = " ".join(
        f"WHEN {age} <= {high} THEN {_quote(label)}" for label, _, high in AGE_BANDS[:-1]
    )
    return (
        f"CASE WHEN ({birth_year}) IS NULL OR ({as_of_year}) IS NULL OR {age} < 0 "
        f"THEN {_quote(UNKNOWN_AGE)} {whens} ELSE {_quote(AGE_BANDS[-1][0])} END"
    )


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
