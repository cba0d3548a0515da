"""Contract checks: a file's cells -> typed values and, per row, the first problem (file
line, column, reason) and all the others, in one DuckDB query built from the contract.

Every rule comes from :mod:`analytics.data.contract`: column rules from each
:class:`~analytics.data.contract.Column`, rules across columns from the table's
``checks``, each kind turned into SQL here. Reasons name columns and expectations, never
a cell's value (quarantined rows hold patients' words and identifiers).
"""

from __future__ import annotations

import contextlib
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import duckdb
import polars as pl

from analytics.clinical import prorated_total_sql
from analytics.data.contract import (
    CURRENT_YEAR,
    NULL_TOKENS,
    AtLeastOne,
    Check,
    ChoiceMatch,
    Column,
    ColumnType,
    EmptyWhen,
    InOrder,
    ItemTotal,
    Table,
    UniqueIgnoringCaseAndSpaces,
    squash,
)
from analytics.data.ingest._read import KNOWN_NAMES, RawFile, normalise_name
from analytics.data.ingest._summary import FileRejected
from analytics.settings import Settings

__all__ = ["ISO_TIMESTAMP", "normalise_columns", "q", "sql_str", "validate", "validation_sql"]

ISO_TIMESTAMP = (
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}"
    r"([T ][0-9]{2}:[0-9]{2}(:[0-9]{2}([.,][0-9]+)?)?)?"
    r" ?(Z|z|[+-][0-9]{2}(:?[0-9]{2})?)?"
)
_MAX_LISTED = 12


def normalise_columns(raw: RawFile, table: Table) -> tuple[pl.DataFrame, tuple[str, ...]]:
    """Match columns to the contract; return contract columns plus ``_line``, and extras.

    Names are unique here: reading refused a file that names a column twice."""
    frame = raw.frame
    names = list(frame.columns)
    normalised = [normalise_name(n) for n in names]
    seen = dict(zip(normalised, names, strict=True))
    missing = [c for c in table.required if c not in seen]
    if missing:
        known = [n for n in normalised if n in KNOWN_NAMES]
        listed = ", ".join(known[:_MAX_LISTED]) + (
            f" and {len(known) - _MAX_LISTED:,} more" if len(known) > _MAX_LISTED else ""
        )
        others = len(normalised) - len(known)
        found = f"{len(normalised):,} column(s)" + (f": {listed}" if known else "")
        if others:
            found += f"; {others:,} not contract columns" + (
                " (is the header row missing?)" if not known else ""
            )
        raise FileRejected(
            f"missing required column{'s' if len(missing) > 1 else ''} {', '.join(missing)} "
            f"for table {table.name}; expected {', '.join(table.required)}; found {found}"
        )
    extra = tuple(n for n in normalised if n not in table.column_names)
    select = []
    for col in table.columns:
        if col.name in seen:
            select.append(pl.col(seen[col.name]).alias(col.name))
        else:
            select.append(pl.lit(None, dtype=pl.String).alias(col.name))
    return frame.select(select).with_columns(raw.lines), extra


# --- validation SQL --------------------------------------------------------------------


def q(name: str) -> str:
    """An SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def sql_str(text: str) -> str:
    """An SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def _clean(col: Column) -> str:
    """Raw cell -> trimmed text, or NULL for an empty cell or a null token."""
    tokens = ", ".join(sql_str(t) for t in NULL_TOKENS)
    raw = f"raw.{q(col.name)}"
    value = raw if col.free_text else f"trim({raw})"
    return f"CASE WHEN {raw} IS NULL OR trim({raw}) IN ({tokens}) THEN NULL ELSE {value} END"


def _parse(col: Column, v: str) -> str:
    if col.type is ColumnType.INTEGER:
        return (
            f"CASE WHEN regexp_full_match({v}, '[+-]?[0-9]{{1,15}}(\\.0*)?') "
            f"THEN TRY_CAST(TRY_CAST({v} AS DOUBLE) AS BIGINT) END"
        )
    if col.type is ColumnType.NUMBER:
        return (
            f"CASE WHEN regexp_full_match({v}, '[+-]?([0-9]+(\\.[0-9]*)?|\\.[0-9]+)([eE][+-]?[0-9]+)?') "
            f"THEN TRY_CAST({v} AS DOUBLE) END"
        )
    if col.type is ColumnType.DATE:
        return f"CASE WHEN regexp_full_match({v}, '[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}') THEN TRY_CAST({v} AS DATE) END"
    if col.type is ColumnType.TIMESTAMP:
        return f"CASE WHEN regexp_full_match({v}, {sql_str(ISO_TIMESTAMP)}) THEN TRY_CAST(replace({v}, ',', '.') AS TIMESTAMPTZ) END"
    if col.choices and col.match is ChoiceMatch.SPELLING:
        squashed = f"upper(regexp_replace({v}, '[\\s_-]', '', 'g'))"
        spelled = " ".join(f"WHEN {sql_str(squash(c))} THEN {sql_str(c)}" for c in col.choices)
        return f"CASE {squashed} {spelled} END"
    if col.choices:
        options = ", ".join(sql_str(c) for c in col.choices)
        return f"CASE WHEN lower({v}) IN ({options}) THEN lower({v}) END"
    return v


_EXPECT = {
    ColumnType.INTEGER: "a whole number",
    ColumnType.NUMBER: "a number",
    ColumnType.DATE: "a date YYYY-MM-DD",
    ColumnType.TIMESTAMP: "an ISO 8601 timestamp such as 2026-11-03T21:14:00-05:00",
}


def _column_error(
    col: Column, v: str, p: str, *, now: datetime, today: date, future_days: int
) -> str:
    checks: list[str] = []
    if col.required and not col.blank_ok:
        checks.append(f"WHEN {v} IS NULL THEN 'missing value: this column is required'")
    else:
        checks.append(f"WHEN {v} IS NULL THEN NULL")
    if col.choices:
        options = ", ".join(col.choices)
        checks.append(f"WHEN {p} IS NULL THEN {sql_str('not allowed: expected one of ' + options)}")
    elif col.type in _EXPECT:
        checks.append(f"WHEN {p} IS NULL THEN {sql_str('bad type: expected ' + _EXPECT[col.type])}")
    high = today.year if col.maximum == CURRENT_YEAR else col.maximum
    if col.minimum is not None or high is not None:
        cond = []
        if col.minimum is not None:
            cond.append(f"{p} < {col.minimum}")
        if high is not None:
            cond.append(f"{p} > {high}")
        text = f"out of range: expected {_num(col.minimum)} to {_num(high)}"
        checks.append(f"WHEN {' OR '.join(cond)} THEN {sql_str(text)}")
    if col.max_length is not None:
        text = f"too long: expected at most {col.max_length:,} characters"
        checks.append(f"WHEN length({p}) > {col.max_length} THEN {sql_str(text)}")
    if col.min_length is not None:
        text = f"too short: expected at least {col.min_length} character(s)"
        checks.append(f"WHEN length(trim({p})) < {col.min_length} THEN {sql_str(text)}")
    if col.not_future and col.type is ColumnType.DATE:
        checks.append(
            f"WHEN {p} > DATE '{today.isoformat()}' "
            "THEN 'in the future: expected a date no later than today'"
        )
    elif col.not_future:
        checks.append(
            f"WHEN {p} > TIMESTAMPTZ '{now.astimezone(UTC).isoformat()}' + to_days({int(future_days)}) "
            f"THEN 'in the future: expected no more than {int(future_days)} day(s) after now'"
        )
    return "CASE " + " ".join(checks) + " END"


def _num(value: float | str | None) -> str:
    if value is None:
        return "any"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _check_errors(table: Table) -> list[tuple[str, str]]:
    """The table's checks, then each reference, as (column, SQL error expression) over the
    cleaned (``v_``) and parsed (``p_``) columns, in the order problems are reported."""
    errors = [error for check in table.checks for error in _check_sql(check, table)]
    for col in table.columns:
        if col.references:
            ref_table, ref_col = col.references.split(".")
            noun = ref_table.rstrip("s")
            errors.append(
                (
                    col.name,
                    f"CASE WHEN p_{col.name} IS NOT NULL AND p_{col.name} NOT IN "
                    f"(SELECT {q(ref_col)} FROM {q(ref_table)}) "
                    f"THEN 'unknown {noun}: expected a {ref_col} already in {ref_table}' END",
                )
            )
    return errors


def _check_sql(check: Check, table: Table) -> list[tuple[str, str]]:
    """One contract check as (column reported, SQL error expression) pairs."""
    match check:
        case EmptyWhen():
            return [
                (
                    name,
                    f"CASE WHEN p_{check.when} = {sql_str(check.equals)} "
                    f"AND v_{name} IS NOT NULL THEN {sql_str(check.reason)} END",
                )
                for name in check.columns
            ]
        case AtLeastOne():
            none = " AND ".join(f"v_{name} IS NULL" for name in check.columns)
            return [(check.report_as, f"CASE WHEN {none} THEN {sql_str(check.reason)} END")]
        case InOrder():
            reason = f"out of order: expected {check.later} on or after {check.earlier}"
            return [
                (
                    check.later,
                    f"CASE WHEN p_{check.later} < p_{check.earlier} THEN {sql_str(reason)} END",
                )
            ]
        case UniqueIgnoringCaseAndSpaces():
            return [(check.column, _unique_folded_sql(check, table))]
        case ItemTotal():
            return [(check.total, _item_total_sql(check))]
    raise TypeError(f"no SQL for contract check {check!r}")


def _unique_folded_sql(check: UniqueIgnoringCaseAndSpaces, table: Table) -> str:
    # Another stored row with a different key, or an earlier line of this file, has it.
    if len(table.key) != 1:
        raise ValueError(f"{table.name}: a folded-unique check needs a one-column key")
    (key,) = table.key
    col = check.column

    def fold(value: str) -> str:
        return f"lower(regexp_replace({value}, '\\s', '', 'g'))"

    return (
        f"CASE WHEN p_{col} IS NOT NULL AND (EXISTS (SELECT 1 FROM {q(table.name)} c "
        f"WHERE {fold('c.' + q(col))} = {fold('p_' + col)} AND c.{q(key)} <> p_{key}) "
        f"OR first_value(p_{key}) OVER (PARTITION BY {fold('p_' + col)} ORDER BY _line) "
        f"<> p_{key}) THEN {sql_str(check.reason)} END"
    )


def _item_total_sql(check: ItemTotal) -> str:
    # The clinical scoring's proration SQL names items item_1, item_2, ...
    if check.items != tuple(f"item_{i}" for i in range(1, len(check.items) + 1)):
        raise ValueError("questionnaire items must be named item_1, item_2, ... in order")
    instrument = f"p_{check.instrument}"
    total = f"p_{check.total}"
    item_sum = " + ".join(f"coalesce(p_{c}, 0)" for c in check.items)
    blanks = []
    for number, name in enumerate(check.items, start=1):
        # An item an instrument does not have (GAD-7 items 8-9) is empty, not a blank.
        users = [sql_str(i) for i, n in check.items_per_instrument if n >= number]
        if len(users) == len(check.items_per_instrument):
            blanks.append(f"p_{name} IS NULL")
        elif len(users) == 1:
            blanks.append(f"(p_{name} IS NULL AND {instrument} = {users[0]})")
        elif users:
            blanks.append(f"(p_{name} IS NULL AND {instrument} IN ({', '.join(users)}))")
    partial = " OR ".join(blanks)
    prorated = prorated_total_sql(instrument, prefix="p_")
    return (
        f"CASE WHEN {total} IS NULL THEN NULL "
        f"WHEN NOT ({partial}) AND {total} <> ({item_sum}) "
        f"THEN 'total mismatch: expected the sum of the items, ' || ({item_sum}) "
        f"WHEN ({partial}) AND {total} <> ({item_sum}) "
        f"AND {total} IS DISTINCT FROM {prorated} "
        f"THEN 'total mismatch: expected the sum of the answered items, ' || ({item_sum})"
        f" || coalesce(', or the prorated total, ' || {prorated}, '') END"
    )


def _final_value(table: Table, col: Column) -> str:
    """The value stored for a column: parsed, with contract defaults applied."""
    p = f"p_{col.name}"
    if col.default_from is not None:
        src = col.default_from
        return (
            f"coalesce({p}, (SELECT c.{q(src.column)} FROM {q(src.table)} c "
            f"WHERE c.{q(src.on)} = p_{src.on}))"
        )
    if col.derive is not None:
        parts = " || '|' || ".join(_hash_part(table.column(c)) for c in col.derive.columns)
        return (
            f"coalesce({p}, {sql_str(col.derive.prefix)} || "
            f"left(sha256({parts}), {int(col.derive.length)}))"
        )
    if col.default is not None:
        return f"coalesce({p}, {sql_str(col.default)})"
    return p


def _hash_part(col: Column) -> str:
    # Timestamps in UTC to the microsecond, so a key does not depend on the session's zone.
    p = f"p_{col.name}"
    if col.type is ColumnType.TIMESTAMP:
        return f"strftime({p} AT TIME ZONE 'UTC', '%Y-%m-%dT%H:%M:%S.%f')"
    if col.type is ColumnType.TEXT:
        return p
    return f"CAST({p} AS VARCHAR)"


def validation_sql(table: Table, *, now: datetime, today: date, future_days: int) -> str:
    """One query over view ``raw`` giving typed values plus the first problem per row.

    ``now`` (aware) and ``today`` (the clinic's local date at ``now``) are the run's one
    reference instant, taken in Python so that a test can pin the clock."""
    cleaned = ", ".join(f"{_clean(c)} AS v_{c.name}" for c in table.columns)
    parsed = ", ".join(f"{_parse(c, 'v_' + c.name)} AS p_{c.name}" for c in table.columns)
    col_errors = ", ".join(
        f"{_column_error(c, 'v_' + c.name, 'p_' + c.name, now=now, today=today, future_days=future_days)} AS e_{c.name}"
        for c in table.columns
    )
    rules = _check_errors(table)
    rule_cols = ", ".join(f"{expr} AS r_{i}" for i, (_, expr) in enumerate(rules))
    problems = [(c.name, f"e_{c.name}") for c in table.columns] + [
        (col, f"r_{i}") for i, (col, _) in enumerate(rules)
    ]
    first_col = (
        "CASE " + " ".join(f"WHEN {e} IS NOT NULL THEN {sql_str(c)}" for c, e in problems) + " END"
    )
    first_reason = f"coalesce({', '.join(e for _, e in problems)})"
    others = (
        "concat_ws('; ', "
        + ", ".join(
            f"CASE WHEN {e} IS NOT NULL THEN {sql_str(c + ': ')} || {e} END" for c, e in problems
        )
        + ")"
    )
    finals = ", ".join(f"{_final_value(table, c)} AS f_{c.name}" for c in table.columns)
    key = ", ".join(f"f_{k}" for k in table.key)
    return f"""
    WITH cleaned AS (SELECT _line, {cleaned} FROM raw),
    parsed AS (SELECT *, {parsed} FROM cleaned),
    checked AS (SELECT *, {col_errors} FROM parsed),
    ruled AS (SELECT *{", " + rule_cols if rule_cols else ""} FROM checked),
    firsts AS (
        SELECT *, {first_col} AS err_column, {first_reason} AS err_reason,
               {others} AS err_all, {finals}
        FROM ruled
    ),
    keyed AS (
        SELECT *,
            CASE WHEN err_reason IS NULL
                 THEN first_value(_line) OVER (PARTITION BY err_reason IS NULL, {key} ORDER BY _line)
            END AS key_first_line
        FROM firsts
    )
    SELECT * EXCLUDE (err_column, err_reason),
        CASE WHEN err_reason IS NULL AND key_first_line <> _line
             THEN {sql_str(", ".join(table.key))} ELSE err_column END AS err_column,
        CASE WHEN err_reason IS NULL AND key_first_line <> _line
             THEN 'repeated key: the key is repeated inside the file; first at line ' || key_first_line
             ELSE err_reason END AS err_reason
    FROM keyed
    """


def validate(
    con: duckdb.DuckDBPyConnection, table: Table, frame: pl.DataFrame, *, settings: Settings
) -> None:
    """Check a file's rows (``frame``, from :func:`normalise_columns`) against the contract
    into the temporary table ``validated`` of ``con``: one row per input row with its
    ``f_`` final values, ``err_column``, ``err_reason`` (NULL for a good row) and
    ``err_all``."""
    now = datetime.now(UTC)
    sql = validation_sql(
        table,
        now=now,
        today=now.astimezone(ZoneInfo(settings.clinic_timezone)).date(),
        future_days=settings.future_tolerance_days,
    )
    con.register("raw", frame)
    try:
        con.execute(f"CREATE OR REPLACE TEMP TABLE validated AS {sql}")
    finally:
        with contextlib.suppress(duckdb.Error):
            con.unregister("raw")
