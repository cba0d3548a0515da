"""The committed sample is exactly what the documented spec generates today."""

from __future__ import annotations

import datetime as dt

from sample_data.generator import SAMPLE_DIR, SAMPLE_SPEC, generate, write_clinic


def test_sample_spec_is_the_documented_one():
    assert (SAMPLE_SPEC.patients, SAMPLE_SPEC.days, SAMPLE_SPEC.seed) == (60, 120, 7)
    assert SAMPLE_SPEC.end_date == dt.date(2026, 10, 31)
    readme = (SAMPLE_DIR / "README.md").read_text()
    assert "patients=60, days=120, seed=7" in readme and "2026, 10, 31" in readme


def test_committed_sample_equals_a_fresh_regeneration(tmp_path):
    fresh = write_clinic(generate(SAMPLE_SPEC), tmp_path, fmt="csv")
    committed = sorted(SAMPLE_DIR.glob("*.csv"))
    assert [p.name for p in committed] == [p.name for p in fresh]
    for new, old in zip(fresh, committed, strict=True):
        assert new.read_bytes() == old.read_bytes(), (
            f"{old.name} is stale: run `python -m sample_data --write-sample`"
        )


def test_committed_sample_is_small():
    total = sum(p.stat().st_size for p in SAMPLE_DIR.iterdir())
    assert total < 3_000_000
