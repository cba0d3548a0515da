"""Grouping free-text categories."""

from __future__ import annotations

import polars as pl

from analytics.access.disclosure import fold_spellings


def test_case_and_space_variants_take_the_commonest_spelling():
    values = pl.Series("g", ["Male", "male", " Male ", "MALE", "female", "Female", None])
    assert fold_spellings(values).to_list() == [
        "Male",
        "Male",
        "Male",
        "Male",
        "Female",
        "Female",
        None,
    ]


def test_ties_go_to_the_alphabetically_first_spelling():
    assert fold_spellings(pl.Series(["es", "ES"])).to_list() == ["ES", "ES"]
