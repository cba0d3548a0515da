"""Grouping free-text categories: spellings, languages, the attribute list, pooling."""

from __future__ import annotations

import polars as pl

from analytics.access.disclosure import (
    ATTRIBUTES,
    OTHER,
    fold_category,
    fold_language,
    fold_spellings,
    k_anonymise,
    language_name,
    pool_rare,
)


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


def test_inner_spaces_unicode_forms_and_accents_are_one_spelling():
    composed, decomposed = "Latin\u00e9", "Latine\u0301"  # the same word, two encodings
    values = pl.Series(["Non  binary", "non binary", "Non binary", composed, decomposed, "Latine"])
    assert fold_spellings(values).to_list() == ["Non binary"] * 3 + [composed] * 3
    # shown composed: the two encodings are one spelling (2 of 3), and they outnumber "Latine"


# Language: recorded value -> the one group it is in.
LANGUAGE_KNOWN = {
    "es": "Spanish",
    "ES": "Spanish",
    "es-MX": "Spanish",
    "Español": "Spanish",
    "espanol": "Spanish",
    "spanish": "Spanish",
    "EN": "English",
    "en-US": "English",
    "en_GB": "English",
    " english ": "English",
    "zh-Hant": "Chinese",
    "中文": "Chinese",
    "한국어": "Korean",
    "Kreyòl ayisyen": "Haitian Creole",
    "Tiếng Việt": "Vietnamese",
    "português": "Portuguese",
    "Русский": "Russian",
}


def test_language_codes_tags_and_names_fold_to_one_language():
    values = pl.Series("primary_language", [*LANGUAGE_KNOWN, None])
    assert fold_language(values).to_list() == [*LANGUAGE_KNOWN.values(), None]
    assert fold_category(values, "primary_language").to_list() == [*LANGUAGE_KNOWN.values(), None]
    assert {language_name(v) for v in LANGUAGE_KNOWN} == set(LANGUAGE_KNOWN.values())


def test_values_outside_the_language_table_keep_their_folded_spelling():
    values = pl.Series(["Mandarin", "mandarin", "Mandarin", "Cantonese", "Somali ", "xx-YY"])
    assert fold_language(values).to_list() == [
        "Mandarin",
        "Mandarin",
        "Mandarin",
        "Cantonese",  # not Chinese: a different spoken language for interpreting
        "Somali",
        "xx-YY",  # a tag whose language is not in the table stays as written
    ]
    assert language_name("Mandarin") is None and language_name("xx-YY") is None


def test_only_the_language_attribute_is_folded_by_language():
    # "es" is a language code, but as an insurance or a gender it is just a spelling.
    values = pl.Series(["es", "ES", "Español"])
    assert fold_category(values, "insurance").to_list() == ["ES", "ES", "Español"]
    assert fold_category(values, "primary_language").to_list() == ["Spanish"] * 3


def test_the_attribute_list_is_the_demographics_with_the_age_band():
    assert ATTRIBUTES == (
        "gender",
        "race_ethnicity",
        "primary_language",
        "insurance",
        "rurality",
        "age_band",
    )


def test_rare_values_are_pooled_until_the_pool_is_large_enough():
    values = pl.Series(["a"] * 20 + ["b"] * 12 + ["c"] * 3 + ["d"] * 2 + [None])
    pooled, n = pool_rare(values, 11)
    # c (3) and d (2) make a pool of 5: b, the next smallest, joins it (17)
    assert n == 3
    assert pooled.value_counts().sort("count").rows() == [(None, 1), (OTHER, 17), ("a", 20)]
    same, none = pool_rare(pl.Series(["a"] * 11 + ["b"] * 11), 11)
    assert none == 0 and same.to_list() == ["a"] * 11 + ["b"] * 11


def test_k_anonymise_pools_whole_classes_until_the_residual_reaches_k():
    """After every quasi-identifier of the small classes is suppressed, 3 rows remain alone
    in the all-suppressed class; the smallest whole class (5 rows of site b) joins it, so
    every class has at least k rows and no row is lost."""
    rows = (
        [("a", "x")] * 6  # a class of 6: kept
        + [("b", "y")] * 5  # a class of 5: the smallest whole class, pooled
        + [("c", "z"), ("d", "z"), ("e", "w")]  # three singletons
    )
    frame = pl.DataFrame(rows, schema=["site", "gender"], orient="row")
    out, report = k_anonymise(frame, quasi=("site", "gender"), k=5, order=("gender", "site"))
    assert out.height == frame.height
    assert report["k"] == 6 and report["below_k"] == 0 and report["whole_classes_pooled"] == 1
    counts = dict(
        out.group_by("site", "gender").len().select(pl.concat_str("site", "gender"), "len").rows()
    )
    assert counts == {"ax": 6, f"{OTHER}{OTHER}": 8}
