"""Small-cell suppression: the one rule for every figure shown about a group of patients.

``k`` is the minimum cell size (``min_cell_size``, 11 by default).

1. Primary (:func:`primary`). A group's figures are shown only if it has at least ``k``
   patients and, for a figure about an outcome, at least ``k`` patients with the outcome
   and ``k`` without it. A count of people with no outcome (active patients) needs only
   the ``k`` patients. "3 of 23" and "33 of 34" both single out a handful of people, so
   a rate needs both sides. Rows stand for patients when there is no patient id.
2. Complementary (:func:`complementary`). Published totals must not give a hidden group
   away by subtraction. In every slice that a published margin adds up (the whole table
   under its total; for an intersection A & B, each value of A across B and each value
   of B across A; the clinicians of one site under the site's row), the hidden groups
   pooled must pass the primary rule themselves (or be none); while they do not, the
   smallest shown group of the slice is hidden too.
3. Linked tables. A group hidden in a margin keeps every group that refines it hidden
   (an intersection cell under a hidden attribute value, a clinician under a hidden
   site): otherwise the refined cells would add up to the hidden margin and undo 2.

Every audience (the manager's overview, the model cards, the bias audit, the research
export) applies this rule, so none sees a figure another may not.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl


@dataclass(frozen=True)
class Counts:
    """The disclosure-relevant counts of a group. The outcome fields are None for a count
    of people that says nothing about an outcome."""

    rows: int
    positives: int | None = None  # rows with the outcome
    patients: int | None = None  # defaults to rows (one row per patient)
    patients_with: int | None = None  # patients with the outcome in at least one row
    patients_without: int | None = None  # patients without it in at least one row

    @property
    def people(self) -> int:
        return self.rows if self.patients is None else self.patients


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
    """The primary rule: the suppression note of a group that fails it, else None."""
    if k <= 0:
        return None
    if c.people < k:
        return size_note(k)
    if c.patients_with is not None and (c.patients_with < k or (c.patients_without or 0) < k):
        return outcome_note(k)
    return None


def passes(c: Counts, k: int) -> bool:
    return primary(c, k) is None


def discloses(num: float | None, den: float | None, minimum: int) -> bool:
    """The primary rule for a proportion of patients ``num`` of ``den``: at least
    ``minimum`` in the group, with and without the outcome."""
    if num is None or den is None:
        return False
    n, d = int(num), int(den)
    return passes(Counts(rows=d, positives=n, patients_with=n, patients_without=d - n), minimum)


def complementary(
    notes: dict[int, str],
    slices: Iterable[Sequence[int]],
    *,
    pooled: Callable[[list[int]], Counts],
    size: Callable[[int], float],
    k: int,
) -> dict[int, str]:
    """Complementary suppression: ``notes`` (group index -> note, the hidden groups) grown
    until, in every slice, the hidden groups pooled pass the primary rule (or there are
    none, or nothing is left to hide). ``pooled`` counts a set of groups together (sums,
    or distinct patients); the smallest shown group by ``size`` (then index) goes first."""
    notes = dict(notes)
    slices = [list(s) for s in slices]
    changed = True
    while changed:
        changed = False
        for members in slices:
            hidden = [i for i in members if i in notes]
            if not hidden or passes(pooled(hidden), k):
                continue
            shown = [i for i in members if i not in notes]
            if not shown:
                continue
            notes[min(shown, key=lambda i: (size(i), i))] = complementary_note(k)
            changed = True
    return notes


def suppress_table(
    values: list[tuple[str, ...]],
    rows: list[np.ndarray],
    y: np.ndarray,
    unit: np.ndarray | None,
    k: int,
    *,
    inherited: Mapping[int, str] | None = None,
) -> dict[int, str]:
    """Group index -> suppression note for one table of groups (one attribute, or an
    intersection: ``values`` are tuples of one value per attribute, ``rows`` each group's
    row indices into outcome ``y`` and patient codes ``unit``). Primary, then
    complementary over every slice a margin adds up. ``inherited``: groups already hidden
    because a margin that they refine is hidden (rule 3), with their notes."""
    if k <= 0:
        return {}
    cell = [counts(r, y, unit) for r in rows]
    notes = {i: note for i, c in enumerate(cell) if (note := primary(c, k)) is not None}
    for i, note in (inherited or {}).items():
        notes.setdefault(i, note)
    width = len(values[0]) if values else 0
    slices: list[list[int]] = []
    for drop in range(width):
        by_parent: dict[tuple[str, ...], list[int]] = {}
        for i, v in enumerate(values):
            by_parent.setdefault(v[:drop] + v[drop + 1 :], []).append(i)
        slices += list(by_parent.values())
    return complementary(
        notes,
        slices,
        pooled=lambda hidden: counts(np.concatenate([rows[i] for i in hidden]), y, unit),
        size=lambda i: cell[i].rows,
        k=k,
    )


def _slices(frame: pl.DataFrame, within: str | None) -> list[list[int]]:
    """Row positions of each slice: the whole table, or each ``within`` group."""
    if within is None:
        return [list(range(frame.height))]
    return [
        part["_row"].to_list()
        for _, part in frame.with_row_index("_row").group_by(within, maintain_order=True)
    ]


def _mask(hidden: Iterable[int], height: int) -> pl.Series:
    gone = set(hidden)
    return pl.Series([i in gone for i in range(height)], dtype=pl.Boolean)


def suppress_small(
    frame: pl.DataFrame,
    count: str,
    minimum: int,
    *,
    within: str | None = None,
    hide: pl.Series | None = None,
) -> pl.DataFrame:
    """Blank every figure of a row whose ``count`` of patients fails the primary rule,
    and of the rows complementary suppression adds in each ``within`` group (the whole
    table when None, whose total is shown elsewhere). ``hide``: rows hidden regardless
    (under a hidden margin). Adds a boolean ``suppressed`` column."""
    figures = [c for c in frame.columns if frame[c].dtype.is_numeric()]
    n = frame[count].to_list()
    notes = {
        i: note
        for i in range(frame.height)
        if (note := primary(Counts(rows=int(n[i] or 0)), minimum)) is not None
    }
    if hide is not None:
        notes.update({i: complementary_note(minimum) for i in hide.arg_true().to_list()})
    notes = complementary(
        notes,
        _slices(frame, within),
        pooled=lambda hidden: Counts(rows=sum(int(n[i] or 0) for i in hidden)),
        size=lambda i: n[i] or 0,
        k=minimum,
    )
    small = _mask(notes, frame.height)
    return frame.with_columns(
        [pl.when(small).then(None).otherwise(pl.col(c)).alias(c) for c in figures]
        + [small.alias("suppressed")]
    )


def disclose(
    frame: pl.DataFrame,
    rates: dict[str, tuple[str, str]],
    minimum: int,
    *,
    within: str | None = None,
    margins: bool = True,
    hide: Mapping[str, pl.Series] | None = None,
) -> pl.DataFrame:
    """Each rate (numerator / denominator, patients) and its numerator shown only where
    :func:`discloses` holds; then complementary suppression in every ``within`` group (the
    whole table when None, whose total is shown elsewhere). ``margins=False`` when no
    published figure adds the rows up (weeks, in which the same patients recur).
    ``hide``: per rate, rows hidden regardless (under a hidden margin).

    A numerator or denominator already blanked (None) counts as 0 when hidden rows are
    pooled, which can only hide more.
    """
    out = frame
    slices = _slices(frame, within) if margins else []
    for rate, (num, den) in rates.items():
        nums, dens = frame[num].to_list(), frame[den].to_list()
        notes = {
            i: "primary" for i in range(frame.height) if not discloses(nums[i], dens[i], minimum)
        }
        if hide is not None and rate in hide:
            notes.update({i: "margin" for i in hide[rate].arg_true().to_list()})

        def pooled(hidden: list[int], nums=nums, dens=dens) -> Counts:
            a = sum(int(nums[i] or 0) for i in hidden)
            b = sum(int(dens[i] or 0) for i in hidden)
            return Counts(rows=b, positives=a, patients_with=a, patients_without=b - a)

        notes = complementary(
            notes, slices, pooled=pooled, size=lambda i, dens=dens: dens[i] or 0, k=minimum
        )
        mask = _mask(notes, frame.height)
        out = out.with_columns(
            pl.when(mask).then(None).otherwise(pl.col(num) / pl.col(den)).alias(rate),
            pl.when(mask).then(None).otherwise(pl.col(num)).alias(num),
        )
    return out
