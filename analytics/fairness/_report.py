"""The audit as JSON, CSV or a self-contained HTML report, all read from one
``AuditResult`` (so a suppressed group, which carries no figures, cannot appear with any).

JSON is documented in ``docs/fairness-report.md``. The CSV is one tidy table (a row per
figure). The HTML report has no scripts and loads nothing: its charts are inline SVG.
Files are written readable by their owner only.
"""

from __future__ import annotations

import csv
import io
import json
import os
from dataclasses import asdict
from pathlib import Path

from analytics.fairness import _html_report as html_report
from analytics.fairness._result import AuditResult, Estimate, GroupResult
from analytics.files import csv_safe_row, write_private

SCHEMA = "caseload-insight/fairness-report"
SCHEMA_VERSION = 1
DIGITS = 4
FORMATS = ("json", "csv", "html")


def _r(x: float | None) -> float | None:
    return None if x is None else round(float(x), DIGITS)


def _est(e: Estimate) -> dict:
    return {"value": _r(e.value), "ci_low": _r(e.low), "ci_high": _r(e.high), "n_valid": e.n_valid}


def _group(g: GroupResult) -> dict:
    return {
        "table": g.table,
        "kind": g.kind,
        "attributes": list(g.attributes),
        "values": list(g.values),
        "label": g.label,
        "suppressed": g.suppressed,
        "note": g.note,
        "is_reference": g.is_reference,
        "n": g.n,
        "patients": g.patients,
        "positives": g.positives,
        "metrics": {m: _est(e) for m, e in g.metrics.items()},
    }


def to_json(result: AuditResult) -> dict:
    """The audit as a JSON-ready dict (schema in ``docs/fairness-report.md``)."""
    meta = asdict(result.meta)
    meta["attributes"] = list(result.meta.attributes)
    meta["band"] = list(result.meta.band)
    w = result.whatif
    return {
        "schema": SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "meta": meta,
        "overall": _group(result.overall),
        "tables": [
            {
                "name": t.name,
                "kind": t.kind,
                "attributes": list(t.attributes),
                "reference": t.reference,
                "reference_reason": t.reference_reason,
                "groups": t.groups,
                "suppressed": t.suppressed,
            }
            for t in result.tables
        ],
        "groups": [_group(g) for g in result.groups],
        "disparities": [
            {
                "table": d.table,
                "group": d.group,
                "reference": d.reference,
                "metric": d.metric,
                "value": _r(d.value),
                "reference_value": _r(d.reference_value),
                "ratio": _est(d.ratio),
                "difference": _est(d.difference),
                "flag": d.flag,
            }
            for d in result.disparities
        ],
        "calibration": [
            {
                "table": c.table,
                "group": c.group,
                "bin": c.bin,
                "score_low": _r(c.score_low),
                "score_high": _r(c.score_high),
                "mean_predicted": _r(c.mean_predicted),
                "observed": _est(c.observed),
            }
            for c in result.calibration
        ],
        "coverage": [
            {
                "table": c.table,
                "group": c.group,
                "measure": c.measure,
                "column": c.column,
                "kind": c.kind,
                "share": _est(c.share),
                "reference": c.reference,
                "reference_share": _r(c.reference_share),
                "ratio": _est(c.ratio),
                "flag": c.flag,
            }
            for c in result.coverage
        ],
        "whatif": None
        if w is None
        else {
            "constraint": w.constraint,
            "objective": w.objective,
            "split": w.split,
            "validation_rows": w.validation_rows,
            "test_rows": w.test_rows,
            "notes": list(w.notes),
            "rows": [
                {
                    "attribute": r.attribute,
                    "group": r.group,
                    "metric": r.metric,
                    "before": _r(r.before),
                    "after": _r(r.after),
                }
                for r in w.rows
            ],
        },
        "findings": [
            {"kind": f.kind, "text": f.text, "table": f.table, "group": f.group, "metric": f.metric}
            for f in result.findings
        ],
    }


CSV_COLUMNS = (
    "section",
    "table",
    "group",
    "reference",
    "metric",
    "statistic",
    "value",
    "ci_low",
    "ci_high",
    "n_valid",
    "flag",
    "note",
)


def _csv_rows(result: AuditResult):
    def row(section, **fields):
        out = dict.fromkeys(CSV_COLUMNS, "")
        out["section"] = section
        for key, value in fields.items():
            out[key] = "" if value is None else value
        return out

    def est(e: Estimate) -> dict:
        return {
            "value": _r(e.value),
            "ci_low": _r(e.low),
            "ci_high": _r(e.high),
            "n_valid": e.n_valid,
        }

    for key, value in asdict(result.meta).items():
        if isinstance(value, list | tuple):
            value = ";".join(str(v) for v in value)
        yield row("meta", metric=key, value=value)
    for g in (result.overall, *result.groups):
        if g.suppressed:
            yield row("group", table=g.table, group=g.label, note=g.note)
            continue
        ref = "reference" if g.is_reference else None
        for name in ("n", "patients", "positives"):
            if getattr(g, name) is not None:
                yield row(
                    "group",
                    table=g.table,
                    group=g.label,
                    metric=name,
                    statistic="count",
                    value=getattr(g, name),
                    note=ref,
                )
        for m, e in g.metrics.items():
            yield row(
                "group",
                table=g.table,
                group=g.label,
                metric=m,
                statistic="estimate",
                note=ref,
                **est(e),
            )
    for d in result.disparities:
        for statistic, e in (("ratio", d.ratio), ("difference", d.difference)):
            yield row(
                "disparity",
                table=d.table,
                group=d.group,
                reference=d.reference,
                metric=d.metric,
                statistic=statistic,
                flag=d.flag,
                **est(e),
            )
    for c in result.calibration:
        span = f"bin {c.bin}: {c.score_low:.1f}-{c.score_high:.1f}"
        yield row(
            "calibration",
            table=c.table,
            group=c.group,
            metric="mean_predicted",
            statistic=span,
            value=_r(c.mean_predicted),
        )
        yield row(
            "calibration",
            table=c.table,
            group=c.group,
            metric="observed",
            statistic=span,
            **est(c.observed),
        )
    for c in result.coverage:
        yield row(
            "coverage",
            table=c.table,
            group=c.group,
            reference=c.reference,
            metric=c.measure,
            statistic=c.kind,
            note=c.column,
            **est(c.share),
        )
        if c.reference is not None and c.ratio.value is not None:
            yield row(
                "coverage",
                table=c.table,
                group=c.group,
                reference=c.reference,
                metric=c.measure,
                statistic="ratio",
                flag=c.flag,
                **est(c.ratio),
            )
    if result.whatif is not None:
        for r in result.whatif.rows:
            yield row(
                "whatif",
                table=r.attribute,
                group=r.group,
                metric=r.metric,
                statistic="before",
                value=_r(r.before),
            )
            yield row(
                "whatif",
                table=r.attribute,
                group=r.group,
                metric=r.metric,
                statistic="after",
                value=_r(r.after),
            )
        for note in result.whatif.notes:
            yield row("whatif", note=note)
    for f in result.findings:
        yield row(
            "finding", table=f.table, group=f.group, metric=f.metric, flag=f.kind, note=f.text
        )


def to_csv(result: AuditResult) -> str:
    """The audit as one tidy CSV table: a row per figure (see the JSON schema doc)."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    # Group names come from the data: a value like "=HYPERLINK(...)" stays text.
    writer.writerows(csv_safe_row(row) for row in _csv_rows(result))
    return buf.getvalue()


def to_html(result: AuditResult) -> str:
    """The self-contained HTML report."""

    return html_report.render(result)


def render(result: AuditResult, fmt: str) -> str:
    if fmt == "json":
        return json.dumps(to_json(result), indent=2, ensure_ascii=False) + "\n"
    if fmt == "csv":
        return to_csv(result)
    if fmt == "html":
        return to_html(result)
    raise ValueError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")


def format_for(path: str | os.PathLike[str], fmt: str | None = None) -> str:
    """The format asked for, else the one the file name suggests, else JSON."""
    if fmt:
        return fmt.lower()
    suffix = Path(path).suffix.lower().lstrip(".")
    return {"htm": "html"}.get(suffix, suffix) if suffix in (*FORMATS, "htm") else "json"


def write_report(result: AuditResult, path: str | os.PathLike[str], fmt: str | None = None) -> Path:
    """Write the audit as ``fmt`` (json, csv or html; default from the suffix) to
    ``path``, readable by its owner only."""
    path = Path(path)
    text = render(result, format_for(path, fmt))
    return write_private(path, text)
