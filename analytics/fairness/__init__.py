"""Bias audits: per-group and intersectional metrics with bootstrap intervals, small-group
suppression, data coverage, a mitigation what-if and exportable reports.

    from analytics.fairness import audit_predictions, write_report
    result = audit_predictions(frame, label="label", score="probability",
                               attributes=["gender", "insurance"])
    write_report(result, "audit.html")

See ``docs/fairness-report.md`` for the report's schema.
"""

from analytics.fairness._audit import audit_predictions
from analytics.fairness._inputs import AuditInputError, read_predictions
from analytics.fairness._report import format_for, render, to_csv, to_html, to_json, write_report
from analytics.fairness._result import AuditResult
from analytics.fairness._tables import SCHEMA as AUDIT_TABLES_SCHEMA
from analytics.fairness._tables import write_audit_tables

__all__ = [
    "AUDIT_TABLES_SCHEMA",
    "AuditInputError",
    "AuditResult",
    "audit_predictions",
    "format_for",
    "read_predictions",
    "render",
    "to_csv",
    "to_html",
    "to_json",
    "write_audit_tables",
    "write_report",
]
