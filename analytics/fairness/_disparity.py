"""Disparity against a reference group: ratio and difference, with intervals and flags.

The reference is the largest shown group of the table unless the researcher names one.
Each resample's ratio pairs the group's and the reference's values of that resample
(groups are resampled independently), so the interval carries both uncertainties.

Flags, with the 0.8-1.25 band:
- ``ok``: the ratio is inside the band;
- ``disparity``: outside the band and its interval excludes parity (1);
- ``uncertain``: outside the band but its interval includes parity;
- ``undefined``: no ratio (the reference value is 0 or a value is undefined).
"""

from __future__ import annotations

import numpy as np

from analytics.fairness._result import Estimate
from analytics.metrics import percentile_interval

BAND = (0.8, 1.25)


def flag(ratio: float | None, low: float | None, high: float | None) -> str:
    """The flag of a ratio and its interval (see the module docstring)."""
    if ratio is None or not np.isfinite(ratio):
        return "undefined"
    if BAND[0] <= ratio <= BAND[1]:
        return "ok"
    if low is None or high is None or low <= 1.0 <= high:
        return "uncertain"
    return "disparity"


def _finite(x: float | None) -> float | None:
    return float(x) if x is not None and np.isfinite(x) else None


def compare(
    value: float | None,
    reference_value: float | None,
    reps: np.ndarray,
    reference_reps: np.ndarray,
    *,
    confidence: float,
) -> tuple[Estimate, Estimate, str]:
    """(ratio, difference, flag) of a group's metric against the reference's."""
    v, r = _finite(value), _finite(reference_value)
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio_reps = np.where(reference_reps != 0, reps / reference_reps, np.nan)
    diff_reps = reps - reference_reps
    ratio_value = v / r if v is not None and r else None
    diff_value = v - r if v is not None and r is not None else None
    if ratio_value is None:
        ratio = Estimate(None)
    else:
        lo, hi, n = percentile_interval(ratio_reps, confidence)
        ratio = Estimate(ratio_value, lo, hi, n)
    if diff_value is None:
        difference = Estimate(None)
    else:
        lo, hi, n = percentile_interval(diff_reps, confidence)
        difference = Estimate(diff_value, lo, hi, n)
    return ratio, difference, flag(ratio.value, ratio.low, ratio.high)
