"""The self-contained HTML audit report (inline CSS and SVG; no scripts, no requests)."""

from __future__ import annotations

import re
from html import escape

from analytics.fairness import _charts as charts
from analytics.fairness._metrics import DISPARITY_METRICS, METRICS, SHORT
from analytics.fairness._result import AuditResult, Estimate, GroupResult

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:0 auto;max-width:1100px;
padding:0 1.2rem 3rem;color:#1a1a1a;line-height:1.45}
h1{margin-bottom:.2rem}h2{margin-top:2.2rem;border-bottom:2px solid #0072B2;padding-bottom:.2rem}
.sub{color:#555;margin-top:0}table{border-collapse:collapse;margin:.6rem 0;font-size:.9rem}
.scroll{overflow-x:auto;max-width:100%}table{font-size:.82rem}
th,td{border:1px solid #ccc;padding:.2rem .35rem;text-align:right;vertical-align:top}
th:first-child,td:first-child{text-align:left}th{background:#f2f6fa}
td small{color:#555;display:block;white-space:nowrap}
tr.ref td:first-child::after{content:" (reference)";color:#0072B2;font-weight:600}
tr.suppressed td{color:#666;font-style:italic;background:#f7f7f7}
.flag-disparity{color:#B34700;font-weight:700}.flag-uncertain{color:#8a5a00;font-weight:700}
.flag-ok{color:#005a8c}
ul.findings li{margin:.35rem 0}.kind{font-weight:700}
dl{display:grid;grid-template-columns:max-content auto;gap:.2rem 1rem}dt{font-weight:600}
dd{margin:0}figure{margin:.8rem 0;overflow-x:auto}figcaption{color:#555;font-size:.85rem}
.note{color:#555;font-size:.9rem}
"""

GLOSSARY = {
    "prevalence": "share of predictions whose outcome happened",
    "selection_rate": "share of predictions flagged (score at or above the threshold)",
    "tpr": "true positive rate, sensitivity: share of outcomes that were flagged",
    "fpr": "false positive rate: share of non-outcomes that were flagged",
    "fnr": "false negative rate: share of outcomes that were missed (1 - TPR)",
    "ppv": "positive predictive value, precision: share of flags followed by the outcome",
    "auroc": "area under the ROC curve: the chance a prediction with the outcome scores "
    "above one without (0.5 is chance); independent of the threshold",
    "brier": "mean squared difference between probability and outcome (lower is better)",
    "calibration_error": "expected calibration error: mean gap between predicted and "
    "observed rates over ten score bins, weighted by their size (lower is better)",
}

KIND_LABEL = {
    "overview": "Overview",
    "disparity": "Disparity",
    "uncertain": "Uncertain",
    "coverage": "Coverage",
    "suppression": "Suppressed",
    "whatif": "What-if",
    "ok": "No disparity",
}


def _n(x: float | None, digits: int = 3) -> str:
    return "&ndash;" if x is None else f"{x:.{digits}f}"


def _cell(e: Estimate | None, digits: int = 3) -> str:
    if e is None or e.value is None:
        return "<td>&ndash;</td>"
    ci = ""
    if e.low is not None and e.high is not None:
        ci = f"<small>{e.low:.{digits}f}&ndash;{e.high:.{digits}f}</small>"
    return f"<td>{e.value:.{digits}f}{ci}</td>"


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "t"


def _groups_table(groups: list[GroupResult], with_patients: bool) -> str:
    head = "<th>group</th><th>n</th>" + ("<th>patients</th>" if with_patients else "")
    head += "<th>positives</th>" + "".join(f"<th>{SHORT[m]}</th>" for m in METRICS)
    rows = []
    span = len(METRICS) + 2 + (1 if with_patients else 0)
    for g in groups:
        if g.suppressed:
            rows.append(
                f'<tr class="suppressed"><td>{escape(g.label)}</td>'
                f'<td colspan="{span}">{escape(g.note or "suppressed")}</td></tr>'
            )
            continue
        counts = f"<td>{g.n:,}</td>"
        if with_patients:
            counts += f"<td>{g.patients:,}</td>" if g.patients is not None else "<td>&ndash;</td>"
        counts += f"<td>{g.positives:,}</td>"
        cells = "".join(_cell(g.metrics.get(m)) for m in METRICS)
        cls = ' class="ref"' if g.is_reference else ""
        rows.append(f"<tr{cls}><td>{escape(g.label)}</td>{counts}{cells}</tr>")
    return (
        f'<div class="scroll"><table><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></div>"
    )


def _disparity_section(result: AuditResult, table: str, chart_id: str) -> str:
    rows = [d for d in result.disparities if d.table == table]
    if not rows:
        return '<p class="note">Fewer than two groups are shown: no comparison.</p>'
    order = {m: i for i, m in enumerate(DISPARITY_METRICS)}
    rows.sort(key=lambda d: (order[d.metric], d.group))
    chart = charts.disparity_chart(
        [
            (SHORT[d.metric], d.group, d.ratio.value, d.ratio.low, d.ratio.high, d.flag)
            for d in rows
        ],
        chart_id=chart_id,
        band=result.meta.band,
        title=f"Ratio to {rows[0].reference}, by metric and group",
    )
    detail = "".join(
        f"<tr><td>{escape(d.group)}</td><td>{SHORT[d.metric]}</td><td>{_n(d.value)}</td>"
        f"<td>{_n(d.reference_value)}</td>{_cell(d.ratio, 2)}{_cell(d.difference, 3)}"
        f'<td class="flag-{d.flag}">{d.flag}</td></tr>'
        for d in rows
    )
    return (
        f"<figure>{chart}<figcaption>Each marker is a group's ratio to "
        f"{escape(rows[0].reference)} with its 95% interval; the shaded, hatched band is "
        f"{result.meta.band[0]}&ndash;{result.meta.band[1]}. A triangle marks a disparity "
        "(outside the band, interval excludes parity), a diamond an uncertain one (outside "
        "the band, interval includes parity).</figcaption></figure>"
        "<details><summary>All ratios and differences</summary><div class=scroll><table><thead><tr>"
        "<th>group</th><th>metric</th><th>value</th><th>reference</th><th>ratio</th>"
        f"<th>difference</th><th>flag</th></tr></thead><tbody>{detail}</tbody></table></div></details>"
    )


def _calibration_section(result: AuditResult, table: str, groups: list[GroupResult]) -> str:
    if result.meta.score_is_binary:
        return ""
    shown = [g for g in groups if not g.suppressed]
    bins = [c for c in result.calibration if c.table == table]
    if not bins or not shown:
        return ""
    series = [
        (
            g.label,
            [
                (c.mean_predicted, c.observed.value, c.observed.low, c.observed.high)
                for c in bins
                if c.group == g.label and c.observed.value is not None
            ],
        )
        for g in shown
    ]
    if len(series) > 8:
        return (
            '<p class="note">Calibration bins for these groups are in the JSON and CSV '
            "exports (too many groups to draw legibly).</p>"
        )
    ece = "; ".join(f"{escape(g.label)} {_n(g.metrics['calibration_error'].value)}" for g in shown)
    return (
        f"<h3>Calibration by group</h3><figure>{charts.calibration_chart(series, title=f'Calibration by {table}')}"
        "<figcaption>Observed outcome rate against mean predicted probability per score bin "
        f"(each bin holds at least {result.meta.min_cell_size} patients), with 95% intervals; "
        f"the dashed diagonal is perfect calibration. Calibration error (ECE): {ece}."
        "</figcaption></figure>"
    )


def _coverage_section(result: AuditResult) -> str:
    if not result.coverage:
        return (
            "<h2>Data coverage</h2><p class=note>No coverage columns were given, so the "
            "audit cannot say whether missing data explains a gap.</p>"
        )
    measures = list(dict.fromkeys(c.measure for c in result.coverage))
    tables = [t for t in result.tables if t.kind in ("attribute", "intersection")]
    out = [
        "<h2>Data coverage</h2><p>Missing wearable data, a language without sentiment "
        "support or irregular check-ins leave the model less to go on, and are the usual "
        "roots of unequal performance. By group: the share of patients with each kind of "
        "data (95% interval), and its ratio to the reference group.</p>"
    ]
    for t in tables:
        rows = [c for c in result.coverage if c.table == t.name]
        if not rows:
            continue
        groups = list(dict.fromkeys(c.group for c in rows))
        head = "".join(f"<th>{escape(m)}</th><th>ratio</th>" for m in measures)
        body = []
        for g in groups:
            cells = []
            for m in measures:
                c = next((c for c in rows if c.group == g and c.measure == m), None)
                if c is None:
                    cells.append("<td>&ndash;</td><td>&ndash;</td>")
                    continue
                ratio = (
                    "<td>reference</td>"
                    if c.reference == g
                    else (
                        f'{_cell(c.ratio, 2)[:-5]} <span class="flag-{c.flag}">{c.flag}</span></td>'
                        if c.ratio.value is not None
                        else "<td>&ndash;</td>"
                    )
                )
                cells.append(_cell(c.share, 2) + ratio)
            body.append(f"<tr><td>{escape(g)}</td>{''.join(cells)}</tr>")
        out.append(
            f"<h3>By {escape(t.name)}</h3><table><thead><tr><th>group</th>{head}</tr></thead>"
            f"<tbody>{''.join(body)}</tbody></table>"
        )
        if t.kind == "attribute":
            for m in measures:
                bars = [
                    (
                        c.group,
                        c.share.value,
                        c.share.low,
                        c.share.high,
                        c.flag,
                        c.reference == c.group,
                    )
                    for c in rows
                    if c.measure == m
                ]
                chart_id = _slug(f"cov-{t.name}-{m}")
                out.append(
                    f"<figure>{charts.share_chart(bars, chart_id=chart_id, title=f'{m} by {t.name}')}"
                    f"<figcaption>{escape(m)} by {escape(t.name)}: share of patients, with 95% "
                    "intervals; the hatched bar is the reference group.</figcaption></figure>"
                )
    splits = [t for t in result.tables if t.kind == "coverage"]
    if splits:
        out.append(
            "<h3>Performance with and without the data</h3><p>The same metrics for "
            "predictions made with and without each kind of data. A gap here, together with "
            "a group's lower coverage above, points to missing data as the cause of that "
            "group's gap.</p>"
        )
        for t in splits:
            groups = [g for g in result.groups if g.table == t.name]
            out.append(
                f"<h4>{escape(t.name)}</h4>"
                + _groups_table(groups, result.meta.patients is not None)
            )
            out.append(_disparity_section(result, t.name, _slug(t.name)))
    return "".join(out)


def _whatif_section(result: AuditResult) -> str:
    w = result.whatif
    if w is None:
        return ""
    out = [
        "<h2>Mitigation what-if</h2>",
        f"<p>fairlearn's ThresholdOptimizer chooses a threshold per group ({escape(w.constraint)}, "
        f"maximising {escape(w.objective.replace('_score', '').replace('_', ' '))}); "
        f"{escape(w.split)} ({w.validation_rows:,} predictions fit, {w.test_rows:,} evaluate). "
        "Decisions before use one threshold for everyone. <strong>This is an analysis "
        "only: it never changes the scores or alerts clinicians see.</strong> Randomised "
        "thresholds make the after figures vary a little from run to run of a different "
        "seed.</p>",
    ]
    for note in w.notes:
        out.append(f'<p class="note">{escape(note)}</p>')
    metrics = list(dict.fromkeys(r.metric for r in w.rows))
    for attr in dict.fromkeys(r.attribute for r in w.rows):
        rows = [r for r in w.rows if r.attribute == attr]
        groups = list(dict.fromkeys(r.group for r in rows))
        head = "".join(
            f"<th>{escape(SHORT.get(m, m))}<br>before &rarr; after</th>" for m in metrics
        )
        body = []
        for g in groups:
            cells = []
            for m in metrics:
                r = next((r for r in rows if r.group == g and r.metric == m), None)
                cells.append(
                    "<td>&ndash;</td>"
                    if r is None
                    else f"<td>{_n(r.before)} &rarr; {_n(r.after)}</td>"
                )
            body.append(f"<tr><td>{escape(g)}</td>{''.join(cells)}</tr>")
        out.append(
            f"<h3>By {escape(attr)}</h3><table><thead><tr><th>group</th>{head}</tr></thead>"
            f"<tbody>{''.join(body)}</tbody></table>"
        )
    return "".join(out)


def render(result: AuditResult) -> str:
    m = result.meta
    title = f"Bias audit: {m.source}"
    model = f"{m.model} {m.version or ''}".strip() if m.model else None
    findings = "".join(
        f'<li><span class="kind">{KIND_LABEL.get(f.kind, f.kind)}:</span> {escape(f.text)}</li>'
        for f in result.findings
    )
    refs = "".join(
        f"<li>{escape(t.name)}: {escape(t.reference or 'none')} ({escape(t.reference_reason or '')})</li>"
        for t in result.tables
    )
    audited = [
        ("Source", escape(m.source)),
        ("Model", escape(model) if model else "&ndash;"),
        ("Outcome (label)", escape(m.label)),
        (
            "Score",
            escape(m.score)
            + (
                " (binary decisions)"
                if m.score_is_binary
                else f", flagged at {m.threshold:g} or above"
            ),
        ),
        (
            "Predictions",
            f"{m.rows:,}"
            + (
                f" ({m.rows_dropped:,} without a label or score left out)" if m.rows_dropped else ""
            ),
        ),
        (
            "Patients",
            f"{m.patients:,}"
            if m.patients is not None
            else "not identified (each row counted as a person)",
        ),
        (
            "Data window",
            f"{escape(m.window_start)} to {escape(m.window_end)} (months)"
            if m.window_start
            else "not given",
        ),
        ("Attributes", escape(", ".join(m.attributes))),
        ("Reference groups", f"<ul>{refs}</ul>"),
        (
            "Intervals",
            f"{m.confidence:.0%} bootstrap percentile intervals, {m.n_boot:,} resamples of {escape(m.resampling)}, seed {m.seed}",
        ),
        ("Disparity band", f"ratio {m.band[0]}&ndash;{m.band[1]}"),
        ("Minimum cell size", f"{m.min_cell_size} (smaller groups are suppressed)"),
        ("Computed", f"{escape(m.created_at)} with fairlearn {escape(m.fairlearn_version)}"),
    ]
    dl = "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in audited)
    with_patients = m.patients is not None
    sections = []
    for t in result.tables:
        if t.kind == "coverage":
            continue
        groups = [g for g in result.groups if g.table == t.name]
        sections.append(
            f'<section id="{_slug("t-" + t.name)}"><h2>By {escape(t.name)}</h2>'
            f"<p>{t.groups} groups, {t.suppressed} suppressed. Reference: "
            f"{escape(t.reference or 'none')} ({escape(t.reference_reason or '')}). Each cell: "
            "the estimate, and below it the 95% interval.</p>"
            f"{_groups_table(groups, with_patients)}"
            f"<h3>Disparity against the reference</h3>{_disparity_section(result, t.name, _slug('d-' + t.name))}"
            f"{_calibration_section(result, t.name, groups)}</section>"
        )
    overall_cal = _calibration_section(result, "overall", [result.overall])
    hidden = result.suppressed()
    suppressed = (
        "<ul>"
        + "".join(f"<li>{escape(g.label)}: {escape(g.note or 'suppressed')}</li>" for g in hidden)
        + "</ul>"
        if hidden
        else "<p>None.</p>"
    )
    glossary = "".join(f"<dt>{SHORT[k]}</dt><dd>{escape(v)}</dd>" for k, v in GLOSSARY.items())
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)}</title><style>{CSS}</style></head>
<body>
<header><h1>Bias audit</h1><p class="sub">{escape(m.source)}{" &middot; " + escape(model) if model else ""}</p></header>
<section id="summary"><h2>Summary of findings</h2><ul class="findings">{findings}</ul></section>
<section id="audited"><h2>What was audited</h2><dl>{dl}</dl></section>
<section id="overall"><h2>Overall</h2>{_groups_table([result.overall], with_patients)}{overall_cal}</section>
{"".join(sections)}
<section id="coverage">{_coverage_section(result)}</section>
<section id="suppressed"><h2>Suppressed groups</h2><p>A group is shown only with at least
{m.min_cell_size} patients, {m.min_cell_size} with the outcome and {m.min_cell_size}
without it; a group whose figures could be worked out from the others by subtraction is
suppressed too. A suppressed group appears by name only: none of its figures is in this
report or its exports.</p>{suppressed}</section>
<section id="whatif">{_whatif_section(result)}</section>
<section id="method"><h2>How to read this report</h2>
<p>Flags compare each group with its table's reference group: a ratio outside
{m.band[0]}&ndash;{m.band[1]} whose interval excludes 1 is a <span class="flag-disparity">disparity</span>;
outside the band with an interval that includes 1 it is <span class="flag-uncertain">uncertain</span>
(the data cannot tell it from chance). Intervals come from resampling each group on its own;
where a metric was undefined in some resamples the JSON export gives how many were used.
This report supports judgement about a model; it is not a verdict on any group or person.</p>
<dl>{glossary}</dl></section>
<footer class="note"><p>Caseload Insight bias audit &middot; report schema {escape("caseload-insight/fairness-report")} v1</p></footer>
</body></html>
"""
