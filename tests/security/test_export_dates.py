"""Row 5: a fresh research export of the demo clinic dates nobody.

The attack rebuilt every enrolment and discharge date exactly as (data end) - days_enrolled
and enrolment + days_to_discharge. Each patient's export now ends 15-44 days (keyed) before
the data's end, so N = 14: no rebuilt date is within 14 days of the truth.
"""

from __future__ import annotations

import json
import shutil
from datetime import timedelta

import duckdb
import polars as pl
import pytest

from analytics.access.roles import Context, actor_for_clinician
from analytics.cli import main
from analytics.data.store import DataDir
from analytics.models.windows import data_as_of
from analytics.settings import load_settings
from analytics.views.export import ExportBlocked, export_research

N_DAYS = 14


@pytest.fixture(scope="module")
def demo_export(small_demo, tmp_path_factory):
    data = tmp_path_factory.mktemp("export-dates") / "data"
    shutil.copytree(small_demo, data)
    settings = load_settings(data)
    ctx = Context.open(settings)
    try:
        rid = ctx.snapshot.execute(
            "SELECT clinician_id FROM clinicians WHERE role = 'researcher' LIMIT 1"
        ).fetchone()[0]
        researcher = actor_for_clinician(ctx, rid)
        keys = {}
        wh = duckdb.connect(str(DataDir(data).warehouse), read_only=True)
        try:
            truth = wh.execute(
                "SELECT patient_id, enrolled_on, discharged_on FROM patients"
            ).fetchall()
        finally:
            wh.close()
        for pid, _, _ in truth:
            keys[ctx.pseudonym(pid)] = pid
    finally:
        ctx.close()
    con = duckdb.connect()
    con.execute("ATTACH ? AS wh (READ_ONLY)", [str(DataDir(data).warehouse)])
    end = data_as_of(con)
    con.close()
    out = tmp_path_factory.mktemp("export-dates-out") / "research"
    result = export_research(settings=settings, out_dir=out, actor=researcher)
    return settings, result, end, {pid: (e, d) for pid, e, d in truth}, keys


@pytest.mark.attack(5)
def test_no_enrolment_or_discharge_date_rebuilt_within_n_days(demo_export):
    _, result, end, truth, keys = demo_export
    patients = pl.read_parquet(result.out_dir / "patients.parquet")
    assert patients.height > 100
    gaps = []
    for row in patients.iter_rows(named=True):
        enrolled, discharged = truth[keys[row["patient_key"]]]
        rebuilt = end - timedelta(days=row["days_enrolled"])
        gaps.append(abs((rebuilt - enrolled).days))
        if row["days_to_discharge"] is not None:
            rebuilt_discharge = rebuilt + timedelta(days=row["days_to_discharge"])
            gaps.append(abs((rebuilt_discharge - discharged).days))
    assert min(gaps) > N_DAYS, min(gaps)
    print(f"row 5: {len(gaps)} dates rebuilt, closest {min(gaps)} days from the truth")


@pytest.mark.attack(5)
def test_feature_rows_do_not_date_enrolment_either(demo_export):
    _, result, end, truth, keys = demo_export
    features = pl.read_parquet(result.out_dir / "features.parquet")
    last = features.group_by("patient_key").agg(pl.col("day").max())
    gaps = [
        abs(((end - timedelta(days=day)) - truth[keys[key]][0]).days)
        for key, day in last.iter_rows()
    ]
    assert gaps and min(gaps) > N_DAYS


@pytest.mark.attack(5)
def test_manifest_reports_k_anonymity_at_or_above_threshold(demo_export, capsys):
    settings, result, *_ = demo_export
    manifest = json.loads(result.manifest.read_text())
    anonymity = manifest["k_anonymity"]
    patients = pl.read_parquet(result.out_dir / "patients.parquet")
    smallest = patients.group_by(anonymity["quasi_identifiers"]).len()["len"].min()
    assert anonymity["k"] == smallest >= anonymity["threshold"] == settings.export_min_k
    assert manifest["date_censoring"]["days_before_end"] == [15, 44]
    with capsys.disabled():
        print(
            f"\nrow 5: k-anonymity {anonymity['k']} (threshold {anonymity['threshold']}), "
            f"{anonymity['unique_before']} of {patients.height} unique before suppression"
        )


@pytest.mark.attack(5)
def test_a_threshold_that_cannot_be_met_blocks_the_export(demo_export, tmp_path, capsys):
    settings, *_ = demo_export
    with (settings.data_dir / "settings.toml").open("a") as fh:
        fh.write("export_min_k = 100000\n")
    strict = load_settings(settings.data_dir)
    try:
        ctx = Context.open(strict)
        try:
            rid = ctx.snapshot.execute(
                "SELECT email FROM clinicians WHERE role = 'researcher' LIMIT 1"
            ).fetchone()[0]
        finally:
            ctx.close()
        with pytest.raises(ExportBlocked):
            export_research(settings=strict, out_dir=tmp_path / "a", actor=_researcher(strict))
        code = main(
            [
                "export",
                "research",
                "--out",
                str(tmp_path / "b"),
                "--as",
                rid,
                "--data-dir",
                str(strict.data_dir),
            ]
        )
        assert code == 1 and "export_min_k" in capsys.readouterr().err
        assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()
    finally:
        text = (
            (settings.data_dir / "settings.toml").read_text().replace("export_min_k = 100000\n", "")
        )
        (settings.data_dir / "settings.toml").write_text(text)


def _researcher(settings):
    ctx = Context.open(settings)
    try:
        rid = ctx.snapshot.execute(
            "SELECT clinician_id FROM clinicians WHERE role = 'researcher' LIMIT 1"
        ).fetchone()[0]
        return actor_for_clinician(ctx, rid)
    finally:
        ctx.close()
