"""Data coverage by group: the usual roots of unequal performance.

A coverage measure is a column of the predictions frame: a yes/no flag (the patient had
wearable data, wrote in a language with sentiment support, checked in regularly), or a
share in [0, 1] (the fraction of recent days with wearable data). By group, a flag is
reported as the share of patients with it and a share as its mean over patients (each
patient's own rows averaged first, so a patient with many predictions counts once).
Unknown values are left out of both numerator and denominator.

Each measure also splits the predictions into those made with and without the data
("yes": the flag is set, or the share is at least one half), and the audit compares the
model's performance across that split: the direct evidence that missing data, rather
than the group itself, drives a gap.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl

from analytics.fairness._inputs import MISSING, AuditInputError, binary_array

# Recognised column names, tried in order, when the caller names no coverage columns.
DEFAULT_COVERAGE: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "wearable data",
        (
            "has_wearable",
            "wearable_data",
            "coverage_wearable",
            "wearable_coverage_14d",
            "wearable_coverage",
        ),
    ),
    (
        "sentiment available",
        ("sentiment_available", "has_sentiment", "supported_language", "coverage_sentiment"),
    ),
    (
        "regular check-ins",
        ("regular_checkins", "coverage_checkins", "checkin_adherence_28d", "checkin_adherence"),
    ),
)


@dataclass(frozen=True)
class CoverageMeasure:
    label: str  # "wearable data"
    column: str
    kind: str  # "share" (a yes/no flag) or "mean" (a share in [0, 1])


def resolve(
    columns: Sequence[str], coverage: Mapping[str, str] | Sequence[str] | bool | None
) -> list[tuple[str, str]]:
    """(label, column) pairs: the named ones, or the recognised defaults present."""
    if coverage is False:
        return []
    if coverage is None or coverage is True:
        found = []
        for label, candidates in DEFAULT_COVERAGE:
            column = next((c for c in candidates if c in columns), None)
            if column:
                found.append((label, column))
        return found
    if isinstance(coverage, Mapping):
        return [(str(label), str(col)) for label, col in coverage.items()]
    if isinstance(coverage, str):
        coverage = [c.strip() for c in coverage.split(",") if c.strip()]
    return [(str(col), str(col)) for col in coverage]


def measure_values(
    frame: pl.DataFrame, pairs: list[tuple[str, str]], source: str
) -> tuple[list[CoverageMeasure], np.ndarray]:
    """The measures and their values (rows x measures; NaN where unknown)."""
    measures, columns = [], []
    for label, column in pairs:
        series = frame[column]
        if series.dtype.is_numeric() and series.dtype != pl.Boolean:
            values = series.cast(pl.Float64).to_numpy()
            known = values[~np.isnan(values)]
            if known.size and ((known < 0) | (known > 1)).any():
                raise AuditInputError(
                    f"{source}: coverage column {column!r} must hold yes/no or shares in [0, 1]"
                )
            kind = "share" if np.isin(known, (0.0, 1.0)).all() else "mean"
        else:
            values = binary_array(series, "coverage", source)
            kind = "share"
        measures.append(CoverageMeasure(label, column, kind))
        columns.append(values)
    matrix = np.column_stack(columns) if columns else np.zeros((frame.height, 0))
    return measures, matrix


def split_values(values: np.ndarray) -> np.ndarray:
    """Each prediction as made with ("yes") or without ("no") the data, or (missing)."""
    out = np.where(values >= 0.5, "yes", "no").astype(object)
    out[np.isnan(values)] = MISSING
    return out
