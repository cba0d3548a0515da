"""Same spec, same data; a different seed, different data."""

from __future__ import annotations

import dataclasses

import polars as pl

from sample_data.generator import generate, generate_with_truth, write_clinic


def _equal(a: dict[str, pl.DataFrame], b: dict[str, pl.DataFrame]) -> bool:
    return a.keys() == b.keys() and all(a[k].equals(b[k]) for k in a)


def test_same_seed_gives_identical_frames_and_truth(clean, small_spec):
    tables, truth = generate_with_truth(small_spec)
    assert _equal(tables, clean[0])
    assert _equal(truth.frames(), clean[1].frames())


def test_same_spec_gives_byte_identical_files(tmp_path, small_spec):
    spec = dataclasses.replace(small_spec, patients=40, mess=True)
    for fmt in ("csv", "parquet"):
        first = write_clinic(generate(spec), tmp_path / f"a_{fmt}", fmt=fmt)
        second = write_clinic(generate(spec), tmp_path / f"b_{fmt}", fmt=fmt)
        assert [p.name for p in first] == [p.name for p in second]
        for p, q in zip(first, second, strict=True):
            assert p.read_bytes() == q.read_bytes(), p.name


def test_different_seed_gives_different_data(clean, small_spec):
    other = generate(dataclasses.replace(small_spec, seed=small_spec.seed + 1))
    for name in ("patients", "checkins", "wearable_daily", "messages", "assessments"):
        assert not other[name].equals(clean[0][name]), name


def test_mess_is_drawn_after_and_apart_from_the_clean_data(clean, messy):
    # The mess has its own random stream: the truth and untouched tables are unchanged.
    for name, frame in clean[1].frames().items():
        if name != "mess":
            assert frame.equals(messy[1].frames()[name]), name
    n = clean[0]["clinicians"].height
    assert messy[0]["clinicians"].head(n).equals(clean[0]["clinicians"])
