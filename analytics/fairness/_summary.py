"""The plain-language findings of an audit, from shown figures only."""

from __future__ import annotations

from analytics.fairness._disparity import BAND
from analytics.fairness._metrics import SHORT
from analytics.fairness._result import (
    AuditMeta,
    CoverageShare,
    Disparity,
    Estimate,
    Finding,
    GroupResult,
    TableInfo,
    WhatIf,
)


def num(x: float | None, digits: int = 2) -> str:
    return "n/a" if x is None else f"{x:.{digits}f}"


def pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.0f}%"


def interval(e: Estimate, digits: int = 2) -> str:
    if e.low is None or e.high is None:
        return "no interval"
    return f"95% CI {e.low:.{digits}f}-{e.high:.{digits}f}"


def _describe(d: Disparity) -> str:
    direction = "lower" if (d.ratio.value or 1) < 1 else "higher"
    return (
        f"{direction} {SHORT[d.metric]} ({num(d.value)} vs {num(d.reference_value)}; "
        f"ratio {num(d.ratio.value)}, {interval(d.ratio)})"
    )


def _with(label: str) -> str:
    """'wearable data=no' -> 'without wearable data'."""
    measure, _, value = label.rpartition("=")
    return {"yes": f"with {measure}", "no": f"without {measure}"}.get(
        value, f"with {measure} unknown"
    )


def _group_findings(disparities: tuple[Disparity, ...], kinds: dict[str, str]) -> list[Finding]:
    out = []
    by_group: dict[tuple[str, str, str], list[Disparity]] = {}
    for d in disparities:
        if d.flag in ("disparity", "uncertain"):
            by_group.setdefault((d.table, d.group, d.flag), []).append(d)
    band = f"{BAND[0]}-{BAND[1]}"
    for flag in ("disparity", "uncertain"):
        for (table, group, fl), rows in by_group.items():
            if fl != flag:
                continue
            parts = "; ".join(_describe(d) for d in rows)
            if flag == "disparity":
                why = f"outside the {band} band, with intervals that exclude parity"
            else:
                why = (
                    f"outside the {band} band, but the intervals include parity: uncertain, "
                    "more data would settle it"
                )
            if kinds.get(table) == "coverage":
                text = (
                    f"Predictions {_with(group)} vs {_with(rows[0].reference)}: {parts}. "
                    f"{why.capitalize()}."
                )
                kind = "coverage" if flag == "disparity" else "uncertain"
            else:
                text = f"{group} vs {rows[0].reference} (reference): {parts}. {why.capitalize()}."
                kind = flag
            out.append(Finding(kind, text, table, group, ",".join(d.metric for d in rows)))
    return out


def _coverage_findings(
    coverage: tuple[CoverageShare, ...],
    flagged_groups: set[tuple[str, str]],
    kinds: dict[str, str],
) -> list[Finding]:
    """Coverage gaps: every one by a single attribute, those of intersections only
    where the group also has a performance disparity."""
    out = []
    for c in coverage:
        if c.flag != "disparity" or c.reference is None:
            continue
        if kinds.get(c.table) != "attribute" and (c.table, c.group) not in flagged_groups:
            continue
        what = "has" if c.kind == "share" else "has a mean share of"
        direction = "less" if (c.ratio.value or 1) < 1 else "more"
        text = (
            f"{c.group} {what} {c.measure} for {pct(c.share.value)} of patients vs "
            f"{pct(c.reference_share)} in {c.reference} ({direction} coverage: ratio "
            f"{num(c.ratio.value)}, {interval(c.ratio)})."
        )
        if (c.table, c.group) in flagged_groups:
            text += (
                " This group also shows a performance disparity: missing data is a likely cause."
            )
        out.append(Finding("coverage", text, c.table, c.group, c.measure))
    return out


def _whatif_findings(whatif: WhatIf | None) -> list[Finding]:
    if whatif is None:
        return []
    out = []
    by_attr: dict[str, dict[tuple[str, str], tuple]] = {}
    for r in whatif.rows:
        by_attr.setdefault(r.attribute, {})[(r.group, r.metric)] = (r.before, r.after)
    for attr, rows in by_attr.items():

        def change(group: str, metric: str, as_pct: bool = False, rows=rows) -> str:
            b, a = rows.get((group, metric), (None, None))
            f = pct if as_pct else num
            return f"{f(b)} -> {f(a)}"

        text = (
            f"What-if for {attr} ({whatif.constraint}): largest TPR gap between groups "
            f"{change('largest gap', 'tpr')}, largest FPR gap {change('largest gap', 'fpr')}; "
            f"cost overall: accuracy {change('overall', 'accuracy')}, TPR "
            f"{change('overall', 'tpr')}, share flagged {change('overall', 'selection_rate', True)}. "
            "An analysis only: the scores clinicians see are unchanged."
        )
        out.append(Finding("whatif", text, attr))
    out += [Finding("whatif", note) for note in whatif.notes]
    return out


def findings(
    *,
    meta: AuditMeta,
    overall: GroupResult,
    tables: tuple[TableInfo, ...],
    groups: tuple[GroupResult, ...],
    disparities: tuple[Disparity, ...],
    calibration: tuple,
    coverage: tuple[CoverageShare, ...],
    whatif: WhatIf | None,
) -> tuple[Finding, ...]:
    """Overview, disparities, uncertain gaps, coverage causes, suppression, what-if."""
    shown = sum(1 for g in groups if not g.suppressed)
    hidden = [g for g in groups if g.suppressed]
    who = f" for {meta.patients:,} patients" if meta.patients is not None else ""
    window = (
        f", {meta.window_start} to {meta.window_end}"
        if meta.window_start and meta.window_end
        else ""
    )
    decision = "binary decisions" if meta.score_is_binary else f"threshold {meta.threshold:g}"
    has_intersections = any(t.kind == "intersection" for t in tables)
    overview = (
        f"Audited {meta.rows:,} predictions{who}{window}: outcome {meta.label!r}, score "
        f"{meta.score!r} ({decision}), by {', '.join(meta.attributes)}"
        f"{' and their intersections' if has_intersections else ''}. {shown} groups shown, "
        f"{len(hidden)} suppressed (minimum cell size {meta.min_cell_size}). Intervals: "
        f"{meta.n_boot:,} bootstrap resamples of {meta.resampling}."
    )
    if overall.suppressed:
        overview += " The whole population is below the minimum cell size: nothing is shown."
    out = [Finding("overview", overview)]
    kinds = {t.name: t.kind for t in tables}
    group_findings = _group_findings(disparities, kinds)
    out += [f for f in group_findings if f.kind == "disparity"]
    flagged = {(f.table, f.group) for f in group_findings if f.kind == "disparity"}
    out += _coverage_findings(coverage, flagged, kinds)
    out += [f for f in group_findings if f.kind == "coverage"]
    out += [f for f in group_findings if f.kind == "uncertain"]
    if not any(f.kind == "disparity" for f in group_findings):
        out.append(
            Finding(
                "ok",
                f"No group's metric is outside the {BAND[0]}-{BAND[1]} band with an interval "
                "that excludes parity.",
            )
        )
    if hidden:
        names = ", ".join(g.label for g in hidden[:20]) + (" ..." if len(hidden) > 20 else "")
        out.append(
            Finding(
                "suppression",
                f"{len(hidden)} groups are suppressed, shown by name only: {names}.",
            )
        )
    out += _whatif_findings(whatif)
    return tuple(out)
