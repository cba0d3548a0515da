"""One writer at a time, crash safety, and readers that keep working across publishes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from analytics.data.ingest import ingest
from analytics.data.store import (
    BusyError,
    DataDir,
    current_snapshot,
    open_snapshot,
    pipeline_lock,
)
from analytics.serving import pipeline
from analytics.serving.pipeline import refresh

CLI = [sys.executable, "-m", "analytics.cli"]


def _checkins(n: int, *, start_day: int = 0, patient: str = "p1") -> str:
    lines = ["patient_id,checked_in_at,mood"]
    for i in range(n):
        day, minute = divmod(start_day * 1440 + i, 1440)
        lines.append(
            f"{patient},2026-0{3 + day // 28}-{1 + day % 28:02d}T{minute // 60:02d}:{minute % 60:02d}:00Z,{i % 11}"
        )
    return "\n".join(lines) + "\n"


def test_second_writer_gets_busy_error(base_clinic, write_csv):
    path = write_csv("checkins.csv", _checkins(3))
    with pipeline_lock(DataDir(base_clinic.data_dir), purpose="refresh"):
        with pytest.raises(BusyError, match="busy: another refresh"):
            ingest([path], settings=base_clinic)
        with pytest.raises(BusyError):
            refresh(settings=base_clinic)
        proc = subprocess.run(
            [*CLI, "ingest", str(path), "--data-dir", str(base_clinic.data_dir)],
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert proc.returncode == 1
    assert "busy" in proc.stderr and "Traceback" not in proc.stderr


def test_sigkill_mid_file_leaves_store_consistent_and_file_reingestable(
    base_clinic, write_csv, counts, tmp_path
):
    path = write_csv("checkins.csv", _checkins(5000))
    marker = tmp_path / "paused"
    before = counts()
    env = {
        **os.environ,
        "CASELOAD_FAULT_PAUSE": "before-commit",
        "CASELOAD_FAULT_MARKER": str(marker),
    }
    proc = subprocess.Popen(
        [*CLI, "ingest", str(path), "--data-dir", str(base_clinic.data_dir)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        while not marker.exists():
            assert proc.poll() is None, "ingest ended before reaching the fault point"
            assert time.monotonic() < deadline, "ingest never reached the fault point"
            time.sleep(0.05)
        # All 5,000 rows are inserted inside the open transaction at this point.
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    assert counts() == before  # nothing from the file, nothing lost
    result = ingest([path], settings=base_clinic)  # the lock died with the process
    assert result.files[0].status == "stored" and result.files[0].stored == 5000
    assert counts()["checkins"] == 5000


READER = textwrap.dedent(
    """
    import json, sys, time
    from analytics.settings import load_settings
    from analytics.data.store import DataDir, open_snapshot
    settings = load_settings(sys.argv[1])
    seen, checks, errors = set(), 0, []
    deadline = time.monotonic() + float(sys.argv[2])
    while time.monotonic() < deadline:
        try:
            info, con = open_snapshot(DataDir(settings.data_dir), settings=settings)
            try:
                daily = con.execute("SELECT sum(checkins) FROM patient_daily").fetchone()[0]
                meta = json.loads(con.execute("SELECT warehouse_counts FROM snapshot_meta").fetchone()[0])
                if daily != meta["checkins"]:
                    errors.append(f"inconsistent: {daily} != {meta['checkins']}")
                seen.add(info.snapshot_id)
                checks += 1
            finally:
                con.close()
        except Exception as exc:
            errors.append(repr(exc))
    print(json.dumps({"seen": sorted(seen), "checks": checks, "errors": errors}))
    """
)


def test_reader_in_another_process_stays_consistent_during_publishes(base_clinic, write_csv):
    import json

    ingest([write_csv("checkins_0.csv", _checkins(200))], settings=base_clinic)
    refresh(settings=base_clinic)
    reader = subprocess.Popen(
        [sys.executable, "-c", READER, str(base_clinic.data_dir), "12"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    published = []
    for k in range(1, 6):
        ingest([write_csv(f"checkins_{k}.csv", _checkins(300, start_day=k))], settings=base_clinic)
        published.append(refresh(settings=base_clinic).snapshot.snapshot_id)
    out, err = reader.communicate(timeout=120)
    assert reader.returncode == 0, err
    report = json.loads(out)
    assert report["errors"] == []
    assert report["checks"] > 20
    assert len(report["seen"]) >= 2  # it really read across publishes


def test_reader_holding_old_snapshot_keeps_working(base_clinic, write_csv):
    ingest([write_csv("checkins_0.csv", _checkins(50))], settings=base_clinic)
    refresh(settings=base_clinic)
    data_dir = DataDir(base_clinic.data_dir)
    old_info, old = open_snapshot(data_dir, settings=base_clinic)
    try:
        for k in range(1, 5):  # enough publishes to prune the old file
            ingest(
                [write_csv(f"checkins_{k}.csv", _checkins(10, start_day=k))], settings=base_clinic
            )
            refresh(settings=base_clinic)
        assert not old_info.path.exists()
        assert old.execute("SELECT sum(checkins) FROM patient_daily").fetchone()[0] == 50
    finally:
        old.close()
    _, new = open_snapshot(data_dir, settings=base_clinic)
    try:
        assert new.execute("SELECT sum(checkins) FROM patient_daily").fetchone()[0] == 90
    finally:
        new.close()


def test_failed_refresh_keeps_old_snapshot(base_clinic, write_csv, monkeypatch):
    ingest([write_csv("checkins.csv", _checkins(20))], settings=base_clinic)
    first = refresh(settings=base_clinic).snapshot
    data_dir = DataDir(base_clinic.data_dir)

    def boom(con, **kwargs):
        con.execute("CREATE TABLE half_built AS SELECT 1")
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(pipeline, "build_serving_tables", boom)
    monkeypatch.setattr(pipeline, "update_serving_tables", boom)  # the incremental path
    with pytest.raises(RuntimeError, match="disk on fire"):
        refresh(settings=base_clinic)
    assert current_snapshot(data_dir).snapshot_id == first.snapshot_id
    assert list(Path(data_dir.snapshots).glob(".building-*")) == []
    _, con = open_snapshot(data_dir, settings=base_clinic)
    try:
        assert con.execute("SELECT sum(checkins) FROM patient_daily").fetchone()[0] == 20
    finally:
        con.close()
