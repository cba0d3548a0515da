"""Point metrics: hand-computed answers, and brute-force reference implementations of the
definitions the project used before scikit-learn computed them (so a change of
convention in either would show)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analytics.metrics import (
    auroc,
    average_precision,
    brier,
    calibration_bins,
    calibration_error,
    confusion,
    ece_bin,
    rates,
)

# Labels with scores on a 0.05 grid: plenty of ties, the case conventions differ on.
labelled = st.lists(
    st.tuples(st.integers(0, 1), st.integers(0, 20).map(lambda i: i / 20)),
    min_size=1,
    max_size=40,
)


def _arrays(pairs):
    y, s = zip(*pairs, strict=True)
    return np.array(y, dtype=float), np.array(s)


def mann_whitney(y, s) -> float:
    """Every positive-negative pair: 1 if the positive scores higher, 1/2 for a tie."""
    pos, neg = s[y == 1], s[y == 0]
    if not len(pos) or not len(neg):
        return math.nan
    wins = sum((p > n) + 0.5 * (p == n) for p in pos for n in neg)
    return wins / (len(pos) * len(neg))


def precision_at_each_threshold(y, s) -> float:
    """Average precision: at each distinct score from the top, the recall gained times the
    precision of flagging everything at or above it."""
    if y.sum() == 0:
        return math.nan
    total = 0.0
    for t in sorted(set(s.tolist()), reverse=True):
        at = s == t
        flagged = s >= t
        total += (y[at].sum() / y.sum()) * (y[flagged].sum() / flagged.sum())
    return total


def test_auroc_hand_computed_with_a_tie():
    y = np.array([0, 0, 1, 1, 0, 1])
    s = np.array([0.1, 0.4, 0.35, 0.8, 0.35, 0.9])
    # Positive-negative pairs (9): 0.35 vs 0.1 win, vs 0.4 lose, vs 0.35 tie;
    # 0.8 and 0.9 win all three. (1 + 0 + 0.5 + 3 + 3) / 9.
    assert auroc(y, s) == pytest.approx(7.5 / 9)
    assert auroc(np.array([1, 0]), np.array([0.5, 0.5])) == 0.5


def test_undefined_metrics_are_nan_not_zero():
    assert math.isnan(auroc(np.array([1, 1]), np.array([0.2, 0.3])))
    assert math.isnan(auroc(np.array([0, 0]), np.array([0.2, 0.3])))
    # scikit-learn's average precision without positives is 0; it is undefined.
    assert math.isnan(average_precision(np.array([0, 0]), np.array([0.2, 0.3])))
    assert math.isnan(brier(np.array([]), np.array([])))
    assert math.isnan(calibration_error(np.array([]), np.array([])))
    r = rates(np.array([0, 0, 0]), np.array([True, False, False]))
    assert math.isnan(r["tpr"]) and math.isnan(r["fnr"])
    assert r["fpr"] == pytest.approx(1 / 3)
    assert math.isnan(rates(np.array([1, 0]), np.array([False, False]))["ppv"])


def test_average_precision_hand_computed():
    y = np.array([1, 0, 1, 0])
    s = np.array([0.9, 0.8, 0.7, 0.1])
    # From the top: P=1 at R=0.5, then P=2/3 at R=1 -> 0.5*1 + 0.5*2/3.
    assert average_precision(y, s) == pytest.approx(0.5 + 1 / 3)


def test_brier_and_calibration_error_hand_computed():
    y = np.array([0, 1, 1, 0])
    p = np.array([0.1, 0.9, 0.6, 0.2])
    assert brier(y, p) == pytest.approx((0.01 + 0.01 + 0.16 + 0.04) / 4)
    # Bins: [0.1] -> |0.1-0|, [0.2] -> |0.2-0|, [0.6] -> |0.6-1|, [0.9] -> |0.9-1|.
    assert calibration_error(y, p) == pytest.approx((0.1 + 0.2 + 0.4 + 0.1) / 4)
    # One outcome only: still the mean squared error, against that outcome.
    assert brier(np.array([1, 1]), np.array([0.2, 0.3])) == pytest.approx((0.64 + 0.49) / 2)


def test_calibration_error_is_zero_when_perfect():
    y = np.array([1, 0, 0, 0, 1, 1, 1, 0])
    s = np.array([0.25, 0.25, 0.25, 0.25, 0.75, 0.75, 0.75, 0.75])
    assert calibration_error(y, s) == pytest.approx(0.0)


def test_calibration_bins_hand_computed():
    y = np.array([0, 1, 1, 0, 1])
    p = np.array([0.05, 0.15, 0.95, 1.0, 0.1])
    # 0.1 belongs to the second bin and 1.0 to the last: floor(10 p), capped at 9.
    assert ece_bin(p).tolist() == [0, 1, 9, 9, 1]
    bins = calibration_bins(y, p)
    assert [(lo, n) for lo, n, _, _ in bins] == [(0.0, 1), (0.1, 2), (0.9, 2)]
    assert bins[1][2:] == (pytest.approx(0.125), 1.0)
    assert bins[2][2:] == (pytest.approx(0.975), 0.5)


def test_confusion_and_rates_hand_computed():
    # Flagged = rows 0, 1, 3, 7 -> TP 3 (0, 1, 7), FP 1 (3), FN 1 (2), TN 3.
    y = np.array([1, 1, 1, 0, 0, 0, 0, 1])
    s = np.array([0.9, 0.8, 0.3, 0.7, 0.2, 0.1, 0.4, 0.6])
    assert confusion(y, s >= 0.5) == (3, 1, 1, 3)
    assert rates(y, s >= 0.5) == {
        "prevalence": 0.5,
        "selection_rate": 0.5,
        "tpr": 0.75,
        "fpr": 0.25,
        "fnr": 0.25,
        "ppv": 0.75,
        "accuracy": 0.75,
    }
    # An outcome that never occurs still gets its row of the matrix.
    assert confusion(np.array([0, 0]), np.array([False, True])) == (0, 1, 0, 1)
    assert confusion(np.array([]), np.array([])) == (0, 0, 0, 0)


def test_inputs_are_checked():
    with pytest.raises(ValueError, match="finite"):
        auroc(np.array([0, 1]), np.array([0.2, np.nan]))
    with pytest.raises(ValueError, match="0 or 1"):
        brier(np.array([0, 2]), np.array([0.2, 0.3]))
    with pytest.raises(ValueError, match="equal length"):
        average_precision(np.array([0, 1]), np.array([0.2]))


@settings(max_examples=150, deadline=None)
@given(labelled)
def test_agree_with_the_definitions_by_brute_force(pairs):
    y, s = _arrays(pairs)
    assert auroc(y, s) == pytest.approx(mann_whitney(y, s), nan_ok=True)
    assert average_precision(y, s) == pytest.approx(precision_at_each_threshold(y, s), nan_ok=True)
    assert brier(y, s) == pytest.approx(np.mean([(a - b) ** 2 for a, b in zip(s, y, strict=True)]))
    # ECE from its definition: per bin, |mean p - mean y| weighted by the bin's share.
    bins = np.minimum(np.floor(s * 10), 9)
    ece = sum(
        (bins == b).mean() * abs(s[bins == b].mean() - y[bins == b].mean()) for b in np.unique(bins)
    )
    assert calibration_error(y, s) == pytest.approx(ece, abs=1e-12)
    decision = s >= 0.5
    tp = int(np.sum((y == 1) & decision))
    fp = int(np.sum((y == 0) & decision))
    assert confusion(y, decision) == (tp, fp, int(y.sum()) - tp, len(y) - int(y.sum()) - fp)
