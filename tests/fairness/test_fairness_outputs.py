"""Outputs: the documented JSON schema, the tidy CSV, the self-contained HTML report,
owner-only files, and the DuckDB tables for the serving snapshot."""

from __future__ import annotations

import csv
import io
import json
import re
import stat
from pathlib import Path

import duckdb
import numpy as np
import polars as pl
import pytest

from analytics.fairness import (
    audit_predictions,
    to_csv,
    to_html,
    to_json,
    write_audit_tables,
    write_report,
)
from analytics.fairness._report import CSV_COLUMNS
from analytics.fairness._tables import SCHEMA

DOC = Path(__file__).resolve().parents[2] / "docs" / "fairness-report.md"


@pytest.fixture(scope="module")
def result():
    rng = np.random.default_rng(0)
    n = 3000
    signal = rng.normal(0, 1, n)
    frame = pl.DataFrame(
        {
            "patient_id": [f"p{i % 900}" for i in range(n)],
            "as_of": np.datetime64("2026-01-01") + rng.integers(0, 150, n).astype("timedelta64[D]"),
            "label": (rng.random(n) < 1 / (1 + np.exp(-2 * signal))).astype(np.int8),
            "probability": 1 / (1 + np.exp(-2 * signal - rng.normal(0, 1, n))),
            "gender": rng.choice(["female", "male"], n),
            "insurance": rng.choice(["Private", "Medicaid", "Uninsured"], n, p=[0.6, 0.3, 0.1]),
            "has_wearable": rng.random(n) < 0.7,
            "model": "relapse_risk",
            "version": "v3",
        }
    )
    return audit_predictions(
        frame,
        label="label",
        score="probability",
        attributes=["gender", "insurance"],
        intersections=True,
        n_boot=50,
        source="heldout_predictions.parquet",
    )


def test_json_has_the_documented_shape(result):
    doc = json.loads(json.dumps(to_json(result)))
    assert doc["schema"] == "caseload-insight/fairness-report" and doc["schema_version"] == 1
    assert set(doc) == {
        "schema",
        "schema_version",
        "meta",
        "overall",
        "tables",
        "groups",
        "disparities",
        "calibration",
        "coverage",
        "whatif",
        "findings",
    }
    assert doc["meta"]["model"] == "relapse_risk" and doc["meta"]["version"] == "v3"
    assert doc["meta"]["window_start"] == "2026-01"  # months, never exact dates
    assert re.fullmatch(r"\d{4}-\d{2}", doc["meta"]["window_end"])
    g = doc["groups"][0]
    assert set(g) == {
        "table",
        "kind",
        "attributes",
        "values",
        "label",
        "suppressed",
        "note",
        "is_reference",
        "n",
        "patients",
        "positives",
        "metrics",
    }
    assert set(g["metrics"]["tpr"]) == {"value", "ci_low", "ci_high", "n_valid"}
    d = doc["disparities"][0]
    assert set(d) == {
        "table",
        "group",
        "reference",
        "metric",
        "value",
        "reference_value",
        "ratio",
        "difference",
        "flag",
    }
    assert set(doc["whatif"]) == {
        "constraint",
        "objective",
        "split",
        "validation_rows",
        "test_rows",
        "notes",
        "rows",
    }
    # every key of the JSON is documented
    text = DOC.read_text(encoding="utf-8")
    keys = set()

    def walk(x):
        if isinstance(x, dict):
            for k, v in x.items():
                keys.add(k)
                walk(v)
        elif isinstance(x, list):
            for v in x:
                walk(v)

    walk(doc)
    undocumented = sorted(k for k in keys if f"`{k}`" not in text)
    assert not undocumented, f"add to docs/fairness-report.md: {undocumented}"


def test_csv_is_one_tidy_table(result):
    rows = list(csv.DictReader(io.StringIO(to_csv(result))))
    assert list(rows[0]) == list(CSV_COLUMNS)
    sections = {r["section"] for r in rows}
    assert sections == {
        "meta",
        "group",
        "disparity",
        "calibration",
        "coverage",
        "whatif",
        "finding",
    }
    tpr = next(r for r in rows if r["group"] == "gender=male" and r["metric"] == "tpr")
    assert tpr["statistic"] == "estimate" and float(tpr["ci_low"]) <= float(tpr["ci_high"])
    assert 0 < float(tpr["value"]) < 1 and int(tpr["n_valid"]) == 50


def test_html_is_self_contained_and_readable(result):
    html = to_html(result)
    lowered = html.lower()
    for banned in ("<script", "<link", "<iframe", "<img", "src=", "@import", "http:", "https:"):
        assert banned not in lowered, banned
    assert html.count("<svg") >= 4
    for heading in (
        "Summary of findings",
        "What was audited",
        "Disparity against the reference",
        "Calibration by group",
        "Data coverage",
        "Suppressed groups",
        "Mitigation what-if",
    ):
        assert heading in html, heading
    assert "0.8-1.25 band" in html and "2026-01" in html
    # flags are written out and drawn with distinct shapes, not colour alone
    assert "within band" in html and "<polygon" in html


def test_report_files_are_owner_only(result, tmp_path):
    for fmt in ("json", "csv", "html"):
        path = write_report(result, tmp_path / f"audit.{fmt}")
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    existing = tmp_path / "open.json"
    existing.write_text("{}")
    existing.chmod(0o644)
    write_report(result, existing)
    assert stat.S_IMODE(existing.stat().st_mode) == 0o600
    assert json.loads(existing.read_text())["schema_version"] == 1


def test_duckdb_tables_append_and_rewrite_idempotently(result, tmp_path):
    con = duckdb.connect(str(tmp_path / "snapshot.duckdb"))
    first = write_audit_tables(con, result, model="relapse_risk", version="v3")
    again = write_audit_tables(con, result, model="relapse_risk", version="v3")
    other = write_audit_tables(con, result, model="engagement_drop", version="v1")
    assert first == again != other
    assert set(SCHEMA) <= {r[0] for r in con.execute("SHOW TABLES").fetchall()}
    counts = {
        t: con.execute(f"SELECT count(*) FROM {t} WHERE audit_id = ?", [first]).fetchone()[0]
        for t in SCHEMA
    }
    assert counts["fairness_summary"] == 1
    assert counts["fairness_groups"] == len(result.groups) + 1  # + overall
    assert counts["fairness_disparities"] == len(result.disparities)
    assert counts["fairness_calibration"] == len(result.calibration)
    assert counts["fairness_coverage"] == len(result.coverage)
    assert counts["fairness_whatif"] == len(result.whatif.rows)
    assert con.execute("SELECT count(DISTINCT audit_id) FROM fairness_groups").fetchone()[0] == 2
    tpr, low, high = con.execute(
        "SELECT tpr, tpr_low, tpr_high FROM fairness_groups WHERE audit_id = ? AND group_label = 'gender=male'",
        [first],
    ).fetchone()
    e = result.group("gender=male").metrics["tpr"]
    assert (tpr, low, high) == pytest.approx((e.value, e.low, e.high))
    stored = json.loads(
        con.execute(
            "SELECT report_json FROM fairness_summary WHERE audit_id = ?", [first]
        ).fetchone()[0]
    )
    assert stored["meta"]["rows"] == result.meta.rows


def test_binary_scores_skip_calibration(result):
    rng = np.random.default_rng(1)
    frame = pl.DataFrame(
        {
            "label": rng.integers(0, 2, 2000),
            "flagged": rng.integers(0, 2, 2000),
            "group": rng.choice(["a", "b"], 2000),
        }
    )
    out = audit_predictions(
        frame, label="label", score="flagged", attributes="group", score_is_binary=True, n_boot=20
    )
    assert out.meta.threshold is None and out.calibration == ()
    assert out.group("group=a").metrics["calibration_error"].value is None
    assert out.group("group=a").metrics["tpr"].value is not None
    assert "Calibration by group" not in to_html(out)
