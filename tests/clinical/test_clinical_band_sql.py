"""band_sql run in DuckDB must agree with severity_band for every possible total."""

from dataclasses import replace

import duckdb
import pytest

from analytics.clinical import band_sql, severity_band
from analytics.settings import ClinicalSettings

DEFAULTS = ClinicalSettings()
CUSTOM = replace(
    DEFAULTS,
    phq9_bands=((0, 9, "low"), (10, 19, "it's high"), (20, 27, "top")),
    gad7_bands=((0, 7, "below"), (8, 21, "above")),
)


def all_rows() -> list[tuple[str | None, int | None]]:
    rows: list[tuple[str | None, int | None]] = []
    for spelling in ("PHQ-9", "phq9", " phq 9 "):
        rows += [(spelling, t) for t in range(0, 28)]
    for spelling in ("GAD-7", "gad_7"):
        rows += [(spelling, t) for t in range(0, 22)]
    # no band: out of range, unknown instrument, NULLs
    rows += [("PHQ-9", 28), ("PHQ-9", -1), ("GAD-7", 22), ("PHQ-8", 5), (None, 5), ("GAD-7", None)]
    return rows


def expected_band(instrument: str | None, score: int | None, settings: ClinicalSettings):
    if instrument is None or score is None:
        return None
    try:
        return severity_band(instrument, score, settings=settings)
    except ValueError:
        return None


@pytest.fixture
def con():
    connection = duckdb.connect()
    connection.execute("CREATE TABLE scores (instrument VARCHAR, total INTEGER)")
    connection.executemany("INSERT INTO scores VALUES (?, ?)", all_rows())
    yield connection
    connection.close()


@pytest.mark.parametrize("settings", [DEFAULTS, CUSTOM], ids=["defaults", "custom"])
def test_band_sql_matches_severity_band(con, settings: ClinicalSettings) -> None:
    expr = band_sql("instrument", "total", settings=settings)
    got = con.execute(f"SELECT instrument, total, {expr} FROM scores").fetchall()
    assert len(got) == len(all_rows())
    for instrument, score, band in got:
        assert band == expected_band(instrument, score, settings), (instrument, score)


def test_band_sql_every_default_edge(con) -> None:
    expr = band_sql("instrument", "total", settings=DEFAULTS)
    got = dict(
        ((i, t), b)
        for i, t, b in con.execute(
            f"SELECT instrument, total, {expr} FROM scores WHERE instrument IN ('PHQ-9', 'GAD-7')"
        ).fetchall()
    )
    assert got[("PHQ-9", 4)] == "minimal"
    assert got[("PHQ-9", 5)] == "mild"
    assert got[("PHQ-9", 19)] == "moderately severe"
    assert got[("PHQ-9", 20)] == "severe"
    assert got[("PHQ-9", 27)] == "severe"
    assert got[("GAD-7", 14)] == "moderate"
    assert got[("GAD-7", 15)] == "severe"
    assert got[("GAD-7", 21)] == "severe"


def test_band_sql_qualified_and_awkward_column_names(con) -> None:
    con.execute('CREATE TABLE odd ("instr ument" VARCHAR, "to""tal" INTEGER)')
    con.execute("INSERT INTO odd VALUES ('PHQ-9', 15), ('GAD-7', 8)")
    expr = band_sql("o.instr ument", 'o.to"tal', settings=DEFAULTS)
    got = con.execute(f"SELECT {expr} FROM odd AS o ORDER BY 1").fetchall()
    assert got == [("mild",), ("moderately severe",)]


def test_band_sql_cannot_be_used_to_inject(con) -> None:
    expr = band_sql("instrument", "total) FROM scores; DROP TABLE scores; --", settings=DEFAULTS)
    with pytest.raises(duckdb.Error):
        con.execute(f"SELECT {expr} FROM scores").fetchall()
    assert con.execute("SELECT count(*) FROM scores").fetchone() == (len(all_rows()),)


@pytest.mark.parametrize("name", ["", "a..b", ".a"])
def test_band_sql_rejects_empty_names(name: str) -> None:
    with pytest.raises(ValueError, match="not a column name"):
        band_sql(name, "total", settings=DEFAULTS)
