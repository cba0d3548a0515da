"""Row 12: one disclosure rule for every manager aggregate: a rate is shown only with at
least n patients in the group, n with the outcome and n without (primary), and hidden
figures cannot be recovered from the shown ones and the total (complementary), nor from a
finer table (clinicians) under a hidden row of a coarser one (sites)."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analytics.access.disclosure import counts, disclose, discloses, passes, suppress_small
from analytics.views.manager import _site_and_clinician_tables

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


def _manager_tables():
    """Three sites: 'small' (5 patients) fails the rule; 'mid' (22) is hidden only so that
    the clinic total cannot give 'small' away; its two clinicians (11 each) pass."""
    rows = [("small", "c1", 5), ("mid", "c2", 11), ("mid", "c3", 11)]
    rows += [("big", f"c{i}", 30) for i in range(4, 7)]
    per_clinician = pl.DataFrame(
        {
            "site_id": [r[0] for r in rows],
            "clinician_id": [r[1] for r in rows],
            "active_patients": [r[2] for r in rows],
        }
    ).with_columns(
        engaged_7d=pl.col("active_patients") // 2,
        improved=pl.col("active_patients") // 2,
        improved_known=pl.col("active_patients"),
        recovered=pl.col("active_patients") // 2,
        recovery_known=pl.col("active_patients"),
        with_wearable=pl.col("active_patients") // 2,
    )
    by_site = per_clinician.group_by("site_id").agg(pl.exclude("clinician_id").sum())
    return per_clinician, *_site_and_clinician_tables(by_site.sort("site_id"), per_clinician, N)


@pytest.mark.attack(12)
def test_clinicians_of_a_hidden_site_are_hidden_too():
    """Shown, mid's clinicians would add up to mid (22), and the clinic total minus mid and
    big would give the 5 patients of 'small' away."""
    per_clinician, sites, clinicians = _manager_tables()
    # Within their site alone, mid's clinicians pass: the link is what hides them.
    alone = suppress_small(per_clinician, "active_patients", N, within="site_id")
    assert not alone.filter(pl.col("site_id") == "mid")["suppressed"].any()
    hidden_sites = set(sites.filter(pl.col("suppressed"))["site_id"])
    assert hidden_sites == {"small", "mid"}
    mid = clinicians.filter(pl.col("site_id") == "mid")
    assert mid["suppressed"].to_list() == [True, True]
    assert mid["active_patients"].to_list() == [None, None]
    assert mid["engaged_7d_rate"].to_list() == [None, None]
    # big's clinicians are still shown, each with 30 patients
    big = clinicians.filter(pl.col("site_id") == "big")
    assert big["active_patients"].to_list() == [30, 30, 30]
    # the site table's hidden rows pool to 27 patients: nothing under 11 is left alone
    assert N <= 5 + 22
