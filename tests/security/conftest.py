"""The attack suite: every test marked ``attack(row)`` reproduces an attack from issue 15
and passes only if the product refuses it. The run ends with counts, tried and refused,
per row of the issue's table."""

from __future__ import annotations

from collections import defaultdict

import pytest

from analytics.data.ingest import ingest
from analytics.serving.pipeline import refresh

_TRIED: dict[int, int] = defaultdict(int)
_REFUSED: dict[int, int] = defaultdict(int)

STAFF = (
    "clinician_id,display_name,site_id,email,role\n"
    "c1,Dr Ada Quill,north,ada@example.org,therapist\n"
    "c2,Dr Ben Rowe,south,ben@example.org,therapist\n"
    "a1,Ana Admin,north,admin@example.org,admin\n"
    "r1,Rae Research,north,rae@example.org,researcher\n"
)
PATIENTS = (
    "patient_id,clinician_id,enrolled_on,display_name\n"
    "p1,c1,2026-01-05,Pat One\np2,c1,2026-02-01,Pat Two\np3,c2,2026-03-01,Pat Three\n"
)
CHECKINS = "patient_id,checked_in_at,mood\np1,2026-03-01T10:00:00Z,5\np3,2026-03-02T10:00:00Z,4\n"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    marker = item.get_closest_marker("attack")
    if marker is None or report.when != "call":
        return
    row = marker.args[0]
    _TRIED[row] += 1
    if report.passed:
        _REFUSED[row] += 1


def pytest_terminal_summary(terminalreporter):
    if not _TRIED:
        return
    terminalreporter.section("attack suite (issue 15)")
    for row in sorted(_TRIED):
        # 15 stands for the closing point (models as pickles), not a table row.
        label = "models" if row == 15 else f"row {row:>2}"
        terminalreporter.write_line(
            f"{label:>6}: tried {_TRIED[row]:>3}, refused {_REFUSED[row]:>3}"
        )
    terminalreporter.write_line(
        f"total: tried {sum(_TRIED.values())}, refused {sum(_REFUSED.values())}"
    )


@pytest.fixture
def staffed(settings, write_csv):
    """A small clinic with two therapists, an admin and a researcher, refreshed."""
    result = ingest(
        [
            write_csv("clinicians.csv", STAFF),
            write_csv("patients.csv", PATIENTS),
            write_csv("checkins.csv", CHECKINS),
        ],
        settings=settings,
    )
    assert result.exit_code == 0, result
    refresh(settings=settings)
    return settings
