"""Row-level coarsening for files that leave the clinic: rare categories pooled, and local
suppression to k-anonymity. (Aggregates are protected by cell suppression instead.)"""

from __future__ import annotations

import polars as pl

OTHER = "Other (suppressed)"


def pool_rare(values: pl.Series, minimum: int) -> tuple[pl.Series, int]:
    """Values held by fewer than ``minimum`` rows become :data:`OTHER`.

    While the pool is non-empty but still smaller than ``minimum``, the next smallest value
    joins it, so nobody is in a group of fewer than ``minimum`` (unless the whole column
    has fewer). Returns the values and how many categories were pooled.
    """
    order = sorted(values.drop_nulls().value_counts().iter_rows(), key=lambda r: (r[1], r[0]))
    hidden = {v for v, n in order if n < minimum}
    pooled = sum(n for v, n in order if v in hidden)
    for value, n in order:
        if not hidden or pooled >= minimum:
            break
        if value not in hidden:
            hidden.add(value)
            pooled += n
    if not hidden:
        return values, 0
    mapping = {v: OTHER if v in hidden else v for v, _ in order}
    return values.replace_strict(mapping, default=None, return_dtype=pl.String), len(hidden)


def _class_sizes(frame: pl.DataFrame, quasi: tuple[str, ...]) -> pl.Series:
    return frame.select(pl.len().over(list(quasi))).to_series()


def k_anonymise(
    frame: pl.DataFrame, *, quasi: tuple[str, ...], k: int, order: tuple[str, ...]
) -> tuple[pl.DataFrame, dict]:
    """Local suppression to k-anonymity on ``quasi``; returns the frame and a report.

    For the rows in classes smaller than ``k``, one quasi-identifier at a time (in
    ``order``, least useful first) is replaced by :data:`OTHER`, until every class has at
    least ``k`` rows or ``order`` runs out. The report's ``k`` is the smallest class size
    after suppression (the caller refuses to publish below its threshold),
    ``unique_before`` how many rows were alone before, and ``suppressed`` how many values
    of each column were replaced.
    """
    if frame.height == 0:
        return frame, {"k": 0, "threshold": k, "quasi_identifiers": list(quasi),
                       "unique_before": 0, "below_k": 0, "suppressed": {}}  # fmt: skip
    sizes = _class_sizes(frame, quasi)
    report = {
        "threshold": k,
        "quasi_identifiers": list(quasi),
        "k_before": int(sizes.min()),
        "unique_before": int((sizes == 1).sum()),
        "suppressed": {},
    }
    for column in [c for c in order if c in quasi]:
        small = _class_sizes(frame, quasi) < k
        if not small.any():
            break
        changed = small & (frame[column] != OTHER)
        report["suppressed"][column] = int(changed.sum())
        frame = frame.with_columns(
            pl.when(pl.Series(small)).then(pl.lit(OTHER)).otherwise(pl.col(column)).alias(column)
        )
    # Rows still in a small class have every quasi-identifier suppressed: one residual
    # class smaller than k. Whole classes join it, smallest first, until it reaches k, so
    # the export does not depend on which few rows happened to be left over (each row's
    # cut-off is keyed, so that was a draw of the key). Moving whole classes keeps every
    # other class at k or more.
    frame, report["whole_classes_pooled"] = _pool_residual(frame, quasi, k)
    sizes = _class_sizes(frame, quasi)
    report["k"] = int(sizes.min())
    report["below_k"] = int((sizes < k).sum())
    return frame, report


def _pool_residual(frame: pl.DataFrame, quasi: tuple[str, ...], k: int) -> tuple[pl.DataFrame, int]:
    residual = pl.all_horizontal([pl.col(c) == OTHER for c in quasi])
    pooled = 0
    while True:
        in_residual = frame.select(residual).to_series()
        size = int(in_residual.sum())
        if size == 0 or size >= k or bool(in_residual.all()):
            return frame, pooled
        others = (
            frame.filter(~in_residual)
            .group_by(list(quasi))
            .len()
            .sort(["len", *quasi])  # smallest first; ties by value, so the result is stable
        )
        chosen = others.row(0, named=True)
        mask = frame.select(
            pl.all_horizontal([pl.col(c).eq_missing(pl.lit(chosen[c])) for c in quasi])
        ).to_series()
        frame = frame.with_columns(
            [pl.when(mask).then(pl.lit(OTHER)).otherwise(pl.col(c)).alias(c) for c in quasi]
        )
        pooled += 1
