"""``audit_predictions``: the one entry point of a bias audit.

Given any predictions frame (a label, a score, demographic attributes; optionally a
patient id, a time column and data-coverage columns) it computes, once:

- per group, for every attribute and (if asked) their intersections: counts, metrics
  from fairlearn's MetricFrame and bootstrap intervals resampled within groups;
- disparities against a reference group with the 0.8-1.25 band and flags;
- calibration bins; data coverage by group, and performance with and without the data;
- a mitigation what-if with fairlearn's ThresholdOptimizer;
- plain-language findings;

with small groups suppressed throughout (see ``suppression``). The result is frozen and
every output format reads it.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime

import fairlearn
import numpy as np
import pandas as pd
import polars as pl

from analytics.access.disclosure import counts, passes, primary
from analytics.fairness import _calibration as calibration
from analytics.fairness import _coverage, _mitigation
from analytics.fairness import _disparity as disparity
from analytics.fairness._inputs import (
    MISSING,
    AuditInputError,
    as_polars,
    attribute_array,
    binary_array,
    require_columns,
    score_array,
    unit_codes,
)
from analytics.fairness._metrics import DISPARITY_METRICS, METRICS, all_metrics, point_estimates
from analytics.fairness._result import (
    AuditMeta,
    AuditResult,
    CalibrationBin,
    CoverageShare,
    Disparity,
    Estimate,
    GroupResult,
    TableInfo,
    WhatIf,
    WhatIfRow,
)
from analytics.fairness._summary import findings
from analytics.fairness._suppression import suppress_tables
from analytics.metrics import Replicates, Sample, percentile_interval, prepare, replicate

DEFAULT_VALIDATION_SHARE = 0.5
# Groups are resampled on this many threads at most (numpy releases the GIL).
MAX_THREADS = 4


@dataclass
class _Table:
    name: str
    kind: str
    attributes: tuple[str, ...]
    values: list[tuple[str, ...]]
    rows: list[np.ndarray]
    columns: list[np.ndarray]  # the row-level value of each attribute


@dataclass
class _Group:
    result: GroupResult
    rows: np.ndarray
    reps: Replicates | None = None
    sample: Sample | None = None
    ranges: list[tuple[int, int]] | None = None


def _names(value: str | Sequence[str]) -> list[str]:
    if isinstance(value, str):
        value = value.split(",")
    return [v.strip() for v in value if v and v.strip()]


def _intersection_sets(
    attributes: list[str], intersections: bool | int | Sequence[Sequence[str]] | None
) -> list[tuple[str, ...]]:
    if intersections is None or intersections is False:
        return []
    if intersections is True:
        return list(itertools.combinations(attributes, 2))
    if isinstance(intersections, int):
        if intersections < 2:
            return []
        return [
            combo
            for size in range(2, min(intersections, len(attributes)) + 1)
            for combo in itertools.combinations(attributes, size)
        ]
    sets = []
    for combo in intersections:
        combo = tuple(_names(combo) if isinstance(combo, str) else combo)
        unknown = [a for a in combo if a not in attributes]
        if unknown or len(set(combo)) < 2:
            raise AuditInputError(
                f"intersection {' & '.join(combo)!r} must name two or more of the audited "
                f"attributes ({', '.join(attributes)})"
            )
        sets.append(tuple(a for a in attributes if a in combo))
    return list(dict.fromkeys(sets))


def _partition(columns: list[np.ndarray]) -> tuple[list[tuple[str, ...]], list[np.ndarray]]:
    """Groups (sorted by value, ``(missing)`` last) and their row indices."""
    codes, levels = [], []
    for col in columns:
        uniq, inv = np.unique(col.astype(str), return_inverse=True)
        order = sorted(range(len(uniq)), key=lambda i: (uniq[i] == MISSING, uniq[i]))
        rank = np.empty(len(uniq), dtype=np.int64)
        rank[order] = np.arange(len(uniq))
        codes.append(rank[inv])
        levels.append([str(uniq[i]) for i in order])
    stacked = np.column_stack(codes)
    keys, inverse = np.unique(stacked, axis=0, return_inverse=True)
    inverse = inverse.ravel()
    order = np.argsort(inverse, kind="stable")
    bounds = np.cumsum(np.bincount(inverse, minlength=len(keys)))[:-1]
    rows = np.split(order, bounds)
    values = [tuple(levels[j][key[j]] for j in range(len(columns))) for key in keys]
    return values, rows


def _label(attributes: Sequence[str], values: Sequence[str]) -> str:
    return " & ".join(f"{a}={v}" for a, v in zip(attributes, values, strict=True))


def _reference_spec(
    reference: str | Mapping[str, str] | Sequence[str] | None,
    attributes: list[str],
    levels: dict[str, set[str]],
) -> dict[str, str]:
    """Attribute -> the named reference value."""
    if reference is None:
        return {}
    if isinstance(reference, Mapping):
        items = [(str(k), str(v)) for k, v in reference.items()]
    else:
        raw = [reference] if isinstance(reference, str) else list(reference)
        items = []
        for item in raw:
            item = str(item).strip()
            if "=" in item:
                attr, value = item.split("=", 1)
                items.append((attr.strip(), value.strip()))
            else:
                items.append(("", item))
    spec: dict[str, str] = {}
    for attr, value in items:
        if attr:
            if attr not in attributes:
                raise AuditInputError(
                    f"reference {attr}={value}: {attr!r} is not an audited attribute "
                    f"({', '.join(attributes)})"
                )
            if value not in levels[attr]:
                raise AuditInputError(
                    f"reference {attr}={value}: no such group; {attr} has "
                    f"{', '.join(sorted(levels[attr]))}"
                )
            spec[attr] = value
            continue
        matches = [a for a in attributes if value in levels[a]]
        if not matches:
            raise AuditInputError(
                f"reference {value!r} is not a group of any audited attribute; name it as "
                f"ATTRIBUTE=VALUE (attributes: {', '.join(attributes)})"
            )
        for a in matches:
            spec[a] = value
    return spec


def _estimate(value: float, reps: np.ndarray | None, confidence: float) -> Estimate:
    if value is None or not np.isfinite(value):
        return Estimate(None)
    if reps is None:
        return Estimate(float(value))
    lo, hi, n = percentile_interval(reps, confidence)
    return Estimate(float(value), lo, hi, n)


def _point_row(frame: pd.DataFrame, values: tuple[str, ...]) -> dict[str, float]:
    row = frame.loc[values[0] if len(values) == 1 else values]
    return {m: float(row[m]) for m in METRICS}


def _window(df: pl.DataFrame, time_column: str | None) -> tuple[str | None, str | None]:
    if not time_column:
        return None, None
    col = df[time_column]
    try:
        if col.dtype == pl.String:
            col = col.str.to_datetime(strict=False)
        col = col.cast(pl.Date)
    except pl.exceptions.PolarsError:
        return None, None
    lo, hi = col.min(), col.max()
    if lo is None or hi is None:
        return None, None
    return lo.strftime("%Y-%m"), hi.strftime("%Y-%m")


def _constant(df: pl.DataFrame, column: str) -> str | None:
    if column not in df.columns:
        return None
    values = sorted({str(v) for v in df[column].drop_nulls().unique().to_list()})
    return ", ".join(values[:3]) + (" ..." if len(values) > 3 else "") if values else None


def audit_predictions(
    frame,
    *,
    label: str,
    score: str,
    attributes: str | Sequence[str],
    threshold: float = 0.5,
    score_is_binary: bool = False,
    reference: str | Mapping[str, str] | Sequence[str] | None = None,
    intersections: bool | int | Sequence[Sequence[str]] = False,
    n_boot: int = 1000,
    seed: int = 0,
    min_cell_size: int = 11,
    coverage: Mapping[str, str] | Sequence[str] | bool | None = None,
    validation=None,
    mitigation: str | None = "equalized_odds",
    mitigation_objective: str = "accuracy",
    id_column: str | None = "patient_id",
    time_column: str | None = "as_of",
    source: str | None = None,
    confidence: float = 0.95,
) -> AuditResult:
    """Audit a predictions frame for bias; see the module docstring and
    ``docs/fairness-report.md``.

    ``frame``: polars or pandas. ``label``: 0/1 outcome column. ``score``: probability
    column (or 0/1 decisions with ``score_is_binary``). ``attributes``: the demographic
    columns. ``reference``: "ATTRIBUTE=VALUE" (or a bare value, or a mapping); default the
    largest group. ``intersections``: True for every pair of attributes, an int for all
    combinations up to that size, or explicit attribute tuples. ``coverage``: a mapping
    label -> column, column names, or None to use recognised column names.
    ``validation``: a frame to fit the what-if on, or the share of the earliest
    predictions to use (default one half). ``mitigation``: "equalized_odds",
    "true_positive_rate_parity" (or "tpr"), or None for no what-if; the thresholds
    maximise ``mitigation_objective`` ("accuracy" or "balanced_accuracy") under it.
    ``id_column``: a patient id column, used when present (patients are resampled
    together and counted for suppression). ``time_column``: used when present (data
    window, what-if split).
    """
    source = source or "predictions"
    df = as_polars(frame)
    attrs = _names(attributes)
    if not attrs:
        raise AuditInputError("name at least one attribute to audit")
    if n_boot < 1:
        raise AuditInputError("n_boot must be at least 1")
    if not 0 < confidence < 1:
        raise AuditInputError("confidence must be between 0 and 1")
    if not score_is_binary and not 0 <= threshold <= 1:
        raise AuditInputError(f"threshold {threshold} must be in [0, 1]")
    try:
        constraint = _mitigation.canonical(mitigation) if mitigation else None
        objective = _mitigation.canonical_objective(mitigation_objective)
    except ValueError as exc:
        raise AuditInputError(str(exc)) from exc
    cov_pairs = _coverage.resolve(list(df.columns), coverage)
    require_columns(df, [label, score, *attrs, *(c for _, c in cov_pairs)], source)
    if label == score or label in attrs or score in attrs:
        raise AuditInputError("the label, the score and the attributes must be different columns")
    id_col = id_column if id_column and id_column in df.columns else None
    time_col = time_column if time_column and time_column in df.columns else None

    y_all = binary_array(df[label], "label", source)
    s_all = score_array(df[score], source, binary=score_is_binary)
    keep = ~np.isnan(y_all) & ~np.isnan(s_all)
    dropped = int((~keep).sum())
    df = df.filter(pl.Series(keep))
    y = y_all[keep].astype(np.int8)
    s = s_all[keep]
    if len(y) == 0:
        raise AuditInputError(f"{source}: no rows with both a label and a score")
    cut = 0.5 if score_is_binary else float(threshold)
    k = int(min_cell_size)
    unit = unit_codes(df[id_col]) if id_col else None
    measures, cov = _coverage.measure_values(df, cov_pairs, source)
    attr_values = {a: attribute_array(df[a]) for a in attrs}
    # Canonical row order, so that nothing (not even rounding) depends on the input's.
    keys = [np.unique(attr_values[a].astype(str), return_inverse=True)[1] for a in attrs]
    keys += [cov[:, j] for j in range(cov.shape[1])]
    if unit is not None:
        keys.append(unit)
    if time_col:
        keys.append(df[time_col].rank("dense").fill_null(0).to_numpy())
    order = np.lexsort([*reversed(keys), s, y])
    y, s, cov = y[order], s[order], cov[order]
    unit = None if unit is None else unit[order]
    attr_values = {a: v[order] for a, v in attr_values.items()}
    df = df[order]
    levels = {a: set(attr_values[a].tolist()) for a in attrs}
    ref_spec = _reference_spec(reference, attrs, levels)

    # --- the tables: attributes, intersections, coverage splits ---------------------
    tables: list[_Table] = []
    for combo in [(a,) for a in attrs] + _intersection_sets(attrs, intersections):
        columns = [attr_values[a] for a in combo]
        values, rows = _partition(columns)
        kind = "attribute" if len(combo) == 1 else "intersection"
        tables.append(_Table(" & ".join(combo), kind, combo, values, rows, columns))
    for j, m in enumerate(measures):
        column = _coverage.split_values(cov[:, j])
        values, rows = _partition([column])
        tables.append(
            _Table(f"coverage: {m.label}", "coverage", (m.label,), values, rows, [column])
        )

    overall_rows = np.arange(len(y))
    overall_note = primary(counts(overall_rows, y, unit), k) if k > 0 else None

    # --- plan: suppression and point estimates (fairlearn's MetricFrame) per table ----
    plans: list[tuple[_Table, dict[int, str], pd.DataFrame | None]] = []
    jobs: dict[tuple[int, int], tuple[np.ndarray, bool]] = {}
    if not overall_note:
        jobs[(0, 0)] = (overall_rows, True)
    table_notes = suppress_tables(
        [(t.attributes, t.values, t.rows, t.kind != "coverage") for t in tables], y, unit, k
    )
    for t, table in enumerate(tables, start=1):
        notes = table_notes[t - 1]
        if overall_note:
            notes = {i: overall_note for i in range(len(table.values))}
        frame_t = None
        if len(notes) < len(table.values):
            sensitive = pd.DataFrame(
                {a: col for a, col in zip(table.attributes, table.columns, strict=True)}
            )
            frame_t = point_estimates(
                y, s, sensitive, threshold=cut, score_is_binary=score_is_binary
            )
        plans.append((table, notes, frame_t))
        for g, rows in enumerate(table.rows):
            if g not in notes:
                jobs[(t, g + 1)] = (rows, table.kind != "coverage")

    # --- bootstrap every shown group, in parallel (each group has its own stream) -----
    def run(key: tuple[int, int]) -> tuple:
        rows, with_coverage = jobs[key]
        sample = prepare(
            y[rows],
            s[rows],
            unit=None if unit is None else unit[rows],
            coverage=cov[rows] if with_coverage else None,
        )
        ranges = (
            []
            if score_is_binary
            else calibration.curve_bins(s[rows], None if unit is None else unit[rows], k)
        )
        rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=key))
        reps = replicate(
            sample,
            n_boot=n_boot,
            rng=rng,
            threshold=cut,
            score_is_binary=score_is_binary,
            curve_bins=ranges,
        )
        return sample, ranges, reps

    order = sorted(jobs, key=lambda key: -len(jobs[key][0]))
    workers = max(1, min(MAX_THREADS, os.cpu_count() or 1, len(order)))
    if workers == 1:
        done = {key: run(key) for key in order}
    else:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            done = dict(zip(order, pool.map(run, order), strict=True))

    def shown_group(
        table: str,
        kind: str,
        attributes: tuple[str, ...],
        values: tuple[str, ...],
        rows: np.ndarray,
        points: dict[str, float],
        key: tuple[int, int],
    ) -> _Group:
        sample, ranges, reps = done[key]
        c = counts(rows, y, unit)
        result = GroupResult(
            table=table,
            kind=kind,
            attributes=attributes,
            values=values,
            label=_label(attributes, values) if attributes else "overall",
            suppressed=False,
            n=c.rows,
            patients=c.patients if unit is not None else None,
            positives=c.positives,
            metrics={m: _estimate(points[m], reps.metrics[m], confidence) for m in METRICS},
        )
        return _Group(result, rows, reps, sample, ranges)

    # --- overall ------------------------------------------------------------------
    if overall_note:
        overall = _Group(
            GroupResult("overall", "overall", (), (), "overall", True, overall_note), overall_rows
        )
    else:
        every = all_metrics(cut, score_is_binary=score_is_binary)(y, s)
        overall_points = dict(zip(METRICS, every.tolist(), strict=True))
        overall = shown_group("overall", "overall", (), (), overall_rows, overall_points, (0, 0))

    # --- groups, per table --------------------------------------------------------
    infos: list[TableInfo] = []
    all_groups: list[GroupResult] = []
    disparities: list[Disparity] = []
    calib: list[CalibrationBin] = []
    shares: list[CoverageShare] = []
    table_groups: dict[str, list[_Group]] = {}
    for t, (table, notes, frame_t) in enumerate(plans, start=1):
        groups: list[_Group] = []
        for g, (values, rows) in enumerate(zip(table.values, table.rows, strict=True)):
            if g in notes:
                groups.append(
                    _Group(
                        GroupResult(
                            table.name,
                            table.kind,
                            table.attributes,
                            values,
                            _label(table.attributes, values),
                            True,
                            notes[g],
                        ),
                        rows,
                    )
                )
                continue
            groups.append(
                shown_group(
                    table.name,
                    table.kind,
                    table.attributes,
                    values,
                    rows,
                    _point_row(frame_t, values),
                    (t, g + 1),
                )
            )
        shown = [grp for grp in groups if not grp.result.suppressed]
        ref, reason = _choose_reference(table, shown, ref_spec)
        if ref is not None:
            groups = [
                _Group(_with_reference(grp.result), grp.rows, grp.reps, grp.sample, grp.ranges)
                if grp is ref
                else grp
                for grp in groups
            ]
            ref = next(grp for grp in groups if grp.result.is_reference)
            shown = [grp for grp in groups if not grp.result.suppressed]
        table_groups[table.name] = groups
        infos.append(
            TableInfo(
                table.name,
                table.kind,
                table.attributes,
                ref.result.label if ref else None,
                reason,
                len(groups),
                len(notes),
            )
        )
        all_groups += [grp.result for grp in groups]
        if ref is not None:
            for grp in shown:
                if grp is ref:
                    continue
                for m in DISPARITY_METRICS:
                    ratio, diff, fl = disparity.compare(
                        grp.result.metrics[m].value,
                        ref.result.metrics[m].value,
                        grp.reps.metrics[m],
                        ref.reps.metrics[m],
                        confidence=confidence,
                    )
                    disparities.append(
                        Disparity(
                            table.name,
                            grp.result.label,
                            ref.result.label,
                            m,
                            grp.result.metrics[m].value,
                            ref.result.metrics[m].value,
                            ratio,
                            diff,
                            fl,
                        )
                    )
        for grp in shown:
            calib += _calibration_bins(grp, confidence)
        if table.kind != "coverage":
            for grp in shown:
                shares += _coverage_shares(grp, ref, measures, confidence)

    if not overall.result.suppressed:
        calib = _calibration_bins(overall, confidence) + calib
        shares = _coverage_shares(overall, None, measures, confidence) + shares

    whatif = None
    if constraint and not overall_note:
        whatif = _what_if(
            constraint=constraint,
            objective=objective,
            df=df,
            y=y,
            s=s,
            cut=cut,
            attrs=attrs,
            attr_values=attr_values,
            table_groups=table_groups,
            unit=unit,
            k=k,
            validation=validation,
            time_col=time_col,
            seed=seed,
            label=label,
            score=score,
            score_is_binary=score_is_binary,
            source=source,
        )

    window_start, window_end = _window(df, time_col)
    meta = AuditMeta(
        source=source,
        label=label,
        score=score,
        attributes=tuple(attrs),
        threshold=None if score_is_binary else float(threshold),
        score_is_binary=bool(score_is_binary),
        n_boot=int(n_boot),
        seed=int(seed),
        confidence=float(confidence),
        min_cell_size=k,
        band=disparity.BAND,
        rows=len(y),
        rows_dropped=dropped,
        patients=int(len(np.unique(unit))) if unit is not None else None,
        id_column=id_col,
        time_column=time_col,
        window_start=window_start,
        window_end=window_end,
        model=_constant(df, "model"),
        version=_constant(df, "version"),
        resampling="patients within groups" if unit is not None else "rows within groups",
        fairlearn_version=fairlearn.__version__,
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
    )
    parts = dict(
        meta=meta,
        overall=overall.result,
        tables=tuple(infos),
        groups=tuple(all_groups),
        disparities=tuple(disparities),
        calibration=tuple(calib),
        coverage=tuple(shares),
        whatif=whatif,
    )
    return AuditResult(**parts, findings=findings(**parts))


def _with_reference(result: GroupResult) -> GroupResult:
    return replace(result, is_reference=True)


def _choose_reference(
    table: _Table, shown: list[_Group], ref_spec: dict[str, str]
) -> tuple[_Group | None, str | None]:
    if len(shown) < 1:
        return None, None
    largest = max(shown, key=lambda grp: (grp.result.n, -shown.index(grp)))
    if table.kind == "coverage":
        yes = next((grp for grp in shown if grp.result.values == ("yes",)), None)
        return (yes, "predictions with the data") if yes else (largest, "largest group")
    named = tuple(ref_spec.get(a) for a in table.attributes)
    if any(v is None for v in named):
        return largest, "largest group"
    match = next((grp for grp in shown if grp.result.values == named), None)
    if match is not None:
        return match, "named by the researcher"
    label = _label(table.attributes, named)
    if table.kind == "attribute":
        raise AuditInputError(
            f"the reference group {label} is suppressed (too small to show); name a larger group"
        )
    return largest, f"largest group ({label} is suppressed or absent)"


def _calibration_bins(grp: _Group, confidence: float) -> list[CalibrationBin]:
    if not grp.ranges:
        return []
    out = []
    r = grp.result
    s_g = np.concatenate([grp.sample.s_pos, grp.sample.s_neg])
    y_g = np.concatenate([np.ones(len(grp.sample.s_pos)), np.zeros(len(grp.sample.s_neg))])
    for j, (lo, hi, mean_pred, observed) in enumerate(calibration.bin_points(y_g, s_g, grp.ranges)):
        est = _estimate(observed, grp.reps.curve_observed[:, j], confidence)
        out.append(CalibrationBin(r.table, r.label, j, lo, hi, mean_pred, est))
    return out


def _coverage_shares(
    grp: _Group, ref: _Group | None, measures: list, confidence: float
) -> list[CoverageShare]:
    out = []
    r = grp.result
    for j, m in enumerate(measures):
        values = grp.sample.unit_coverage[:, j]
        point = float(np.nanmean(values)) if np.any(~np.isnan(values)) else None
        share = _estimate(point, grp.reps.coverage[:, j], confidence)
        if ref is None or ref is grp:
            ref_share, ratio, fl = (
                (share.value, Estimate(1.0 if share.value else None), "ok")
                if ref is grp
                else (None, Estimate(None), "undefined")
            )
        else:
            ref_values = ref.sample.unit_coverage[:, j]
            ref_share = float(np.nanmean(ref_values)) if np.any(~np.isnan(ref_values)) else None
            ratio, _, fl = disparity.compare(
                point,
                ref_share,
                grp.reps.coverage[:, j],
                ref.reps.coverage[:, j],
                confidence=confidence,
            )
        out.append(
            CoverageShare(
                r.table,
                r.label,
                m.label,
                m.column,
                m.kind,
                share,
                ref.result.label if ref is not None else None,
                ref_share,
                ratio,
                fl,
            )
        )
    return out


def _split(df, y, validation, time_col, unit, seed):
    """(fit mask over the audit rows, description), or None for a separate frame."""
    share = DEFAULT_VALIDATION_SHARE if validation is None else float(validation)
    if not 0 < share < 1:
        raise AuditInputError("the validation share must be between 0 and 1")
    n = len(y)
    if time_col:
        col = df[time_col]
        try:
            if col.dtype == pl.String:
                col = col.str.to_datetime(strict=False)
            t = col.cast(pl.Int64).to_numpy()
        except pl.exceptions.PolarsError:
            t = None
        if t is not None and not np.isnan(t.astype(float)).any():
            cutoff = np.sort(t)[min(n - 1, int(share * n))]
            fit = t < cutoff
            if 0 < fit.sum() < n:
                return fit, (
                    f"the earliest {fit.mean():.0%} of predictions by {time_col} fit the "
                    f"thresholds; the later {1 - fit.mean():.0%} (the test period) evaluate them"
                )
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(999_999,)))
    if unit is not None:
        fit = (rng.random(int(unit.max()) + 1) < share)[unit]
        what = "patients"
    else:
        fit = rng.random(n) < share
        what = "predictions"
    return fit, (
        f"a random {share:.0%} of {what} (seed {seed}) fit the thresholds; the rest evaluate them"
    )


def _what_if(
    *,
    constraint,
    objective,
    df,
    y,
    s,
    cut,
    attrs,
    attr_values,
    table_groups,
    unit,
    k,
    validation,
    time_col,
    seed,
    label,
    score,
    score_is_binary,
    source,
) -> WhatIf:
    notes: list[str] = []
    if validation is not None and not isinstance(validation, int | float):
        vdf = as_polars(validation)
        require_columns(vdf, [label, score, *attrs], f"{source} (validation)")
        vy = binary_array(vdf[label], "label", f"{source} (validation)")
        vs = score_array(vdf[score], f"{source} (validation)", binary=score_is_binary)
        vkeep = ~np.isnan(vy) & ~np.isnan(vs)
        vdf = vdf.filter(pl.Series(vkeep))
        fit_y, fit_s = vy[vkeep].astype(np.int8), vs[vkeep]
        fit_attr = {a: attribute_array(vdf[a]) for a in attrs}
        fit_unit = None
        test = np.ones(len(y), dtype=bool)
        description = (
            "a separate validation set fits the thresholds; the audited predictions evaluate them"
        )
    else:
        fit_mask, description = _split(df, y, validation, time_col, unit, seed)
        test = ~fit_mask
        fit_y, fit_s = y[fit_mask], s[fit_mask]
        fit_attr = {a: attr_values[a][fit_mask] for a in attrs}
        fit_unit = None if unit is None else unit[fit_mask]
    test_y, test_s = y[test], s[test]
    test_unit = None if unit is None else unit[test]
    before = test_s >= cut
    rows: list[WhatIfRow] = []
    for a in attrs:
        shown = [grp.result.values[0] for grp in table_groups[a] if not grp.result.suppressed]
        own = set()
        for v in shown:
            idx = np.flatnonzero(fit_attr[a] == v)
            c = counts(idx, fit_y, fit_unit)
            if passes(c, max(k, 1)):
                own.add(v)
        if not own:
            notes.append(f"{a}: no group is large enough to fit thresholds of its own")
            continue
        try:
            fitted = _mitigation.fit_and_apply(
                constraint=constraint,
                objective=objective,
                fit_y=fit_y,
                fit_score=fit_s,
                fit_group=fit_attr[a],
                test_score=test_s,
                test_group=attr_values[a][test],
                own_thresholds=own,
                seed=seed,
            )
        except (ValueError, KeyError, IndexError) as exc:
            notes.append(f"{a}: the threshold optimizer could not be fitted ({exc})")
            continue
        if fitted.pooled:
            notes.append(f"{a}: groups too small for thresholds of their own share pooled ones")
        after = fitted.decisions
        rb, ra = _mitigation.rates(test_y, before), _mitigation.rates(test_y, after)
        rows += [WhatIfRow(a, "overall", m, rb[m], ra[m]) for m in _mitigation.WHATIF_METRICS]
        per_group_before, per_group_after = {}, {}
        for v in shown:
            idx = np.flatnonzero(attr_values[a][test] == v)
            if k > 0 and not passes(counts(idx, test_y, test_unit), k):
                continue
            gb = _mitigation.rates(test_y[idx], before[idx])
            ga = _mitigation.rates(test_y[idx], after[idx])
            per_group_before[v], per_group_after[v] = gb, ga
            rows += [
                WhatIfRow(a, _label((a,), (v,)), m, gb[m], ga[m])
                for m in _mitigation.WHATIF_METRICS
            ]
        if len(per_group_before) >= 2:
            for m in ("selection_rate", "tpr", "fpr"):
                rows.append(
                    WhatIfRow(
                        a,
                        "largest gap",
                        m,
                        _gap([r[m] for r in per_group_before.values()]),
                        _gap([r[m] for r in per_group_after.values()]),
                    )
                )
    return WhatIf(
        constraint=_mitigation.CONSTRAINTS[constraint],
        objective=objective,
        split=description,
        validation_rows=int(len(fit_y)),
        test_rows=int(test.sum()),
        rows=tuple(rows),
        notes=tuple(notes),
    )


def _gap(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return max(known) - min(known) if len(known) >= 2 else None
