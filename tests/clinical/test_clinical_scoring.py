"""Instrument names, totals, severity bands and the item-9 flag."""

from dataclasses import replace

import pytest

from analytics.clinical import (
    GAD7,
    PHQ9,
    item9_flag,
    max_total,
    normalise_instrument,
    severity_band,
    total,
)
from analytics.settings import ClinicalSettings

DEFAULTS = ClinicalSettings()


@pytest.mark.parametrize(
    "name",
    ["PHQ-9", "PHQ9", "phq-9", " phq 9 ", "Phq_9", "\tPHQ - 9\n"],
)
def test_phq9_spellings(name: str) -> None:
    assert normalise_instrument(name) == PHQ9


@pytest.mark.parametrize("name", ["GAD-7", "GAD7", "gad-7", " gad 7 ", "GAD_7"])
def test_gad7_spellings(name: str) -> None:
    assert normalise_instrument(name) == GAD7


@pytest.mark.parametrize(
    "name", ["", "PHQ", "PHQ-8", "PHQ-2", "GAD-2", "GAD 9", "PHQ-99", "P HQ9x", "BDI-II", "9-PHQ"]
)
def test_other_names_are_not_instruments(name: str) -> None:
    assert normalise_instrument(name) is None


def test_non_string_is_not_an_instrument() -> None:
    assert normalise_instrument(None) is None  # type: ignore[arg-type]
    assert normalise_instrument(9) is None  # type: ignore[arg-type]


def test_max_total() -> None:
    assert max_total("phq9") == 27
    assert max_total(GAD7) == 21


# --- totals


def test_phq9_total() -> None:
    assert total("PHQ-9", [0, 1, 2, 3, 0, 1, 2, 3, 1]) == 13
    assert total("PHQ-9", [3] * 9) == 27
    assert total("PHQ-9", [0] * 9) == 0


def test_gad7_total_with_or_without_empty_items_8_and_9() -> None:
    assert total("GAD-7", [1, 2, 3, 0, 1, 2, 3]) == 12
    assert total("gad7", [1, 2, 3, 0, 1, 2, 3, None, None]) == 12


@pytest.mark.parametrize(
    ("instrument", "items", "message"),
    [
        ("PHQ-9", [1] * 8, "9 items"),
        ("PHQ-9", [1] * 10, "9 items"),
        ("GAD-7", [1] * 8, "7 items"),
        ("GAD-7", [1] * 7 + [1, None], "7 items"),
        ("PHQ-9", [1] * 8 + [None], "item 9 is missing"),
        ("PHQ-9", [1] * 8 + [4], "expected 0 to 3"),
        ("GAD-7", [-1] + [1] * 6, "expected 0 to 3"),
        ("GAD-7", [1.5] + [1] * 6, "whole number"),
        ("GAD-7", [True] + [1] * 6, "whole number"),
        ("BDI", [1] * 21, "unknown instrument"),
    ],
)
def test_bad_items_raise(instrument: str, items: list, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        total(instrument, items)


# --- severity bands: every edge

PHQ9_EDGES = [
    (0, "minimal"),
    (4, "minimal"),
    (5, "mild"),
    (9, "mild"),
    (10, "moderate"),
    (14, "moderate"),
    (15, "moderately severe"),
    (19, "moderately severe"),
    (20, "severe"),
    (27, "severe"),
]
GAD7_EDGES = [
    (0, "minimal"),
    (4, "minimal"),
    (5, "mild"),
    (9, "mild"),
    (10, "moderate"),
    (14, "moderate"),
    (15, "severe"),
    (21, "severe"),
]


@pytest.mark.parametrize(("score", "band"), PHQ9_EDGES)
def test_phq9_band_edges(score: int, band: str) -> None:
    assert severity_band("PHQ-9", score) == band
    assert severity_band("PHQ-9", score, settings=DEFAULTS) == band


@pytest.mark.parametrize(("score", "band"), GAD7_EDGES)
def test_gad7_band_edges(score: int, band: str) -> None:
    assert severity_band("GAD-7", score) == band
    assert severity_band("GAD-7", score, settings=DEFAULTS) == band


def test_band_accepts_aliases_and_integral_floats() -> None:
    assert severity_band("phq 9", 10) == "moderate"
    assert severity_band("GAD7", 8.0) == "mild"


@pytest.mark.parametrize(
    ("instrument", "score", "message"),
    [
        ("PHQ-9", 28, r"PHQ-9 total 28 is out of range; expected 0 to 27"),
        ("PHQ-9", -1, r"PHQ-9 total -1 is out of range; expected 0 to 27"),
        ("GAD-7", 22, r"GAD-7 total 22 is out of range; expected 0 to 21"),
        ("GAD-7", -1, r"GAD-7 total -1 is out of range; expected 0 to 21"),
        ("GAD-7", 9.5, "whole number"),
        ("GAD-7", float("nan"), "whole number"),
        ("GAD-7", None, "whole number"),
        ("GAD-7", True, "whole number"),
        ("PHQ-8", 5, "unknown instrument 'PHQ-8'; expected PHQ-9 or GAD-7"),
    ],
)
def test_band_out_of_range_raises(instrument: str, score: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        severity_band(instrument, score)  # type: ignore[arg-type]


def test_band_settings_override() -> None:
    custom = replace(
        DEFAULTS,
        phq9_bands=((0, 9, "low"), (10, 27, "high")),
        gad7_bands=((0, 7, "below cut-off"), (8, 21, "above cut-off")),
    )
    assert severity_band("PHQ-9", 9, settings=custom) == "low"
    assert severity_band("PHQ-9", 10, settings=custom) == "high"
    assert severity_band("GAD-7", 7, settings=custom) == "below cut-off"
    assert severity_band("GAD-7", 8, settings=custom) == "above cut-off"
    # the default answer differs, so the override really was used
    assert severity_band("GAD-7", 8) == "mild"


@pytest.mark.parametrize(
    "bands",
    [
        ((0, 4, "a"), (6, 27, "b")),  # gap at 5
        ((0, 5, "a"), (5, 27, "b")),  # overlap at 5
        ((0, 4, "a"), (5, 26, "b")),  # does not reach 27
        ((1, 27, "a"),),  # does not start at 0
        ((5, 27, "b"), (0, 4, "a")),  # out of order
    ],
)
def test_bad_band_settings_raise(bands: tuple) -> None:
    with pytest.raises(ValueError, match="PHQ-9 bands in settings must cover 0 to 27"):
        severity_band("PHQ-9", 5, settings=replace(DEFAULTS, phq9_bands=bands))


# --- item 9


@pytest.mark.parametrize(("answer", "flag"), [(0, False), (1, True), (2, True), (3, True)])
def test_item9_flag(answer: int, flag: bool) -> None:
    assert item9_flag(answer) is flag


def test_missing_item9_gives_no_flag() -> None:
    # No positive signal to show; the module never turns None into 0 (see the frame tests).
    assert item9_flag(None) is False


@pytest.mark.parametrize("answer", [-1, 4, 1.5, True])
def test_item9_out_of_range_raises(answer: object) -> None:
    with pytest.raises(ValueError, match="item 9"):
        item9_flag(answer)  # type: ignore[arg-type]
