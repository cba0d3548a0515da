"""Issue 15's attacks, each reproduced and shown refused (rows 1-4, 7-11, 14)."""

from __future__ import annotations

import errno
import getpass
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from analytics.access import audit_trail
from analytics.access.roles import (
    AccessDenied,
    Context,
    Role,
    UnknownUser,
    actor_for_email,
    require_role,
)
from analytics.cli import main
from analytics.data.ingest import ingest
from analytics.data.store import DataDir, ensure_workspace_schema, open_workspace
from analytics.files import csv_safe, open_private, write_private
from analytics.launcher import DEMO_MARKER, is_demo_dir
from analytics.settings import SettingsError, load_settings

ME = getpass.getuser()


def _trail(settings) -> list[audit_trail.AuditEntry]:
    ws = open_workspace(DataDir(settings.data_dir))
    try:
        return list(audit_trail.entries(ws))
    finally:
        ws.close()


def _one_line(err: str) -> bool:
    lines = [line for line in err.splitlines() if line.strip()]
    return len(lines) == 1 and "Traceback" not in err


# --- row 1: demo cannot take over a real clinic's directory --------------------------------


@pytest.mark.attack(1)
@pytest.mark.parametrize("rebuild", [False, True])
def test_demo_refuses_a_directory_it_did_not_build(staffed, capsys, rebuild):
    data = staffed.data_dir
    before = sorted(p.name for p in data.iterdir())
    args = ["demo", "--data-dir", str(data), "--no-serve", *(["--rebuild"] if rebuild else [])]
    assert main(args) == 2
    assert "did not build" in capsys.readouterr().err
    assert not (data / DEMO_MARKER).exists()
    assert sorted(p.name for p in data.iterdir()) == before  # nothing deleted or added


@pytest.mark.attack(1)
def test_a_planted_or_old_marker_is_not_a_demo(staffed):
    (staffed.data_dir / DEMO_MARKER).write_text("synthetic demo clinic\n")  # the old marker
    assert not is_demo_dir(staffed.data_dir)
    (staffed.data_dir / DEMO_MARKER).unlink()
    (staffed.data_dir / DEMO_MARKER).symlink_to("/etc/hostname")
    assert not is_demo_dir(staffed.data_dir)


@pytest.mark.attack(1)
def test_serve_on_a_real_directory_never_asks_for_demo_mode(staffed, monkeypatch):
    from analytics import launcher as server

    seen = {}
    monkeypatch.setattr(server.subprocess, "call", lambda cmd, env, **kw: seen.update(env) or 0)
    monkeypatch.setenv("CASELOAD_DEMO", "1")  # even if the operator's shell has it set
    server.serve(data_dir=staffed.data_dir, port=1, demo=True)
    assert "CASELOAD_DEMO" not in seen


@pytest.mark.attack(1)
def test_configured_sign_in_wins_over_demo_mode(small_demo, monkeypatch):
    from streamlit.testing.v1 import AppTest

    assert is_demo_dir(small_demo)
    monkeypatch.setenv("CASELOAD_DATA_DIR", str(small_demo))
    monkeypatch.setenv("CASELOAD_DEMO", "1")
    app = Path(__file__).resolve().parents[2] / "dashboard" / "app.py"
    at = AppTest.from_file(str(app), default_timeout=60)
    at.secrets["auth"] = {
        "redirect_uri": "http://localhost:8501/oauth2callback",
        "cookie_secret": "x" * 32,
        "client_id": "id",
        "client_secret": "secret",
        "server_metadata_url": "https://accounts.example.org/.well-known/openid-configuration",
    }
    at.run()
    assert not at.exception
    assert not at.sidebar.selectbox  # no identity picker
    assert not at.dataframe
    assert not any("Demo mode" in i.value for i in at.info)


# --- row 2: the CLI knows who runs it and checks a role on every patient-data verb ---------


@pytest.mark.attack(2)
def test_patient_verb_records_the_os_user(staffed, capsys):
    data = str(staffed.data_dir)
    assert main(["patient", "p1", "--as", "ada@example.org", "--data-dir", data]) == 0
    entry = _trail(staffed)[-1]
    assert entry.action == "view_patient" and entry.actor == f"ada@example.org via cli:{ME}"
    assert main(["patient", "p3", "--as", "ada@example.org", "--data-dir", data]) == 1
    entry = _trail(staffed)[-1]
    assert entry.outcome == "denied" and entry.actor.endswith(f"via cli:{ME}")


@pytest.mark.attack(2)
@pytest.mark.parametrize(
    "verb",
    [
        ["predictions"],
        ["predictions", "--as", "ada@example.org"],
        ["predictions", "--as", "rae@example.org"],
        ["quarantine", "--export", "{out}"],
        ["quarantine", "--export", "{out}", "--as", "ada@example.org"],
        ["export", "research", "--out", "{out}"],
        ["export", "research", "--out", "{out}", "--as", "ada@example.org"],
    ],
)
def test_patient_data_verbs_check_a_role_and_audit(staffed, tmp_path, capsys, verb):
    out = tmp_path / "out"
    args = [a.replace("{out}", str(out)) for a in verb]
    before = len(_trail(staffed))
    assert main([*args, "--data-dir", str(staffed.data_dir)]) == 1
    err = capsys.readouterr()
    assert "recorded" in err.err and _one_line(err.err)
    assert not out.exists() and "p1" not in err.out
    new = _trail(staffed)[before:]
    assert new and all(e.outcome == "denied" and f"cli:{ME}" in e.actor for e in new)


@pytest.mark.attack(2)
def test_quarantine_export_as_admin_is_audited(staffed, tmp_path, write_csv, capsys):
    bad = "patient_id,checked_in_at,mood\np1,2026-03-03T10:00:00Z,77\n"
    ingest([write_csv("checkins-bad.csv", bad)], settings=staffed)
    out = tmp_path / "fix"
    data = str(staffed.data_dir)
    assert (
        main(["quarantine", "--export", str(out), "--as", "admin@example.org", "--data-dir", data])
        == 0
    )
    entry = _trail(staffed)[-1]
    assert entry.action == "export_quarantine" and entry.outcome == "allowed"
    assert entry.actor == f"admin@example.org via cli:{ME}" and entry.role == "admin"


def test_readme_says_what_shell_access_means():
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    assert "shell access to the data directory" in readme.lower()


# --- row 3: an anchored audit trail ---------------------------------------------------------


@pytest.fixture
def trail(staffed):
    """Six real accesses through the CLI: anchored, verifying."""
    data = str(staffed.data_dir)
    for pid in ("p1", "p2", "p3"):
        main(["patient", pid, "--as", "ada@example.org", "--data-dir", data])
        main(["patient", pid, "--as", "ben@example.org", "--data-dir", data])
    assert len(_trail(staffed)) == 6
    return staffed


def _verify(settings, capsys) -> tuple[int, str]:
    capsys.readouterr()
    code = main(["audit-log", "verify", "--data-dir", str(settings.data_dir)])
    out = capsys.readouterr()
    return code, out.out + out.err


def _raw(settings) -> sqlite3.Connection:
    ws = sqlite3.connect(DataDir(settings.data_dir).workspace, isolation_level=None)
    ws.execute("DROP TRIGGER IF EXISTS audit_log_no_update")
    ws.execute("DROP TRIGGER IF EXISTS audit_log_no_delete")
    return ws


def test_untouched_trail_verifies(trail, capsys):
    code, text = _verify(trail, capsys)
    assert code == 0 and "6 entries, chain intact and anchored" in text


def _truncate_tail_and_move_head(settings):
    ws = _raw(settings)
    ws.execute("DELETE FROM audit_log WHERE seq > 4")
    head = ws.execute("SELECT hash FROM audit_log WHERE seq = 4").fetchone()[0]
    ws.execute("UPDATE audit_head SET seq = 4, hash = ?", [head])
    ws.close()


def _delete_all_rows(settings):
    ws = _raw(settings)
    ws.execute("DELETE FROM audit_log")
    ws.execute("DELETE FROM audit_head")
    ws.close()


def _drop_tables(settings):
    ws = _raw(settings)
    ws.execute("DROP TABLE audit_log")
    ws.execute("DROP TABLE audit_head")
    ws.close()


def _delete_workspace(settings):
    for p in settings.data_dir.glob("workspace.sqlite*"):
        p.unlink()


def _replace_key_and_rewrite(settings):
    """The strongest rewrite someone with the data directory can do: a new key, the
    whole chain recomputed under it (minus an entry they want gone)."""
    ws = _raw(settings)
    rows = ws.execute(
        f"SELECT {', '.join(audit_trail.FIELDS)} FROM audit_log ORDER BY seq"
    ).fetchall()
    ws.execute("DELETE FROM audit_log")
    ws.execute("DELETE FROM audit_head")
    key_file = settings.data_dir / "audit.key"
    key_file.unlink()
    new_key = audit_trail.audit_key(settings.data_dir)
    ensure_workspace_schema(ws)
    for row in rows[:-1]:
        values = dict(zip(audit_trail.FIELDS, row, strict=True))
        values.pop("seq"), values.pop("at")
        audit_trail.record(ws, new_key, **values)
    ws.close()


def _edit_anchor(settings):
    """Cut the chain and forge the anchor's newest checkpoint to match, without the key."""
    _truncate_tail_and_move_head(settings)
    anchor = settings.data_dir / "audit-anchor.log"
    lines = anchor.read_text().splitlines()
    ws = sqlite3.connect(DataDir(settings.data_dir).workspace)
    head = ws.execute("SELECT hash FROM audit_log WHERE seq = 4").fetchone()[0]
    ws.close()
    forged = json.loads(lines[-1]) | {"seq": 4, "hash": head}
    anchor.write_text("\n".join([*lines[:3], json.dumps(forged)]) + "\n")


def _delete_anchor_and_workspace(settings):
    (settings.data_dir / "audit-anchor.log").unlink()
    _delete_workspace(settings)


@pytest.mark.attack(3)
@pytest.mark.parametrize(
    "tamper",
    [
        _truncate_tail_and_move_head,
        _delete_all_rows,
        _drop_tables,
        _delete_workspace,
        _replace_key_and_rewrite,
        _edit_anchor,
        _delete_anchor_and_workspace,
    ],
)
def test_verify_fails_after_tampering(trail, capsys, tamper):
    tamper(trail)
    code, text = _verify(trail, capsys)
    assert code == 1 and "FAILED" in text, text


@pytest.mark.attack(3)
def test_verify_fails_on_a_directory_that_does_not_exist(tmp_path, capsys):
    code = main(["audit-log", "verify", "--data-dir", str(tmp_path / "nowhere")])
    assert code == 1 and "does not exist" in capsys.readouterr().err
    assert not (tmp_path / "nowhere").exists()


@pytest.mark.attack(3)
def test_key_and_anchor_can_live_outside_the_data_directory(staffed, tmp_path, monkeypatch, capsys):
    outside = tmp_path / "vault"
    monkeypatch.setenv("CASELOAD_AUDIT_KEY_FILE", str(outside / "audit.key"))
    monkeypatch.setenv("CASELOAD_AUDIT_ANCHOR_FILE", str(outside / "anchor.log"))
    data = str(staffed.data_dir)
    assert main(["patient", "p1", "--as", "ada@example.org", "--data-dir", data]) == 0
    assert (outside / "audit.key").is_file() and (outside / "anchor.log").is_file()
    assert main(["audit-log", "verify", "--data-dir", data]) == 0
    # Someone with only the data directory cannot re-sign the chain with its old key.
    monkeypatch.delenv("CASELOAD_AUDIT_KEY_FILE")
    assert main(["audit-log", "verify", "--data-dir", data]) == 1


# --- row 4: identity hygiene ------------------------------------------------------------------


@pytest.mark.attack(4)
@pytest.mark.parametrize("email", ["Ada@Example.org ", " ADA@example.org", "ada @example.org"])
def test_second_clinician_with_a_folded_email_is_quarantined(staffed, write_csv, email):
    rows = f"clinician_id,display_name,site_id,email\nc9,Dr Imposter,north,{email}\n"
    result = ingest([write_csv("clinicians-new.csv", rows)], settings=staffed)
    summary = result.files[0]
    assert summary.stored == 0 and summary.quarantined == 1
    assert summary.reasons == {"email: duplicate email": 1}


@pytest.mark.attack(4)
def test_duplicate_email_inside_one_file_is_quarantined(settings, write_csv):
    rows = (
        "clinician_id,display_name,site_id,email\n"
        "c1,Dr One,north,jordan.tran@example.org\nc2,Dr Two,north,Jordan.Tran@Example.org \n"
    )
    summary = ingest([write_csv("clinicians.csv", rows)], settings=settings).files[0]
    assert (summary.stored, summary.quarantined) == (1, 1)


@pytest.mark.attack(4)
def test_deactivation_revokes_access_at_the_next_request(staffed, write_csv, capsys):
    ctx = Context.open(staffed)
    try:
        actor = actor_for_email(ctx, "ada@example.org")
        require_role(ctx, actor, Role.THERAPIST, action="view_caseload")
        off = "clinician_id,display_name,site_id,email,active\nc1,Dr Ada Quill,north,ada@example.org,false\n"
        assert ingest([write_csv("clinicians-off.csv", off)], settings=staffed).exit_code == 0
        # No refresh: the session already signed in is refused, and so is a new sign-in.
        with pytest.raises(AccessDenied, match="deactivated"):
            require_role(ctx, actor, Role.THERAPIST, action="view_caseload")
        with pytest.raises(UnknownUser, match="deactivated"):
            actor_for_email(ctx, "ada@example.org")
    finally:
        ctx.close()
    assert (
        main(["patient", "p1", "--as", "ada@example.org", "--data-dir", str(staffed.data_dir)]) != 0
    )
    assert "p1" not in capsys.readouterr().out


# --- rows 9, 10, 11, 14: files the product writes, and how it fails -------------------------

FORMULAS = ['=HYPERLINK("http://x","y")', "+cmd|' /C calc'!A0", "@SUM(1+1)", "-2+3", "\t=1", "\r=1"]


@pytest.mark.attack(9)
@pytest.mark.parametrize("cell", FORMULAS)
def test_formula_cells_are_neutralised(cell):
    assert csv_safe(cell) == "'" + cell
    assert csv_safe("-3") == "-3" and csv_safe(2.5) == 2.5 and csv_safe("plain") == "plain"


@pytest.mark.attack(9)
def test_quarantine_export_neutralises_formulas(staffed, tmp_path, write_csv):
    bad = 'patient_id,checked_in_at,mood,note\np1,2026-03-03T10:00:00Z,77,"=HYPERLINK(""http://x"")"\n'
    ingest([write_csv("checkins-bad.csv", bad)], settings=staffed)
    out = tmp_path / "fix"
    data = str(staffed.data_dir)
    assert (
        main(["quarantine", "--export", str(out), "--as", "admin@example.org", "--data-dir", data])
        == 0
    )
    text = (out / "checkins-quarantined.csv").read_text()
    assert "'=HYPERLINK" in text and ",=HYPERLINK" not in text


@pytest.mark.attack(10)
def test_private_files_are_created_owner_only_whatever_the_umask(tmp_path):
    old = os.umask(0)
    try:
        path = write_private(tmp_path / "f.txt", "x")
        with open_private(tmp_path / "g.csv") as fh:
            fh.write("y")
    finally:
        os.umask(old)
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert oct((tmp_path / "g.csv").stat().st_mode & 0o777) == "0o600"


@pytest.mark.attack(10)
def test_every_file_of_the_demo_clinic_is_owner_only(small_demo):
    wide = [
        (str(p.relative_to(small_demo)), oct(p.stat().st_mode & 0o777))
        for p in [small_demo, *small_demo.rglob("*")]
        if p.stat().st_mode & 0o077
    ]
    assert wide == []


@pytest.mark.attack(10)
def test_cli_run_creates_owner_only_stores(settings, write_csv):
    old = os.umask(0o022)
    try:
        code = subprocess.run(
            [
                sys.executable,
                "-m",
                "analytics.cli",
                "ingest",
                str(write_csv("clinicians.csv", "clinician_id,display_name,site_id\nc1,A,n\n")),
                "--data-dir",
                str(settings.data_dir),
            ],
            capture_output=True,
            text=True,
            timeout=300,
        ).returncode
    finally:
        os.umask(old)
    assert code == 0
    modes = {p.name: p.stat().st_mode & 0o777 for p in settings.data_dir.rglob("*")}
    assert modes and all(m & 0o077 == 0 for m in modes.values()), modes


@pytest.mark.attack(11)
@pytest.mark.parametrize("verb", ["audit-log", "predictions"])
def test_out_through_a_symlink_is_refused(staffed, tmp_path, capsys, verb):
    target = tmp_path / "victim.txt"
    target.write_text("keep me")
    link = tmp_path / "link.csv"
    link.symlink_to(target)
    data = str(staffed.data_dir)
    args = (
        ["audit-log", "export", "--out", str(link)]
        if verb == "audit-log"
        else ["predictions", "--out", str(link), "--as", "admin@example.org"]
    )
    assert main([*args, "--data-dir", data]) == 2
    assert "symbolic link" in capsys.readouterr().err
    assert target.read_text() == "keep me"


@pytest.mark.attack(11)
def test_quarantine_export_into_a_symlinked_directory_is_refused(staffed, tmp_path, capsys):
    real = tmp_path / "elsewhere"
    real.mkdir()
    link = tmp_path / "fix"
    link.symlink_to(real)
    data = str(staffed.data_dir)
    code = main(
        ["quarantine", "--export", str(link), "--as", "admin@example.org", "--data-dir", data]
    )
    assert code == 2 and list(real.iterdir()) == []


@pytest.mark.attack(11)
@pytest.mark.parametrize("how", ["glob", "direct", "directory"])
def test_symlinked_inputs_are_refused(staffed, tmp_path, how):
    secret = tmp_path / "outside" / "clinicians.csv"
    secret.parent.mkdir()
    secret.write_text("clinician_id,display_name,site_id\nzz,Secret Person,north\n")
    folder = tmp_path / "drop"
    folder.mkdir()
    (folder / "clinicians.csv").symlink_to(secret)
    arg = {
        "glob": str(folder / "*.csv"),
        "direct": str(folder / "clinicians.csv"),
        "directory": str(folder),
    }[how]
    result = ingest([arg], settings=staffed)
    assert result.exit_code == 2
    assert all(f.status == "rejected" for f in result.files)
    assert "Secret" not in json.dumps([f.message for f in result.files])


@pytest.mark.attack(14)
def test_bad_as_of_is_one_line(staffed, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["refresh", "--as-of", "2026-13-45", "--data-dir", str(staffed.data_dir)])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "expected a date YYYY-MM-DD" in err and "Traceback" not in err


@pytest.mark.attack(14)
@pytest.mark.parametrize(
    "text", ["min_cell_size = [", "min_cell_size = 'eleven'", "no_such = 1", "clinical = 3"]
)
def test_malformed_settings_is_one_line(tmp_path, capsys, text):
    data = tmp_path / "data"
    data.mkdir()
    (data / "settings.toml").write_text(text)
    with pytest.raises(SettingsError):
        load_settings(data)
    assert main(["status", "--data-dir", str(data)]) == 2
    err = capsys.readouterr().err
    assert _one_line(err) and "settings.toml" in err


@pytest.mark.attack(14)
def test_full_disk_is_one_line(staffed, tmp_path, capsys, monkeypatch):
    import analytics.cli as cli

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "out.jsonl"))

    monkeypatch.setattr(cli, "open_private", full)
    code = main(
        [
            "audit-log",
            "export",
            "--out",
            str(tmp_path / "out.jsonl"),
            "--data-dir",
            str(staffed.data_dir),
        ]
    )
    err = capsys.readouterr().err
    assert code == 1 and "disk is full" in err and _one_line(err)


@pytest.mark.attack(14)
def test_a_killed_ingest_is_marked_failed_at_the_next_run(staffed, write_csv):
    import duckdb

    wh = DataDir(staffed.data_dir).warehouse
    con = duckdb.connect(str(wh))
    con.execute("INSERT INTO ingest_runs VALUES (999, now(), NULL, false, 'running')")
    con.close()
    ingest([write_csv("checkins-2.csv", CHECKINS_MORE)], settings=staffed)
    con = duckdb.connect(str(wh), read_only=True)
    try:
        status = con.execute("SELECT status FROM ingest_runs WHERE run_id = 999").fetchone()[0]
        running = con.execute(
            "SELECT count(*) FROM ingest_runs WHERE status = 'running'"
        ).fetchone()
    finally:
        con.close()
    assert status == "failed" and running == (0,)


CHECKINS_MORE = "patient_id,checked_in_at,mood\np1,2026-03-04T10:00:00Z,6\n"


# --- rows 7 and 8: hostile files ------------------------------------------------------------


@pytest.mark.attack(7)
def test_a_million_columns_is_refused_before_parsing(staffed, tmp_path):
    path = tmp_path / "checkins.csv"
    path.write_text(",".join("c" for i in range(1_000_000)) + "\n" + "1," * 10 + "\n")
    summary = ingest([path], settings=staffed).files[0]
    # A 2 MB header trips the line limit first; either way a named limit, before parsing.
    assert summary.status == "rejected" and "max_ingest_line_kb" in summary.message
    assert len(summary.message) < 300


@pytest.mark.attack(7)
def test_too_many_columns_is_refused_with_the_limit_named(staffed, tmp_path):
    path = tmp_path / "checkins.csv"
    path.write_text(",".join(f"c{i}" for i in range(600)) + "\n" + "1," * 10 + "\n")
    summary = ingest([path], settings=staffed).files[0]
    assert summary.status == "rejected" and "600 columns" in summary.message
    assert "max_ingest_columns" in summary.message


@pytest.mark.attack(7)
def test_a_100_mb_header_line_is_refused(staffed, tmp_path, capsys):
    path = tmp_path / "checkins.csv"
    with path.open("w") as fh:
        fh.write("patient_id" + "x" * (100 * 1024 * 1024) + "\np1\n")
    code = main(["ingest", str(path), "--data-dir", str(staffed.data_dir)])
    out = capsys.readouterr()
    assert code == 2 and "max_ingest_line_kb" in out.out and "Traceback" not in out.err
    assert len(out.out) < 2000


@pytest.mark.attack(7)
def test_a_parquet_bomb_is_refused_from_its_footer(staffed, tmp_path, monkeypatch):
    import polars as pl

    path = tmp_path / "messages.parquet"
    rows = 400_000
    pl.DataFrame(
        {
            "patient_id": ["p1"] * rows,
            "sent_at": ["2026-03-01T10:00:00Z"] * rows,
            "text": ["a" * 200] * rows,
        }
    ).write_parquet(path, compression="zstd", statistics=False)
    assert path.stat().st_size < 2 * 1024 * 1024  # small on disk, ~80 MB expanded
    (staffed.data_dir / "settings.toml").write_text("max_ingest_decompressed_mb = 16\n")
    settings = load_settings(staffed.data_dir)
    summary = ingest([path], settings=settings).files[0]
    assert summary.status == "rejected" and "max_ingest_decompressed_mb" in summary.message


@pytest.mark.attack(8)
def test_a_headerless_file_error_names_no_values(staffed, tmp_path, capsys):
    path = tmp_path / "patients.csv"
    path.write_text("p9,c1,2026-01-05,jane q. patient\np8,c1,2026-01-06,john r. doe\n")
    main(["ingest", str(path), "--data-dir", str(staffed.data_dir)])
    out = capsys.readouterr()
    assert "missing required column" in out.out and "header row missing" in out.out
    assert "jane" not in out.out + out.err and "p9" not in out.out


@pytest.mark.attack(8)
def test_a_symlink_to_a_system_file_prints_nothing_of_it(staffed, tmp_path, capsys):
    link = tmp_path / "patients.csv"
    link.symlink_to("/etc/passwd")
    first = Path("/etc/passwd").read_text().splitlines()[0]
    main(["ingest", str(link), "--data-dir", str(staffed.data_dir)])
    out = capsys.readouterr()
    assert first.split(":")[0] + ":" not in out.out + out.err


@pytest.mark.attack(8)
def test_200000_column_names_are_not_all_printed(staffed, tmp_path):
    (staffed.data_dir / "settings.toml").write_text("max_ingest_columns = 300000\n")
    settings = load_settings(staffed.data_dir)
    path = tmp_path / "checkins.csv"
    path.write_text(",".join(f"secret{i}" for i in range(200_000)) + "\n" + "1\n")
    summary = ingest([path], settings=settings).files[0]
    assert summary.status == "rejected" and len(summary.message) < 400
    assert "secret1" not in summary.message


@pytest.mark.attack(8)
def test_duplicate_header_names_are_positions_not_values(staffed, tmp_path):
    path = tmp_path / "patients.csv"
    path.write_text("Jane Doe,Jane Doe,x\n1,2,3\n")
    summary = ingest([path], settings=staffed).files[0]
    assert "columns 1 and 2" in summary.message and "Jane" not in summary.message


@pytest.mark.attack(9)
def test_fairness_report_csv_neutralises_names_from_the_data(tmp_path, monkeypatch):
    import csv as csv_module

    import numpy as np
    import polars as pl

    monkeypatch.setenv("CASELOAD_DATA_DIR", str(tmp_path / "absent"))
    rng = np.random.default_rng(0)
    n = 600
    signal = rng.normal(0, 1, n)
    # Both the column name and its values come from the file being audited.
    column, payload = "@SUM(1+1)", '=HYPERLINK("http://evil.example","x")'
    pl.DataFrame(
        {
            "relapse": (rng.random(n) < 1 / (1 + np.exp(-2 * signal))).astype(np.int8),
            "risk": 1 / (1 + np.exp(-2 * signal)),
            column: rng.choice([payload, "female"], n),
        }
    ).write_csv(tmp_path / "preds.csv")
    out = tmp_path / "report.csv"
    args = ["audit", "--predictions", str(tmp_path / "preds.csv"), "--label", "relapse"]
    args += ["--score", "risk", "--attributes", column, "--n-boot", "10", "--out", str(out)]
    assert main(args) == 0
    cells = [c for row in csv_module.reader(out.open()) for c in row]
    assert any(c.startswith("'@SUM(1+1)") for c in cells)
    formulas = [
        c for c in cells if c[:1] in ("=", "+", "@") or (c[:1] == "-" and not c[1:2].isdigit())
    ]
    assert formulas == []
