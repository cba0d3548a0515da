"""Small-group suppression in a bias audit: which groups are shown, and which only by name.

The rule is the product's one disclosure rule (:mod:`analytics.access.disclosure`, where
it is stated in full), so the audit hides exactly what the model cards, the manager's
overview and the research export hide. ``k`` is the minimum cell size (11 by default):

1. Primary. A group is suppressed unless it has at least ``k`` patients, at least ``k``
   patients with the outcome and at least ``k`` without it (rows stand for patients when
   there is no patient id).
2. Complementary. Inside every table, in each slice that a published margin adds up (for
   a single attribute: the whole population; for an intersection A & B: each value of A
   across B, and each value of B across A), the suppressed groups pooled must pass the
   primary rule (or be none); while they do not, the smallest shown group is suppressed.
3. Linked tables, which is what this module adds: an audit publishes an attribute's table
   and its intersections side by side, so an intersection cell under a value suppressed
   in a coarser table is suppressed too (else the cells would add up to that value).

A suppressed group keeps its name and a note; none of its figures (counts, rates,
intervals, ratios, calibration bins, coverage shares, what-if rows) is ever computed
into the result, so no output format can show one.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from analytics.access.disclosure import complementary_note, suppress_table

__all__ = ["suppress_tables"]


def suppress_tables(
    tables: Sequence[tuple[tuple[str, ...], list[tuple[str, ...]], list[np.ndarray], bool]],
    y: np.ndarray,
    unit: np.ndarray | None,
    k: int,
) -> list[dict[int, str]]:
    """Suppression notes (group index -> note) for each table of one audit.

    ``tables``: (attributes, group values, group rows, linked) per table; ``linked`` tables
    (attributes and their intersections, not coverage splits) are margins of one another.
    Coarser tables are decided first, whatever their order, so a value hidden in one is
    hidden in every linked table that refines it.
    """
    hidden: dict[tuple[str, ...], set[tuple[str, ...]]] = {}
    notes: list[dict[int, str]] = [{} for _ in tables]
    for t in sorted(range(len(tables)), key=lambda t: len(tables[t][0])):
        attributes, values, rows, linked = tables[t]
        inherited = {}
        if linked:
            for coarse, gone in hidden.items():
                if not gone or not set(coarse) < set(attributes):
                    continue
                where = [attributes.index(a) for a in coarse]
                for i, v in enumerate(values):
                    if tuple(v[j] for j in where) in gone:
                        inherited[i] = complementary_note(k)
        notes[t] = suppress_table(values, rows, y, unit, k, inherited=inherited)
        if linked:
            hidden[attributes] = {values[i] for i in notes[t]}
    return notes
