"""With mess off, every file conforms to the data contract, whatever the clinic size."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re

import polars as pl
import pytest
import time_machine
from hypothesis import given, settings
from hypothesis import strategies as st

from sample_data.generator import (
    CLINIC_TZ,
    ClinicSpec,
    generate,
    generate_with_truth,
    write_clinic,
)

ISO_OFFSET = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(Z|[+-]\d{2}:\d{2})$")
ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
TIMESTAMP_COLUMNS = {"completed_at", "checked_in_at", "sent_at", "scheduled_at", "occurred_at"}
DATE_COLUMNS = {"enrolled_on", "discharged_on", "date"}


def test_clean_output_conforms(clean, small_spec, contract_violations):
    assert contract_violations(clean[0], small_spec.end_date, CLINIC_TZ) == []


def test_clean_output_has_every_table_with_rows(clean):
    for name, frame in clean[0].items():
        assert frame.height > 0, name
    assert "wearable_daily_resync" not in clean[0]
    assert clean[1].mess.height == 0


@settings(max_examples=12, deadline=None)
@given(
    patients=st.integers(1, 40),
    days=st.integers(14, 75),
    seed=st.integers(0, 2**32 - 1),
)
def test_any_small_clinic_conforms(patients, days, seed, contract_violations):
    spec = ClinicSpec(
        patients=patients, days=days, seed=seed, end_date=dt.date(2026, 3, 20), mess=False
    )
    tables = generate(spec)
    assert contract_violations(tables, spec.end_date, CLINIC_TZ) == []


def test_csv_files_use_iso_timestamps_with_offsets_and_plain_dates(clean, tmp_path):
    paths = write_clinic(clean[0], tmp_path, fmt="csv")
    assert sorted(p.name for p in paths) == sorted(f"{n}.csv" for n in clean[0])
    for path in paths:
        raw = path.read_bytes()
        assert not raw.startswith(b"\xef\xbb\xbf")
        assert b"\r\n" not in raw
        text = pl.read_csv(path, infer_schema=False)
        assert text.columns == clean[0][path.stem].columns
        for col in text.columns:
            values = text[col].drop_nulls()
            if col in TIMESTAMP_COLUMNS:
                assert values.str.contains(ISO_OFFSET.pattern).all(), (path.name, col)
            elif col in DATE_COLUMNS:
                assert values.str.contains(ISO_DATE.pattern).all(), (path.name, col)
            assert not values.is_in(["NaN", "nan", "null", "None", "inf"]).any(), (path.name, col)


def test_csv_round_trip_preserves_values(clean, tmp_path):
    write_clinic(clean[0], tmp_path, fmt="csv")
    for name, frame in clean[0].items():
        back = pl.read_csv(tmp_path / f"{name}.csv", infer_schema=False)
        for col in frame.columns:
            dtype = frame[col].dtype
            if isinstance(dtype, pl.Datetime):
                parsed = back[col].str.to_datetime("%Y-%m-%dT%H:%M:%S%:z", time_zone="UTC")
                assert parsed.equals(frame[col].dt.convert_time_zone("UTC"), check_names=False), (
                    name,
                    col,
                )
            elif dtype == pl.Date:
                assert back[col].str.to_date("%Y-%m-%d").equals(frame[col], check_names=False), (
                    name,
                    col,
                )
            else:
                assert back[col].cast(dtype).equals(frame[col], check_names=False), (name, col)


def test_parquet_round_trip_preserves_frames(messy, tmp_path):
    paths = write_clinic(messy[0], tmp_path, fmt="parquet")
    for path in paths:
        assert pl.read_parquet(path).equals(messy[0][path.stem]), path.name


def test_timestamps_carry_the_clinic_offset_across_daylight_saving(clean):
    offsets = clean[0]["checkins"]["checked_in_at"].dt.strftime("%:z").unique().sort().to_list()
    # SMALL spans August to October: daylight time only; a year spans both.
    assert offsets == ["-04:00"]
    year = generate(
        ClinicSpec(patients=15, days=365, seed=1, end_date=dt.date(2026, 10, 31), mess=False)
    )
    offsets = year["checkins"]["checked_in_at"].dt.strftime("%:z").unique().sort().to_list()
    assert offsets == ["-04:00", "-05:00"]


@pytest.mark.parametrize(
    ("clock", "expected"),
    [
        # 03:30 UTC is still the previous evening in New York: yesterday is local.
        (dt.datetime(2026, 3, 8, 3, 30, tzinfo=dt.UTC), dt.date(2026, 3, 6)),
        (dt.datetime(2026, 3, 8, 15, 0, tzinfo=dt.UTC), dt.date(2026, 3, 7)),
    ],
)
def test_default_end_date_is_yesterday_and_nothing_is_in_the_future(clock, expected):
    with time_machine.travel(clock, tick=False):
        spec = ClinicSpec(patients=25, days=30, seed=5)
        assert spec.resolved_end_date() == expected
        tables, _ = generate_with_truth(spec)
    for name, frame in tables.items():
        for col in frame.columns:
            dtype = frame[col].dtype
            if isinstance(dtype, pl.Datetime) and frame[col].drop_nulls().len():
                assert frame[col].max() <= clock, (name, col)
            elif dtype == pl.Date and frame[col].drop_nulls().len():
                assert frame[col].max() <= expected, (name, col)


def test_messy_parseable_timestamps_never_pass_the_end_date(messy, small_spec):
    limit = dt.datetime.combine(small_spec.end_date, dt.time(23, 59, 59))
    for name, frame in messy[0].items():
        for col in frame.columns:
            if col.strip().lower() not in TIMESTAMP_COLUMNS:
                continue
            ts = frame[col]
            if ts.dtype == pl.String:
                ts = ts.str.to_datetime("%Y-%m-%dT%H:%M:%S%:z", strict=False, time_zone="UTC")
            local = ts.dt.convert_time_zone(CLINIC_TZ).dt.replace_time_zone(None).drop_nulls()
            assert local.max() <= limit, (name, col)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"patients": 0}, "patients"),
        ({"days": 5}, "days"),
        ({"timezone": "Mars/Olympus_Mons"}, "Mars"),
    ],
)
def test_bad_specs_are_refused(small_spec, change, message):
    with pytest.raises((ValueError, KeyError), match=message):
        generate(dataclasses.replace(small_spec, **change))


def test_unknown_output_format_is_refused(clean, tmp_path):
    with pytest.raises(ValueError, match="fmt"):
        write_clinic(clean[0], tmp_path, fmt="xlsx")
