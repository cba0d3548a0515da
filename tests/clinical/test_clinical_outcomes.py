"""Paired NHS Talking Therapies outcomes: caseness, recovery, reliable improvement,
deterioration and recovery, and how missing measures are handled."""

from dataclasses import FrozenInstanceError, replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from analytics.clinical import (
    OutcomeStatus,
    PairedOutcome,
    caseness,
    paired_outcome,
)
from analytics.settings import ClinicalSettings

DEFAULTS = ClinicalSettings()


def outcome(
    phq9: tuple[int | None, int | None],
    gad7: tuple[int | None, int | None],
    settings: ClinicalSettings = DEFAULTS,
) -> PairedOutcome:
    return paired_outcome(
        phq9_baseline=phq9[0],
        phq9_latest=phq9[1],
        gad7_baseline=gad7[0],
        gad7_latest=gad7[1],
        settings=settings,
    )


# --- caseness


@pytest.mark.parametrize(
    ("phq9", "gad7", "expected"),
    [
        (9, 7, False),  # below both
        (10, 7, True),  # PHQ-9 at its threshold
        (9, 8, True),  # GAD-7 at its threshold
        (10, 8, True),
        (0, 0, False),
        (27, 21, True),
    ],
)
def test_caseness_edges(phq9: int, gad7: int, expected: bool) -> None:
    assert caseness(phq9, gad7, settings=DEFAULTS) is expected
    assert caseness(phq9, gad7) is expected


@pytest.mark.parametrize(
    ("phq9", "gad7", "expected"),
    [
        (10, None, True),  # the present measure decides it
        (None, 8, True),
        (9, None, None),  # a low PHQ-9 says nothing about anxiety
        (None, 7, None),
        (None, None, None),
    ],
)
def test_caseness_with_a_missing_measure(
    phq9: int | None, gad7: int | None, expected: bool | None
) -> None:
    assert caseness(phq9, gad7) is expected


def test_caseness_settings_override() -> None:
    custom = replace(DEFAULTS, phq9_caseness=12, gad7_caseness=10)
    assert caseness(10, 8) is True
    assert caseness(10, 8, settings=custom) is False
    assert caseness(12, 0, settings=custom) is True
    assert caseness(0, 10, settings=custom) is True


def test_caseness_out_of_range_raises() -> None:
    with pytest.raises(ValueError, match="GAD-7 total 22 is out of range; expected 0 to 21"):
        caseness(5, 22)


# --- recovery


def test_not_a_case_at_baseline_is_not_applicable() -> None:
    result = outcome((9, 3), (7, 2))
    assert result.caseness_at_baseline is False
    assert result.recovered is None
    assert result.reliably_recovered is None


def test_below_both_thresholds_at_latest_is_recovered() -> None:
    result = outcome((15, 9), (12, 7))
    assert result.caseness_at_baseline is True
    assert result.recovered is True


def test_gad7_at_threshold_at_latest_is_not_recovered() -> None:
    result = outcome((15, 9), (12, 8))
    assert result.recovered is False
    assert result.reliably_recovered is False


def test_phq9_at_threshold_at_latest_is_not_recovered() -> None:
    assert outcome((15, 10), (12, 7)).recovered is False


def test_case_on_gad7_alone_recovers() -> None:
    result = outcome((4, 4), (8, 7))
    assert result.caseness_at_baseline is True
    assert result.recovered is True
    assert result.reliably_improved is False  # GAD-7 fell 1, PHQ-9 unchanged
    assert result.status == OutcomeStatus.RECOVERY


def test_recovery_uses_caseness_settings() -> None:
    custom = replace(DEFAULTS, gad7_caseness=10)
    # default: a case at baseline that is still a case (GAD-7 8)
    assert outcome((15, 5), (12, 8)).recovered is False
    assert outcome((15, 5), (12, 8), custom).recovered is True


# --- reliable improvement / deterioration for the pair


@pytest.mark.parametrize(
    ("phq9", "gad7", "improved", "deteriorated", "status"),
    [
        ((20, 14), (12, 12), True, False, OutcomeStatus.RELIABLE_IMPROVEMENT),  # PHQ -6
        ((20, 15), (12, 12), False, False, OutcomeStatus.NO_RELIABLE_CHANGE),  # PHQ -5
        ((20, 20), (14, 10), True, False, OutcomeStatus.RELIABLE_IMPROVEMENT),  # GAD -4
        ((20, 20), (14, 11), False, False, OutcomeStatus.NO_RELIABLE_CHANGE),  # GAD -3
        ((20, 14), (14, 10), True, False, OutcomeStatus.RELIABLE_IMPROVEMENT),  # both down
        ((10, 16), (12, 12), False, True, OutcomeStatus.RELIABLE_DETERIORATION),  # PHQ +6
        ((10, 15), (12, 12), False, False, OutcomeStatus.NO_RELIABLE_CHANGE),  # PHQ +5
        ((10, 10), (10, 14), False, True, OutcomeStatus.RELIABLE_DETERIORATION),  # GAD +4
        ((10, 10), (10, 13), False, False, OutcomeStatus.NO_RELIABLE_CHANGE),  # GAD +3
        ((20, 14), (10, 14), False, False, OutcomeStatus.MIXED),  # one up, one down
        ((10, 16), (14, 10), False, False, OutcomeStatus.MIXED),
    ],
)
def test_pair_reliable_change(
    phq9: tuple[int, int],
    gad7: tuple[int, int],
    improved: bool,
    deteriorated: bool,
    status: OutcomeStatus,
) -> None:
    result = outcome(phq9, gad7)
    assert result.reliably_improved is improved
    assert result.reliably_deteriorated is deteriorated
    assert result.status == status
    kwargs = {
        "phq9_baseline": phq9[0],
        "phq9_latest": phq9[1],
        "gad7_baseline": gad7[0],
        "gad7_latest": gad7[1],
    }
    result = paired_outcome(**kwargs)
    assert result.reliably_improved is improved
    assert result.reliably_deteriorated is deteriorated


def test_reliable_recovery_needs_recovery_and_reliable_improvement() -> None:
    both = outcome((15, 9), (12, 7))  # PHQ -6, both below thresholds
    assert both.reliably_improved is True
    assert both.reliably_recovered is True
    assert both.status == OutcomeStatus.RELIABLE_RECOVERY

    recovered_only = outcome((10, 9), (8, 7))  # below both, but only by a point
    assert recovered_only.recovered is True
    assert recovered_only.reliably_improved is False
    assert recovered_only.reliably_recovered is False
    assert recovered_only.status == OutcomeStatus.RECOVERY

    improved_only = outcome((25, 19), (12, 12))
    assert improved_only.reliably_improved is True
    assert improved_only.recovered is False
    assert improved_only.reliably_recovered is False
    assert improved_only.status == OutcomeStatus.RELIABLE_IMPROVEMENT


def test_deterioration_outranks_recovery_in_status() -> None:
    # A GAD-7 case at baseline whose PHQ-9 rises by 6 to 8: below both thresholds (so
    # "recovered" by the definition) yet reliably deteriorated. The status shows the
    # deterioration.
    result = outcome((2, 8), (8, 7))
    assert result.recovered is True
    assert result.reliably_deteriorated is True
    assert result.reliably_recovered is False
    assert result.status == OutcomeStatus.RELIABLE_DETERIORATION


def test_pair_reliable_change_uses_settings() -> None:
    custom = replace(DEFAULTS, phq9_reliable_change=5)
    assert outcome((20, 15), (12, 12)).reliably_improved is False
    assert outcome((20, 15), (12, 12), custom).reliably_improved is True


def test_per_measure_changes_are_reported() -> None:
    result = outcome((20, 14), (10, 14))
    assert result.phq9_reliable_change == "reliable improvement"
    assert result.gad7_reliable_change == "reliable deterioration"
    assert (result.phq9_baseline, result.phq9_latest) == (20, 14)
    assert (result.gad7_baseline, result.gad7_latest) == (10, 14)


# --- missing measures are explicit, never a silent False


def test_phq9_only_history() -> None:
    result = outcome((15, 5), (None, None))
    assert result.caseness_at_baseline is True  # PHQ-9 15 decides it
    assert result.recovered is None  # GAD-7 might still be at or above 8
    assert result.reliably_improved is None  # GAD-7 might have deteriorated
    assert result.reliably_deteriorated is False  # PHQ-9 improved, which rules it out
    assert result.reliably_recovered is None
    assert result.gad7_reliable_change is None
    assert result.status == OutcomeStatus.UNDETERMINED


def test_still_a_case_is_determined_despite_a_missing_measure() -> None:
    result = outcome((15, 12), (None, None))
    assert result.recovered is False
    assert result.reliably_recovered is False


def test_deterioration_with_other_measure_missing_is_undetermined() -> None:
    result = outcome((5, 11), (None, None))
    assert result.caseness_at_baseline is None
    assert result.recovered is None
    assert result.reliably_improved is False
    assert result.reliably_deteriorated is None
    assert result.status == OutcomeStatus.UNDETERMINED


def test_missing_latest_on_one_measure() -> None:
    result = outcome((15, 5), (12, None))
    assert result.caseness_at_baseline is True
    assert result.recovered is None
    assert result.reliably_improved is None


def test_nothing_known() -> None:
    result = outcome((None, None), (None, None))
    assert result.caseness_at_baseline is None
    assert result.recovered is None
    assert result.reliably_improved is None
    assert result.reliably_deteriorated is None
    assert result.reliably_recovered is None
    assert result.status == OutcomeStatus.UNDETERMINED


def test_pair_functions_are_keyword_only_and_result_is_frozen() -> None:
    with pytest.raises(TypeError):
        paired_outcome(15, 9, 12, 7)  # type: ignore[misc]
    result = outcome((15, 9), (12, 7))
    with pytest.raises(FrozenInstanceError):
        result.recovered = False  # type: ignore[misc]


def test_pair_out_of_range_raises() -> None:
    with pytest.raises(ValueError, match="PHQ-9 total 30 is out of range; expected 0 to 27"):
        outcome((30, 5), (10, 5))


# --- soundness: a determined answer with missing data never changes when filled in

phq9_scores = st.integers(0, 27)
gad7_scores = st.integers(0, 21)


@given(
    full=st.tuples(phq9_scores, phq9_scores, gad7_scores, gad7_scores),
    hidden=st.tuples(st.booleans(), st.booleans(), st.booleans(), st.booleans()),
)
def test_determined_answers_survive_filling_in_missing_scores(
    full: tuple[int, int, int, int], hidden: tuple[bool, bool, bool, bool]
) -> None:
    partial = tuple(None if h else v for v, h in zip(full, hidden, strict=True))
    complete = outcome((full[0], full[1]), (full[2], full[3]))
    masked = outcome((partial[0], partial[1]), (partial[2], partial[3]))
    for field in (
        "caseness_at_baseline",
        "recovered",
        "reliably_improved",
        "reliably_deteriorated",
        "reliably_recovered",
    ):
        if getattr(masked, field) is not None:
            assert getattr(masked, field) == getattr(complete, field), field
    # complete data always determines the change facts and the status
    assert complete.reliably_improved is not None
    assert complete.reliably_deteriorated is not None
    assert complete.status != OutcomeStatus.UNDETERMINED
    if masked.status != OutcomeStatus.UNDETERMINED:
        assert masked.status == complete.status
