"""Bias audits: per-group and intersectional metrics with bootstrap intervals, small-group
suppression, data coverage, a mitigation what-if and exportable reports.

    from analytics.fairness import audit_predictions, write_report
    result = audit_predictions(frame, label="label", score="probability",
                               attributes=["gender", "insurance"])
    write_report(result, "audit.html")

See ``docs/fairness-report.md`` for the report's schema.
"""

from analytics.fairness.audit import audit_predictions
from analytics.fairness.inputs import AuditInputError, read_predictions
from analytics.fairness.report import to_csv, to_html, to_json, write_report
from analytics.fairness.result import AuditResult
from analytics.fairness.tables import write_audit_tables

__all__ = [
    "AuditInputError",
    "AuditResult",
    "audit_predictions",
    "read_predictions",
    "to_csv",
    "to_html",
    "to_json",
    "write_audit_tables",
    "write_report",
]
