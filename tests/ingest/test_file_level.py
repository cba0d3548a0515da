"""File-level problems: the whole file is rejected, named, and nothing is written."""

from __future__ import annotations

import polars as pl
import pytest

from analytics.cli import main
from analytics.data.ingest import ingest


def _reject(settings, path, **kw):
    result = ingest([path], settings=settings, **kw)
    assert result.exit_code == 2
    (summary,) = [f for f in result.files if f.status == "rejected"]
    assert str(path) in summary.file
    return summary.message


def test_missing_required_column_names_found_columns(base_clinic, write_csv, counts):
    before = counts()
    path = write_csv("checkins.csv", "patient_id,mood,Energy\np1,5,3\n")
    message = _reject(base_clinic, path)
    assert "missing required column checked_in_at" in message
    assert "found 3 column(s): patient_id, mood, energy" in message
    assert "expected patient_id, checked_in_at, mood" in message
    assert counts() == before


def test_unknown_table_from_file_name(base_clinic, write_csv, counts):
    before = counts()
    message = _reject(base_clinic, write_csv("visits.csv", "patient_id\np1\n"))
    assert "does not start with a table name" in message and "checkins" in message
    assert counts() == before


def test_unknown_table_named_with_flag(base_clinic, write_csv):
    message = _reject(base_clinic, write_csv("x.csv", "a\n1\n"), table="visits")
    assert "unknown table 'visits'" in message


def test_not_csv_or_parquet(base_clinic, tmp_path, counts):
    path = tmp_path / "checkins.xlsx"
    path.write_bytes(b"PK\x03\x04 not really excel")
    before = counts()
    assert "expected a .csv or .parquet file" in _reject(base_clinic, path)
    assert counts() == before


def test_not_utf8(base_clinic, tmp_path):
    path = tmp_path / "checkins.csv"
    path.write_bytes("patient_id,checked_in_at,mood\np1,2026-03-01,5 caf\xe9\n".encode("latin-1"))
    assert "not UTF-8" in _reject(base_clinic, path)


def test_empty_file(base_clinic, tmp_path):
    path = tmp_path / "checkins.csv"
    path.write_bytes(b"")
    assert "empty" in _reject(base_clinic, path)


def test_ragged_line_is_named(base_clinic, write_csv, counts):
    before = counts()
    path = write_csv(
        "checkins.csv", "patient_id,checked_in_at,mood\np1,2026-03-01,5\np1,2026-03-02,5,9,9\n"
    )
    message = _reject(base_clinic, path)
    assert "line 3 has 5 fields; expected at most 3" in message
    assert counts() == before


def test_column_named_twice(base_clinic, write_csv):
    path = write_csv("checkins.csv", "patient_id,checked_in_at,Mood, mood\np1,2026-03-01,5,6\n")
    assert "columns 3 and 4 have the same name 'mood'" in _reject(base_clinic, path)


def test_corrupt_parquet(base_clinic, tmp_path):
    path = tmp_path / "checkins.parquet"
    path.write_bytes(b"PAR1 this is not parquet")
    assert "not a readable Parquet file" in _reject(base_clinic, path)


def test_missing_path(base_clinic, tmp_path):
    message = _reject(base_clinic, tmp_path / "nope.csv")
    assert "no such file" in message


def test_file_over_size_limit(base_clinic, write_csv):
    from dataclasses import replace

    small = replace(base_clinic, max_ingest_file_mb=0)
    message = _reject(
        small, write_csv("checkins.csv", "patient_id,checked_in_at,mood\np1,2026-03-01,5\n")
    )
    assert "over the limit" in message and "max_ingest_file_mb" in message


def test_link_outside_named_directory_is_refused(base_clinic, tmp_path, write_csv, counts):
    outside = write_csv("checkins.csv", "patient_id,checked_in_at,mood\np1,2026-03-01,5\n")
    named = tmp_path / "named"
    named.mkdir()
    (named / "checkins.csv").symlink_to(outside)
    result = ingest([named], settings=base_clinic)
    assert result.exit_code == 2
    assert "is a symbolic link" in result.files[0].message
    assert counts()["checkins"] == 0


def test_cli_exit_2_and_message_names_file(base_clinic, write_csv, capsys, counts):
    before = counts()
    path = write_csv("checkins.csv", "patient_id,mood\np1,5\n")
    code = main(["ingest", str(path), "--data-dir", str(base_clinic.data_dir)])
    out = capsys.readouterr()
    assert code == 2
    assert str(path) in out.out and "missing required column checked_in_at" in out.out
    assert "rejected" in out.err
    assert counts() == before


def test_good_files_in_the_same_batch_are_still_stored(base_clinic, write_csv, counts):
    bad = write_csv("checkins_bad.csv", "patient_id,mood\np1,5\n")
    good = write_csv(
        "checkins_good.csv", "patient_id,checked_in_at,mood\np1,2026-03-01T09:00:00Z,5\n"
    )
    result = ingest([bad, good], settings=base_clinic)
    assert result.exit_code == 2
    assert counts()["checkins"] == 1


@pytest.mark.parametrize("name", ["checkins_2026-11.csv", "checkins-week47.csv", "CHECKINS.csv"])
def test_table_from_file_name_prefix(base_clinic, write_csv, counts, name):
    path = write_csv(name, "patient_id,checked_in_at,mood\np1,2026-03-01T09:00:00Z,5\n")
    assert ingest([path], settings=base_clinic).exit_code == 0
    assert counts()["checkins"] == 1


def test_wearable_resync_file_goes_to_wearable_daily(base_clinic, write_csv, counts):
    path = write_csv("wearable_daily_resync.csv", "patient_id,date,steps\np1,2026-03-01,4000\n")
    assert ingest([path], settings=base_clinic).files[0].table == "wearable_daily"


def test_parquet_with_typed_columns(base_clinic, tmp_path, wh_query):
    from datetime import UTC, date, datetime

    frame = pl.DataFrame(
        {
            "patient_id": ["p1", "p1"],
            "checked_in_at": [
                datetime(2026, 3, 1, 14, 0, tzinfo=UTC),
                datetime(2026, 3, 2, 14, 0, tzinfo=UTC),
            ],
            "mood": [4, 6],
            "anxiety": [3.0, None],
        }
    )
    path = tmp_path / "checkins_export.parquet"
    frame.write_parquet(path)
    wear = pl.DataFrame(
        {"patient_id": ["p1"], "date": [date(2026, 3, 1)], "sleep_minutes": [431.5]}
    )
    wear_path = tmp_path / "wearable_daily.parquet"
    wear.write_parquet(wear_path)
    result = ingest([path, wear_path], settings=base_clinic)
    assert result.exit_code == 0 and [f.stored for f in result.files] == [2, 1]
    rows = wh_query(
        "SELECT strftime(checked_in_at, '%Y-%m-%d %H:%M'), mood, anxiety FROM checkins ORDER BY 1"
    )
    assert rows == [("2026-03-01 14:00", 4, 3), ("2026-03-02 14:00", 6, None)]
    assert wh_query("SELECT date, sleep_minutes, source FROM wearable_daily") == [
        (date(2026, 3, 1), 431.5, "unknown")
    ]
