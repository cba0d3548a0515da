"""Vectorised bootstrap of every group metric, resampling within the group.

A group's rows are resampled with replacement, ``n_boot`` times, as a matrix of draw
counts (resample x row, or resample x patient when a patient id is given: a patient's
predictions are resampled together, because they are not independent). Every metric of
every resample then comes from a few whole-matrix operations on rows sorted once by
outcome and score:

- confusion counts from cumulative sums of the counts (decisions are a suffix of the
  score order);
- AUROC by the Mann-Whitney formula, counting for each positive the resampled negatives
  below it (ties a half);
- Brier score, calibration bins and coverage shares from one matrix product each.

Groups are resampled separately, so a group is never absent from a resample; a metric
that is undefined in a resample (no positives drawn, say) is NaN there, and its interval
uses the resamples where it is defined and says how many (``n_valid``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from analytics.fairness.metrics import ECE_BINS, ece_bin

# Draw-count matrices are built this many cells at a time (about 16 MB each).
CHUNK_CELLS = 1 << 21


@dataclass(frozen=True)
class GroupSample:
    """One group's rows in canonical order: positives first, then negatives, each by
    ascending score (ties broken by patient and coverage, so row order never matters)."""

    s_pos: np.ndarray
    s_neg: np.ndarray
    cluster: np.ndarray | None  # resampling unit of each row; None: each row is its own
    n_units: int
    unit_coverage: np.ndarray  # units x coverage measures, NaN where unknown

    @property
    def n_rows(self) -> int:
        return len(self.s_pos) + len(self.s_neg)


def prepare(
    y: np.ndarray,
    score: np.ndarray,
    *,
    unit: np.ndarray | None = None,
    coverage: np.ndarray | None = None,
) -> GroupSample:
    """Sort one group's rows for resampling. ``unit`` holds integer patient codes (rows
    of a patient are resampled together); ``coverage`` is rows x measures."""
    y = np.asarray(y).astype(bool)
    score = np.asarray(score, dtype=float)
    n = len(y)
    cov = np.zeros((n, 0)) if coverage is None else np.asarray(coverage, dtype=float)
    keys: list[np.ndarray] = [cov[:, j] for j in range(cov.shape[1] - 1, -1, -1)]
    if unit is not None:
        keys.append(np.asarray(unit))
    order = np.lexsort([*keys, score, ~y])
    y, score, cov = y[order], score[order], cov[order]
    if unit is None:
        cluster, n_units, unit_cov = None, n, cov
    else:
        codes, cluster = np.unique(np.asarray(unit)[order], return_inverse=True)
        n_units = len(codes)
        unit_cov = _unit_means(cluster, cov, n_units)
    n_pos = int(y.sum())
    return GroupSample(
        s_pos=score[:n_pos],
        s_neg=score[n_pos:],
        cluster=cluster,
        n_units=n_units,
        unit_coverage=unit_cov,
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
    if n_units >= 1000:  # one resample at a time stays in cache: faster for big groups
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


def replicate(
    sample: GroupSample,
    *,
    n_boot: int,
    rng: np.random.Generator,
    threshold: float,
    score_is_binary: bool = False,
    curve_bins: list[tuple[int, int]] | None = None,
) -> Replicates:
    """Bootstrap replicates of every metric for one group.

    ``curve_bins`` groups the equal-width ECE bins into calibration-curve bins
    (inclusive ranges of bin numbers); their observed rates are resampled too.
    """
    s_pos, s_neg = sample.s_pos, sample.s_neg
    n_pos = len(s_pos)
    curve_bins = curve_bins or []
    # Decisions are a suffix of each block: the first index at or above the threshold.
    k_pos = int(np.searchsorted(s_pos, threshold, side="left"))
    k_neg = int(np.searchsorted(s_neg, threshold, side="left"))
    # AUROC: for each positive, the negatives strictly below it and those tied with it.
    below = np.searchsorted(s_neg, s_pos, side="left")
    upto = np.searchsorted(s_neg, s_pos, side="right")
    has_ties = bool(np.any(upto != below))
    # ECE bin boundaries inside each block (bins are monotone in score).
    b_pos = np.searchsorted(ece_bin(s_pos), np.arange(ECE_BINS + 1))
    b_neg = np.searchsorted(ece_bin(s_neg), np.arange(ECE_BINS + 1))
    # One matrix product per block: score sum per ECE bin, and the squared error.
    m_pos = np.zeros((n_pos, ECE_BINS + 1))
    m_neg = np.zeros((len(s_neg), ECE_BINS + 1))
    m_pos[np.arange(n_pos), ece_bin(s_pos)] = s_pos
    m_neg[np.arange(len(s_neg)), ece_bin(s_neg)] = s_neg
    m_pos[:, ECE_BINS] = (1.0 - s_pos) ** 2
    m_neg[:, ECE_BINS] = s_neg**2
    cov = sample.unit_coverage
    cov_known = (~np.isnan(cov)).astype(float)
    cov_values = np.nan_to_num(cov)

    names = ("prevalence", "selection_rate", "tpr", "fpr", "fnr", "ppv", "auroc", "brier")
    out = {name: np.empty(n_boot) for name in (*names, "calibration_error")}
    curve = np.empty((n_boot, len(curve_bins)))
    coverage = np.empty((n_boot, cov.shape[1]))
    width = max(sample.n_rows, sample.n_units, 1)
    step = max(1, CHUNK_CELLS // width)
    for start in range(0, n_boot, step):
        stop = min(n_boot, start + step)
        counts = draw_counts(rng, stop - start, sample.n_units)
        w = counts if sample.cluster is None else counts[:, sample.cluster]
        w_pos, w_neg = w[:, :n_pos], w[:, n_pos:]
        c_pos, c_neg = _cumsum0(w_pos), _cumsum0(w_neg)
        pos, neg = c_pos[:, -1], c_neg[:, -1]
        rows = pos + neg
        tp = pos - c_pos[:, k_pos]
        fp = neg - c_neg[:, k_neg]
        sl = slice(start, stop)
        out["prevalence"][sl] = _div(pos, rows)
        out["selection_rate"][sl] = _div(tp + fp, rows)
        out["tpr"][sl] = _div(tp, pos)
        out["fnr"][sl] = _div(pos - tp, pos)
        out["fpr"][sl] = _div(fp, neg)
        out["ppv"][sl] = _div(tp, tp + fp)
        beneath = c_neg[:, below]
        if has_ties:
            beneath = 0.5 * (beneath + c_neg[:, upto])
        out["auroc"][sl] = _div(np.einsum("ij,ij->i", w_pos, beneath), pos * neg)
        sums = w_pos @ m_pos + w_neg @ m_neg
        out["brier"][sl] = _div(sums[:, ECE_BINS], rows)
        observed = c_pos[:, b_pos[1:]] - c_pos[:, b_pos[:-1]]  # positives per ECE bin
        in_bin = observed + c_neg[:, b_neg[1:]] - c_neg[:, b_neg[:-1]]
        predicted = sums[:, :ECE_BINS]
        if score_is_binary:
            out["calibration_error"][sl] = np.nan
        else:
            out["calibration_error"][sl] = _div(np.abs(observed - predicted).sum(axis=1), rows)
        for j, (lo, hi) in enumerate(curve_bins):
            curve[sl, j] = _div(observed[:, lo : hi + 1].sum(1), in_bin[:, lo : hi + 1].sum(1))
        if cov.shape[1]:
            coverage[sl] = _div(counts @ cov_values, counts @ cov_known)
    return Replicates(metrics=out, curve_observed=curve, coverage=coverage)


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
