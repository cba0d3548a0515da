"""The research export's rules on a small hand-made clinic with known answers: who may
run it, what is audited, age bands, pooled categories, suppressed cells, the manifest and
the CLI verb."""

from __future__ import annotations

import csv
import getpass
import hashlib
import io
import json
from pathlib import Path

import polars as pl
import pytest

from analytics.access import audit_trail
from analytics.access.keys import pseudonym_key
from analytics.access.roles import AccessDenied, Actor, Context, actor_for_email
from analytics.cli import main
from analytics.data.ingest import ingest
from analytics.serving.pipeline import refresh
from analytics.settings import load_settings
from analytics.views import research_cohort
from analytics.views.export import OutputNotEmpty, censor_days, export_research

STAFF = [
    ("t1", "Dr Tess One", "therapist"),
    ("m1", "Manny Manager", "manager"),
    ("r1", "Rae Researcher", "researcher"),
    ("a1", "Ada Admin", "admin"),
]
# Per patient: birth year (age at enrolment in 2026), gender as typed, insurance.
BIRTH = [1937] * 11 + [1936] * 6 + [1929] * 6 + [None] * 11  # 89, 90, 97, missing
GENDER = ["Female"] * 12 + ["Male"] * 9 + ["male"] * 2 + ["Non-binary"] * 6 + ["Another"] * 5
INSURANCE = ["Commercial"] * 20 + ["Medicaid"] * 11 + ["Medicare"] * 3
N = len(BIRTH)
DISCHARGED = 12  # the first 12 patients, 10 days after enrolment
TABLES = ("patients", "features", "labels", "predictions", "aggregates")


def _csv(path: Path, rows: list[dict[str, object]]) -> Path:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    path.write_text(buf.getvalue(), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def clinic(tmp_path_factory):
    """34 patients enrolled 2026-01-05 at one site; data up to 2026-03-01."""
    root = tmp_path_factory.mktemp("export-rules")
    files = root / "files"
    files.mkdir()
    _csv(
        files / "clinicians.csv",
        [
            {
                "clinician_id": cid,
                "display_name": name,
                "site_id": "north",
                "email": f"{cid}@clinic.example",
                "role": role,
            }
            for cid, name, role in STAFF
        ],
    )
    _csv(
        files / "patients.csv",
        [
            {
                "patient_id": f"k{i:02d}",
                "clinician_id": "t1",
                "enrolled_on": "2026-01-05",
                # Day 10: before every patient's export cut-off (55 - 44 = day 11 at the least).
                "discharged_on": "2026-01-15" if i < DISCHARGED else "",
                "display_name": f"Patient Number {i}",
                "birth_year": BIRTH[i] or "",
                "gender": GENDER[i],
                "insurance": INSURANCE[i],
                "rurality": "urban",
            }
            for i in range(N)
        ],
    )
    _csv(
        files / "checkins.csv",
        [{"patient_id": f"k{N - 1:02d}", "checked_in_at": "2026-03-01T10:00:00Z", "mood": 5}],
    )
    (root / "data").mkdir()
    # These tests are about category pooling; k-anonymity has its own (tests/security).
    (root / "data" / "settings.toml").write_text("export_min_k = 1\n")
    settings = load_settings(root / "data")
    assert ingest([files], settings=settings).exit_code == 0
    refresh(settings=settings)
    return settings


def _actor(settings, email: str) -> Actor:
    ctx = Context.open(settings)
    try:
        return actor_for_email(ctx, email)
    finally:
        ctx.close()


def _audit(settings, action: str = "export_research") -> list[audit_trail.AuditEntry]:
    ctx = Context.open(settings)
    try:
        return [e for e in audit_trail.entries(ctx.workspace) if e.action == action]
    finally:
        ctx.close()


@pytest.fixture(scope="module")
def export(clinic, tmp_path_factory):
    out = tmp_path_factory.mktemp("export-rules-out") / "research"
    return export_research(settings=clinic, out_dir=out, actor=_actor(clinic, "r1@clinic.example"))


def _patients(export) -> pl.DataFrame:
    return pl.read_parquet(export.out_dir / "patients.parquet")


def _by_id(clinic, export) -> dict[str, dict]:
    ctx = Context.open(clinic)
    try:
        keys = {ctx.pseudonym(f"k{i:02d}"): i for i in range(N)}
    finally:
        ctx.close()
    return {keys[r["patient_key"]]: r for r in _patients(export).to_dicts()}


# --- coarsening ---------------------------------------------------------------------------


def test_age_bands_known_answers(clinic, export):
    rows = _by_id(clinic, export)
    # Age on the data's last day (2026-03-01): one band over 64, so 89 and 90 (HIPAA's
    # line) and 97 are together, and no band is narrow enough to pick out the oldest.
    assert rows[0]["age_band"] == "65+"  # born 1937: 89
    assert rows[11]["age_band"] == "65+"  # 90
    assert rows[17]["age_band"] == "65+"  # 97
    assert rows[N - 1]["age_band"] == "Unknown"  # no birth year
    assert _patients(export)["age_band"].value_counts().sort("age_band").rows() == [
        ("65+", 23),
        ("Unknown", 11),
    ]


def test_age_bands_match_the_research_cohort(clinic, export):
    """The same patient has the same band in the export and the dashboard's cohort, so
    the two cannot be intersected to narrow a birth year."""
    ctx = Context.open(clinic)
    try:
        cohort = research_cohort(ctx, _actor(clinic, "r1@clinic.example"))
    finally:
        ctx.close()
    exported = dict(_patients(export).select("patient_key", "age_band").rows())
    assert dict(cohort.select("patient_key", "age_band").rows()) == exported


def test_small_categories_pooled(clinic, export):
    patients = _patients(export)
    # 'male' merges into 'Male' (9 + 2 = 11, kept); Non-binary 6 and Another 5 are pooled.
    assert dict(patients["gender"].value_counts().rows()) == {
        "Female": 12,
        "Male": 11,
        "Other (suppressed)": 11,
    }
    # Medicare (3) alone would be a group of 3, so the next smallest (Medicaid) joins it.
    assert dict(patients["insurance"].value_counts().rows()) == {
        "Commercial": 20,
        "Other (suppressed)": 14,
    }
    assert set(patients["race_ethnicity"]) == {"Unknown"}
    manifest = json.loads(export.manifest.read_text())
    pooled = next(r for r in manifest["removed"] if r["what"] == "small categories")
    assert "gender 2" in pooled["how"] and "insurance 2" in pooled["how"]
    assert "Medicare" not in export.manifest.read_text()  # pooled names are not listed


def test_days_since_enrolment_and_pseudonyms(clinic, export):
    rows = _by_id(clinic, export)
    key = pseudonym_key(clinic.data_dir)
    cut = {i: censor_days(key, f"k{i:02d}") for i in range(N)}
    assert all(15 <= c <= 44 for c in cut.values()) and len(set(cut.values())) > 5
    # 2026-01-05 to 2026-03-01 is 55 days; each patient's data ends `cut` days earlier.
    assert {i: r["days_enrolled"] for i, r in rows.items()} == {i: 55 - c for i, c in cut.items()}
    assert rows[0]["discharged"] is True and rows[0]["days_to_discharge"] == 10
    assert rows[N - 1]["discharged"] is False and rows[N - 1]["days_to_discharge"] is None
    ctx = Context.open(clinic)
    try:
        assert {r["clinician_key"] for r in rows.values()} == {ctx.clinician_pseudonym("t1")}
        site = _patients(export)["site"].unique().to_list()
        assert len(site) == 1 and site[0].startswith("S-") and "north" not in site[0]
        # the same pseudonyms as the dashboard's research view
        cohort = research_cohort(ctx, _actor(clinic, "r1@clinic.example"))
    finally:
        ctx.close()
    assert set(cohort["patient_key"]) == set(_patients(export)["patient_key"])


def test_aggregates_suppress_small_cells(export):
    agg = pl.read_parquet(export.out_dir / "aggregates.parquet")
    shown = agg.filter(~pl.col("suppressed"))
    assert shown.height and agg.filter(pl.col("suppressed")).height
    for row in shown.to_dicts():
        assert row["patients"] >= 11 and row["with_outcome"] >= 11
        assert row["without_outcome"] >= 11
    for row in agg.filter(pl.col("suppressed")).to_dicts():
        assert row["patients"] is None and row["with_outcome"] is None and row["rate"] is None
        assert row["note"].startswith("suppressed")
    site = shown.filter((pl.col("attribute") == "site") & (pl.col("outcome") == "discharged"))
    assert site.select("patients", "with_outcome", "without_outcome").row(0) == (34, 12, 22)
    # groups are the coarsened categories, never a pooled-away value
    assert not set(agg["group"]) & {"Medicare", "Non-binary", "Another", "male"}


# --- the manifest -----------------------------------------------------------------------------


def test_manifest_describes_every_column_and_file(export):
    manifest = json.loads(export.manifest.read_text())
    assert manifest["export_format_version"] == 1 and manifest["data_contract_version"] == 1
    assert manifest["model_versions"] == {}
    assert manifest["models_without_predictions"] == ["engagement_drop", "relapse_risk"]
    files = {f["file"]: f for f in manifest["files"]}
    assert set(files) == {f"{t}.parquet" for t in TABLES}
    for name in TABLES:
        entry = files[f"{name}.parquet"]
        frame = pl.read_parquet(export.out_dir / entry["file"])
        assert [c["name"] for c in entry["columns"]] == frame.columns
        assert all(c["description"] for c in entry["columns"])
        assert entry["rows"] == frame.height == export.rows[name]
        data = (export.out_dir / entry["file"]).read_bytes()
        assert entry["sha256"] == hashlib.sha256(data).hexdigest()
    removed = {r["what"] for r in manifest["removed"]}
    assert {
        "names",
        "emails",
        "free text",
        "ids",
        "exact dates",
        "birth year",
        "small categories",
        "small cells",
    } <= removed
    assert manifest["residual_risks"]


# --- access and audit ----------------------------------------------------------------------


@pytest.mark.parametrize("email", ["t1@clinic.example", "m1@clinic.example"])
def test_therapist_and_manager_refused_and_audited(clinic, tmp_path, email):
    actor = _actor(clinic, email)
    with pytest.raises(AccessDenied, match="admin, researcher"):
        export_research(settings=clinic, out_dir=tmp_path / "out", actor=actor)
    assert not (tmp_path / "out").exists()
    refused = [e for e in _audit(clinic) if e.actor == email]
    assert len(refused) == 1
    assert refused[0].outcome == "denied" and refused[0].role == actor.role.value


def test_export_is_audited_with_counts_only(clinic, export):
    entries = [e for e in _audit(clinic) if e.actor == "r1@clinic.example"]
    assert len(entries) == 1
    entry = entries[0]
    assert entry.outcome == "allowed" and entry.role == "researcher"
    assert entry.patient_key is None
    detail = json.loads(entry.detail)
    assert detail == export.rows and set(detail) == set(TABLES)
    assert "k0" not in entry.detail and "P-" not in entry.detail


def test_admin_may_export_into_an_empty_directory(clinic, tmp_path):
    out = tmp_path / "empty"
    out.mkdir(mode=0o755)
    result = export_research(
        settings=clinic, out_dir=out, actor=_actor(clinic, "a1@clinic.example")
    )
    assert result.rows["patients"] == N
    assert out.stat().st_mode & 0o777 == 0o700


def test_refuses_a_non_empty_target_and_writes_nothing(clinic, tmp_path):
    out = tmp_path / "busy"
    out.mkdir()
    (out / "mine.txt").write_text("keep me")
    with pytest.raises(OutputNotEmpty):
        export_research(settings=clinic, out_dir=out, actor=_actor(clinic, "a1@clinic.example"))
    assert [p.name for p in out.iterdir()] == ["mine.txt"]
    target = tmp_path / "a-file"
    target.write_text("x")
    with pytest.raises(OutputNotEmpty):
        export_research(settings=clinic, out_dir=target, actor=_actor(clinic, "a1@clinic.example"))
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".partial")]


# --- the CLI ---------------------------------------------------------------------------------


def test_cli_export_research(clinic, tmp_path, capsys):
    data = str(clinic.data_dir)
    out = tmp_path / "cli"
    # Without --as the export is refused (and recorded), not run as an implicit admin.
    assert main(["export", "research", "--out", str(out), "--data-dir", data]) == 1
    assert "needs --as" in capsys.readouterr().err and not out.exists()
    refusal = _audit(clinic)[-1]
    assert refusal.outcome == "denied" and refusal.actor == f"cli:{getpass.getuser()}"

    args = ["export", "research", "--out", str(out), "--data-dir", data]
    assert main([*args, "--as", "a1@clinic.example"]) == 0
    printed = capsys.readouterr().out
    assert str(out) in printed and f"patients {N}" in printed
    assert (out / "manifest.json").is_file()
    mine = [e for e in _audit(clinic) if e.actor.endswith(f" via cli:{getpass.getuser()}")]
    assert mine and mine[-1].role == "admin" and mine[-1].outcome == "allowed"
    assert mine[-1].actor.startswith("a1@clinic.example")

    assert main([*args, "--as", "a1@clinic.example"]) == 2
    assert "not an empty directory" in capsys.readouterr().err

    refused = tmp_path / "refused"
    args = ["export", "research", "--out", str(refused), "--data-dir", data]
    assert main([*args, "--as", "t1@clinic.example"]) == 1
    assert "researcher" in capsys.readouterr().err and not refused.exists()
    assert main([*args, "--as", "nobody@clinic.example"]) == 2
    assert "not linked" in capsys.readouterr().err
    assert main([*args, "--as", "R1@clinic.example"]) == 0
    assert (refused / "patients.parquet").is_file()
