"""Reliable change: the NHS fixed thresholds and the Jacobson–Truax RCI."""

import math
from dataclasses import replace

import pytest

from analytics.clinical import ReliableChange, rci, rci_change, reliable_change
from analytics.settings import ClinicalSettings

DEFAULTS = ClinicalSettings()
IMPROVED = "reliable improvement"
WORSE = "reliable deterioration"
SAME = "no reliable change"


@pytest.mark.parametrize(
    ("baseline", "latest", "expected"),
    [
        (15, 10, SAME),  # -5: just short
        (15, 9, IMPROVED),  # -6: exactly the threshold
        (15, 0, IMPROVED),
        (10, 15, SAME),  # +5
        (10, 16, WORSE),  # +6
        (21, 27, WORSE),
        (12, 12, SAME),
    ],
)
def test_phq9_threshold_is_six(baseline: int, latest: int, expected: str) -> None:
    assert reliable_change("PHQ-9", baseline, latest, settings=DEFAULTS) == expected
    assert reliable_change("PHQ-9", baseline, latest) == expected


@pytest.mark.parametrize(
    ("baseline", "latest", "expected"),
    [
        (12, 9, SAME),  # -3
        (12, 8, IMPROVED),  # -4
        (8, 11, SAME),  # +3
        (8, 12, WORSE),  # +4
        (0, 21, WORSE),
        (5, 5, SAME),
    ],
)
def test_gad7_threshold_is_four(baseline: int, latest: int, expected: str) -> None:
    assert reliable_change("GAD-7", baseline, latest, settings=DEFAULTS) == expected


def test_result_is_a_plain_string_enum() -> None:
    result = reliable_change("GAD-7", 12, 8)
    assert result is ReliableChange.IMPROVEMENT
    assert isinstance(result, str)
    assert f"{result}" == "reliable improvement"


def test_threshold_comes_from_settings() -> None:
    strict = replace(DEFAULTS, phq9_reliable_change=5, gad7_reliable_change=5)
    assert reliable_change("PHQ-9", 15, 10, settings=strict) == IMPROVED
    assert reliable_change("PHQ-9", 15, 10) == SAME
    assert reliable_change("GAD-7", 12, 8, settings=strict) == SAME
    assert reliable_change("GAD-7", 12, 8) == IMPROVED


@pytest.mark.parametrize(
    ("instrument", "baseline", "latest"),
    [("PHQ-9", 28, 10), ("PHQ-9", 10, -1), ("GAD-7", 22, 10), ("GAD-7", 10, 25)],
)
def test_out_of_range_totals_raise(instrument: str, baseline: int, latest: int) -> None:
    with pytest.raises(ValueError, match="out of range; expected 0 to"):
        reliable_change(instrument, baseline, latest)


# --- Jacobson–Truax


def test_rci_known_answer() -> None:
    # SD 5, r 0.84: SEdiff = 5 * sqrt(2) * sqrt(0.16) = 5 * 1.414214 * 0.4 = 2.828427.
    # 18 -> 12 is -6 / 2.828427 = -2.121320 (= -3 / sqrt(2)).
    value = rci(18, 12, sd_baseline=5, reliability=0.84)
    assert value == pytest.approx(-2.1213203, abs=1e-6)
    assert value == pytest.approx(-3 / math.sqrt(2))
    assert rci_change(18, 12, sd_baseline=5, reliability=0.84) == IMPROVED


def test_rci_second_known_answer() -> None:
    # SD 6, r 0.75: SEdiff = 6 * 1.414214 * 0.5 = 4.242641; +8 / 4.242641 = 1.885618.
    value = rci(10, 18, sd_baseline=6, reliability=0.75)
    assert value == pytest.approx(1.885618, abs=1e-6)
    assert rci_change(10, 18, sd_baseline=6, reliability=0.75) == SAME
    # +9 / 4.242641 = 2.121320 > 1.96
    assert rci_change(10, 19, sd_baseline=6, reliability=0.75) == WORSE


def test_rci_critical_value_is_strict() -> None:
    # SD 1, r 0.5: SEdiff = sqrt(2) * sqrt(0.5) = 1, so the RCI is the raw change.
    assert rci(0, 1.96, sd_baseline=1, reliability=0.5) == pytest.approx(1.96)
    assert rci_change(0, 1.96, sd_baseline=1, reliability=0.5) == SAME
    assert rci_change(0, 1.97, sd_baseline=1, reliability=0.5) == WORSE
    assert rci_change(0, -1.97, sd_baseline=1, reliability=0.5) == IMPROVED
    assert rci_change(0, 1.5, sd_baseline=1, reliability=0.5, critical=1.0) == WORSE


@pytest.mark.parametrize(
    ("sd", "r", "message"),
    [
        (0, 0.8, "sd_baseline"),
        (-1, 0.8, "sd_baseline"),
        (float("nan"), 0.8, "sd_baseline"),
        (5, 1.0, "reliability"),
        (5, -0.1, "reliability"),
        (5, float("nan"), "reliability"),
    ],
)
def test_rci_bad_parameters_raise(sd: float, r: float, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        rci(10, 5, sd_baseline=sd, reliability=r)
