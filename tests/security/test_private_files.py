"""Every file the product writes is created owner-only and never through a symbolic link
(issue 15, rows 10 and 11), whichever code path writes it and whatever the umask."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import pytest
import time_machine

from analytics.access import audit_trail
from analytics.access.keys import load_key
from analytics.cli import main
from analytics.data.ingest import export_quarantine, ingest
from analytics.data.store import DataDir, pipeline_lock, publish_snapshot
from analytics.files import SymlinkRefused, open_private, write_private
from analytics.models import registry
from analytics.serving import pipeline
from analytics.serving.pipeline import refresh

# JSON, so a writer that reads its file before replacing it (the model registry) gets as
# far as writing.
VICTIM_TEXT = '{"keep": "me"}\n'


@pytest.fixture
def victim(tmp_path: Path) -> Path:
    """A file of someone else's that a planted link points at: it must stay as it is."""
    path = tmp_path / "victim.txt"
    path.write_text(VICTIM_TEXT)
    path.chmod(0o644)
    return path


def _plant(link: Path, target: Path) -> Path:
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(target)
    return link


# Each writer: plant a link where it writes, then run it. (name, function(tmp, settings,
# victim, monkeypatch)); the function must raise SymlinkRefused.
def _write_private(tmp, settings, victim, mp):
    write_private(_plant(tmp / "out.txt", victim), "x")


def _write_private_exclusive(tmp, settings, victim, mp):
    write_private(_plant(tmp / "out.txt", victim), b"x", exclusive=True)


def _write_private_replace(tmp, settings, victim, mp):
    write_private(_plant(tmp / "out.json", victim), "{}", replace=True)


def _open_private(mode):
    def run(tmp, settings, victim, mp):
        with open_private(_plant(tmp / "out.log", victim), mode) as fh:
            fh.write(b"x" if "b" in mode else "x")

    return run


def _pipeline_lock(tmp, settings, victim, mp):
    data_dir = DataDir(settings.data_dir).ensure()
    _plant(data_dir.lock, victim)
    with pipeline_lock(data_dir, purpose="test"):
        pass


def _snapshot_pointer(tmp, settings, victim, mp):
    data_dir = DataDir(settings.data_dir).ensure()
    building = data_dir.snapshots / ".building-x.duckdb"
    write_private(building, b"")
    _plant(data_dir.current, victim)
    publish_snapshot(data_dir, "x", building)


def _snapshot_copy(tmp, settings, victim, mp, staffed):
    # The next snapshot starts as a copy of the one in service (incremental refresh).
    data_dir = DataDir(staffed.data_dir)
    planted = _plant(data_dir.snapshots / ".building-planted.duckdb", victim)
    mp.setattr(pipeline, "new_snapshot_path", lambda _dir: ("planted", planted))
    refresh(settings=staffed)


def _key(dangling):
    def run(tmp, settings, victim, mp):
        # A dangling link is where the key would be created; a live one is what it reads.
        target = tmp / "nowhere.key" if dangling else victim
        load_key(_plant(tmp / "keys" / "audit.key", target))

    return run


def _audit_anchor(tmp, settings, victim, mp):
    audit_trail.append_anchor(_plant(tmp / "anchor.log", victim), b"k" * 32, 1, "0" * 64)


def _registry_json(tmp, settings, victim, mp):
    data_dir = DataDir(settings.data_dir).ensure()
    _plant(data_dir.models / "attempts.json", victim)
    registry.record_refusal(data_dir, "relapse_risk", "too little data")


def _quarantine_export(tmp, settings, victim, mp, staffed):
    bad = tmp / "checkins-bad.csv"
    bad.write_text("patient_id,checked_in_at,mood\np1,2026-03-03T10:00:00Z,77\n")
    ingest([bad], settings=staffed)
    out = tmp / "fix"
    out.mkdir()
    _plant(out / "checkins-quarantined.csv", victim)
    con = duckdb.connect(str(DataDir(staffed.data_dir).warehouse), read_only=True)
    try:
        export_quarantine(con, out)
    finally:
        con.close()


def _fault_marker(tmp, settings, victim, mp):
    from analytics.data.ingest import _run

    mp.setenv("CASELOAD_FAULT_PAUSE", "before-commit")
    mp.setenv("CASELOAD_FAULT_MARKER", str(_plant(tmp / "marker", victim)))
    mp.setenv("CASELOAD_FAULT_SECONDS", "0")
    _run._fault_point("before-commit")


def _fairness_report(tmp, settings, victim, mp):
    import numpy as np
    import polars as pl

    rng = np.random.default_rng(0)
    score = rng.random(400)
    pl.DataFrame(
        {
            "relapse": (rng.random(400) < score).astype(np.int8),
            "risk": score,
            "gender": rng.choice(["female", "male"], 400),
        }
    ).write_csv(tmp / "preds.csv")
    out = _plant(tmp / "report.html", victim)
    args = ["audit", "--predictions", str(tmp / "preds.csv"), "--label", "relapse"]
    args += ["--score", "risk", "--attributes", "gender", "--n-boot", "10", "--out", str(out)]
    # The CLI turns the refusal into its one-line error and exit status 2.
    if main(args) == 2:
        raise SymlinkRefused(str(out))


WRITERS: dict[str, Callable] = {
    "write_private": _write_private,
    "write_private exclusive": _write_private_exclusive,
    "write_private replace": _write_private_replace,
    "open_private w": _open_private("w"),
    "open_private ab": _open_private("ab"),
    "open_private r+b": _open_private("r+b"),
    "pipeline lock": _pipeline_lock,
    "snapshot pointer (CURRENT)": _snapshot_pointer,
    "pseudonym/audit key, created": _key(dangling=True),
    "pseudonym/audit key, read": _key(dangling=False),
    "audit anchor": _audit_anchor,
    "model registry json": _registry_json,
    "ingest fault marker": _fault_marker,
    "fairness report": _fairness_report,
}
# These need a clinic that has been ingested and refreshed.
WRITERS_ON_A_CLINIC: dict[str, Callable] = {
    "snapshot copy": _snapshot_copy,
    "quarantine export": _quarantine_export,
}


def _assert_untouched(victim: Path) -> None:
    assert victim.read_text() == VICTIM_TEXT
    assert stat.S_IMODE(victim.stat().st_mode) == 0o644


@pytest.mark.attack(11)
@pytest.mark.parametrize("writer", list(WRITERS))
def test_every_writer_refuses_a_symlink_at_its_target(
    writer, tmp_path, settings, victim, monkeypatch
):
    with pytest.raises(SymlinkRefused):
        WRITERS[writer](tmp_path, settings, victim, monkeypatch)
    _assert_untouched(victim)


@pytest.mark.attack(11)
@pytest.mark.parametrize("writer", list(WRITERS_ON_A_CLINIC))
def test_every_clinic_writer_refuses_a_symlink_at_its_target(
    writer, tmp_path, settings, victim, monkeypatch, staffed
):
    with pytest.raises(SymlinkRefused):
        WRITERS_ON_A_CLINIC[writer](tmp_path, settings, victim, monkeypatch, staffed)
    _assert_untouched(victim)


@pytest.mark.attack(10)
def test_replace_is_whole_owner_only_and_leaves_no_temporary_file(tmp_path):
    target = tmp_path / "current.json"
    target.write_text("old")
    target.chmod(0o644)  # an earlier release's file: the new one is 0600 from the start
    old = os.umask(0)
    try:
        write_private(target, '{"new": true}', replace=True)
    finally:
        os.umask(old)
    assert target.read_text() == '{"new": true}'
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["current.json"]
    with pytest.raises(ValueError, match="exclusive or a replacement"):
        write_private(target, "x", exclusive=True, replace=True)


def test_read_write_mode_keeps_what_the_file_holds(tmp_path):
    # The pipeline lock's note must survive another process opening the file to read it.
    path = write_private(tmp_path / "pipeline.lock", "holder note")
    with open_private(path, "r+b") as fh:
        assert fh.read() == b"holder note"
    assert path.read_text() == "holder note"
    with pytest.raises(ValueError, match="mode"), open_private(path, "r"):
        pass


# --- a whole small run --------------------------------------------------------------------

# After the demo clinic's last day, so no generated row is "in the future" whatever today is.
RUN_CLOCK = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


@pytest.mark.slow
@pytest.mark.dates
@pytest.mark.attack(10)
def test_every_file_of_a_small_run_is_owner_only_whatever_the_umask(tmp_path):
    """A demo-size clinic ingested, trained (refused at this size, which is recorded),
    refreshed twice (a full build, then a copy of it), read with an audit entry, and its
    quarantine exported, in this process with the common umask 022: the CLI's umask is
    not what makes the files private."""
    from analytics.access.roles import Context
    from analytics.models.training import train_models
    from analytics.settings import load_settings
    from sample_data.generator import ClinicSpec, generate, write_clinic
    from tests.conftest import DEMO_END_DATE

    spec = ClinicSpec(patients=160, days=200, seed=0, end_date=date.fromisoformat(DEMO_END_DATE))
    write_clinic(generate(spec), tmp_path / "files", fmt="csv")
    data, fix = tmp_path / "data", tmp_path / "fix"
    old = os.umask(0o022)
    try:
        with time_machine.travel(RUN_CLOCK):
            settings = load_settings(data)
            assert ingest([tmp_path / "files"], settings=settings).exit_code == 0
            train_models(settings=settings, resamples=20)
            first = refresh(settings=settings)
            second = refresh(settings=settings)
            ctx = Context.open(settings)
            try:
                audit_trail.record(
                    ctx.workspace,
                    ctx.audit_key,
                    actor="test",
                    role="admin",
                    action="view",
                    anchor=ctx.audit_anchor,
                )
            finally:
                ctx.close()
            con = duckdb.connect(str(DataDir(data).warehouse), read_only=True)
            try:
                exported = export_quarantine(con, fix)
            finally:
                con.close()
    finally:
        os.umask(old)

    # The second refresh copied the first snapshot: both ways a snapshot file starts ran.
    assert (first.mode, second.mode) == ("full", "incremental") and exported
    created = [p for root in (data, fix) for p in [root, *root.rglob("*")]]
    names = {p.name for p in created}
    # The run made every kind of file the product writes outside training a model.
    for expected in (
        "warehouse.duckdb",
        "workspace.sqlite",
        "CURRENT",
        "pipeline.lock",
        "pseudonym.key",
        "audit.key",
        "audit-anchor.log",
        "attempts.json",
    ):
        assert expected in names, expected
    assert any(n.startswith("snapshot-") for n in names)
    wide = [
        (str(p), oct(stat.S_IMODE(p.lstat().st_mode)))
        for p in created
        if p.is_symlink() or stat.S_IMODE(p.lstat().st_mode) != (0o700 if p.is_dir() else 0o600)
    ]
    assert wide == []
