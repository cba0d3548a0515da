"""PHQ-9 and GAD-7 scoring: totals, severity bands, item-9 flags, reliable change and
the paired NHS Talking Therapies outcomes (caseness, recovery, reliable improvement,
reliable deterioration, reliable recovery).

Every band and threshold comes from a :class:`~analytics.settings.ClinicalSettings`
passed in, so a clinic's ``settings.toml`` overrides reach every answer. The scalar
functions are the reference definitions; :func:`patient_outcomes` (polars) and
:func:`band_sql` (DuckDB) are vectorised forms that the tests hold to the scalar ones.

Missing data is never read as a good answer. A missing total is ``None``; answers that
depend on it are ``None`` ("cannot be determined"), never ``False``. The paired
outcomes combine per-measure facts with three-valued (Kleene) logic, so a missing
measure leaves a result ``None`` unless the measure that is present decides it.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

import polars as pl

from analytics.settings import Band, ClinicalSettings

__all__ = [
    "GAD7",
    "INSTRUMENTS",
    "MAX_BLANK_ITEMS",
    "PHQ9",
    "RCI_CRITICAL",
    "OutcomeStatus",
    "PairedOutcome",
    "ReliableChange",
    "band_sql",
    "caseness",
    "item9_flag",
    "item9_state",
    "max_total",
    "normalise_instrument",
    "paired_outcome",
    "patient_outcomes",
    "prorated_total",
    "prorated_total_sql",
    "rci",
    "rci_change",
    "reliable_change",
    "severity_band",
    "total",
]

PHQ9 = "PHQ-9"
GAD7 = "GAD-7"
INSTRUMENTS: tuple[str, ...] = (PHQ9, GAD7)

# Number of items and the highest possible total; fixed by the instruments themselves,
# not a clinic preference, so these are not settings.
_N_ITEMS = {PHQ9: 9, GAD7: 7}
_ITEM_MAX = 3
_MAX_TOTAL = {name: n * _ITEM_MAX for name, n in _N_ITEMS.items()}

# How many blank items a questionnaire may have and still get a (prorated) total.
# PHQ-9: 2. The scoring instructions of the APA's DSM-5 online severity measure built on
# the PHQ-9 ("Severity Measure for Depression", PHQ-9 modified for adolescents) say: with
# 1 or 2 items unanswered, prorate (raw sum x 9 / items answered, rounded to the nearest
# whole number); with 3 or more unanswered, do not use the total. Arrieta et al. (2017,
# J Clin Psychol 73(9), doi:10.1002/jclp.22390) score PHQ-9s with up to two missing items
# by the mean of the answered ones, which is the same number.
# GAD-7: 0. No published proration rule for the GAD-7 was found to cite, so a GAD-7 with a
# blank item has no total ("incomplete") rather than one made up under an unsourced rule.
MAX_BLANK_ITEMS = {PHQ9: 2, GAD7: 0}

# Separators dropped before matching an instrument name. Written as an explicit class
# (not \s) so that Python's re and DuckDB's RE2 agree character for character.
_SEPARATORS = r"[ \t\n\r\f\v_\-]"
_COMPACT = {"PHQ9": PHQ9, "GAD7": GAD7}

# 1.96 is the two-sided 5% point of the normal distribution used by Jacobson & Truax.
RCI_CRITICAL = 1.96

_DEFAULT_SETTINGS = ClinicalSettings()


class ReliableChange(StrEnum):
    """Per-measure reliable change; the values are plain strings in frames."""

    IMPROVEMENT = "reliable improvement"
    DETERIORATION = "reliable deterioration"
    NO_CHANGE = "no reliable change"


class OutcomeStatus(StrEnum):
    """One-line summary of a :class:`PairedOutcome`.

    The statuses are tried in this order and the first that holds is used: reliable
    deterioration (first, so a worsening is never hidden behind a recovery), reliable
    recovery, recovery (recovered without reliable improvement), reliable improvement,
    mixed (reliable improvement on one measure and reliable deterioration on the other),
    and no reliable change. A status is only given when missing data cannot change it:
    if an earlier status can neither be confirmed nor ruled out, the result is
    undetermined. So "recovery" never stands in for a possible deterioration.
    """

    RELIABLE_DETERIORATION = "reliable deterioration"
    RELIABLE_RECOVERY = "reliable recovery"
    RECOVERY = "recovery"
    RELIABLE_IMPROVEMENT = "reliable improvement"
    MIXED = "mixed reliable change"
    NO_RELIABLE_CHANGE = "no reliable change"
    UNDETERMINED = "undetermined"


# --------------------------------------------------------------------------- basics


def normalise_instrument(name: str) -> str | None:
    """The canonical instrument name (``"PHQ-9"`` or ``"GAD-7"``) for a spelling such as
    ``"phq9"``, ``" phq 9 "`` or ``"GAD_7"``; ``None`` for anything else (non-strings too).
    """
    if not isinstance(name, str):
        return None
    return _COMPACT.get(re.sub(_SEPARATORS, "", name).upper())


def _instrument(name: str) -> str:
    canonical = normalise_instrument(name)
    if canonical is None:
        raise ValueError(f"unknown instrument {name!r}; expected PHQ-9 or GAD-7")
    return canonical


def max_total(instrument: str) -> int:
    """The highest possible total: 27 for PHQ-9, 21 for GAD-7."""
    return _MAX_TOTAL[_instrument(instrument)]


def _whole(value: object, what: str) -> int:
    # Integral floats are accepted because pandas turns integer columns with gaps into
    # floats; bools are refused because True would silently count as 1.
    if isinstance(value, bool):
        raise ValueError(f"{what} must be a whole number, got {value!r}")
    if isinstance(value, float):
        if math.isfinite(value) and value.is_integer():
            return int(value)
        raise ValueError(f"{what} must be a whole number, got {value!r}")
    try:
        return operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        raise ValueError(f"{what} must be a whole number, got {value!r}") from None


def _checked_total(instrument: str, value: object) -> int:
    top = _MAX_TOTAL[instrument]
    number = _whole(value, f"{instrument} total")
    if not 0 <= number <= top:
        raise ValueError(f"{instrument} total {number} is out of range; expected 0 to {top}")
    return number


def _bands(instrument: str, settings: ClinicalSettings) -> tuple[Band, ...]:
    bands = settings.phq9_bands if instrument == PHQ9 else settings.gad7_bands
    # A gap or overlap would leave some totals without a band (or with two), so the
    # configured bands must tile 0..max exactly.
    expected_low = 0
    for low, high, _name in bands:
        if low != expected_low or high < low:
            break
        expected_low = high + 1
    else:
        if expected_low == _MAX_TOTAL[instrument] + 1:
            return tuple(bands)
    raise ValueError(
        f"{instrument} bands in settings must cover 0 to {_MAX_TOTAL[instrument]} "
        f"in order without gaps or overlaps; got {list(bands)}"
    )


def _threshold(instrument: str, settings: ClinicalSettings) -> int:
    return settings.phq9_reliable_change if instrument == PHQ9 else settings.gad7_reliable_change


# --------------------------------------------------------------------------- scoring


def total(instrument: str, items: Sequence[int | None]) -> int:
    """The total of a questionnaire's item answers (each 0 to 3).

    PHQ-9 needs 9 answers and GAD-7 needs 7; GAD-7 may also be given as the 9 columns of
    the assessments table with items 8 and 9 empty. A missing answer raises rather than
    being prorated or read as 0.
    """
    name = _instrument(instrument)
    n = _N_ITEMS[name]
    answers = list(items)
    if len(answers) > n and all(extra is None for extra in answers[n:]):
        answers = answers[:n]
    if len(answers) != n:
        raise ValueError(f"{name} has {n} items; got {len(answers)} answers")
    result = 0
    for number, answer in enumerate(answers, start=1):
        if answer is None:
            raise ValueError(f"{name} item {number} is missing; a total needs all {n} items")
        value = _whole(answer, f"{name} item {number}")
        if not 0 <= value <= _ITEM_MAX:
            raise ValueError(f"{name} item {number} is {value}; expected 0 to {_ITEM_MAX}")
        result += value
    return result


def prorated_total(instrument: str, items: Sequence[int | None]) -> int | None:
    """The total under the proration rule (see ``MAX_BLANK_ITEMS``), or ``None``.

    All items answered: their sum. Up to ``MAX_BLANK_ITEMS[instrument]`` blank: the sum
    of the answered items times the number of items over the number answered, rounded to
    the nearest whole number (halves up: a higher score never understates severity).
    More blanks than that: ``None`` (the questionnaire is incomplete, never a low total).
    """
    name = _instrument(instrument)
    n = _N_ITEMS[name]
    answers = list(items)
    if len(answers) > n and all(extra is None for extra in answers[n:]):
        answers = answers[:n]
    if len(answers) != n:
        raise ValueError(f"{name} has {n} items; got {len(answers)} answers")
    values: list[int] = []
    for number, answer in enumerate(answers, start=1):
        if answer is None:
            continue
        value = _whole(answer, f"{name} item {number}")
        if not 0 <= value <= _ITEM_MAX:
            raise ValueError(f"{name} item {number} is {value}; expected 0 to {_ITEM_MAX}")
        values.append(value)
    blank = n - len(values)
    if blank > MAX_BLANK_ITEMS[name] or not values:
        return None
    # Integer arithmetic, so 4.5 is exactly 4.5 and rounds to 5.
    return (2 * sum(values) * n + len(values)) // (2 * len(values))


def prorated_total_sql(instrument_col: str = "instrument", prefix: str = "") -> str:
    """A DuckDB expression for :func:`prorated_total` over the columns
    ``{prefix}item_1`` .. ``{prefix}item_9`` (an INTEGER, NULL when incomplete)."""
    parts = []
    for name, n in _N_ITEMS.items():
        cols = [f"{prefix}item_{i}" for i in range(1, n + 1)]
        answered = " + ".join(f"CAST({c} IS NOT NULL AS INTEGER)" for c in cols)
        raw = " + ".join(f"coalesce({c}, 0)" for c in cols)
        parts.append(
            f"WHEN {instrument_col} = {_quote_literal(name)} THEN (CASE "
            f"WHEN ({answered}) > 0 AND {n} - ({answered}) <= {MAX_BLANK_ITEMS[name]} "
            f"THEN CAST((2 * ({raw}) * {n} + ({answered})) // (2 * ({answered})) AS INTEGER) END)"
        )
    return f"(CASE {' '.join(parts)} END)"


def item9_state(item9: int | None) -> str:
    """PHQ-9 item 9 in words: ``"not answered"`` for a blank (never read as 0), else
    ``"answered N"``."""
    if item9 is None:
        return "not answered"
    value = _whole(item9, "PHQ-9 item 9")
    if not 0 <= value <= _ITEM_MAX:
        raise ValueError(f"PHQ-9 item 9 is {value}; expected 0 to {_ITEM_MAX}")
    return f"answered {value}"


def severity_band(
    instrument: str, total: int, *, settings: ClinicalSettings = _DEFAULT_SETTINGS
) -> str:
    """The severity band name for a total, e.g. ``"moderate"``.

    Raises ValueError for a total outside 0..27 (PHQ-9) or 0..21 (GAD-7).
    """
    name = _instrument(instrument)
    value = _checked_total(name, total)
    for low, high, band in _bands(name, settings):
        if low <= value <= high:
            return band
    raise AssertionError("unreachable: _bands tiles the whole range")  # pragma: no cover


def item9_flag(item9: int | None) -> bool:
    """True when PHQ-9 item 9 (thoughts of being better off dead or of self-harm) is
    above 0: a safety flag, shown apart from and before the severity band.

    The flag is only ever a positive signal. ``False`` means "no positive answer here",
    never "safe": a 0 on item 9 does not rule out risk, and a missing answer (``None``)
    is not a 0; it gives ``False`` only because there is nothing to flag.
    """
    if item9 is None:
        return False
    value = _whole(item9, "PHQ-9 item 9")
    if not 0 <= value <= _ITEM_MAX:
        raise ValueError(f"PHQ-9 item 9 is {value}; expected 0 to {_ITEM_MAX}")
    return value > 0


# --------------------------------------------------------------------------- change


def reliable_change(
    instrument: str,
    baseline: int,
    latest: int,
    *,
    settings: ClinicalSettings = _DEFAULT_SETTINGS,
) -> ReliableChange:
    """Reliable change by the NHS Talking Therapies convention: a fall of at least the
    instrument's threshold (settings; default PHQ-9 6, GAD-7 4) is reliable improvement,
    a rise of at least the threshold is reliable deterioration. Lower scores are better.
    """
    name = _instrument(instrument)
    change = _checked_total(name, latest) - _checked_total(name, baseline)
    threshold = _threshold(name, settings)
    if change <= -threshold:
        return ReliableChange.IMPROVEMENT
    if change >= threshold:
        return ReliableChange.DETERIORATION
    return ReliableChange.NO_CHANGE


def rci(baseline: float, latest: float, *, sd_baseline: float, reliability: float) -> float:
    """The Jacobson–Truax reliable change index, ``(latest - baseline) / SEdiff`` with
    ``SEdiff = sd_baseline * sqrt(2) * sqrt(1 - reliability)``.

    Negative values are improvement on PHQ-9 and GAD-7. ``|RCI| > 1.96`` is reliable
    change at the 5% level (see :func:`rci_change`).
    """
    if not (math.isfinite(sd_baseline) and sd_baseline > 0):
        raise ValueError(f"sd_baseline must be a positive number, got {sd_baseline!r}")
    if not (math.isfinite(reliability) and 0 <= reliability < 1):
        # r = 1 would make SEdiff zero: every change, however small, "reliable".
        raise ValueError(f"reliability must be at least 0 and below 1, got {reliability!r}")
    se_diff = sd_baseline * math.sqrt(2) * math.sqrt(1 - reliability)
    return (latest - baseline) / se_diff


def rci_change(
    baseline: float,
    latest: float,
    *,
    sd_baseline: float,
    reliability: float,
    critical: float = RCI_CRITICAL,
) -> ReliableChange:
    """Reliable change judged by the Jacobson–Truax RCI instead of a fixed threshold:
    ``RCI < -critical`` is improvement, ``RCI > critical`` deterioration."""
    value = rci(baseline, latest, sd_baseline=sd_baseline, reliability=reliability)
    if value < -critical:
        return ReliableChange.IMPROVEMENT
    if value > critical:
        return ReliableChange.DETERIORATION
    return ReliableChange.NO_CHANGE


# --------------------------------------------------------------------------- paired outcomes
# Three-valued helpers: None is "unknown" and only propagates when the known operand
# does not already decide the answer (Kleene logic, the same as polars' & and |).


def _and(a: bool | None, b: bool | None) -> bool | None:
    if a is False or b is False:
        return False
    if a is None or b is None:
        return None
    return True


def _or(a: bool | None, b: bool | None) -> bool | None:
    if a is True or b is True:
        return True
    if a is None or b is None:
        return None
    return False


def _not(a: bool | None) -> bool | None:
    return None if a is None else not a


def _at_or_above(value: int | None, threshold: int) -> bool | None:
    return None if value is None else value >= threshold


def _optional_total(instrument: str, value: int | None) -> int | None:
    return None if value is None else _checked_total(instrument, value)


def caseness(
    phq9: int | None,
    gad7: int | None,
    *,
    settings: ClinicalSettings = _DEFAULT_SETTINGS,
) -> bool | None:
    """Whether a pair of scores is "a case": PHQ-9 >= 10 or GAD-7 >= 8 (settings).

    With one score missing the answer is True if the other is at or above its threshold,
    otherwise ``None``: a low score on one measure says nothing about the other.
    """
    return _or(
        _at_or_above(_optional_total(PHQ9, phq9), settings.phq9_caseness),
        _at_or_above(_optional_total(GAD7, gad7), settings.gad7_caseness),
    )


@dataclass(frozen=True)
class PairedOutcome:
    """NHS Talking Therapies outcomes for one patient's PHQ-9 and GAD-7 pair.

    Every boolean is ``None`` when it cannot be determined from the scores given, and
    ``recovered`` / ``reliably_recovered`` are also ``None`` when they do not apply
    (not a case at baseline; ``caseness_at_baseline`` tells the two apart). Within a
    measure, ``*_reliable_change`` is ``None`` unless both its totals are present.
    """

    phq9_baseline: int | None
    phq9_latest: int | None
    gad7_baseline: int | None
    gad7_latest: int | None
    phq9_reliable_change: ReliableChange | None
    gad7_reliable_change: ReliableChange | None
    caseness_at_baseline: bool | None
    recovered: bool | None
    reliably_improved: bool | None
    reliably_deteriorated: bool | None
    reliably_recovered: bool | None
    status: OutcomeStatus


def _measure_change(
    instrument: str, baseline: int | None, latest: int | None, settings: ClinicalSettings
) -> ReliableChange | None:
    if baseline is None or latest is None:
        return None
    return reliable_change(instrument, baseline, latest, settings=settings)


def _is(status: ReliableChange | None, wanted: ReliableChange) -> bool | None:
    return None if status is None else status == wanted


def paired_outcome(
    *,
    phq9_baseline: int | None,
    phq9_latest: int | None,
    gad7_baseline: int | None,
    gad7_latest: int | None,
    settings: ClinicalSettings = _DEFAULT_SETTINGS,
) -> PairedOutcome:
    """All the paired outcomes at once (see :class:`PairedOutcome`).

    - caseness at baseline: :func:`caseness` of the two baseline scores;
    - recovered: a case at baseline and not a case at the latest assessment (below both
      thresholds); ``None`` when not a case at baseline (not applicable);
    - reliably improved: reliable improvement on at least one measure and no reliable
      deterioration on the other;
    - reliably deteriorated: reliable deterioration on at least one measure and no
      reliable improvement on the other;
    - reliably recovered: recovered and reliably improved (``None`` unless a case).

    Both improved and deteriorated are False for a mixed result (one measure each way).
    """
    phq_b = _optional_total(PHQ9, phq9_baseline)
    phq_l = _optional_total(PHQ9, phq9_latest)
    gad_b = _optional_total(GAD7, gad7_baseline)
    gad_l = _optional_total(GAD7, gad7_latest)

    phq_change = _measure_change(PHQ9, phq_b, phq_l, settings)
    gad_change = _measure_change(GAD7, gad_b, gad_l, settings)
    phq_up = _is(phq_change, ReliableChange.IMPROVEMENT)
    phq_down = _is(phq_change, ReliableChange.DETERIORATION)
    gad_up = _is(gad_change, ReliableChange.IMPROVEMENT)
    gad_down = _is(gad_change, ReliableChange.DETERIORATION)

    case_before = caseness(phq_b, gad_b, settings=settings)
    case_after = caseness(phq_l, gad_l, settings=settings)
    improved = _or(_and(phq_up, _not(gad_down)), _and(gad_up, _not(phq_down)))
    deteriorated = _or(_and(phq_down, _not(gad_up)), _and(gad_down, _not(phq_up)))
    mixed = _or(_and(phq_up, gad_down), _and(phq_down, gad_up))
    # Recovery is only defined for people who were a case, so it is None (not False)
    # otherwise; a recovery rate then counts the right denominator.
    if case_before is True:
        recovered = _not(case_after)
        reliably_recovered = _and(recovered, improved)
    else:
        recovered = None
        reliably_recovered = None

    # For the status, "not a case at baseline" rules recovery out (False) rather than
    # leaving it open (None), so non-cases still get a change status.
    status = OutcomeStatus.NO_RELIABLE_CHANGE
    for holds, candidate in (
        (deteriorated, OutcomeStatus.RELIABLE_DETERIORATION),
        (_and(case_before, reliably_recovered), OutcomeStatus.RELIABLE_RECOVERY),
        (_and(case_before, recovered), OutcomeStatus.RECOVERY),
        (improved, OutcomeStatus.RELIABLE_IMPROVEMENT),
        (mixed, OutcomeStatus.MIXED),
    ):
        if holds is None:
            status = OutcomeStatus.UNDETERMINED
            break
        if holds:
            status = candidate
            break

    return PairedOutcome(
        phq9_baseline=phq_b,
        phq9_latest=phq_l,
        gad7_baseline=gad_b,
        gad7_latest=gad_l,
        phq9_reliable_change=phq_change,
        gad7_reliable_change=gad_change,
        caseness_at_baseline=case_before,
        recovered=recovered,
        reliably_improved=improved,
        reliably_deteriorated=deteriorated,
        reliably_recovered=reliably_recovered,
        status=status,
    )


# --------------------------------------------------------------------------- vectorised

_PREFIX = {PHQ9: "phq9", GAD7: "gad7"}
_INPUT_COLUMNS = ("patient_id", "instrument", "completed_at", "total", "item_9")


def _band_expr(instrument: str, total: pl.Expr, settings: ClinicalSettings) -> pl.Expr:
    bands = _bands(instrument, settings)
    low, high, name = bands[0]
    chain = pl.when(total.is_between(low, high)).then(pl.lit(name))
    for low, high, name in bands[1:]:
        chain = chain.when(total.is_between(low, high)).then(pl.lit(name))
    return chain.otherwise(pl.lit(None, dtype=pl.String))


def _change_expr(change: pl.Expr, threshold: int) -> pl.Expr:
    return (
        pl.when(change <= -threshold)
        .then(pl.lit(ReliableChange.IMPROVEMENT.value))
        .when(change >= threshold)
        .then(pl.lit(ReliableChange.DETERIORATION.value))
        .when(change.is_not_null())
        .then(pl.lit(ReliableChange.NO_CHANGE.value))
        .otherwise(pl.lit(None, dtype=pl.String))
    )


def _instrument_expr(column: pl.Expr) -> pl.Expr:
    compact = column.str.replace_all(_SEPARATORS, "").str.to_uppercase()
    return compact.replace_strict(_COMPACT, default=None, return_dtype=pl.String)


def _validate(frame: pl.DataFrame, raw_instrument: pl.Series) -> None:
    def fail(mask: pl.Series, problem: str) -> None:
        bad = frame.filter(mask)
        if bad.height:
            example = bad.head(3).to_dicts()
            raise ValueError(f"assessments: {bad.height} row(s) {problem}; e.g. {example}")

    unknown = frame["instrument"].is_null()
    if unknown.any():
        names = sorted({str(v) for v in raw_instrument.filter(unknown).to_list()})[:5]
        raise ValueError(
            f"assessments: {int(unknown.sum())} row(s) have an unknown instrument "
            f"{names}; expected PHQ-9 or GAD-7"
        )
    fail(frame["patient_id"].is_null(), "have no patient_id")
    fail(frame["completed_at"].is_null(), "have no completed_at")
    top = frame["instrument"].replace_strict(_MAX_TOTAL, return_dtype=pl.Int64)
    fail(
        (frame["total"] < 0) | (frame["total"] > top),
        "have a total out of range; expected 0 to 27 for PHQ-9 and 0 to 21 for GAD-7",
    )
    phq = frame["instrument"] == PHQ9
    fail(
        phq & ((frame["item_9"] < 0) | (frame["item_9"] > _ITEM_MAX)).fill_null(False),
        f"have a PHQ-9 item 9 out of range; expected 0 to {_ITEM_MAX} or empty",
    )
    fail(
        frame.select(pl.struct("patient_id", "instrument", "completed_at").is_duplicated())
        .to_series()
        .fill_null(False),
        "repeat a (patient_id, instrument, completed_at) key, so baseline and latest are ambiguous",
    )


def patient_outcomes(assessments: pl.DataFrame, *, settings: ClinicalSettings) -> pl.DataFrame:
    """One row per patient summarising their PHQ-9 / GAD-7 history.

    Input columns: ``patient_id``, ``instrument`` (any spelling
    :func:`normalise_instrument` accepts), ``completed_at`` (datetime), ``total`` and
    ``item_9`` (nullable; read on PHQ-9 rows only). Other columns are ignored. Raises
    ValueError for a missing column, an unknown instrument, an out-of-range total, an
    out-of-range item 9 or a repeated (patient_id, instrument, completed_at).

    A null total is an incomplete questionnaire (too many blank items to prorate): it
    counts for item 9 but not for the totals, bands and change below, which use the
    scored questionnaires only.

    Output columns, sorted by ``patient_id`` (``X`` is ``phq9`` or ``gad7``; every
    ``X_`` column is null when the patient has no assessment on that instrument):

    - ``patient_id``
    - ``X_n_assessments`` (UInt32): assessments on the instrument (0 when none)
    - ``X_baseline_total`` / ``X_baseline_at``: the first assessment
    - ``X_latest_total`` / ``X_latest_at``: the last assessment (the baseline itself when
      there is only one)
    - ``X_latest_band``: :func:`severity_band` of the latest total
    - ``X_change``: latest minus baseline; null with fewer than two assessments
    - ``X_reliable_change``: :func:`reliable_change` string; null with fewer than two
    - ``item9_latest_value``: item 9 on the latest PHQ-9 (null when that answer is
      missing; an older answer is not carried forward)
    - ``item9_last_positive_at`` / ``item9_last_positive_value``: the most recent PHQ-9
      with item 9 above 0 (null when there has been none; that does not mean safe)
    - ``caseness_at_baseline``, ``recovered``, ``reliably_improved``,
      ``reliably_deteriorated``, ``reliably_recovered`` (nullable booleans) and
      ``outcome_status`` (an :class:`OutcomeStatus` string): :func:`paired_outcome`
      of the two baselines and the two latest totals, where a measure with a single
      assessment has no latest (a follow-up is needed to judge change or recovery).
    """
    missing = [c for c in _INPUT_COLUMNS if c not in assessments.columns]
    if missing:
        raise ValueError(f"assessments is missing column(s) {missing}; found {assessments.columns}")
    if not isinstance(assessments.schema["completed_at"], pl.Datetime | pl.Date):
        raise ValueError(
            "assessments.completed_at must be a datetime column, "
            f"got {assessments.schema['completed_at']}"
        )
    for column in ("total", "item_9"):
        if assessments.schema[column].is_float():
            values = assessments[column].drop_nulls()
            fractional = ~values.is_finite() | (values != values.floor())
            if fractional.any():
                raise ValueError(
                    f"assessments.{column} must hold whole numbers; "
                    f"got {values.filter(fractional).head(3).to_list()}"
                )
    raw_instrument = assessments["instrument"]
    frame = assessments.select(
        pl.col("patient_id"),
        _instrument_expr(pl.col("instrument").cast(pl.String)).alias("instrument"),
        pl.col("completed_at"),
        pl.col("total").cast(pl.Int64),
        pl.col("item_9").cast(pl.Int64),
    )
    _validate(frame, raw_instrument)

    result = frame.select(pl.col("patient_id").unique()).sort("patient_id")
    for instrument in INSTRUMENTS:
        p = _PREFIX[instrument]
        per = (
            frame.filter((pl.col("instrument") == instrument) & pl.col("total").is_not_null())
            .group_by("patient_id")
            .agg(
                pl.len().alias(f"{p}_n_assessments"),
                pl.col("total").sort_by("completed_at").first().alias(f"{p}_baseline_total"),
                pl.col("completed_at").min().alias(f"{p}_baseline_at"),
                pl.col("total").sort_by("completed_at").last().alias(f"{p}_latest_total"),
                pl.col("completed_at").max().alias(f"{p}_latest_at"),
            )
        )
        result = result.join(per, on="patient_id", how="left").with_columns(
            pl.col(f"{p}_n_assessments").fill_null(0).cast(pl.UInt32)
        )
        followed_up = pl.col(f"{p}_n_assessments") >= 2
        change = pl.when(followed_up).then(
            pl.col(f"{p}_latest_total") - pl.col(f"{p}_baseline_total")
        )
        result = result.with_columns(
            _band_expr(instrument, pl.col(f"{p}_latest_total"), settings).alias(f"{p}_latest_band"),
            change.alias(f"{p}_change"),
            _change_expr(change, _threshold(instrument, settings)).alias(f"{p}_reliable_change"),
        )

    phq = frame.filter(pl.col("instrument") == PHQ9)
    item9 = phq.group_by("patient_id").agg(
        pl.col("item_9").sort_by("completed_at").last().alias("item9_latest_value")
    )
    positive = (
        phq.filter(pl.col("item_9") > 0)
        .group_by("patient_id")
        .agg(
            pl.col("completed_at").max().alias("item9_last_positive_at"),
            pl.col("item_9").sort_by("completed_at").last().alias("item9_last_positive_value"),
        )
    )
    result = result.join(item9, on="patient_id", how="left").join(
        positive, on="patient_id", how="left"
    )

    # Paired outcomes: polars' & and | on nullable booleans are Kleene logic, the same
    # as _and/_or in paired_outcome, so null means "cannot be determined" here too.
    def latest(p: str) -> pl.Expr:
        return pl.when(pl.col(f"{p}_n_assessments") >= 2).then(pl.col(f"{p}_latest_total"))

    def status_is(p: str, wanted: ReliableChange) -> pl.Expr:
        return pl.col(f"{p}_reliable_change") == wanted.value

    phq_up = status_is("phq9", ReliableChange.IMPROVEMENT)
    phq_down = status_is("phq9", ReliableChange.DETERIORATION)
    gad_up = status_is("gad7", ReliableChange.IMPROVEMENT)
    gad_down = status_is("gad7", ReliableChange.DETERIORATION)
    case_before = (pl.col("phq9_baseline_total") >= settings.phq9_caseness) | (
        pl.col("gad7_baseline_total") >= settings.gad7_caseness
    )
    case_after = (latest("phq9") >= settings.phq9_caseness) | (
        latest("gad7") >= settings.gad7_caseness
    )
    improved = (phq_up & ~gad_down) | (gad_up & ~phq_down)
    deteriorated = (phq_down & ~gad_up) | (gad_down & ~phq_up)
    mixed = (phq_up & gad_down) | (phq_down & gad_up)
    recovered = pl.when(case_before).then(~case_after)
    result = result.with_columns(
        case_before.alias("caseness_at_baseline"),
        recovered.alias("recovered"),
        improved.alias("reliably_improved"),
        deteriorated.alias("reliably_deteriorated"),
        pl.when(case_before).then(recovered & improved).alias("reliably_recovered"),
        mixed.alias("_mixed"),
    )
    # Same order and rule as paired_outcome: the first status that holds, unless an
    # earlier one is still open (null), which makes the row undetermined.
    case_col = pl.col("caseness_at_baseline")
    candidates = (
        (pl.col("reliably_deteriorated"), OutcomeStatus.RELIABLE_DETERIORATION),
        (case_col & pl.col("reliably_recovered"), OutcomeStatus.RELIABLE_RECOVERY),
        (case_col & pl.col("recovered"), OutcomeStatus.RECOVERY),
        (pl.col("reliably_improved"), OutcomeStatus.RELIABLE_IMPROVEMENT),
        (pl.col("_mixed"), OutcomeStatus.MIXED),
    )
    undetermined = pl.lit(OutcomeStatus.UNDETERMINED.value)
    first, first_status = candidates[0]
    status = (
        pl.when(first.is_null()).then(undetermined).when(first).then(pl.lit(first_status.value))
    )
    for holds, candidate in candidates[1:]:
        status = (
            status.when(holds.is_null())
            .then(undetermined)
            .when(holds)
            .then(pl.lit(candidate.value))
        )
    status = status.otherwise(pl.lit(OutcomeStatus.NO_RELIABLE_CHANGE.value))
    return result.with_columns(status.alias("outcome_status")).drop("_mixed")


# --------------------------------------------------------------------------- SQL


def _quote_identifier(name: str) -> str:
    # Dotted names are table-qualified columns; each part is quoted on its own so a
    # column name can never close the identifier and inject SQL.
    parts = name.split(".")
    if not name or any(not part for part in parts):
        raise ValueError(f"not a column name: {name!r}")
    return ".".join('"' + part.replace('"', '""') + '"' for part in parts)


def _quote_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def band_sql(instrument_col: str, total_col: str, *, settings: ClinicalSettings) -> str:
    """A DuckDB SQL ``CASE`` expression giving the severity band for each row, e.g.
    ``SELECT {band_sql('instrument', 'total', settings=s)} AS band FROM assessments``.

    The instrument column may hold any spelling :func:`normalise_instrument` accepts.
    Where :func:`severity_band` would raise (unknown instrument, total out of range) or
    a value is NULL, the expression is NULL. Column names are quoted as identifiers
    (``"tbl.col"`` is read as table ``tbl``, column ``col``).
    """
    instrument = (
        f"upper(regexp_replace({_quote_identifier(instrument_col)}, "
        f"{_quote_literal(_SEPARATORS)}, '', 'g'))"
    )
    value = _quote_identifier(total_col)
    branches = []
    for compact, name in _COMPACT.items():
        whens = " ".join(
            f"WHEN {value} BETWEEN {int(low)} AND {int(high)} THEN {_quote_literal(band)}"
            for low, high, band in _bands(name, settings)
        )
        branches.append(f"WHEN {_quote_literal(compact)} THEN CASE {whens} END")
    # A CASE without ELSE yields NULL, which is what unknown or out-of-range rows get.
    return f"CASE {instrument} {' '.join(branches)} END"
