"""What ingest stores: column matching, defaults, time zones, upserts, idempotency,
--strict, the ingest log, quarantine export and re-ingest."""

from __future__ import annotations

import json
from datetime import date

import polars as pl

from analytics.cli import main
from analytics.data.ingest import ingest
from analytics.settings import load_settings

CHECKINS = "patient_id,checked_in_at,mood\np1,2026-03-01T10:00:00Z,5\np1,2026-03-02T10:00:00Z,6\n"


def test_column_names_case_spaces_order_bom_and_extras(base_clinic, write_csv, wh_query):
    text = (
        "\ufeff Mood ,NOTE, extra_col ,Checked_In_At,PATIENT_ID\n4,hi,zzz,2026-03-01T10:00:00Z,p1\n"
    )
    summary = ingest([write_csv("checkins.csv", text)], settings=base_clinic).files[0]
    assert summary.stored == 1
    assert summary.extra_columns == ("extra_col",)
    assert wh_query("SELECT patient_id, mood, note FROM checkins") == [("p1", 4, "hi")]
    logged = wh_query("SELECT extra_columns FROM ingest_log WHERE \"table\" = 'checkins'")
    assert json.loads(logged[0][0]) == ["extra_col"]


def test_defaults_from_contract(base_clinic, wh_query):
    rows = dict(
        (r[0], r[1:])
        for r in wh_query(
            "SELECT patient_id, site_id, gender, race_ethnicity, primary_language, insurance, rurality FROM patients"
        )
    )
    # p1 takes its clinician's site; p3 keeps its own; missing demographics become Unknown.
    assert rows["p1"] == ("north", "Unknown", "Unknown", "Unknown", "Unknown", None)
    assert rows["p2"][1] == "female"
    assert rows["p3"][0] == "east"
    assert wh_query("SELECT clinician_id, role FROM clinicians ORDER BY 1") == [
        ("c1", "therapist"),
        ("c2", "therapist"),
    ]


def test_offsets_stored_as_utc_and_naive_times_in_clinic_zone(tmp_path, write_csv):
    data = tmp_path / "ny"
    data.mkdir()
    (data / "settings.toml").write_text('clinic_timezone = "America/New_York"\n')
    settings = load_settings(data)
    ingest(
        [
            write_csv("clinicians.csv", "clinician_id,display_name,site_id\nc1,A,s\n"),
            write_csv("patients.csv", "patient_id,clinician_id,enrolled_on\np1,c1,2026-01-01\n"),
        ],
        settings=settings,
    )
    text = (
        "patient_id,checked_in_at,mood\n"
        "p1,2026-11-03T21:14:00-05:00,1\n"
        "p1,2026-11-03T21:15:00Z,2\n"
        "p1,2026-11-03T21:16:00,3\n"  # no offset: New York, EST in November
        "p1,2026-07-03T21:17:00,4\n"  # no offset: New York, EDT in July
    )
    assert ingest([write_csv("checkins.csv", text)], settings=settings).files[0].stored == 4
    import duckdb

    con = duckdb.connect(str(data / "warehouse.duckdb"), read_only=True)
    con.execute("SET TimeZone = 'UTC'")
    got = con.execute(
        "SELECT mood, strftime(checked_in_at, '%Y-%m-%d %H:%M') FROM checkins ORDER BY mood"
    ).fetchall()
    con.close()
    assert got == [
        (1, "2026-11-04 02:14"),
        (2, "2026-11-03 21:15"),
        (3, "2026-11-04 02:16"),
        (4, "2026-07-04 01:17"),
    ]


def test_same_directory_twice_stores_nothing_new(base_clinic, write_csv, counts):
    folder = write_csv("checkins.csv", CHECKINS).parent
    first = ingest([folder], settings=base_clinic)
    after_first = counts()
    second = ingest([folder], settings=base_clinic)
    assert counts() == after_first
    assert sum(f.stored for f in second.files) == 0
    assert {f.status for f in second.files} == {"skipped"}
    assert sum(f.stored for f in first.files) == 2


def test_forced_reingest_counts_duplicates(base_clinic, write_csv, counts):
    path = write_csv("checkins.csv", CHECKINS)
    ingest([path], settings=base_clinic)
    before = counts()
    again = ingest([path], settings=base_clinic, force=True).files[0]
    assert (again.stored, again.duplicates, again.quarantined) == (0, 2, 0)
    assert counts() == before


def test_same_rows_in_a_new_file_are_duplicates(base_clinic, write_csv, counts):
    ingest([write_csv("checkins_a.csv", CHECKINS)], settings=base_clinic)
    summary = ingest(
        [write_csv("checkins_b.csv", CHECKINS + "p2,2026-03-03T10:00:00Z,7\n")],
        settings=base_clinic,
    ).files[0]
    assert (summary.stored, summary.duplicates) == (1, 2)
    assert counts()["checkins"] == 3


def test_wearable_resync_replaces_and_counts_updated(base_clinic, write_csv, wh_query):
    ingest(
        [
            write_csv(
                "wearable_daily.csv",
                "patient_id,date,source,steps\np1,2026-03-01,fitbit,4000\np1,2026-03-02,fitbit,5000\n",
            )
        ],
        settings=base_clinic,
    )
    summary = ingest(
        [
            write_csv(
                "wearable_daily_resync.csv",
                "patient_id,date,source,steps,sleep_minutes\np1,2026-03-01,fitbit,4100,400\np1,2026-03-02,fitbit,5000,\n",
            )
        ],
        settings=base_clinic,
    ).files[0]
    assert (summary.stored, summary.updated, summary.duplicates) == (0, 1, 1)
    assert wh_query("SELECT date, steps, sleep_minutes FROM wearable_daily ORDER BY date") == [
        (date(2026, 3, 1), 4100, 400.0),
        (date(2026, 3, 2), 5000, None),
    ]


def test_patient_upsert_updates(base_clinic, write_csv, wh_query):
    summary = ingest(
        [
            write_csv(
                "patients.csv",
                "patient_id,clinician_id,enrolled_on,discharged_on\np1,c2,2026-01-05,2026-06-01\n",
            )
        ],
        settings=base_clinic,
    ).files[0]
    assert (summary.stored, summary.updated) == (0, 1)
    assert wh_query(
        "SELECT clinician_id, discharged_on, site_id FROM patients WHERE patient_id = 'p1'"
    ) == [("c2", date(2026, 6, 1), "south")]


def test_keep_first_table_quarantines_conflict_and_keeps_stored(base_clinic, write_csv, wh_query):
    ingest([write_csv("checkins.csv", CHECKINS)], settings=base_clinic)
    changed = "patient_id,checked_in_at,mood\np1,2026-03-01T10:00:00Z,9\n"
    summary = ingest([write_csv("checkins_fix.csv", changed)], settings=base_clinic).files[0]
    assert (summary.stored, summary.quarantined) == (0, 1)
    assert wh_query("SELECT reason FROM quarantine")[0][0].startswith("conflict: the stored row")
    assert wh_query("SELECT mood FROM checkins WHERE mood = 5 OR mood = 9") == [(5,)]


def test_strict_stops_the_whole_batch(base_clinic, write_csv, counts, capsys):
    good = write_csv("checkins_good.csv", CHECKINS)
    bad = write_csv("events.csv", "patient_id,occurred_at,kind\np1,2026-03-01T10:00:00Z,oops\n")
    before = counts()
    code = main(
        ["ingest", str(good), str(bad), "--strict", "--data-dir", str(base_clinic.data_dir)]
    )
    assert code == 1
    assert "nothing was written" in capsys.readouterr().err
    assert counts() == before
    # Without --strict the same batch stores the good rows.
    assert main(["ingest", str(good), str(bad), "--data-dir", str(base_clinic.data_dir)]) == 0
    assert counts()["checkins"] == 2 and counts()["quarantine"] == 1


def test_strict_clean_batch_is_written(base_clinic, write_csv, counts):
    result = ingest([write_csv("checkins.csv", CHECKINS)], settings=base_clinic, strict=True)
    assert result.exit_code == 0 and counts()["checkins"] == 2


def test_ingest_log_records_each_file(base_clinic, write_csv, wh_query):
    ingest(
        [write_csv("checkins.csv", CHECKINS + "p1,2026-03-03T10:00:00Z,77\n")], settings=base_clinic
    )
    ((status, read, stored, quarantined, reasons),) = wh_query(
        """SELECT status, rows_read, stored, quarantined, reasons FROM ingest_log
           WHERE "table" = 'checkins'"""
    )
    assert (status, read, stored, quarantined) == ("stored", 3, 2, 1)
    assert json.loads(reasons) == {"mood: out of range": 1}


def test_quarantine_export_fix_and_reingest(base_clinic, write_csv, tmp_path, counts, capsys):
    bad = CHECKINS + "p1,2026-03-03T10:00:00Z,77\np404,2026-03-04T10:00:00Z,3\n"
    ingest([write_csv("checkins.csv", bad)], settings=base_clinic)
    data = str(base_clinic.data_dir)
    assert main(["quarantine", "--data-dir", data]) == 0
    listing = capsys.readouterr().out
    assert "checkins.csv:4  [checkins] column mood: out of range" in listing
    assert "checkins.csv:5  [checkins] column patient_id: unknown patient" in listing

    out = tmp_path / "fix"
    # The export holds raw rows, so it needs a named admin.
    assert main(["quarantine", "--export", str(out), "--data-dir", data]) == 1
    assert "needs --as" in capsys.readouterr().err and not out.exists()
    admin = (
        "clinician_id,display_name,site_id,email,role\nc9,Dr Admin,north,admin@example.org,admin\n"
    )
    ingest([write_csv("clinicians-admin.csv", admin)], settings=base_clinic)
    as_admin = ["--as", "Admin@Example.org"]
    assert main(["quarantine", "--export", str(out), "--data-dir", data, *as_admin]) == 0
    exported = pl.read_csv(out / "checkins-quarantined.csv", infer_schema=False)
    assert exported["mood"].to_list() == ["77", "3"]
    assert exported["_line"].to_list() == ["4", "5"]
    fixed = exported.with_columns(
        pl.when(pl.col("mood") == "77").then(pl.lit("7")).otherwise(pl.col("mood")).alias("mood"),
        pl.when(pl.col("patient_id") == "p404")
        .then(pl.lit("p2"))
        .otherwise(pl.col("patient_id"))
        .alias("patient_id"),
    )
    fixed.write_csv(out / "checkins-quarantined.csv")
    before = counts()["checkins"]
    result = ingest([out / "checkins-quarantined.csv"], settings=base_clinic)
    assert result.files[0].stored == 2
    assert set(result.files[0].extra_columns) == {"_file", "_line", "_reason"}
    assert counts()["checkins"] == before + 2


def test_message_id_derived_and_analysis_attached(base_clinic, write_csv, wh_query):
    text = (
        "patient_id,sent_at,sender,text\n"
        "p1,2026-03-01T10:00:00Z,patient,I have the pills ready and I am going to take them all tonight\n"
        "p1,2026-03-01T11:00:00Z,patient,Hoy me siento mucho mejor gracias\n"
        "p1,2026-03-01T12:00:00Z,clinician,How are you sleeping this week?\n"
    )
    path = write_csv("messages.csv", text)
    ingest([path], settings=base_clinic)
    rows = wh_query(
        "SELECT message_id, sender, language, sentiment, sentiment_note, crisis_level FROM messages ORDER BY sent_at"
    )
    ids = [r[0] for r in rows]
    assert all(i.startswith("m-") for i in ids) and len(set(ids)) == 3
    assert rows[0][5] == "crisis"
    assert rows[1][2] == "es" and rows[1][3] is None and "es" in rows[1][4]
    assert rows[2][2:] == (None, None, None, None)  # only patient messages are analysed
    # The same rows in another file derive the same ids: duplicates, not new rows.
    again = ingest([write_csv("messages_copy.csv", text)], settings=base_clinic).files[0]
    assert (again.stored, again.duplicates) == (0, 3)
