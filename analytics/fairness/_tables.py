"""An audit as DuckDB tables, for the serving snapshot the dashboard reads.

``write_audit_tables(con, result, model=..., version=...)`` creates the tables below if
they are missing and appends the audit's rows, every row keyed by ``audit_id`` (a digest
of the audit's content), ``model`` and ``version``. Writing the same audit again replaces
its rows, so a retried refresh never duplicates them. Suppressed groups appear in
``fairness_groups`` by name and note only, with every figure NULL, and nowhere else.
"""

from __future__ import annotations

import hashlib
import json

import duckdb
import pyarrow as pa

from analytics.fairness._metrics import METRICS
from analytics.fairness._report import to_json
from analytics.fairness._result import AuditResult, Estimate

_KEY = "audit_id VARCHAR NOT NULL, model VARCHAR, version VARCHAR"
_METRIC_COLUMNS = ", ".join(f"{m} DOUBLE, {m}_low DOUBLE, {m}_high DOUBLE" for m in METRICS)

SCHEMA = {
    "fairness_summary": f"""{_KEY}, created_at VARCHAR, source VARCHAR, label VARCHAR,
        score VARCHAR, threshold DOUBLE, score_is_binary BOOLEAN, attributes VARCHAR,
        rows BIGINT, patients BIGINT, window_start VARCHAR, window_end VARCHAR,
        n_boot INTEGER, seed BIGINT, confidence DOUBLE, min_cell_size INTEGER,
        groups INTEGER, suppressed INTEGER, disparities INTEGER, uncertain INTEGER,
        findings VARCHAR, report_json VARCHAR""",
    "fairness_groups": f"""{_KEY}, table_name VARCHAR, kind VARCHAR, attributes VARCHAR,
        group_label VARCHAR, suppressed BOOLEAN, note VARCHAR, is_reference BOOLEAN,
        n BIGINT, patients BIGINT, positives BIGINT, {_METRIC_COLUMNS}""",
    "fairness_disparities": f"""{_KEY}, table_name VARCHAR, group_label VARCHAR,
        reference_label VARCHAR, metric VARCHAR, value DOUBLE, reference_value DOUBLE,
        ratio DOUBLE, ratio_low DOUBLE, ratio_high DOUBLE, difference DOUBLE,
        difference_low DOUBLE, difference_high DOUBLE, n_valid INTEGER, flag VARCHAR""",
    "fairness_calibration": f"""{_KEY}, table_name VARCHAR, group_label VARCHAR,
        bin INTEGER, score_low DOUBLE, score_high DOUBLE, mean_predicted DOUBLE,
        observed DOUBLE, observed_low DOUBLE, observed_high DOUBLE""",
    "fairness_coverage": f"""{_KEY}, table_name VARCHAR, group_label VARCHAR,
        measure VARCHAR, column_name VARCHAR, kind VARCHAR, share DOUBLE, share_low DOUBLE,
        share_high DOUBLE, reference_label VARCHAR, reference_share DOUBLE, ratio DOUBLE,
        ratio_low DOUBLE, ratio_high DOUBLE, flag VARCHAR""",
    "fairness_whatif": f"""{_KEY}, constraint_name VARCHAR, objective VARCHAR,
        attribute VARCHAR, group_label VARCHAR, metric VARCHAR, before DOUBLE,
        after DOUBLE""",
}


def audit_id(result: AuditResult, model: str | None, version: str | None) -> str:
    """A digest of the audit's content (not of when it ran)."""
    doc = to_json(result)
    doc["meta"].pop("created_at", None)
    payload = json.dumps([model, version, doc], sort_keys=True, default=str)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:16]


def _e(prefix: str, e: Estimate) -> dict:
    return {prefix: e.value, f"{prefix}_low": e.low, f"{prefix}_high": e.high}


def _rows(result: AuditResult, key: dict) -> dict[str, list[dict]]:
    m = result.meta
    json_doc = to_json(result)
    flags = [d.flag for d in result.disparities]
    summary = {
        **key,
        "created_at": m.created_at,
        "source": m.source,
        "label": m.label,
        "score": m.score,
        "threshold": m.threshold,
        "score_is_binary": m.score_is_binary,
        "attributes": ",".join(m.attributes),
        "rows": m.rows,
        "patients": m.patients,
        "window_start": m.window_start,
        "window_end": m.window_end,
        "n_boot": m.n_boot,
        "seed": m.seed,
        "confidence": m.confidence,
        "min_cell_size": m.min_cell_size,
        "groups": sum(not g.suppressed for g in result.groups),
        "suppressed": sum(g.suppressed for g in result.groups),
        "disparities": flags.count("disparity"),
        "uncertain": flags.count("uncertain"),
        "findings": "\n".join(f.text for f in result.findings),
        "report_json": json.dumps(json_doc, ensure_ascii=False),
    }
    groups = []
    for g in (result.overall, *result.groups):
        row = {
            **key,
            "table_name": g.table,
            "kind": g.kind,
            "attributes": ",".join(g.attributes),
            "group_label": g.label,
            "suppressed": g.suppressed,
            "note": g.note,
            "is_reference": g.is_reference,
            "n": g.n,
            "patients": g.patients,
            "positives": g.positives,
        }
        for metric in METRICS:
            row.update(_e(metric, g.metrics.get(metric, Estimate(None))))
        groups.append(row)
    disparities = [
        {
            **key,
            "table_name": d.table,
            "group_label": d.group,
            "reference_label": d.reference,
            "metric": d.metric,
            "value": d.value,
            "reference_value": d.reference_value,
            **_e("ratio", d.ratio),
            **_e("difference", d.difference),
            "n_valid": d.ratio.n_valid,
            "flag": d.flag,
        }
        for d in result.disparities
    ]
    calibration = [
        {
            **key,
            "table_name": c.table,
            "group_label": c.group,
            "bin": c.bin,
            "score_low": c.score_low,
            "score_high": c.score_high,
            "mean_predicted": c.mean_predicted,
            **_e("observed", c.observed),
        }
        for c in result.calibration
    ]
    coverage = [
        {
            **key,
            "table_name": c.table,
            "group_label": c.group,
            "measure": c.measure,
            "column_name": c.column,
            "kind": c.kind,
            **_e("share", c.share),
            "reference_label": c.reference,
            "reference_share": c.reference_share,
            **_e("ratio", c.ratio),
            "flag": c.flag,
        }
        for c in result.coverage
    ]
    w = result.whatif
    whatif = (
        []
        if w is None
        else [
            {
                **key,
                "constraint_name": w.constraint,
                "objective": w.objective,
                "attribute": r.attribute,
                "group_label": r.group,
                "metric": r.metric,
                "before": r.before,
                "after": r.after,
            }
            for r in w.rows
        ]
    )
    return {
        "fairness_summary": [summary],
        "fairness_groups": groups,
        "fairness_disparities": disparities,
        "fairness_calibration": calibration,
        "fairness_coverage": coverage,
        "fairness_whatif": whatif,
    }


def _arrow_schema(con: duckdb.DuckDBPyConnection, table: str) -> pa.Schema:
    types = {
        "VARCHAR": pa.string(),
        "DOUBLE": pa.float64(),
        "BIGINT": pa.int64(),
        "INTEGER": pa.int32(),
        "BOOLEAN": pa.bool_(),
    }
    cols = con.execute(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_name = ? AND table_schema = current_schema() ORDER BY ordinal_position",
        [table],
    ).fetchall()
    return pa.schema([(name, types[dtype]) for name, dtype in cols])


def write_audit_tables(
    con: duckdb.DuckDBPyConnection,
    result: AuditResult,
    *,
    model: str | None = None,
    version: str | None = None,
) -> str:
    """Create the ``fairness_*`` tables if needed and append this audit (replacing an
    earlier copy of the same audit). Returns the audit id."""
    model = model if model is not None else result.meta.model
    version = version if version is not None else result.meta.version
    key = {"audit_id": audit_id(result, model, version), "model": model, "version": version}
    rows = _rows(result, key)
    con.execute("BEGIN TRANSACTION")
    try:
        for table, ddl in SCHEMA.items():
            con.execute(f"CREATE TABLE IF NOT EXISTS {table} ({ddl})")
            con.execute(f"DELETE FROM {table} WHERE audit_id = ?", [key["audit_id"]])
            if not rows[table]:
                continue
            schema = _arrow_schema(con, table)
            data = pa.Table.from_pylist(
                [{f.name: r.get(f.name) for f in schema} for r in rows[table]], schema=schema
            )
            view = f"_incoming_{table}"
            con.register(view, data)
            try:
                con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM {view}")
            finally:
                con.unregister(view)
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return key["audit_id"]
