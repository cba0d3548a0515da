"""The attack suite: every test marked ``attack(row)`` reproduces an attack from issue 15
and passes only if the product refuses it (the counts, tried and refused, are kept by
tests/conftest.py, which also sees the browser's attack tests)."""

from __future__ import annotations

import pytest

from analytics.data.ingest import ingest
from analytics.serving.pipeline import refresh

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
