"""CI's date-shifted pass really moves the clock: of the process and of its subprocesses,
the wall clock only (timeouts keep measuring real time)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

SHIFT = Path(__file__).parent / "clock_shift"
PROBE = """
import datetime, json, subprocess, sys, time
child = subprocess.run(
    [sys.executable, "-c", "import datetime; print(datetime.date.today())"],
    capture_output=True, text=True, check=True,
).stdout.strip()
start = time.monotonic(); time.sleep(0.2)
print(json.dumps({"today": str(datetime.date.today()), "child": child,
                  "slept": time.monotonic() - start}))
"""


def _probe(**env: str) -> dict:
    clean = {k: v for k, v in os.environ.items() if k != "CASELOAD_CLOCK_SHIFT_DAYS"}
    out = subprocess.run(
        [sys.executable, "-c", PROBE],
        env={**clean, **env},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return json.loads(out)


def test_the_shift_moves_the_date_of_the_process_and_its_children():
    plain = _probe()
    shifted = _probe(CASELOAD_CLOCK_SHIFT_DAYS="400", PYTHONPATH=str(SHIFT))
    base = date.fromisoformat(plain["today"])
    for day in (shifted["today"], shifted["child"]):
        # 400 days, give or take a midnight passing between the two probes
        assert 399 <= (date.fromisoformat(day) - base).days <= 401
    assert 0.15 < shifted["slept"] < 5  # the monotonic clock still measures real time


def test_without_the_variable_the_folder_changes_nothing():
    # Compared with a probe without the folder, not with this process's own clock: this
    # test also runs inside the shifted pass.
    with_folder, without = _probe(PYTHONPATH=str(SHIFT)), _probe()
    days = (date.fromisoformat(with_folder["today"]) - date.fromisoformat(without["today"])).days
    assert abs(days) <= 1
