"""The one bootstrap: a vectorised cluster bootstrap of every metric.

A sample's rows are resampled with replacement, ``n_boot`` times, as a matrix of draw
counts (resample x row, or resample x patient when patient codes are given: a patient's
rows are resampled together, because one patient's weekly rows are not independent).
Every metric of every resample then comes from a few whole-matrix operations on rows
sorted once (positives first, then negatives, each by ascending score), instead of
re-sorting each resample:

- confusion counts at a threshold from cumulative sums of the counts (decisions are a
  suffix of the score order);
- AUROC by the Mann-Whitney formula, counting for each positive the resampled negatives
  below it (ties a half); average precision from the positives and rows at or above
  each distinct positive score;
- Brier score, calibration bins and coverage shares from one matrix product each;
- recall and PPV at an alert budget from cumulative counts within each date, in flag
  order (date, score descending, input row), so tied rows on the quota boundary are
  taken in input-row order as :func:`flag_at_budget` takes them.

The replicates equal the point-metric functions applied to each resample laid out in
input-row order (the tests hold them to that, and to scikit-learn with the draw counts
as sample weights). A metric that is undefined in a resample (no positives drawn, say)
is NaN there; its interval uses the resamples where it is defined and says how many.
``benchmarks/bootstrap_speed.py`` measures this against resampling in a loop.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from analytics.metrics._budget import budget_names, group_codes, quota
from analytics.metrics._scores import ECE_BINS, ece_bin

# Draw-count matrices are built this many cells at a time (about 16 MB each).
CHUNK_CELLS = 1 << 21


@dataclass(frozen=True)
class Sample:
    """One sample's rows in canonical order: positives first, then negatives, each by
    ascending score (ties broken by probability, patient and coverage, so the input's row
    order never matters except where a budget quota needs a tie-break)."""

    s_pos: np.ndarray
    s_neg: np.ndarray
    p_pos: np.ndarray  # the probability judged by Brier and ECE (the score unless given)
    p_neg: np.ndarray
    cluster: np.ndarray | None  # resampling unit of each row; None: each row is its own
    n_units: int
    unit_coverage: np.ndarray  # units x coverage measures, NaN where unknown
    flag_order: np.ndarray | None = None  # rows by date, score descending, input row
    flag_date: np.ndarray | None = None  # the date code of each row of flag_order

    @property
    def n_rows(self) -> int:
        return len(self.s_pos) + len(self.s_neg)


def prepare(
    y,
    score,
    *,
    probability=None,
    unit=None,
    coverage=None,
    date=None,
) -> Sample:
    """Sort one sample's rows for resampling. ``unit`` holds patient codes (a patient's
    rows are resampled together); ``coverage`` is rows x measures; ``date`` the as-of
    date of each row, needed for the budget metrics."""
    y = np.asarray(y).astype(bool)
    score = np.asarray(score, dtype=float)
    p = score if probability is None else np.asarray(probability, dtype=float)
    n = len(y)
    cov = np.zeros((n, 0)) if coverage is None else np.asarray(coverage, dtype=float)
    keys: list[np.ndarray] = [cov[:, j] for j in range(cov.shape[1] - 1, -1, -1)]
    if unit is not None:
        keys.append(np.asarray(unit))
    if probability is not None:
        keys.append(p)
    order = np.lexsort([*keys, score, ~y])
    y, score, p, cov = y[order], score[order], p[order], cov[order]
    if unit is None:
        cluster, n_units, unit_cov = None, n, cov
    else:
        codes, cluster = np.unique(np.asarray(unit)[order], return_inverse=True)
        cluster = cluster.ravel()
        n_units = len(codes)
        unit_cov = _unit_means(cluster, cov, n_units)
    flag_order = flag_date = None
    if date is not None:
        day = group_codes(date)[order]
        flag_order = np.lexsort((order, -score, day))
        flag_date = day[flag_order]
    n_pos = int(y.sum())
    return Sample(
        s_pos=score[:n_pos],
        s_neg=score[n_pos:],
        p_pos=p[:n_pos],
        p_neg=p[n_pos:],
        cluster=cluster,
        n_units=n_units,
        unit_coverage=unit_cov,
        flag_order=flag_order,
        flag_date=flag_date,
    )


def _unit_means(cluster: np.ndarray, cov: np.ndarray, n_units: int) -> np.ndarray:
    out = np.full((n_units, cov.shape[1]), np.nan)
    for j in range(cov.shape[1]):
        known = ~np.isnan(cov[:, j])
        total = np.bincount(cluster[known], weights=cov[known, j], minlength=n_units)
        count = np.bincount(cluster[known], minlength=n_units)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[:, j] = np.where(count > 0, total / np.maximum(count, 1), np.nan)
    return out


@dataclass(frozen=True)
class Replicates:
    """Every metric of every resample (NaN where undefined in that resample)."""

    metrics: dict[str, np.ndarray]  # name -> (n_boot,)
    curve_observed: np.ndarray  # (n_boot, calibration-curve bins)
    coverage: np.ndarray  # (n_boot, coverage measures)


def draw_counts(rng: np.random.Generator, n_resamples: int, n_units: int) -> np.ndarray:
    """How often each unit is drawn in each resample (rows sum to ``n_units``)."""
    if n_units >= 1000:  # one resample at a time stays in cache: faster for big samples
        out = np.empty((n_resamples, n_units))
        for b in range(n_resamples):
            out[b] = np.bincount(rng.integers(0, n_units, size=n_units), minlength=n_units)
        return out
    idx = rng.integers(0, n_units, size=(n_resamples, n_units))
    idx += (np.arange(n_resamples, dtype=np.int64) * n_units)[:, None]
    counts = np.bincount(idx.ravel(), minlength=n_resamples * n_units)
    return counts.reshape(n_resamples, n_units).astype(np.float64)


def _cumsum0(w: np.ndarray) -> np.ndarray:
    out = np.zeros((w.shape[0], w.shape[1] + 1))
    np.cumsum(w, axis=1, out=out[:, 1:])
    return out


def _div(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def _bin_matrix(p: np.ndarray, y: float, indicators: int | None) -> np.ndarray:
    """Rows x columns to multiply draw counts by: the probability in its ECE bin, the
    squared error, and (when bins do not follow the score order) a 1 in the row's bin,
    in the first or second block of ``ECE_BINS`` columns (``indicators`` 0 or 1)."""
    n = len(p)
    width = ECE_BINS + 1 + (2 * ECE_BINS if indicators is not None else 0)
    m = np.zeros((n, width))
    b = ece_bin(p)
    m[np.arange(n), b] = p
    m[:, ECE_BINS] = (y - p) ** 2
    if indicators is not None:
        m[np.arange(n), ECE_BINS + 1 + indicators * ECE_BINS + b] = 1.0
    return m


def replicate(
    sample: Sample,
    *,
    n_boot: int,
    rng: np.random.Generator,
    threshold: float | None = None,
    score_is_binary: bool = False,
    curve_bins: list[tuple[int, int]] | None = None,
    average_precision: bool = False,
    budgets: Sequence[float] = (),
) -> Replicates:
    """Bootstrap replicates of every metric of one sample.

    Always: prevalence, auroc, brier, calibration_error. With ``threshold``: the rates
    selection_rate, tpr, fpr, fnr, ppv of deciding ``score >= threshold``. With
    ``average_precision``: auprc. With ``budgets`` (the sample needs dates): recall and
    PPV at each budget, named by :func:`budget_names`. ``curve_bins`` groups the
    equal-width ECE bins into calibration-curve bins (inclusive ranges of bin numbers);
    their observed rates are resampled too.
    """
    s_pos, s_neg, p_pos, p_neg = sample.s_pos, sample.s_neg, sample.p_pos, sample.p_neg
    n_pos = len(s_pos)
    curve_bins = curve_bins or []
    if budgets and sample.flag_order is None:
        raise ValueError("budget metrics need the rows' dates: prepare(..., date=...)")
    # AUROC: for each positive, the negatives strictly below it and those tied with it.
    below = np.searchsorted(s_neg, s_pos, side="left")
    upto = np.searchsorted(s_neg, s_pos, side="right")
    has_ties = bool(np.any(upto != below))
    # ECE bins follow the score order when the probability is the score (or rises with
    # it): then each bin is a slice of each block and cumulative sums count it.
    bin_pos, bin_neg = ece_bin(p_pos), ece_bin(p_neg)
    sliced = bool(np.all(np.diff(bin_pos) >= 0) and np.all(np.diff(bin_neg) >= 0))
    if sliced:
        b_pos = np.searchsorted(bin_pos, np.arange(ECE_BINS + 1))
        b_neg = np.searchsorted(bin_neg, np.arange(ECE_BINS + 1))
    # One matrix product per block: probability sum per ECE bin and the squared error
    # (and, unless sliced, the rows per bin).
    m_pos = _bin_matrix(p_pos, 1.0, None if sliced else 0)
    m_neg = _bin_matrix(p_neg, 0.0, None if sliced else 1)
    cov = sample.unit_coverage
    cov_known = (~np.isnan(cov)).astype(float)
    cov_values = np.nan_to_num(cov)
    if threshold is not None:
        # Decisions are a suffix of each block: the first index at or above the threshold.
        k_pos = int(np.searchsorted(s_pos, threshold, side="left"))
        k_neg = int(np.searchsorted(s_neg, threshold, side="left"))
    if average_precision:
        # Each distinct positive score is a threshold where recall rises.
        levels = np.unique(s_pos)
        lo_pos = np.searchsorted(s_pos, levels, side="left")
        hi_pos = np.searchsorted(s_pos, levels, side="right")
        lo_neg = np.searchsorted(s_neg, levels, side="left")
    names = ["prevalence", "auroc", "brier", "calibration_error"]
    if threshold is not None:
        names += ["selection_rate", "tpr", "fpr", "fnr", "ppv"]
    if average_precision:
        names.append("auprc")
    for b in budgets:
        names += budget_names(b)
    out = {name: np.empty(n_boot) for name in names}
    curve = np.empty((n_boot, len(curve_bins)))
    coverage = np.empty((n_boot, cov.shape[1]))
    width = max(sample.n_rows, sample.n_units, 1)
    step = max(1, CHUNK_CELLS // width)
    for start in range(0, n_boot, step):
        stop = min(n_boot, start + step)
        sl = slice(start, stop)
        counts = draw_counts(rng, stop - start, sample.n_units)
        w = counts if sample.cluster is None else counts[:, sample.cluster]
        w_pos, w_neg = w[:, :n_pos], w[:, n_pos:]
        c_pos, c_neg = _cumsum0(w_pos), _cumsum0(w_neg)
        pos, neg = c_pos[:, -1], c_neg[:, -1]
        rows = pos + neg
        out["prevalence"][sl] = _div(pos, rows)
        if threshold is not None:
            tp = pos - c_pos[:, k_pos]
            fp = neg - c_neg[:, k_neg]
            out["selection_rate"][sl] = _div(tp + fp, rows)
            out["tpr"][sl] = _div(tp, pos)
            out["fnr"][sl] = _div(pos - tp, pos)
            out["fpr"][sl] = _div(fp, neg)
            out["ppv"][sl] = _div(tp, tp + fp)
        beneath = c_neg[:, below]
        if has_ties:
            beneath = 0.5 * (beneath + c_neg[:, upto])
        out["auroc"][sl] = _div(np.einsum("ij,ij->i", w_pos, beneath), pos * neg)
        if average_precision:
            gained = c_pos[:, hi_pos] - c_pos[:, lo_pos]  # positives at each level
            caught = pos[:, None] - c_pos[:, lo_pos]  # positives at or above it
            flagged = caught + neg[:, None] - c_neg[:, lo_neg]
            # A level nobody was drawn at gains nothing, so its 0/0 precision counts 0.
            precision = np.divide(caught, flagged, out=np.zeros_like(caught), where=flagged > 0)
            out["auprc"][sl] = _div(np.einsum("ij,ij->i", gained, precision), pos)
        sums = w_pos @ m_pos + w_neg @ m_neg
        out["brier"][sl] = _div(sums[:, ECE_BINS], rows)
        if sliced:
            observed = c_pos[:, b_pos[1:]] - c_pos[:, b_pos[:-1]]  # positives per ECE bin
            in_bin = observed + c_neg[:, b_neg[1:]] - c_neg[:, b_neg[:-1]]
        else:
            observed = sums[:, ECE_BINS + 1 : 2 * ECE_BINS + 1]
            in_bin = observed + sums[:, 2 * ECE_BINS + 1 :]
        predicted = sums[:, :ECE_BINS]
        if score_is_binary:
            out["calibration_error"][sl] = np.nan
        else:
            out["calibration_error"][sl] = _div(np.abs(observed - predicted).sum(axis=1), rows)
        for j, (lo, hi) in enumerate(curve_bins):
            curve[sl, j] = _div(observed[:, lo : hi + 1].sum(1), in_bin[:, lo : hi + 1].sum(1))
        if cov.shape[1]:
            coverage[sl] = _div(counts @ cov_values, counts @ cov_known)
        if budgets:
            _budget_replicates(sample, w, n_pos, budgets, out, sl)
    return Replicates(metrics=out, curve_observed=curve, coverage=coverage)


def _budget_replicates(
    sample: Sample,
    w: np.ndarray,
    n_pos: int,
    budgets: Sequence[float],
    out: dict[str, np.ndarray],
    sl: slice,
) -> None:
    """Recall and PPV at each budget for a chunk of resamples (``w``: resample x row).

    In flag order a date's flagged copies are its first ``quota`` copies, so the flagged
    positives are the running count of positives where the running count of copies
    reaches the quota. One ``searchsorted`` finds that row for every resample and date:
    the running counts of all resamples form one sorted array once each resample is
    lifted above the one before. This costs a few passes over the chunk whatever the
    number of budgets, instead of several passes per budget.
    """
    label = (sample.flag_order < n_pos).astype(float)
    day = sample.flag_date
    first = np.r_[0, np.flatnonzero(day[1:] != day[:-1]) + 1]  # each date's first row
    after = np.r_[first[1:], len(day)]
    w_flag = w[:, sample.flag_order]
    copies = _cumsum0(w_flag)  # copies drawn before each row (and in all, last column)
    hits = _cumsum0(w_flag * label)  # positives among them
    day_start = copies[:, first]
    size = copies[:, after] - day_start
    resamples, n = w_flag.shape
    lift = np.arange(resamples)[:, None] * (copies[:, -1].max() + 1.0)
    running = (copies[:, 1:] + lift).ravel()  # copies up to and including each row
    r = np.arange(resamples)[:, None]
    pos = hits[:, -1]
    for b in budgets:
        recall, ppv = budget_names(b)
        q = np.minimum(quota(b, size), size)
        reach = day_start + q  # the running count at each date's last flagged copy
        # The row holding that copy: the first whose running count reaches it.
        row = np.searchsorted(running, (reach + lift).ravel()).reshape(q.shape) - r * n
        # Positives before that row, plus its own copies taken (all positive or none).
        taken = hits[r, row] + label[row] * (reach - copies[r, row]) - hits[:, first]
        caught = taken.sum(axis=1)
        out[recall][sl] = _div(caught, pos)
        out[ppv][sl] = _div(caught, q.sum(axis=1))


def percentile_interval(
    replicates: np.ndarray, level: float = 0.95
) -> tuple[float | None, float | None, int]:
    """(low, high, resamples used): the percentile interval over the resamples where the
    value is defined; (None, None, n) when fewer than two are."""
    values = np.asarray(replicates, dtype=float)
    values = values[~np.isnan(values)]
    if len(values) < 2:
        return None, None, len(values)
    tail = (1.0 - level) / 2.0
    lo, hi = np.quantile(values, [tail, 1.0 - tail])
    return float(lo), float(hi), len(values)
