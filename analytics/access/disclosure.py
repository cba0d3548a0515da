"""What may be shown of a group of patients: age bands, category spellings as groups, and
small-cell suppression of counts and rates.

Categories: free text (gender, language, insurance, ...) as groups.

The contract keeps categories as written, trimmed. Where they are grouped (audits,
exports), spellings that differ only in case or surrounding spaces are one group, named
by their most common spelling (ties: the alphabetically first).
"""

from __future__ import annotations

import polars as pl


def fold_spellings(values: pl.Series) -> pl.Series:
    """Each value replaced by the most common spelling of its case-folded form; nulls stay."""
    clean = values.cast(pl.String).str.strip_chars()
    counts: dict[str, dict[str, int]] = {}
    for value, n in clean.drop_nulls().value_counts().iter_rows():
        counts.setdefault(value.casefold(), {})[value] = n
    name = {
        fold: min(spellings, key=lambda s: (-spellings[s], s)) for fold, spellings in counts.items()
    }
    return clean.map_elements(lambda v: name[v.casefold()], return_dtype=pl.String).alias(
        values.name
    )


def age_band(birth_year: pl.Expr, *, ref_year: int | pl.Expr) -> pl.Expr:
    """Ten-year age bands ("30-39"), with 90 and over together and missing as "Unknown"."""
    age = ref_year - birth_year
    low = (age // 10) * 10
    return (
        pl.when(birth_year.is_null())
        .then(pl.lit("Unknown"))
        .when(age >= 90)
        .then(pl.lit("90+"))
        .otherwise(pl.format("{}-{}", low, low + 9))
    )


def suppress_small(
    frame: pl.DataFrame, count: str, minimum: int, *, within: str | None = None
) -> pl.DataFrame:
    """Blank every figure of a row whose ``count`` is below ``minimum``.

    Where exactly one row in a ``within`` group is blanked, the next smallest is blanked
    too, so the group's total cannot give the small one away.
    """
    figures = [c for c in frame.columns if frame[c].dtype.is_numeric()]
    small = frame[count] < minimum
    if within is not None and frame.height:
        keyed = frame.with_columns(small.alias("_small"), pl.int_range(pl.len()).alias("_row"))
        extra: set[int] = set()
        for _, part in keyed.group_by(within):
            if part["_small"].sum() == 1 and part.height > 1:
                rest = part.filter(~pl.col("_small")).sort(count)
                extra.add(rest["_row"][0])
        small = small | pl.Series([i in extra for i in range(frame.height)])
    return frame.with_columns(
        [pl.when(small).then(None).otherwise(pl.col(c)).alias(c) for c in figures]
        + [small.alias("suppressed")]
    )


def discloses(num: float | None, den: float | None, minimum: int) -> bool:
    """The one disclosure rule for a proportion (the export and the fairness audit use the
    same): at least ``minimum`` in the group, with and without the outcome. "3 of 23" and
    "33 of 34" both single out a handful of people."""
    if num is None or den is None:
        return False
    return den >= minimum and num >= minimum and den - num >= minimum


def disclose(
    frame: pl.DataFrame,
    rates: dict[str, tuple[str, str]],
    minimum: int,
    *,
    within: str | None = None,
) -> pl.DataFrame:
    """Each rate (and its numerator) shown only where :func:`discloses` holds (primary
    suppression); then, in every ``within`` group (the whole table when None, whose total
    is shown elsewhere), rows are hidden smallest first until the hidden rows pooled pass
    the rule too, so no hidden figure can be had by subtraction (complementary)."""
    out = frame
    groups = (
        [list(range(frame.height))]
        if within is None
        else [
            part["_row"].to_list()
            for _, part in frame.with_row_index("_row").group_by(within, maintain_order=True)
        ]
    )
    for rate, (num, den) in rates.items():
        nums, dens = frame[num].to_list(), frame[den].to_list()
        hidden = {i for i in range(frame.height) if not discloses(nums[i], dens[i], minimum)}
        for members in groups:
            while True:
                gone = [i for i in members if i in hidden]
                shown = [i for i in members if i not in hidden]
                if not gone or not shown:
                    break
                pooled_num = sum(nums[i] or 0 for i in gone)
                pooled_den = sum(dens[i] or 0 for i in gone)
                if discloses(pooled_num, pooled_den, minimum):
                    break
                hidden.add(min(shown, key=lambda i: (dens[i] or 0, i)))
        mask = pl.Series([i in hidden for i in range(frame.height)])
        value = pl.col(num) / pl.col(den)
        out = out.with_columns(
            pl.when(mask).then(None).otherwise(value).alias(rate),
            pl.when(mask).then(None).otherwise(pl.col(num)).alias(num),
        )
    return out
