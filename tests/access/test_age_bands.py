"""The one age-band table: known answers, and the polars expression and the SQL fragment
(which training runs in DuckDB) agree on every age."""

from __future__ import annotations

import duckdb
import polars as pl
import pytest

from analytics.access.disclosure import (
    AGE_BAND_LABELS,
    AGE_BANDS,
    UNKNOWN_AGE,
    age_band,
    age_band_sql,
)

AS_OF = 2026  # a fixed as-of year: nothing here reads the clock

# age -> band; the boundaries of the table, and HIPAA's 89/90 line (one band above 64)
KNOWN = {
    0: "Under 18",
    17: "Under 18",
    18: "18-24",
    24: "18-24",
    25: "25-34",
    34: "25-34",
    35: "35-44",
    54: "45-54",
    55: "55-64",
    64: "55-64",
    65: "65+",
    89: "65+",
    90: "65+",
    120: "65+",
}


def _polars(birth_years: list[int | None], as_of: int | list[int | None] = AS_OF) -> list[str]:
    frame = pl.DataFrame(
        {
            "birth_year": pl.Series(birth_years, dtype=pl.Int64),
            "as_of": pl.Series(
                as_of if isinstance(as_of, list) else [as_of] * len(birth_years), dtype=pl.Int64
            ),
        }
    )
    return frame.select(age_band(pl.col("birth_year"), as_of_year=pl.col("as_of")))[:, 0].to_list()


def _sql(birth_years: list[int | None], as_of: int | list[int | None] = AS_OF) -> list[str]:
    years = as_of if isinstance(as_of, list) else [as_of] * len(birth_years)
    rows = list(zip(range(len(birth_years)), birth_years, years, strict=True))
    con = duckdb.connect()
    try:
        con.execute("CREATE TABLE p (i INTEGER, birth_year INTEGER, as_of DATE)")
        con.executemany(
            "INSERT INTO p VALUES (?, ?, CASE WHEN ? IS NULL THEN NULL "
            "ELSE make_date(CAST(? AS INTEGER), 6, 30) END)",
            [(i, b, y, y) for i, b, y in rows],
        )
        # As training calls it: the birth year against the year of a row's as-of date.
        sql = age_band_sql("birth_year", "year(as_of)")
        return [r[0] for r in con.execute(f"SELECT {sql} FROM p ORDER BY i").fetchall()]
    finally:
        con.close()


@pytest.mark.parametrize("band", [_polars, _sql], ids=["polars", "sql"])
def test_known_answers(band):
    ages = list(KNOWN)
    assert band([AS_OF - a for a in ages]) == [KNOWN[a] for a in ages]


@pytest.mark.parametrize("band", [_polars, _sql], ids=["polars", "sql"])
def test_missing_and_impossible_birth_years_are_unknown(band):
    # missing; born the year after the as-of year (a data error); a missing as-of date
    assert band([None, AS_OF + 1, 1980], [AS_OF, AS_OF, None]) == [UNKNOWN_AGE] * 3


def test_polars_and_sql_agree_on_every_age_from_0_to_120():
    births = [AS_OF - age for age in range(121)] + [None, AS_OF + 1, AS_OF + 50]
    got = _polars(births)
    assert got == _sql(births)
    assert set(got) == set(AGE_BAND_LABELS)  # every band, and no other label


def test_the_table_is_contiguous_and_open_at_both_ends():
    """Both generated forms read only upper bounds; that is right only for this shape."""
    assert AGE_BANDS[0][1] is None and AGE_BANDS[-1][2] is None
    for (_, _, high), (_, low, _) in zip(AGE_BANDS, AGE_BANDS[1:], strict=False):
        assert low == high + 1
    assert len(set(AGE_BAND_LABELS)) == len(AGE_BAND_LABELS)


def test_a_literal_as_of_year_is_the_same_as_a_column():
    births = [2010, 2001, 1950, None]
    frame = pl.DataFrame({"birth_year": births})
    literal = frame.select(age_band(pl.col("birth_year"), as_of_year=AS_OF))[:, 0].to_list()
    assert literal == _polars(births) == ["Under 18", "25-34", "65+", UNKNOWN_AGE]
