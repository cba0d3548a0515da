"""Finding, opening, limiting and parsing input files: each file's cells as text with the
line each record starts on, or :class:`FileRejected` naming the problem.

Messages here name a line or a column's position, and a column's name only when it is a
contract column: a file without a header row has a patient's values where its names
should be.
"""

from __future__ import annotations

import csv
import glob
import hashlib
import io
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from analytics.data.contract import TABLES, Table, table_for_stem
from analytics.data.ingest._summary import FileRejected, FileSummary, rejected
from analytics.settings import Settings

__all__ = [
    "KNOWN_NAMES",
    "LINE",
    "SUPPORTED_SUFFIXES",
    "Limits",
    "RawFile",
    "expand_paths",
    "normalise_name",
    "read_raw",
    "shown",
    "table_for",
    "check_names",
]

LINE = "_line"  # contract columns never start with "_", so this cannot collide
SUPPORTED_SUFFIXES = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}


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
                rejected(str(candidate), None, "is a symbolic link; name the file itself")
            )
        elif root is not None and not candidate.resolve().is_relative_to(root):
            problems.append(
                rejected(str(candidate), None, f"links outside the named directory {root}")
            )
        else:
            files.append(candidate)

    for raw in paths:
        text = str(raw)
        if any(ch in text for ch in "*?["):
            matches = sorted(Path(m) for m in glob.glob(text, recursive=True))
            if not matches:
                problems.append(rejected(text, None, "no file matches this pattern"))
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
            problems.append(rejected(text, None, "no such file or directory"))
    unique = list(dict.fromkeys(files))
    return unique, problems


def table_for(path: Path, forced: str | None) -> Table:
    """The contract table a file holds: the one ``--table`` names, else its name's."""
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
    import pyarrow.parquet as pq  # a heavy import that only Parquet files need

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
    check_names(header)
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
KNOWN_NAMES = frozenset(c.name for t in TABLES.values() for c in t.columns)


def normalise_name(name: str) -> str:
    """A header name as the contract matches it: trimmed (a stray BOM too), lower-case."""
    return name.strip().lstrip("\ufeff").strip().lower()


def shown(name: str) -> str:
    """A header name fit for a message: quoted if it is a contract column, else not shown."""
    norm = normalise_name(name)
    return repr(norm) if norm in KNOWN_NAMES else "(a name that is not a contract column)"


def check_names(names: Sequence[str]) -> None:
    """Refuse a file that names a column twice (after :func:`normalise_name`), for CSV
    before polars renames the repeat and for Parquet, whose names may differ in case."""
    seen: dict[str, int] = {}
    for position, original in enumerate(names, start=1):
        norm = normalise_name(original)
        if norm in seen:
            raise FileRejected(
                f"columns {seen[norm]} and {position} have the same name {shown(original)}; "
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
    check_names(frame.columns)
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
