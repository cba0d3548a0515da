"""Reading and checking a predictions frame: any CSV or Parquet file a researcher brings,
or a frame in memory (polars or pandas)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import polars as pl

MISSING = "(missing)"

_TRUE = {"1", "1.0", "true", "t", "yes", "y"}
_FALSE = {"0", "0.0", "false", "f", "no", "n"}


class AuditInputError(ValueError):
    """The predictions cannot be audited as asked (missing column, bad values...)."""


def read_predictions(path: str | os.PathLike[str]) -> pl.DataFrame:
    """A CSV or Parquet predictions file as a polars frame."""
    path = Path(path)
    if not path.is_file():
        raise AuditInputError(f"{path}: no such file")
    try:
        with path.open("rb") as fh:
            magic = fh.read(4)
        if magic == b"PAR1" or path.suffix.lower() in {".parquet", ".pq"}:
            return pl.read_parquet(path)
        return pl.read_csv(path, infer_schema_length=10_000, try_parse_dates=True)
    except (pl.exceptions.PolarsError, OSError, ValueError) as exc:
        raise AuditInputError(f"{path}: cannot be read as CSV or Parquet ({exc})") from exc


def as_polars(frame) -> pl.DataFrame:
    """A polars frame from a polars or pandas frame."""
    if isinstance(frame, pl.DataFrame):
        return frame
    if isinstance(frame, pl.LazyFrame):
        return frame.collect()
    try:
        import pandas as pd  # optional input type: polars is what the audit computes on
    except ImportError:  # pragma: no cover - pandas is a dependency
        pd = None
    if pd is not None and isinstance(frame, pd.DataFrame):
        return pl.from_pandas(frame)
    raise AuditInputError(f"expected a polars or pandas DataFrame, got {type(frame).__name__}")


def require_columns(frame: pl.DataFrame, columns: Sequence[str], source: str) -> None:
    """Raise naming the source, the missing columns and the columns found."""
    missing = [c for c in dict.fromkeys(columns) if c not in frame.columns]
    if missing:
        raise AuditInputError(
            f"{source}: missing column{'s' if len(missing) > 1 else ''} "
            f"{', '.join(repr(c) for c in missing)}; found: {', '.join(frame.columns) or 'none'}"
        )


def _examples(values: Sequence[object]) -> str:
    shown = sorted({str(v) for v in values})[:5]
    return ", ".join(repr(v) for v in shown)


def binary_array(series: pl.Series, what: str, source: str) -> np.ndarray:
    """0/1 (float, NaN for null) from booleans, 0/1 numbers or yes/no-like strings."""
    if series.dtype == pl.Boolean:
        return series.cast(pl.Float64).to_numpy()
    if series.dtype.is_numeric():
        values = series.cast(pl.Float64).to_numpy()
        bad = ~np.isnan(values) & (values != 0) & (values != 1)
        if bad.any():
            raise AuditInputError(
                f"{source}: {what} column {series.name!r} must hold 0/1; found {_examples(values[bad])}"
            )
        return values
    text = series.cast(pl.String).str.strip_chars().str.to_lowercase()
    known = text.is_in(sorted(_TRUE | _FALSE)) | text.is_null() | (text == "")
    if not known.all():
        raise AuditInputError(
            f"{source}: {what} column {series.name!r} must hold 0/1 or true/false; "
            f"found {_examples(text.filter(~known).to_list())}"
        )
    out = np.full(len(text), np.nan)
    arr = text.to_numpy()
    out[np.isin(arr, list(_TRUE))] = 1.0
    out[np.isin(arr, list(_FALSE))] = 0.0
    return out


def score_array(series: pl.Series, source: str, *, binary: bool) -> np.ndarray:
    """Scores as floats (NaN for null): probabilities in [0, 1], or 0/1 when binary."""
    if binary:
        return binary_array(series, "score", source)
    if series.dtype == pl.Boolean or not series.dtype.is_numeric():
        raise AuditInputError(
            f"{source}: score column {series.name!r} must be numeric probabilities "
            f"(found type {series.dtype}); use --score-is-binary for 0/1 decisions"
        )
    values = series.cast(pl.Float64).to_numpy()
    bad = ~np.isnan(values) & ((values < 0) | (values > 1))
    if bad.any():
        raise AuditInputError(
            f"{source}: score column {series.name!r} must hold probabilities in [0, 1]; "
            f"{int(bad.sum()):,} values are outside"
        )
    return values


def attribute_array(series: pl.Series) -> np.ndarray:
    """Group values as strings; null and empty become ``(missing)``."""
    text = series.cast(pl.String).str.strip_chars()
    return text.fill_null(MISSING).replace("", MISSING).to_numpy().astype(object)


def unit_codes(series: pl.Series) -> np.ndarray:
    """Integer patient codes in sorted order of the ids (so codes never depend on row
    order)."""
    ids = series.cast(pl.String).to_numpy().astype(object)
    nulls = np.flatnonzero(ids == None)  # noqa: E711 - elementwise: a row without an id is its own patient
    ids[nulls] = [f"\x00row{i}" for i in nulls]
    _, codes = np.unique(ids.astype(str), return_inverse=True)
    return codes.astype(np.int64)
