"""Row 12: one disclosure rule for every manager aggregate: a rate is shown only with at
least n patients in the group, n with the outcome and n without (primary), and hidden
figures cannot be recovered from the shown ones and the total (complementary)."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analytics.access.disclosure import counts, disclose, discloses, passes, suppress_small

N = 11
PAIR = {"recovery_rate": ("recovered", "known")}


@pytest.mark.attack(12)
@pytest.mark.parametrize(("num", "den"), [(3, 23), (33, 34), (10, 40), (5, 5), (0, 30)])
def test_small_numerator_or_complement_is_not_shown(num, den):
    out = disclose(pl.DataFrame({"recovered": [num], "known": [den]}), PAIR, N)
    assert out["recovery_rate"].to_list() == [None]
    assert out["recovered"].to_list() == [None]


def test_a_safe_rate_is_shown_exactly():
    out = disclose(pl.DataFrame({"recovered": [15], "known": [30]}), PAIR, N)
    assert out["recovery_rate"].to_list() == [0.5] and out["recovered"].to_list() == [15]


@pytest.mark.attack(12)
def test_complementary_suppression_within_a_site():
    frame = pl.DataFrame(
        {
            "site": ["a", "a", "a", "b"],
            "recovered": [15, 3, 20, 12],
            "known": [30, 23, 40, 30],
        }
    )
    out = disclose(frame, PAIR, N, within="site")
    # 3/23 fails; hidden alone, the site total minus the others would give it away, so
    # the next smallest (15/30) goes too: pooled 18/53 passes.
    assert out["recovery_rate"].to_list() == [None, None, 0.5, 0.4]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from("ab"), st.integers(0, 60), st.integers(0, 60)),
        min_size=1,
        max_size=8,
    )
)
def test_every_shown_rate_passes_and_hidden_rows_pool_safely(rows):
    frame = pl.DataFrame(
        {
            "site": [r[0] for r in rows],
            "recovered": [min(r[1], r[1] + r[2]) for r in rows],
            "known": [r[1] + r[2] for r in rows],
        }
    )
    out = disclose(frame, PAIR, N, within="site")
    shown = out.filter(pl.col("recovery_rate").is_not_null())
    assert all(discloses(a, b, N) for a, b in shown.select("recovered", "known").rows())
    for site in frame["site"].unique():
        part = frame.with_columns(hidden=out["recovery_rate"].is_null()).filter(
            pl.col("site") == site
        )
        gone = part.filter(pl.col("hidden"))
        if gone.height and gone.height < part.height:
            assert discloses(gone["recovered"].sum(), gone["known"].sum(), N)


@pytest.mark.attack(12)
def test_two_small_rows_are_not_left_to_be_recovered_together():
    """Two rows hidden for their size still add up by subtraction (site total minus the
    shown ones): their pool must pass the rule too, so the next smallest is hidden."""
    frame = pl.DataFrame({"site": ["a"] * 4, "n": [3, 4, 30, 40]})
    out = suppress_small(frame, "n", N, within="site")
    assert out["suppressed"].to_list() == [True, True, True, False]
    assert out["n"].to_list() == [None, None, None, 40]


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 40), st.integers(0, 40), st.integers(0, 15))
def test_the_proportion_rule_is_the_group_rule(num, rest, k):
    """discloses (the manager's rates) and the audit's primary rule on patient rows are one
    rule: a proportion num/den passes exactly when its group of patients does."""
    den = num + rest
    y = np.array([1] * num + [0] * rest, dtype=np.int8)
    assert discloses(num, den, k) == passes(counts(np.arange(den), y, None), k)
