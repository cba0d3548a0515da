"""Ingest takes every rule from the contract: the contract's rules name real columns, and a
rule applies to whichever table declares it, with no code that knows the table."""

from __future__ import annotations

from datetime import UTC, date, datetime

import duckdb
import polars as pl
import pytest

from analytics.data.contract import (
    TABLES,
    AtLeastOne,
    Column,
    ColumnType,
    EmptyWhen,
    InOrder,
    ItemTotal,
    OnExistingKey,
    Table,
    UniqueIgnoringCaseAndSpaces,
)
from analytics.data.ingest import ingest, validation_sql
from analytics.data.store import DERIVED_COLUMNS


def _named(check) -> tuple[str, ...]:
    match check:
        case EmptyWhen():
            return (*check.columns, check.when)
        case AtLeastOne():
            return check.columns
        case InOrder():
            return (check.earlier, check.later)
        case UniqueIgnoringCaseAndSpaces():
            return (check.column,)
        case ItemTotal():
            return (check.total, check.instrument, *check.items)
    raise AssertionError(f"a check kind this test does not know: {check!r}")


@pytest.mark.parametrize("name", list(TABLES))
def test_every_rule_names_columns_that_exist(name):
    table = TABLES[name]
    for check in table.checks:
        assert set(_named(check)) <= set(table.column_names), check
        if isinstance(check, UniqueIgnoringCaseAndSpaces):
            assert len(table.key) == 1
    for col in table.columns:
        if col.default_from is not None:
            source = TABLES[col.default_from.table]
            assert col.default_from.column in source.column_names
            assert col.default_from.on in source.column_names
            assert col.default_from.on in table.column_names
        if col.derive is not None:
            assert set(col.derive.columns) <= set(table.column_names)
    if table.analysed_text is not None:
        spec = table.analysed_text
        assert {spec.id, spec.text, spec.when} <= set(table.column_names)
        assert DERIVED_COLUMNS.get(name), "analysed text needs columns to store it in"


def test_a_check_applies_to_any_table_that_declares_it():
    T = ColumnType
    trial = Table(
        name="trial",
        doc="",
        key=("id",),
        on_existing_key=OnExistingKey.KEEP,
        checks=(
            InOrder(earlier="started_on", later="ended_on"),
            AtLeastOne(("a", "b"), report_as="(a, b)", reason="no value: expected a or b"),
        ),
        columns=(
            Column("id", T.TEXT, required=True),
            Column("started_on", T.DATE),
            Column("ended_on", T.DATE),
            Column("a", T.INTEGER),
            Column("b", T.INTEGER),
        ),
    )
    raw = pl.DataFrame(
        {
            "id": ["x", "y", "z"],
            "started_on": ["2026-03-02", "2026-03-02", "2026-03-02"],
            "ended_on": ["2026-03-01", "2026-03-03", None],
            "a": ["1", None, "2"],
            "b": [None, None, None],
            "_line": [2, 3, 4],
        }
    )
    sql = validation_sql(
        trial, now=datetime(2026, 6, 1, tzinfo=UTC), today=date(2026, 6, 1), future_days=1
    )
    con = duckdb.connect()
    con.register("raw", raw)
    rows = con.execute(f"SELECT _line, err_column, err_reason FROM ({sql}) ORDER BY 1").fetchall()
    assert rows == [
        (2, "ended_on", "out of order: expected ended_on on or after started_on"),
        (3, "(a, b)", "no value: expected a or b"),
        (4, None, None),
    ]


def test_parquet_column_named_twice_ignoring_case_is_refused(base_clinic, tmp_path, counts):
    # Checked once, when the file is read, for Parquet as for CSV.
    path = tmp_path / "checkins.parquet"
    pl.DataFrame(
        {"patient_id": ["p1"], "checked_in_at": ["2026-03-01T10:00:00Z"], "Mood": [5], "mood": [6]}
    ).write_parquet(path)
    before = counts()
    summary = ingest([path], settings=base_clinic).files[0]
    assert summary.status == "rejected"
    assert "columns 3 and 4 have the same name 'mood'" in summary.message
    assert counts() == before
