"""`--end-date` pins a generated clinic: the same files whatever day it is built."""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
import time_machine

from analytics.cli import main

pytestmark = pytest.mark.dates

# Two clocks more than a year apart, on either side of a daylight-saving change.
CLOCKS = [datetime(2026, 12, 7, 9, 0, tzinfo=UTC), datetime(2028, 1, 11, 23, 30, tzinfo=UTC)]


def _digests(folder: Path) -> dict[str, str]:
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.iterdir())
        if p.is_file()
    }


def test_sample_data_end_date_gives_the_same_bytes_on_any_day(tmp_path, capsys):
    outputs = []
    for i, clock in enumerate(CLOCKS):
        out = tmp_path / f"run{i}"
        with time_machine.travel(clock, tick=False):
            args = ["sample-data", "--patients", "30", "--days", "40", "--seed", "4"]
            assert main([*args, "--end-date", "2026-11-20", "--out", str(out)]) == 0
        outputs.append(_digests(out))
    assert len(outputs[0]) >= 8 and outputs[0] == outputs[1]
    assert "to 2026-11-20" in capsys.readouterr().out


def test_without_end_date_the_clinic_follows_the_clock(tmp_path):
    """The default (yesterday) really moves with the clock, so pinning is what holds."""
    outputs = []
    for i, clock in enumerate(CLOCKS):
        out = tmp_path / f"run{i}"
        with time_machine.travel(clock, tick=False):
            args = ["sample-data", "--patients", "30", "--days", "40", "--seed", "4"]
            assert main([*args, "--out", str(out)]) == 0
        outputs.append(_digests(out))
    assert outputs[0] != outputs[1]


@pytest.mark.slow
def test_demo_end_date_builds_the_same_clinic_on_any_day(tmp_path, capsys):
    built = []
    for i, clock in enumerate(CLOCKS):
        data = tmp_path / f"demo{i}"
        with time_machine.travel(clock, tick=True):
            args = ["demo", "--data-dir", str(data), "--no-serve", "--end-date", "2026-11-20"]
            assert main([*args, "--patients", "60", "--days", "90", "--seed", "2"]) == 0
        built.append(_digests(data / "demo-files"))
        assert "published a snapshot as of 2026-11-20" in capsys.readouterr().out
    assert len(built[0]) >= 8 and built[0] == built[1]


def test_a_bad_end_date_is_a_short_usage_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["sample-data", "--out", str(tmp_path), "--end-date", "20/11/2026"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "expected a date YYYY-MM-DD" in err and "Traceback" not in err
    assert not any(tmp_path.iterdir())


def test_clock_pin_reaches_the_generator():
    """Guard for the tests above: time-machine moves the clock the generator reads."""
    from sample_data.generator import ClinicSpec

    with time_machine.travel(CLOCKS[1], tick=False):
        assert ClinicSpec().resolved_end_date() == date(2028, 1, 10)
