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
A suppressed group keeps its name and a note; none of its figures (counts, rates,
intervals, ratios, calibration bins, coverage shares, what-if rows) is ever computed
into the result, so no output format can show one.
"""

from __future__ import annotations

from analytics.access.disclosure import suppress_table

__all__ = ["suppress_table"]
