"""`caseload audit` as a researcher runs it."""

from __future__ import annotations

import json
import stat

import numpy as np
import polars as pl
import pytest

from analytics.cli import main


@pytest.fixture(autouse=True)
def no_default_data_dir(tmp_path, monkeypatch):
    """Never record into a real data directory: the default is a fresh, absent one."""
    monkeypatch.setenv("CASELOAD_DATA_DIR", str(tmp_path / "absent"))


@pytest.fixture
def predictions(tmp_path):
    rng = np.random.default_rng(0)
    n = 2500
    signal = rng.normal(0, 1, n)
    frame = pl.DataFrame(
        {
            "patient_id": [f"p{i % 800}" for i in range(n)],
            "relapse": (rng.random(n) < 1 / (1 + np.exp(-2 * signal))).astype(np.int8),
            "risk": 1 / (1 + np.exp(-2 * signal - rng.normal(0, 1, n))),
            "gender": rng.choice(["female", "male"], n),
            "insurance": rng.choice(["Private", "Medicaid"], n),
        }
    )
    csv_path, parquet_path = tmp_path / "preds.csv", tmp_path / "preds.parquet"
    frame.write_csv(csv_path)
    frame.write_parquet(parquet_path)
    return csv_path, parquet_path


def args(path, *extra):
    return [
        "audit",
        "--predictions",
        str(path),
        "--label",
        "relapse",
        "--score",
        "risk",
        "--attributes",
        "gender,insurance",
        "--n-boot",
        "20",
        *extra,
    ]


@pytest.mark.parametrize("fmt", ["json", "csv", "html"])
def test_writes_each_format_owner_only_and_records_the_run(predictions, tmp_path, capsys, fmt):
    csv_path, parquet_path = predictions
    out = tmp_path / f"report.{fmt}"
    data = tmp_path / "data"
    source = parquet_path if fmt == "json" else csv_path
    assert main(args(source, "--out", str(out), "--data-dir", str(data), "--intersections")) == 0
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    printed = capsys.readouterr().out
    assert "Audited 2,500 predictions for 800 patients" in printed
    assert f"wrote the {fmt} report to {out}" in printed
    if fmt == "json":
        doc = json.loads(out.read_text())
        assert doc["meta"]["source"] == "preds.parquet"
        assert any(t["kind"] == "intersection" for t in doc["tables"])
    from analytics.access import audit_trail
    from analytics.data.store import DataDir, open_workspace

    ws = open_workspace(DataDir(data))
    try:
        entries = [e for e in audit_trail.entries(ws) if e.action == "fairness_audit"]
    finally:
        ws.close()
    assert len(entries) == 1 and entries[0].target == source.name
    assert json.loads(entries[0].detail)["format"] == fmt


def test_format_without_out_prints_the_report(predictions, tmp_path, capsys):
    assert main(args(predictions[0], "--format", "json", "--reference", "gender=male")) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["tables"][0]["reference"] == "gender=male"
    assert not (tmp_path / "absent").exists()  # no data directory: nothing recorded


def test_a_missing_column_names_the_file_the_column_and_what_was_found(predictions, capsys):
    path = predictions[0]
    code = main(
        [
            "audit",
            "--predictions",
            str(path),
            "--label",
            "relapse",
            "--score",
            "risk",
            "--attributes",
            "gender,ethnicity",
        ]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert "preds.csv" in err and "'ethnicity'" in err
    assert "found: patient_id, relapse, risk, gender, insurance" in err


def test_bad_inputs_exit_2(predictions, tmp_path, capsys):
    assert main(args(tmp_path / "nope.csv")) == 2
    assert "no such file" in capsys.readouterr().err
    assert main(args(predictions[0], "--reference", "insurance=Gold")) == 2
    assert "no such group" in capsys.readouterr().err
    bad = tmp_path / "bad.csv"
    bad.write_text("relapse,risk,gender,insurance\n1,1.7,f,P\n0,0.2,m,P\n")
    assert main(args(bad)) == 2
    assert "probabilities in [0, 1]" in capsys.readouterr().err


def test_threshold_and_binary_scores_are_exclusive(predictions):
    with pytest.raises(SystemExit):
        main(args(predictions[0], "--threshold", "0.3", "--score-is-binary"))
