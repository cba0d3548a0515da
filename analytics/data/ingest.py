"""Files -> validated rows -> warehouse, exactly as the data contract's bad-input rules say.

Validation runs as one DuckDB query per file over the file's cells read as text, so every
rule lives in :mod:`analytics.data.contract` and the SQL built from it here.
"""

from __future__ import annotations

import contextlib
import csv
import glob
import hashlib
import io
import json
import os
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import duckdb
import polars as pl

from analytics.clinical import prorated_total_sql
from analytics.data.contract import (
    CURRENT_YEAR,
    INGEST_ORDER,
    ITEM_COLUMNS,
    NULL_TOKENS,
    TABLES,
    WEARABLE_METRICS,
    Column,
    ColumnType,
    OnExistingKey,
    Table,
    table_for_stem,
)
from analytics.data.store import (
    DERIVED_COLUMNS,
    DataDir,
    open_warehouse,
    pipeline_lock,
    sync_clinician_status,
)
from analytics.files import csv_safe, open_private, private_dir
from analytics.settings import Settings

LINE = "_line"  # contract columns never start with "_", so this cannot collide
SUPPORTED_SUFFIXES = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}
ISO_TIMESTAMP = (
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}"
    r"([T ][0-9]{2}:[0-9]{2}(:[0-9]{2}([.,][0-9]+)?)?)?"
    r" ?(Z|z|[+-][0-9]{2}(:?[0-9]{2})?)?"
)


class FileRejected(Exception):
    """A file-level problem: the whole file is refused and nothing from it is written."""


@dataclass
class FileSummary:
    """What happened to one file."""

    file: str
    table: str | None
    status: str  # stored | rejected | skipped | not written
    rows_read: int = 0
    stored: int = 0
    updated: int = 0
    duplicates: int = 0
    quarantined: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    extra_columns: tuple[str, ...] = ()
    message: str | None = None
    sha256: str | None = None
    seconds: float = 0.0


@dataclass
class IngestResult:
    """A whole ``caseload ingest`` run."""

    run_id: int | None
    strict: bool
    files: list[FileSummary]

    @property
    def exit_code(self) -> int:
        """2 if a file was rejected, 1 if ``--strict`` stopped the batch, else 0."""
        if any(f.status == "rejected" for f in self.files):
            return 2
        if self.strict and any(f.quarantined for f in self.files):
            return 1
        return 0


# --- finding files ---------------------------------------------------------------------


def expand_paths(paths: Sequence[str | os.PathLike[str]]) -> tuple[list[Path], list[FileSummary]]:
    """Files named directly, found in directories, or matched by globs.

    A directory is searched for CSV and Parquet files. A file that is a symbolic link is
    refused wherever it comes from (named, globbed or found in a directory), and so is a
    file reached through a linked directory that leads outside the one named: a link can
    point at any file the operator can read.
    """
    files: list[Path] = []
    problems: list[FileSummary] = []

    def take(candidate: Path, root: Path | None) -> None:
        if candidate.is_symlink():
            problems.append(
                _rejected(str(candidate), None, "is a symbolic link; name the file itself")
            )
        elif root is not None and not candidate.resolve().is_relative_to(root):
            problems.append(
                _rejected(str(candidate), None, f"links outside the named directory {root}")
            )
        else:
            files.append(candidate)

    for raw in paths:
        text = str(raw)
        if any(ch in text for ch in "*?["):
            matches = sorted(Path(m) for m in glob.glob(text, recursive=True))
            if not matches:
                problems.append(_rejected(text, None, "no file matches this pattern"))
            for m in matches:
                if m.is_file():
                    take(m, None)
            continue
        path = Path(text)
        if path.is_dir():
            root = path.resolve()
            for candidate in sorted(path.rglob("*")):
                if candidate.suffix.lower() not in SUPPORTED_SUFFIXES or not candidate.is_file():
                    continue
                take(candidate, root)
        elif path.is_file():
            take(path, None)
        else:
            problems.append(_rejected(text, None, "no such file or directory"))
    unique = list(dict.fromkeys(files))
    return unique, problems


def _rejected(file: str, table: str | None, message: str) -> FileSummary:
    return FileSummary(file=file, table=table, status="rejected", message=message)


# --- reading ---------------------------------------------------------------------------


@dataclass(frozen=True)
class RawFile:
    """A file's cells as text, and the line each record starts on."""

    frame: pl.DataFrame
    lines: pl.Series

    @property
    def height(self) -> int:
        return self.frame.height


@dataclass(frozen=True)
class Limits:
    """What a file may hold before it is parsed (settings.toml names each)."""

    max_mb: int = 2048
    max_columns: int = 500
    max_line_kb: int = 1024
    max_decompressed_mb: int = 512

    @classmethod
    def from_settings(cls, settings: Settings) -> Limits:
        return cls(
            max_mb=settings.max_ingest_file_mb,
            max_columns=settings.max_ingest_columns,
            max_line_kb=settings.max_ingest_line_kb,
            max_decompressed_mb=settings.max_ingest_decompressed_mb,
        )


def read_raw(
    path: Path, *, max_mb: int | None = None, limits: Limits | None = None
) -> tuple[RawFile, str]:
    """Read a file's cells as text with their line numbers; return them and the SHA-256.

    Every limit is checked before the file is parsed, so a hostile file (a million
    columns, a 100 MB line, a small Parquet file that expands to gigabytes) is refused
    with the limit's name rather than exhausting memory.
    """
    limits = limits or Limits()
    if max_mb is not None:
        limits = Limits(
            max_mb=max_mb,
            max_columns=limits.max_columns,
            max_line_kb=limits.max_line_kb,
            max_decompressed_mb=limits.max_decompressed_mb,
        )
    kind = SUPPORTED_SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise FileRejected(
            f"not a CSV or Parquet file (suffix {path.suffix or 'none'!r}); "
            "expected a .csv or .parquet file"
        )
    if path.is_symlink():
        raise FileRejected("is a symbolic link; name the file itself")
    size = path.stat().st_size
    if size > limits.max_mb * 1024 * 1024:
        raise FileRejected(
            f"the file is {size / 1024 / 1024:,.0f} MB, over the limit of {limits.max_mb:,} MB "
            "(max_ingest_file_mb in settings.toml); split it into smaller files"
        )
    if kind == "parquet":
        _check_parquet_limits(path, limits)
    data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if kind == "csv":
        _check_csv_limits(data, limits)
    frame = _read_csv(data) if kind == "csv" else _read_parquet(path)
    return frame, digest


def _check_csv_limits(data: bytes, limits: Limits) -> None:
    import numpy as np

    breaks = np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == 0x0A)
    bounds = np.concatenate(([-1], breaks, [len(data)]))
    lengths = np.diff(bounds) - 1
    longest = int(lengths.max()) if lengths.size else 0
    if longest > limits.max_line_kb * 1024:
        line = int(np.argmax(lengths)) + 1
        raise FileRejected(
            f"line {line} is {longest / 1024:,.0f} KB long, over the limit of "
            f"{limits.max_line_kb:,} KB per line (max_ingest_line_kb in settings.toml)"
        )
    header = data[: int(breaks[0])] if breaks.size else data
    # Commas outside quotes bound the column count from above; the exact count is taken
    # by the csv module only when it might be over the limit.
    if header.count(b",") + 1 > limits.max_columns:
        try:
            text = header.decode("utf-8-sig")
        except UnicodeDecodeError:
            text = ""
        columns = len(next(csv.reader(io.StringIO(text)), [])) if text else header.count(b",") + 1
        if columns > limits.max_columns:
            raise FileRejected(
                f"the header has {columns:,} columns, over the limit of {limits.max_columns:,} "
                "(max_ingest_columns in settings.toml)"
            )


def _check_parquet_limits(path: Path, limits: Limits) -> None:
    import pyarrow.parquet as pq

    try:
        meta = pq.ParquetFile(path).metadata
    except Exception:  # noqa: BLE001 - any unreadable footer is the same answer
        raise FileRejected("not a readable Parquet file (its footer cannot be read)") from None
    if meta.num_columns > limits.max_columns:
        raise FileRejected(
            f"the file has {meta.num_columns:,} columns, over the limit of "
            f"{limits.max_columns:,} (max_ingest_columns in settings.toml)"
        )
    # The footer's sizes are of encoded pages: a dictionary-encoded column of one long
    # string repeated millions of times is tiny there. So decode in bounded batches and
    # stop as soon as the running size passes the limit, before anything is loaded whole.
    limit = limits.max_decompressed_mb * 1024 * 1024
    total = 0
    try:
        for batch in pq.ParquetFile(path).iter_batches(batch_size=65_536):
            total += batch.nbytes
            if total > limit:
                raise FileRejected(
                    f"the file expands to more than {limits.max_decompressed_mb:,} MB when "
                    "decompressed (max_ingest_decompressed_mb in settings.toml); split it "
                    "into smaller files"
                )
    except FileRejected:
        raise
    except Exception:  # noqa: BLE001 - a corrupt page is the same answer as a bad footer
        raise FileRejected("not a readable Parquet file (a data page cannot be read)") from None


def _read_csv(data: bytes) -> RawFile:
    if not data.strip():
        raise FileRejected("the file is empty; expected a header row and data rows")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise FileRejected(
            f"not UTF-8 text (byte {exc.start} cannot be decoded); expected a UTF-8 CSV file"
        ) from None
    # polars renames repeated header names, so read the header ourselves to catch them.
    header = next(csv.reader(io.StringIO(text)), [])
    _check_header(header)
    try:
        frame = pl.read_csv(
            data,
            infer_schema=False,
            encoding="utf8",
            empty_string_is_null=True,
            truncate_ragged_lines=False,
            new_columns=header,
        )
    except pl.exceptions.PolarsError as exc:
        raise FileRejected(_csv_problem(text, len(header), exc)) from None
    # Count line breaks inside quoted fields so reported lines match a text editor.
    breaks = [pl.col(c).str.count_matches("\n", literal=True).fill_null(0) for c in frame.columns]
    per_row = pl.sum_horizontal(breaks) if breaks else pl.lit(0)
    lines = frame.select(
        (2 + (per_row + 1).cum_sum() - (per_row + 1)).cast(pl.Int64).alias(LINE)
    ).to_series()
    # Blank lines are not records.
    blank = frame.select(pl.all_horizontal(pl.all().is_null())).to_series()
    return RawFile(frame.filter(~blank), lines.filter(~blank))


# A column name is shown in an error only if the contract knows it: in a file without a
# header row the "names" are the first record's values (a patient's name, say).
_KNOWN_NAMES = frozenset(c.name for t in TABLES.values() for c in t.columns)
_MAX_LISTED = 12


def _shown(name: str) -> str:
    norm = name.strip().lstrip("\ufeff").strip().lower()
    return repr(norm) if norm in _KNOWN_NAMES else "(a name that is not a contract column)"


def _check_header(header: Sequence[str]) -> None:
    seen: dict[str, int] = {}
    for position, original in enumerate(header, start=1):
        norm = original.strip().lower()
        if norm in seen:
            raise FileRejected(
                f"columns {seen[norm]} and {position} have the same name {_shown(original)}; "
                "expected each column once"
            )
        seen[norm] = position


def _csv_problem(text: str, width: int, exc: Exception) -> str:
    """Name the first malformed line, which polars' own message does not (and never quote
    the parser's message, which can repeat a cell)."""
    reader = csv.reader(io.StringIO(text))
    try:
        for record in reader:
            if len(record) > width:
                return (
                    f"not a readable CSV file: line {reader.line_num} has {len(record)} fields; "
                    f"expected at most {width} (the header's columns)"
                )
    except csv.Error as err:
        return f"not a readable CSV file: line {reader.line_num}: {err}"
    return f"not a readable CSV file: the parser stopped ({type(exc).__name__})"


def _read_parquet(path: Path) -> RawFile:
    try:
        frame = pl.read_parquet(path)
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise FileRejected(f"not a readable Parquet file ({type(exc).__name__})") from None
    as_text = []
    for name, dtype in frame.schema.items():
        col = pl.col(name)
        if isinstance(dtype, pl.Datetime):
            if dtype.time_zone is not None:
                col = col.dt.convert_time_zone("UTC").dt.to_string("%Y-%m-%dT%H:%M:%S%.fZ")
            else:
                col = col.dt.to_string("%Y-%m-%dT%H:%M:%S%.f")
        elif dtype == pl.Date:
            col = col.dt.to_string("%Y-%m-%d")
        else:
            col = col.cast(pl.String)
        as_text.append(col.alias(name))
    frame = frame.select(as_text) if as_text else frame
    return RawFile(frame, pl.int_range(2, frame.height + 2, dtype=pl.Int64, eager=True).alias(LINE))


def normalise_columns(raw: RawFile, table: Table) -> tuple[pl.DataFrame, tuple[str, ...]]:
    """Match columns to the contract; return contract columns plus ``_line``, and extras."""
    frame = raw.frame
    names = list(frame.columns)
    normalised = [n.strip().lstrip("\ufeff").strip().lower() for n in names]
    seen: dict[str, str] = {}
    positions: dict[str, int] = {}
    for position, (original, norm) in enumerate(zip(names, normalised, strict=True), start=1):
        if norm in seen:
            raise FileRejected(
                f"columns {positions[norm]} and {position} have the same name "
                f"{_shown(original)}; expected each column once"
            )
        seen[norm] = original
        positions[norm] = position
    missing = [c for c in table.required if c not in seen]
    if missing:
        known = [n for n in normalised if n in _KNOWN_NAMES]
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


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _sql_str(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _clean(col: Column) -> str:
    """Raw cell -> trimmed text, or NULL for an empty cell or a null token."""
    tokens = ", ".join(_sql_str(t) for t in NULL_TOKENS)
    raw = f"raw.{_q(col.name)}"
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
        return f"CASE WHEN regexp_full_match({v}, {_sql_str(ISO_TIMESTAMP)}) THEN TRY_CAST(replace({v}, ',', '.') AS TIMESTAMPTZ) END"
    if col.name == "instrument":
        squashed = f"upper(regexp_replace({v}, '[\\s_-]', '', 'g'))"
        return f"CASE {squashed} WHEN 'PHQ9' THEN 'PHQ-9' WHEN 'GAD7' THEN 'GAD-7' END"
    if col.choices:
        options = ", ".join(_sql_str(c) for c in col.choices)
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
        checks.append(
            f"WHEN {p} IS NULL THEN {_sql_str('not allowed: expected one of ' + options)}"
        )
    elif col.type in _EXPECT:
        checks.append(
            f"WHEN {p} IS NULL THEN {_sql_str('bad type: expected ' + _EXPECT[col.type])}"
        )
    high = today.year if col.maximum == CURRENT_YEAR else col.maximum
    if col.minimum is not None or high is not None:
        cond = []
        if col.minimum is not None:
            cond.append(f"{p} < {col.minimum}")
        if high is not None:
            cond.append(f"{p} > {high}")
        text = f"out of range: expected {_num(col.minimum)} to {_num(high)}"
        checks.append(f"WHEN {' OR '.join(cond)} THEN {_sql_str(text)}")
    if col.max_length is not None:
        text = f"too long: expected at most {col.max_length:,} characters"
        checks.append(f"WHEN length({p}) > {col.max_length} THEN {_sql_str(text)}")
    if col.min_length is not None:
        text = f"too short: expected at least {col.min_length} character(s)"
        checks.append(f"WHEN length(trim({p})) < {col.min_length} THEN {_sql_str(text)}")
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


def _rule_errors(table: Table) -> list[tuple[str, str]]:
    """Table rules as (column, SQL error expression) over the parsed columns."""
    rules: list[tuple[str, str]] = []
    if table.name == "assessments":
        for item in ITEM_COLUMNS[7:]:
            rules.append(
                (
                    item,
                    f"CASE WHEN p_instrument = 'GAD-7' AND v_{item} IS NOT NULL "
                    f"THEN 'not allowed: GAD-7 leaves items 8-9 empty' END",
                )
            )
        # Blank items alone never quarantine a questionnaire (an item-9 answer must not be
        # lost with it); only one with no answer at all, which says nothing.
        no_answer = " AND ".join(f"v_{c} IS NULL" for c in ITEM_COLUMNS)
        rules.append(
            (
                "(items)",
                f"CASE WHEN {no_answer} "
                f"THEN 'no answers: a questionnaire needs at least one answered item' END",
            )
        )
        item_sum = " + ".join(f"coalesce(p_{c}, 0)" for c in ITEM_COLUMNS)
        # GAD-7 has 7 items: its empty items 8-9 are not blanks.
        blanks = " OR ".join(
            f"p_{c} IS NULL" if i < 7 else f"(p_{c} IS NULL AND p_instrument = 'PHQ-9')"
            for i, c in enumerate(ITEM_COLUMNS)
        )
        prorated = prorated_total_sql("p_instrument", prefix="p_")
        rules.append(
            (
                "total",
                f"CASE WHEN p_total IS NULL THEN NULL "
                f"WHEN NOT ({blanks}) AND p_total <> ({item_sum}) "
                f"THEN 'total mismatch: expected the sum of the items, ' || ({item_sum}) "
                f"WHEN ({blanks}) AND p_total <> ({item_sum}) "
                f"AND p_total IS DISTINCT FROM {prorated} "
                f"THEN 'total mismatch: expected the sum of the answered items, ' || ({item_sum})"
                f" || coalesce(', or the prorated total, ' || {prorated}, '') END",
            )
        )
    elif table.name == "wearable_daily":
        none_present = " AND ".join(f"v_{m} IS NULL" for m in WEARABLE_METRICS)
        rules.append(
            (
                "(metrics)",
                f"CASE WHEN {none_present} THEN "
                f"{_sql_str('no metric: expected at least one of ' + ', '.join(WEARABLE_METRICS))} END",
            )
        )
    elif table.name == "clinicians":
        # Sign-in matches emails ignoring case and spaces, so two rows that fold to the
        # same email would let one person land on the other's caseload.
        folded = "lower(regexp_replace(p_email, '\\s', '', 'g'))"
        rules.append(
            (
                "email",
                f"CASE WHEN p_email IS NOT NULL AND (EXISTS (SELECT 1 FROM clinicians c "
                f"WHERE lower(regexp_replace(c.email, '\\s', '', 'g')) = {folded} "
                f"AND c.clinician_id <> p_clinician_id) OR first_value(p_clinician_id) OVER "
                f"(PARTITION BY {folded} ORDER BY _line) <> p_clinician_id) "
                "THEN 'duplicate email: another clinician has this email (ignoring case and "
                "spaces)' END",
            )
        )
    elif table.name == "patients":
        rules.append(
            (
                "discharged_on",
                "CASE WHEN p_discharged_on < p_enrolled_on "
                "THEN 'out of order: expected discharged_on on or after enrolled_on' END",
            )
        )
    for col in table.columns:
        if col.references:
            ref_table, ref_col = col.references.split(".")
            noun = ref_table.rstrip("s")
            rules.append(
                (
                    col.name,
                    f"CASE WHEN p_{col.name} IS NOT NULL AND p_{col.name} NOT IN "
                    f"(SELECT {_q(ref_col)} FROM {_q(ref_table)}) "
                    f"THEN 'unknown {noun}: expected a {ref_col} already in {ref_table}' END",
                )
            )
    return rules


def _final_value(table: Table, col: Column) -> str:
    """The value stored for a column: parsed, with contract defaults applied."""
    p = f"p_{col.name}"
    if table.name == "patients" and col.name == "site_id":
        return f"coalesce({p}, (SELECT c.site_id FROM clinicians c WHERE c.clinician_id = p_clinician_id))"
    if table.name == "messages" and col.name == "message_id":
        stamp = "strftime(p_sent_at AT TIME ZONE 'UTC', '%Y-%m-%dT%H:%M:%S.%f')"
        return f"coalesce({p}, 'm-' || left(sha256(p_patient_id || '|' || {stamp} || '|' || p_text), 24))"
    if col.default is not None:
        return f"coalesce({p}, {_sql_str(col.default)})"
    return p


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
    rules = _rule_errors(table)
    rule_cols = ", ".join(f"{expr} AS r_{i}" for i, (_, expr) in enumerate(rules))
    problems = [(c.name, f"e_{c.name}") for c in table.columns] + [
        (col, f"r_{i}") for i, (col, _) in enumerate(rules)
    ]
    first_col = (
        "CASE " + " ".join(f"WHEN {e} IS NOT NULL THEN {_sql_str(c)}" for c, e in problems) + " END"
    )
    first_reason = f"coalesce({', '.join(e for _, e in problems)})"
    others = (
        "concat_ws('; ', "
        + ", ".join(
            f"CASE WHEN {e} IS NOT NULL THEN {_sql_str(c + ': ')} || {e} END" for c, e in problems
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
             THEN {_sql_str(", ".join(table.key))} ELSE err_column END AS err_column,
        CASE WHEN err_reason IS NULL AND key_first_line <> _line
             THEN 'repeated key: the key is repeated inside the file; first at line ' || key_first_line
             ELSE err_reason END AS err_reason
    FROM keyed
    """


# --- writing ---------------------------------------------------------------------------


def _ingest_one(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    table: Table,
    frame: pl.DataFrame,
    *,
    run_id: int,
    settings: Settings,
    summary: FileSummary,
) -> None:
    """Validate and store one file inside the caller's transaction."""
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
    names = table.column_names
    key_join = " AND ".join(f"s.{_q(k)} = v.f_{k}" for k in table.key)
    same = " AND ".join(f"s.{_q(c)} IS NOT DISTINCT FROM v.f_{c}" for c in names)
    conflict = (
        "'conflict: the stored row with this key has other values and is kept'"
        if table.on_existing_key is OnExistingKey.KEEP
        else "NULL"
    )
    # Compare every valid row with what is stored: new, duplicate, update or conflict.
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE classified AS
        SELECT v.*,
            CASE WHEN v.err_reason IS NOT NULL THEN 'quarantine'
                 WHEN s.{_q(table.key[0])} IS NULL THEN 'new'
                 WHEN {same} THEN 'duplicate'
                 WHEN {conflict} IS NOT NULL THEN 'quarantine'
                 ELSE 'update' END AS outcome,
            CASE WHEN v.err_reason IS NULL AND s.{_q(table.key[0])} IS NOT NULL AND NOT ({same})
                 THEN {conflict} ELSE v.err_reason END AS reason,
            CASE WHEN v.err_reason IS NULL AND s.{_q(table.key[0])} IS NOT NULL AND NOT ({same})
                 THEN {_sql_str(", ".join(table.key))} ELSE v.err_column END AS problem_column
        FROM validated v LEFT JOIN {_q(table.name)} s ON {key_join}
        """
    )
    counts = dict(con.execute("SELECT outcome, count(*) FROM classified GROUP BY 1").fetchall())
    summary.rows_read = frame.height
    summary.stored = counts.get("new", 0)
    summary.updated = counts.get("update", 0)
    summary.duplicates = counts.get("duplicate", 0)
    summary.quarantined = counts.get("quarantine", 0)
    reasons = con.execute(
        """SELECT problem_column || ': ' || split_part(reason, ':', 1), count(*)
           FROM classified WHERE outcome = 'quarantine' GROUP BY 1 ORDER BY 2 DESC, 1"""
    ).fetchall()
    summary.reasons = dict(reasons)

    if summary.updated:
        keys = ", ".join(f"f_{k}" for k in table.key)
        cols = ", ".join(_q(k) for k in table.key)
        con.execute(
            f"DELETE FROM {_q(table.name)} WHERE ({cols}) IN "
            f"(SELECT ({keys}) FROM classified WHERE outcome = 'update')"
        )
    targets = ", ".join(_q(c) for c in names)
    values = ", ".join(f"c.f_{c}" for c in names)
    derived = DERIVED_COLUMNS.get(table.name, ())
    if derived:
        _attach_message_analysis(con)
        targets += ", " + ", ".join(_q(n) for n, _ in derived)
        values += ", " + ", ".join(f"a.{_q(n)}" for n, _ in derived)
        source = "classified c LEFT JOIN message_analysis a ON a.message_id = c.f_message_id"
    else:
        source = "classified c"
    con.execute(
        f"INSERT INTO {_q(table.name)} ({targets}, _run_id) "
        f"SELECT {values}, $run_id FROM {source} WHERE c.outcome IN ('new', 'update')",
        {"run_id": run_id},
    )
    record = "json_object(" + ", ".join(f"{_sql_str(c)}, v_{c}" for c in names) + ")"
    con.execute(
        f"""INSERT INTO quarantine
            SELECT $run_id, $file, _line, $table, problem_column, reason,
                   nullif(err_all, ''), {record}, now()
            FROM classified WHERE outcome = 'quarantine'""",
        {"run_id": run_id, "file": str(path), "table": table.name},
    )


# Analyse each distinct message text once per file: the analysis is a pure function of
# the text, and short replies ("ok", "thanks", "a bit better today") repeat a lot. (The
# benchmark switches this off to report the cost without it.)
DEDUPLICATE_TEXTS = True


def _attach_message_analysis(con: duckdb.DuckDBPyConnection) -> None:
    """Language, sentiment and crisis flags for new patient messages, computed once."""
    from analytics.text import analyze_messages

    rows = con.execute(
        "SELECT f_message_id, f_text FROM classified "
        "WHERE outcome IN ('new', 'update') AND f_sender = 'patient'"
    ).fetchall()
    texts = [text for _, text in rows]
    if DEDUPLICATE_TEXTS:
        distinct = list(dict.fromkeys(texts))
        analysed = dict(zip(distinct, analyze_messages(distinct), strict=True))
        results = [analysed[text] for text in texts]
    else:
        results = analyze_messages(texts)
    frame = pl.DataFrame(
        {
            "message_id": [mid for mid, _ in rows],
            "language": [r.language for r in results],
            "sentiment": [r.sentiment for r in results],
            "sentiment_note": [r.sentiment_note for r in results],
            "crisis_level": [r.crisis_level for r in results],
            "crisis_matched": [r.evidence for r in results],
            "language_confidence": [r.language_confidence for r in results],
            "crisis_category": [r.category for r in results],
            "crisis_about_other": [r.about_other for r in results],
            "crisis_reason": [r.reason for r in results],
        },
        schema={
            "message_id": pl.String,
            "language": pl.String,
            "sentiment": pl.Float64,
            "sentiment_note": pl.String,
            "crisis_level": pl.String,
            "crisis_matched": pl.String,
            "language_confidence": pl.Float64,
            "crisis_category": pl.String,
            "crisis_about_other": pl.Boolean,
            "crisis_reason": pl.String,
        },
    )
    con.register("message_analysis_frame", frame)
    con.execute(
        "CREATE OR REPLACE TEMP TABLE message_analysis AS SELECT * FROM message_analysis_frame"
    )
    con.unregister("message_analysis_frame")


def reanalyse_messages(con: duckdb.DuckDBPyConnection) -> int:
    """Re-analyse stored patient messages that an older detector analysed.

    Their ``language_confidence`` is NULL (the column came with this version; every
    message analysed since has a value), and an old ``none`` could not tell "checked"
    from "not checked". Returns the number of messages re-analysed.
    """
    from analytics.text import analyze_messages

    rows = con.execute(
        "SELECT message_id, text FROM messages "
        "WHERE sender = 'patient' AND language_confidence IS NULL AND text IS NOT NULL"
    ).fetchall()
    if not rows:
        return 0
    results = analyze_messages([text for _, text in rows])
    frame = pl.DataFrame(
        {
            "message_id": [mid for mid, _ in rows],
            "language": [r.language for r in results],
            "language_confidence": [r.language_confidence for r in results],
            "sentiment": [r.sentiment for r in results],
            "sentiment_note": [r.sentiment_note for r in results],
            "crisis_level": [r.crisis_level for r in results],
            "crisis_matched": [r.evidence for r in results],
            "crisis_category": [r.category for r in results],
            "crisis_about_other": [r.about_other for r in results],
            "crisis_reason": [r.reason for r in results],
        },
        schema_overrides={
            "message_id": pl.String,
            "language": pl.String,
            "sentiment": pl.Float64,
            "sentiment_note": pl.String,
            "crisis_matched": pl.String,
            "crisis_category": pl.String,
            "crisis_reason": pl.String,
        },
    )
    con.register("reanalysed_frame", frame)
    try:
        con.execute(
            """UPDATE messages AS m SET
                 language = r.language, language_confidence = r.language_confidence,
                 sentiment = r.sentiment, sentiment_note = r.sentiment_note,
                 crisis_level = r.crisis_level, crisis_matched = r.crisis_matched,
                 crisis_category = r.crisis_category,
                 crisis_about_other = r.crisis_about_other, crisis_reason = r.crisis_reason
               FROM reanalysed_frame r WHERE m.message_id = r.message_id"""
        )
    finally:
        con.unregister("reanalysed_frame")
    return len(rows)


def _already_ingested(con: duckdb.DuckDBPyConnection, digest: str, table: str) -> tuple | None:
    return con.execute(
        """SELECT run_id, logged_at FROM ingest_log
           WHERE sha256 = ? AND "table" = ? AND status = 'stored' ORDER BY run_id LIMIT 1""",
        [digest, table],
    ).fetchone()


def _log(con: duckdb.DuckDBPyConnection, run_id: int, s: FileSummary) -> None:
    con.execute(
        "INSERT INTO ingest_log VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, now())",
        [
            run_id,
            s.file,
            s.sha256,
            s.table,
            s.status,
            s.rows_read,
            s.stored,
            s.updated,
            s.duplicates,
            s.quarantined,
            json.dumps(s.reasons),
            json.dumps(list(s.extra_columns)),
            s.message,
        ],
    )


def _table_for(path: Path, forced: str | None) -> Table:
    if forced is not None:
        if forced not in TABLES:
            raise FileRejected(f"unknown table {forced!r}; expected one of {', '.join(TABLES)}")
        return TABLES[forced]
    table = table_for_stem(path.stem)
    if table is None:
        raise FileRejected(
            f"unknown table: the file name {path.name!r} does not start with a table name; "
            f"expected one of {', '.join(TABLES)} (or name it with --table)"
        )
    return table


def ingest(
    paths: Sequence[str | os.PathLike[str]],
    *,
    settings: Settings,
    table: str | None = None,
    strict: bool = False,
    force: bool = False,
) -> IngestResult:
    """Ingest files into the warehouse. Takes the pipeline lock for the whole run.

    Each file is stored all or nothing in its own transaction; with ``strict`` the whole
    batch is one transaction that is rolled back if any row would be quarantined or any
    file rejected. ``force`` re-reads files whose content was ingested before (keys are
    still de-duplicated).
    """
    data_dir = DataDir(settings.data_dir)
    files, summaries = expand_paths(paths)
    planned: list[tuple[Path, Table | None, str | None]] = []
    for path in files:
        try:
            planned.append((path, _table_for(path, table), None))
        except FileRejected as exc:
            planned.append((path, None, str(exc)))
    order = {name: i for i, name in enumerate(INGEST_ORDER)}
    planned.sort(key=lambda p: (order.get(p[1].name, -1) if p[1] else -1, str(p[0])))

    with pipeline_lock(data_dir, purpose="ingest"):
        con = open_warehouse(data_dir, settings=settings)
        try:
            reanalyse_messages(con)
            # We hold the lock, so a run still marked running was killed: say so.
            con.execute(
                "UPDATE ingest_runs SET status = 'failed', finished_at = now() "
                "WHERE status = 'running'"
            )
            run_id = con.execute("SELECT nextval('run_ids')").fetchone()[0]
            con.execute(
                "INSERT INTO ingest_runs VALUES (?, now(), NULL, ?, 'running')", [run_id, strict]
            )
            result = IngestResult(run_id=run_id, strict=strict, files=summaries)
            if strict and summaries:
                _finish(con, run_id, result, status="rejected")
                return result
            if strict:
                con.begin()
            for path, tbl, problem in planned:
                started = time.perf_counter()
                summary = _ingest_file(
                    con,
                    path,
                    tbl,
                    problem,
                    run_id=run_id,
                    settings=settings,
                    strict=strict,
                    force=force,
                )
                summary.seconds = round(time.perf_counter() - started, 3)
                result.files.append(summary)
                if strict and (summary.status == "rejected" or summary.quarantined):
                    break
            if strict:
                if result.exit_code == 0:
                    con.commit()
                else:
                    con.rollback()
                    for s in result.files:
                        if s.status == "stored":
                            s.status = "not written"
            for s in result.files:
                _log(con, run_id, s)
            _finish(con, run_id, result, status="failed" if result.exit_code else "ok")
            if any(s.table == "clinicians" and s.stored + s.updated for s in result.files):
                sync_clinician_status(
                    data_dir,
                    con.execute("SELECT clinician_id, active FROM clinicians").fetchall(),
                )
            return result
        finally:
            con.close()


def _finish(
    con: duckdb.DuckDBPyConnection, run_id: int, result: IngestResult, *, status: str
) -> None:
    con.execute(
        "UPDATE ingest_runs SET finished_at = now(), status = ? WHERE run_id = ?", [status, run_id]
    )


def _ingest_file(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    table: Table | None,
    problem: str | None,
    *,
    run_id: int,
    settings: Settings,
    strict: bool,
    force: bool,
) -> FileSummary:
    summary = FileSummary(file=str(path), table=table.name if table else None, status="stored")
    if problem is not None or table is None:
        summary.status, summary.message = "rejected", problem
        return summary
    try:
        frame, digest = read_raw(path, limits=Limits.from_settings(settings))
        summary.sha256 = digest
        previous = None if force else _already_ingested(con, digest, table.name)
        if previous is not None:
            summary.status = "skipped"
            summary.rows_read = frame.height
            summary.duplicates = frame.height
            summary.message = f"already ingested (run {previous[0]}); 0 new rows"
            return summary
        frame, summary.extra_columns = normalise_columns(frame, table)
    except FileRejected as exc:
        summary.status, summary.message = "rejected", str(exc)
        return summary
    if strict:
        _ingest_one(con, path, table, frame, run_id=run_id, settings=settings, summary=summary)
        return summary
    con.begin()
    try:
        _ingest_one(con, path, table, frame, run_id=run_id, settings=settings, summary=summary)
        _fault_point("before-commit")
        con.commit()
    except BaseException:
        con.rollback()
        raise
    return summary


def _fault_point(name: str) -> None:
    """Crash-test hook: pause here when ``CASELOAD_FAULT_PAUSE`` names this point.

    The test suite uses it to SIGKILL an ingest in the middle of a file's transaction.
    """
    if os.environ.get("CASELOAD_FAULT_PAUSE") == name:
        marker = os.environ.get("CASELOAD_FAULT_MARKER")
        if marker:
            Path(marker).write_text(str(os.getpid()), encoding="utf-8")
        time.sleep(float(os.environ.get("CASELOAD_FAULT_SECONDS", "60")))


# --- quarantine ------------------------------------------------------------------------


@dataclass(frozen=True)
class QuarantinedRow:
    """One quarantined row: where it came from and what was wrong (no cell values)."""

    run_id: int
    file: str
    line: int
    table: str
    column: str
    reason: str
    other_problems: str | None


def quarantined_rows(
    con: duckdb.DuckDBPyConnection, *, table: str | None = None
) -> list[QuarantinedRow]:
    """Quarantined rows, oldest first, optionally for one table."""
    sql = """SELECT run_id, file, line, "table", "column", reason, other_problems
             FROM quarantine WHERE (? IS NULL OR "table" = ?) ORDER BY run_id, file, line"""
    return [QuarantinedRow(*row) for row in con.execute(sql, [table, table]).fetchall()]


def export_quarantine(
    con: duckdb.DuckDBPyConnection, out_dir: Path, *, table: str | None = None
) -> list[Path]:
    """Write quarantined rows as contract files, one per table, ready to fix and re-ingest.

    Each file has the table's columns as they were read plus ``_file``, ``_line`` and
    ``_reason`` (extra columns, which ingest ignores).
    """
    private_dir(out_dir)
    written: list[Path] = []
    tables: Iterable[str] = [table] if table else TABLES
    for name in tables:
        rows = con.execute(
            'SELECT record, file, line, reason FROM quarantine WHERE "table" = ? ORDER BY run_id, file, line',
            [name],
        ).fetchall()
        if not rows:
            continue
        cols = TABLES[name].column_names
        data = {c: [json.loads(r[0]).get(c) for r in rows] for c in cols}
        data["_file"] = [r[1] for r in rows]
        data["_line"] = [r[2] for r in rows]
        data["_reason"] = [r[3] for r in rows]
        # A quarantined cell is whatever the source file held: neutralise formulas.
        data = {k: [csv_safe(v) for v in vals] for k, vals in data.items()}
        path = out_dir / f"{name}-quarantined.csv"
        frame = pl.DataFrame(
            data, schema={k: (pl.Int64 if k == "_line" else pl.String) for k in data}
        )
        with open_private(path, "wb") as fh:
            frame.write_csv(fh)
        written.append(path)
    return written


def reason_counts(summaries: Iterable[FileSummary]) -> Counter[str]:
    """Quarantine reasons across files, for a run's closing line."""
    total: Counter[str] = Counter()
    for s in summaries:
        total.update(s.reasons)
    return total
