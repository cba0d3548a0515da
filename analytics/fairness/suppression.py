"""Small-group suppression: which groups are shown, and which only by name.

The rule (``k`` is the minimum cell size, 11 by default):

1. Primary. A group is suppressed unless it has at least ``k`` patients, at least ``k``
   patients with the outcome and at least ``k`` without it (rows stand for patients when
   there is no patient id). So every count shown is at least ``k``, and every rate shown
   has a denominator of at least ``k`` people.
2. Complementary. Published totals must not give a suppressed group away by
   subtraction. Inside every table, take each slice that a published margin adds up
   (for a single attribute: the whole population; for an intersection A & B: each value
   of A across B, and each value of B across A). The suppressed groups of a slice,
   pooled, must pass the primary rule themselves (or be none); while they do not, the
   smallest shown group of the slice is suppressed too.

A suppressed group keeps its name and a note; none of its figures (counts, rates,
intervals, ratios, calibration bins, coverage shares, what-if rows) is ever computed
into the result, so no output format can show one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Counts:
    """The disclosure-relevant counts of a set of rows."""

    rows: int
    positives: int  # rows with the outcome
    patients: int
    patients_with: int  # patients with the outcome in at least one row
    patients_without: int  # patients without it in at least one row


def counts(rows: np.ndarray, y: np.ndarray, unit: np.ndarray | None) -> Counts:
    """Counts of the rows ``rows`` (indices) of outcome ``y`` and patient codes ``unit``."""
    yy = y[rows].astype(bool)
    positives = int(yy.sum())
    if unit is None:
        return Counts(len(rows), positives, len(rows), positives, len(rows) - positives)
    u = unit[rows]
    return Counts(
        rows=len(rows),
        positives=positives,
        patients=len(np.unique(u)),
        patients_with=len(np.unique(u[yy])),
        patients_without=len(np.unique(u[~yy])),
    )


def size_note(k: int) -> str:
    return f"suppressed (n < {k})"


def outcome_note(k: int) -> str:
    return f"suppressed (fewer than {k} with or without the outcome)"


def complementary_note(k: int) -> str:
    return f"suppressed (complementary: would reveal a group of fewer than {k})"


def primary(c: Counts, k: int) -> str | None:
    """The suppression note of a group failing the primary rule, else None."""
    if c.patients < k:
        return size_note(k)
    if c.patients_with < k or c.patients_without < k:
        return outcome_note(k)
    return None


def passes(c: Counts, k: int) -> bool:
    return primary(c, k) is None


def suppress_table(
    values: list[tuple[str, ...]],
    rows: list[np.ndarray],
    y: np.ndarray,
    unit: np.ndarray | None,
    k: int,
) -> dict[int, str]:
    """Group index -> suppression note, for the groups of one table (primary, then
    complementary until every slice is safe)."""
    if k <= 0:
        return {}
    cell = [counts(r, y, unit) for r in rows]
    notes = {i: note for i, c in enumerate(cell) if (note := primary(c, k)) is not None}
    width = len(values[0]) if values else 0
    slices: list[list[int]] = []
    for drop in range(width):
        by_parent: dict[tuple[str, ...], list[int]] = {}
        for i, v in enumerate(values):
            by_parent.setdefault(v[:drop] + v[drop + 1 :], []).append(i)
        slices += list(by_parent.values())
    changed = True
    while changed:
        changed = False
        for members in slices:
            hidden = [i for i in members if i in notes]
            if not hidden:
                continue
            pooled = counts(np.concatenate([rows[i] for i in hidden]), y, unit)
            if passes(pooled, k):
                continue
            shown = [i for i in members if i not in notes]
            if not shown:
                continue
            smallest = min(shown, key=lambda i: (cell[i].rows, i))
            notes[smallest] = complementary_note(k)
            changed = True
    return notes
