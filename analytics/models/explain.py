"""Why a patient's score is what it is: SHAP values and reasons in plain language.

SHAP ``TreeExplainer`` values are computed on the gradient-boosting model's raw output
(log-odds). They add up exactly: base value + sum of a row's SHAP values = the model's
raw score (checked on every row, to 1e-6). The clinician sees the *calibrated*
probability, a monotone (Platt) transform of that raw score, so the reasons explain the
ranking of the score they see, not its exact probability.

Reasons are given per *reason group* (see ``Feature.group`` in :mod:`analytics.models.features`):
the SHAP values of, say, ``sleep_7d``, ``sleep_baseline`` and ``sleep_delta`` are summed
into one "sleep" reason, phrased once with the patient's own recent value and usual
level: "Sleep averaged 5.1 h over the last 7 days, 1.6 h below their usual 6.7 h".
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import shap

from analytics.models.features import FEATURE_NAMES, FEATURES, FEATURES_BY_NAME
from analytics.models.windows import REACH_DAYS

__all__ = [
    "ADDITIVITY_TOLERANCE",
    "ExplanationError",
    "Reason",
    "describe",
    "explain_rows",
    "is_reason",
    "reasons",
    "tree_shap",
]

ADDITIVITY_TOLERANCE = 1e-6
TOP_REASONS = 3
_STREAMS = ("sleep", "steps", "resting_hr", "hrv", "mood", "anxiety")


class ExplanationError(RuntimeError):
    """SHAP values that do not add up to the model's output: never shown as reasons."""


def tree_shap(estimator, x: np.ndarray) -> tuple[np.ndarray, float, np.ndarray]:
    """(SHAP values, base value, raw score) for every row of ``x``; additivity checked."""
    x = np.asarray(x, dtype=np.float64)
    if len(x) == 0:
        return np.empty((0, x.shape[1])), math.nan, np.empty(0)
    explainer = shap.TreeExplainer(estimator)
    values = np.asarray(explainer.shap_values(x), dtype=np.float64)
    base = float(np.ravel(explainer.expected_value)[0])
    raw = np.asarray(estimator.decision_function(x), dtype=np.float64)
    error = float(np.max(np.abs(base + values.sum(axis=1) - raw)))
    if error > ADDITIVITY_TOLERANCE:
        raise ExplanationError(
            f"SHAP values miss the model output by up to {error:.2e} (tolerance "
            f"{ADDITIVITY_TOLERANCE:g}); reasons withheld"
        )
    return values, base, raw


@dataclass(frozen=True)
class Reason:
    """One reason for (``raises``) or against (``lowers``) a patient's risk."""

    rank: int
    direction: str
    group: str
    shap_value: float
    value: float
    baseline: float
    sentence: str


GROUPS: dict[str, tuple[str, ...]] = {}
for _f in FEATURES:
    GROUPS.setdefault(_f.group, ())
    GROUPS[_f.group] = (*GROUPS[_f.group], _f.name)


def _num(row: Mapping[str, float], name: str) -> float:
    value = row.get(name)
    try:
        value = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return math.nan
    return value


def _fmt(value: float, feature: str) -> str:
    f = FEATURES_BY_NAME[feature]
    text = f"{value:,.{f.decimals}f}"
    if f.unit == "/10":
        return f"{text}/10"
    if f.unit in ("h", "bpm", "ms"):
        return f"{text} {f.unit}"
    return text


def _diff(value: float, feature: str) -> str:
    f = FEATURES_BY_NAME[feature]
    text = f"{abs(value):,.{f.decimals}f}"
    if f.unit == "/10":
        return f"{text} points"
    if f.unit in ("h", "bpm", "ms"):
        return f"{text} {f.unit}"
    return text


def _days_ago(n: float) -> str:
    n = int(n)
    return "today" if n == 0 else "yesterday" if n == 1 else f"{n} days ago"


def _plural(n: float, word: str) -> str:
    n = int(n)
    return f"{n} {word}" + ("" if n == 1 else "s")


def _stream(key: str) -> Callable[[Mapping[str, float]], tuple[float, float, str]]:
    label = FEATURES_BY_NAME[f"{key}_7d"].label.split(",")[0]

    def describe_stream(row: Mapping[str, float]) -> tuple[float, float, str]:
        recent, usual = _num(row, f"{key}_7d"), _num(row, f"{key}_baseline")
        name = f"{key}_7d"
        if math.isnan(recent) and math.isnan(usual):
            return recent, usual, f"No {label.lower()} data in the last {REACH_DAYS} days"
        if math.isnan(recent):
            return (
                recent,
                usual,
                f"Too little {label.lower()} data in the last 7 days to compare with their "
                f"usual {_fmt(usual, name)}",
            )
        head = f"{label} averaged {_fmt(recent, name)} over the last 7 days"
        if math.isnan(usual):
            return recent, usual, f"{head} (no usual level to compare with yet)"
        delta = recent - usual
        if _diff(delta, name) == _diff(0.0, name):
            return recent, usual, f"{head}, about their usual {_fmt(usual, name)}"
        side = "below" if delta < 0 else "above"
        return recent, usual, f"{head}, {_diff(delta, name)} {side} their usual {_fmt(usual, name)}"

    return describe_stream


def _questionnaire(
    key: str, name: str
) -> Callable[[Mapping[str, float]], tuple[float, float, str]]:
    def describe_questionnaire(row: Mapping[str, float]) -> tuple[float, float, str]:
        latest = _num(row, f"{key}_latest")
        change = _num(row, f"{key}_change_28d")
        slope = _num(row, f"{key}_slope_56d")
        if math.isnan(latest):
            return latest, math.nan, f"No {name} on record"
        text = f"{name} was {latest:.0f} on the latest questionnaire"
        before = math.nan
        if not math.isnan(change):
            before = latest - change
            if change == 0:
                text += ", unchanged over the last 4 weeks"
            else:
                word = "up" if change > 0 else "down"
                text += f", {word} {_plural(abs(change), 'point')} over the last 4 weeks"
        elif not math.isnan(slope) and abs(slope) >= 0.5:
            word = "rising" if slope > 0 else "falling"
            text += f", {word} by about {abs(slope):.1f} points a week over 8 weeks"
        return latest, before, text

    return describe_questionnaire


def _variability(
    key: str, what: str, unit: str
) -> Callable[[Mapping[str, float]], tuple[float, float, str]]:
    def describe_variability(row: Mapping[str, float]) -> tuple[float, float, str]:
        v = _num(row, key)
        if math.isnan(v):
            return (
                v,
                math.nan,
                f"Too few days of {what} data in the last 14 days to judge its variation",
            )
        return (
            v,
            math.nan,
            f"{what.capitalize()} varied by about {v:.1f} {unit} from day to day over the last 14 days",
        )

    return describe_variability


def _assessment_recency(row):
    d = _num(row, "days_since_assessment")
    if math.isnan(d):
        return d, math.nan, "No PHQ-9 or GAD-7 on record"
    return d, math.nan, f"Last questionnaire was {_days_ago(d)}"


def _item9(row):
    latest, pos = _num(row, "item9_latest"), _num(row, "item9_positive_90d")
    if math.isnan(latest):
        return latest, math.nan, "No PHQ-9 item 9 answer on record"
    if not math.isnan(pos) and pos > 0:
        text = (
            "PHQ-9 item 9 (thoughts of self-harm) was above 0 on "
            f"{_plural(pos, 'questionnaire')} in the last 90 days"
        )
    else:
        text = f"PHQ-9 item 9 (thoughts of self-harm) was {latest:.0f} on the latest questionnaire"
    return latest, math.nan, text


def _checkins(row):
    d7, usual, since = (
        _num(row, n) for n in ("checkin_days_7d", "checkin_days_baseline", "days_since_checkin")
    )
    text = f"Checked in on {d7:.0f} of the last 7 days"
    if not math.isnan(usual):
        text += f" (usually {usual:.1f} days a week)"
    text += "; no check-in yet" if math.isnan(since) else f"; last check-in {_days_ago(since)}"
    return d7, usual, text


def _messages(row):
    m14, trend, since = (
        _num(row, n) for n in ("messages_14d", "message_trend", "days_since_message")
    )
    before = m14 - trend if not math.isnan(trend) else math.nan
    text = f"Sent {_plural(m14, 'message')} in the last 14 days"
    if not math.isnan(before):
        text += f" ({before:.0f} in the two weeks before)"
    text += "; no messages yet" if math.isnan(since) else f"; last message {_days_ago(since)}"
    return m14, before, text


def _appointments(row):
    rate = _num(row, "no_show_rate_90d")
    if math.isnan(rate):
        return rate, math.nan, "No attended or missed appointments in the last 90 days"
    return rate, math.nan, f"Missed {rate:.0f}% of appointments in the last 90 days"


def _sentiment(row):
    s14, trend = _num(row, "sentiment_14d"), _num(row, "sentiment_trend")
    if math.isnan(s14):
        return s14, math.nan, "No scored messages in the last 14 days"
    text = f"Message tone averaged {s14:+.2f} (on a -1 to +1 scale) over the last 14 days"
    usual = s14 - trend if not math.isnan(trend) else math.nan
    if not math.isnan(usual):
        if round(abs(trend), 2) == 0:
            text += f", about their usual {usual:+.2f}"
        else:
            side = "below" if trend < 0 else "above"
            text += f", {abs(trend):.2f} {side} their usual {usual:+.2f}"
    return s14, usual, text


def _flags(row):
    n = _num(row, "flags_28d")
    if n == 0:
        return n, math.nan, "No messages flagged for concerning language in the last 28 days"
    return (
        n,
        math.nan,
        f"{_plural(n, 'message')} flagged for concerning language in the last 28 days",
    )


def _wear(row):
    n = _num(row, "wear_days_14d")
    return n, math.nan, f"Wearable data on {n:.0f} of the last 14 days"


def _sentiment_coverage(row):
    n = _num(row, "sentiment_available")
    if n >= 1:
        return n, math.nan, "Message sentiment was available for the last 28 days"
    return (
        n,
        math.nan,
        "No message sentiment for the last 28 days (no messages, or a language the "
        "sentiment method does not support)",
    )


def _events(row):
    n = _num(row, "events_180d")
    what = "relapse, hospitalization, crisis-contact or self-harm"
    if n == 0:
        return n, math.nan, f"No recorded {what} events in the last 180 days"
    return n, math.nan, f"{_plural(n, 'recorded ' + what + ' event')} in the last 180 days"


def _days_in_care(row):
    n = _num(row, "days_in_care")
    return n, math.nan, f"In care for {_plural(n, 'day')}"


def _episode_history(row):
    n = _num(row, "episodes_so_far")
    since_onset = _num(row, "days_since_onset")
    since_end = _num(row, "days_since_episode_end")
    parts = []
    if n >= 1:
        parts.append(f"{_plural(n, 'new episode')} since enrolment")
        if not math.isnan(since_onset):
            parts.append(f"the last began {_days_ago(since_onset)}")
    if not math.isnan(since_end):
        parts.append(f"well again since an episode ended {_days_ago(since_end)}")
    if not parts:
        return n, math.nan, "No episode on record since enrolment"
    text = "; ".join(parts)
    return n, math.nan, text[0].upper() + text[1:]


def _episode_status(row):
    v = _num(row, "in_episode")
    if v >= 1:
        return v, math.nan, "In an episode at the latest questionnaire or since"
    return v, math.nan, "Below caseness on both measures at the latest questionnaire"


DESCRIBE: dict[str, Callable[[Mapping[str, float]], tuple[float, float, str]]] = {
    **{k: _stream(k) for k in _STREAMS},
    "sleep_variability": _variability("sleep_sd_14d", "sleep", "h"),
    "mood_variability": _variability("mood_sd_14d", "mood", "points"),
    "phq9": _questionnaire("phq9", "PHQ-9"),
    "gad7": _questionnaire("gad7", "GAD-7"),
    "assessment_recency": _assessment_recency,
    "item9": _item9,
    "checkins": _checkins,
    "messages": _messages,
    "appointments": _appointments,
    "sentiment": _sentiment,
    "flags": _flags,
    "wearable_coverage": _wear,
    "sentiment_coverage": _sentiment_coverage,
    "events": _events,
    "days_in_care": _days_in_care,
    "episode_history": _episode_history,
    "episode_status": _episode_status,
}
# Data coverage is said once, in the "thin inputs" note (analytics.models.scoring.coverage_notes),
# never as a reason; the episode status decides whether the relapse model applies at all.
# Time in care is context (and mostly says how much data there is), not a finding.
NOT_REASONS = frozenset(
    {
        "wearable_coverage",
        "sentiment_coverage",
        "assessment_recency",
        "episode_status",
        "days_in_care",
    }
)
# Which way is worse, and the change a sentence quotes: a reason whose own change points
# the other way from its direction ("PHQ-9 16, down 3 points" pointing higher, "anxiety
# above their usual" pointing lower) reads as a contradiction and is not shown.
_WORSE: dict[str, tuple[str, float]] = {
    "phq9": ("phq9_change_28d", 1.0),
    "gad7": ("gad7_change_28d", 1.0),
    "mood": ("mood_delta", -1.0),
    "anxiety": ("anxiety_delta", 1.0),
    "sleep_variability": ("sleep_sd_14d", 0.0),
}


def _contradicts(group: str, direction: str, row: Mapping[str, float]) -> bool:
    if group not in _WORSE:
        return False
    name, worse = _WORSE[group]
    change = _num(row, name)
    if worse == 0.0 or math.isnan(change) or change == 0:
        return False
    getting_worse = change * worse > 0
    return getting_worse != (direction == "raises")


def _absent(group: str, row: Mapping[str, float]) -> bool:
    """True when the group's value is missing data or the absence of something (item 9
    answered 0 throughout, no flags, no events, no episode): never a reason either way,
    because missing data is not a finding and 'nothing happened' is not evidence of
    safety."""
    if group in _STREAMS:
        return math.isnan(_num(row, f"{group}_7d"))
    if group in ("phq9", "gad7"):
        return math.isnan(_num(row, f"{group}_latest"))
    if group == "item9":
        latest, pos = _num(row, "item9_latest"), _num(row, "item9_positive_90d")
        return math.isnan(latest) or (latest == 0 and not pos > 0)
    if group in ("sleep_variability", "mood_variability"):
        return math.isnan(_num(row, GROUPS[group][0]))
    if group == "flags":
        return not _num(row, "flags_28d") > 0
    if group == "events":
        return not _num(row, "events_180d") > 0
    if group == "episode_history":
        return not _num(row, "episodes_so_far") > 0 and math.isnan(
            _num(row, "days_since_episode_end")
        )
    if group == "appointments":
        return not _num(row, "no_show_rate_90d") > 0  # no missed sessions: not a finding
    if group == "sentiment":
        return math.isnan(_num(row, "sentiment_14d"))
    if group == "checkins":
        return math.isnan(_num(row, "checkin_days_7d"))
    if group == "messages":
        return math.isnan(_num(row, "messages_14d"))
    return False


def is_reason(group: str, row: Mapping[str, float]) -> bool:
    """May this group be shown as a reason for this patient (in either direction)?"""
    return group not in NOT_REASONS and not _absent(group, row)


if set(GROUPS) - set(DESCRIBE):  # a new feature group must say how to phrase it
    raise ImportError(f"reason groups without a description: {set(GROUPS) - set(DESCRIBE)}")


def describe(group: str, row: Mapping[str, float]) -> tuple[float, float, str]:
    """(value, baseline, sentence) for one reason group of one patient's features."""
    return DESCRIBE[group](row)


def reasons(
    row: Mapping[str, float],
    shap_row: np.ndarray,
    *,
    features: Sequence[str] = FEATURE_NAMES,
    top: int = TOP_REASONS,
) -> list[Reason]:
    """The top reasons raising and lowering one patient's risk."""
    by_group: dict[str, float] = {}
    for name, value in zip(features, shap_row, strict=True):
        # The SHAP value of a missing input is the effect of its absence: not a finding
        # about the patient, so it never counts towards a reason.
        if math.isnan(_num(row, name)):
            continue
        group = FEATURES_BY_NAME[name].group
        by_group[group] = by_group.get(group, 0.0) + float(value)
    ranked = sorted(
        ((g, v) for g, v in by_group.items() if is_reason(g, row)),
        key=lambda kv: (-abs(kv[1]), kv[0]),
    )
    out: list[Reason] = []
    for direction, sign in (("raises", 1.0), ("lowers", -1.0)):
        chosen = [
            (g, s) for g, s in ranked if s * sign > 0 and not _contradicts(g, direction, row)
        ][:top]
        for rank, (group, s) in enumerate(chosen, start=1):
            value, baseline, sentence = describe(group, row)
            out.append(Reason(rank, direction, group, s, value, baseline, sentence))
    return out


def explain_rows(
    estimator,
    frame: pd.DataFrame,
    x: np.ndarray,
    *,
    features: Sequence[str] = FEATURE_NAMES,
    top: int = TOP_REASONS,
) -> tuple[pd.DataFrame, np.ndarray, float, np.ndarray]:
    """Reasons for every row of ``frame`` (features ``x``).

    Returns (reasons frame with patient_id, rank, direction, feature (the reason group),
    shap_value, value, baseline, sentence; SHAP values; base value; raw scores).
    """
    values, base, raw = tree_shap(estimator, x)
    records = frame[list(features)].to_dict("records")
    rows = []
    for pid, row, shap_row in zip(frame["patient_id"], records, values, strict=True):
        for r in reasons(row, shap_row, features=features, top=top):
            rows.append(
                {
                    "patient_id": pid,
                    "rank": r.rank,
                    "direction": r.direction,
                    "feature": r.group,
                    "shap_value": r.shap_value,
                    "value": r.value,
                    "baseline": r.baseline,
                    "sentence": r.sentence,
                }
            )
    columns = [
        "patient_id",
        "rank",
        "direction",
        "feature",
        "shap_value",
        "value",
        "baseline",
        "sentence",
    ]
    return pd.DataFrame(rows, columns=columns), values, base, raw
