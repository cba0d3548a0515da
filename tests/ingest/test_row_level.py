"""Row-level problems: the row is quarantined with file, line, column and reason; the rest
of the file is stored. One case per contract rule, per table."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from analytics.data.ingest import ingest

# "In the future" is judged against the clock: pin it, so these rows mean the same on any
# day (and under faketime in CI).
NOW = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)
pytestmark = pytest.mark.dates
FUTURE = (NOW + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
SOON = (NOW + timedelta(hours=20)).strftime("%Y-%m-%dT%H:%M:%SZ")
TOMORROW = (NOW + timedelta(days=2)).strftime("%Y-%m-%d")
NEXT_YEAR = str(NOW.year + 1)


@pytest.fixture(autouse=True)
def pinned_clock():
    with time_machine.travel(NOW, tick=False):
        yield


GOOD = {
    "clinicians.csv": {"clinician_id": "c9", "display_name": "Dr Nine", "site_id": "north"},
    "patients.csv": {"patient_id": "p9", "clinician_id": "c1", "enrolled_on": "2026-01-01"},
    "assessments.csv": {
        "patient_id": "p1",
        "completed_at": "2026-03-01T10:00:00Z",
        "instrument": "PHQ-9",
        **{f"item_{i}": "1" for i in range(1, 10)},
        "total": "9",
    },
    "checkins.csv": {"patient_id": "p1", "checked_in_at": "2026-03-01T10:00:00Z", "mood": "5"},
    "wearable_daily.csv": {"patient_id": "p1", "date": "2026-03-01", "steps": "5000"},
    "messages.csv": {
        "patient_id": "p1",
        "sent_at": "2026-03-01T10:00:00Z",
        "sender": "patient",
        "text": "Feeling ok today",
    },
    "appointments.csv": {
        "patient_id": "p1",
        "scheduled_at": "2026-03-01T10:00:00Z",
        "status": "attended",
    },
    "events.csv": {"patient_id": "p1", "occurred_at": "2026-03-01T10:00:00Z", "kind": "relapse"},
}

GAD = {
    "instrument": "GAD-7",
    **{f"item_{i}": "2" for i in range(1, 8)},
    "item_8": "",
    "item_9": "",
    "total": "14",
}

# (file, changes to the good row, column named, reason starts with)
CASES = [
    ("clinicians.csv", {"role": "doctor"}, "role", "not allowed: expected one of therapist"),
    ("clinicians.csv", {"display_name": ""}, "display_name", "missing value"),
    ("patients.csv", {"clinician_id": "c404"}, "clinician_id", "unknown clinician"),
    ("patients.csv", {"enrolled_on": "01/02/2026"}, "enrolled_on", "bad type: expected a date"),
    ("patients.csv", {"enrolled_on": "2026-02-30"}, "enrolled_on", "bad type: expected a date"),
    ("patients.csv", {"discharged_on": "2025-12-31"}, "discharged_on", "out of order"),
    ("patients.csv", {"birth_year": "1899"}, "birth_year", "out of range: expected 1900 to"),
    ("patients.csv", {"birth_year": NEXT_YEAR}, "birth_year", "out of range"),
    ("patients.csv", {"birth_year": "nineteen"}, "birth_year", "bad type: expected a whole number"),
    (
        "patients.csv",
        {"rurality": "city"},
        "rurality",
        "not allowed: expected one of urban, suburban, rural",
    ),
    ("assessments.csv", {"item_3": "4"}, "item_3", "out of range: expected 0 to 3"),
    ("assessments.csv", {"item_3": "-1"}, "item_3", "out of range"),
    ("assessments.csv", {"item_3": "1.5"}, "item_3", "bad type: expected a whole number"),
    (
        "assessments.csv",
        {"instrument": "BDI-II"},
        "instrument",
        "not allowed: expected one of PHQ-9, GAD-7",
    ),
    (
        "assessments.csv",
        {"total": "10"},
        "total",
        "total mismatch: expected the sum of the items, 9",
    ),
    # Blank items alone never quarantine (issue 12); a questionnaire with no answer does.
    (
        "assessments.csv",
        {**{f"item_{i}": "" for i in range(1, 10)}, "total": ""},
        "(items)",
        "no answers: a questionnaire needs at least one answered item",
    ),
    (
        "assessments.csv",
        {**GAD, "item_8": "1"},
        "item_8",
        "not allowed: GAD-7 leaves items 8-9 empty",
    ),
    ("assessments.csv", {"completed_at": FUTURE}, "completed_at", "in the future"),
    (
        "assessments.csv",
        {"completed_at": "last tuesday"},
        "completed_at",
        "bad type: expected an ISO 8601",
    ),
    ("assessments.csv", {"patient_id": "p404"}, "patient_id", "unknown patient"),
    ("checkins.csv", {"mood": "11"}, "mood", "out of range: expected 0 to 10"),
    ("checkins.csv", {"mood": "seven"}, "mood", "bad type: expected a whole number"),
    ("checkins.csv", {"mood": "NA"}, "mood", "missing value: this column is required"),
    ("checkins.csv", {"anxiety": "-1"}, "anxiety", "out of range"),
    ("checkins.csv", {"energy": "12"}, "energy", "out of range"),
    ("checkins.csv", {"note": "x" * 2001}, "note", "too long: expected at most 2,000 characters"),
    ("checkins.csv", {"checked_in_at": FUTURE}, "checked_in_at", "in the future"),
    ("checkins.csv", {"patient_id": "p404"}, "patient_id", "unknown patient"),
    ("wearable_daily.csv", {"steps": "100001"}, "steps", "out of range: expected 0 to 100000"),
    ("wearable_daily.csv", {"steps": "-5"}, "steps", "out of range"),
    ("wearable_daily.csv", {"resting_hr": "400"}, "resting_hr", "out of range: expected 20 to 250"),
    ("wearable_daily.csv", {"resting_hr": "19.9"}, "resting_hr", "out of range"),
    (
        "wearable_daily.csv",
        {"hrv_rmssd_ms": "0.5"},
        "hrv_rmssd_ms",
        "out of range: expected 1 to 500",
    ),
    (
        "wearable_daily.csv",
        {"sleep_minutes": "1441"},
        "sleep_minutes",
        "out of range: expected 0 to 1440",
    ),
    (
        "wearable_daily.csv",
        {"active_minutes": "abc"},
        "active_minutes",
        "bad type: expected a number",
    ),
    ("wearable_daily.csv", {"wear_minutes": "1500"}, "wear_minutes", "out of range"),
    ("wearable_daily.csv", {"steps": ""}, "(metrics)", "no metric: expected at least one of"),
    ("wearable_daily.csv", {"date": TOMORROW}, "date", "in the future"),
    (
        "messages.csv",
        {"sender": "bot"},
        "sender",
        "not allowed: expected one of patient, clinician",
    ),
    ("messages.csv", {"text": "y" * 10001}, "text", "too long: expected at most 10,000 characters"),
    ("messages.csv", {"text": "  "}, "text", "missing value"),
    ("messages.csv", {"sent_at": FUTURE}, "sent_at", "in the future"),
    ("appointments.csv", {"status": "done"}, "status", "not allowed: expected one of attended"),
    ("appointments.csv", {"clinician_id": "c404"}, "clinician_id", "unknown clinician"),
    ("events.csv", {"kind": "argument"}, "kind", "not allowed: expected one of relapse"),
    ("events.csv", {"note": "z" * 2001}, "note", "too long"),
    ("events.csv", {"occurred_at": FUTURE}, "occurred_at", "in the future"),
]


@pytest.mark.parametrize(("file", "change", "column", "reason"), CASES)
def test_bad_row_is_quarantined_and_good_rows_stored(
    base_clinic, write_csv, counts, wh_query, file, change, column, reason
):
    good = dict(GOOD[file])
    # A second good row with another key, so we see the file's other rows are stored.
    other = dict(good)
    key_col = (
        next(
            k
            for k in (
                "checked_in_at",
                "completed_at",
                "sent_at",
                "scheduled_at",
                "occurred_at",
                "date",
            )
            if k in good
        )
        if file not in ("clinicians.csv", "patients.csv")
        else None
    )
    if key_col:
        other[key_col] = "2026-02-01" if key_col == "date" else "2026-02-01T10:00:00Z"
    else:
        first = "clinician_id" if file == "clinicians.csv" else "patient_id"
        other[first] = good[first] + "b"
    bad = {**good, **change}
    columns = list(dict.fromkeys([*good, *change]))
    path = write_csv(file, [other, bad], columns=columns)
    table = file.removesuffix(".csv")
    before = counts()

    result = ingest([path], settings=base_clinic)

    (summary,) = result.files
    assert result.exit_code == 0
    assert (summary.stored, summary.quarantined) == (1, 1), summary
    assert counts()[table] == before[table] + 1
    rows = wh_query('SELECT file, line, "column", reason FROM quarantine')
    assert len(rows) == 1
    q_file, q_line, q_column, q_reason = rows[0]
    assert q_file == str(path)
    assert q_line == 3  # header is line 1, the good row line 2
    assert q_column == column
    assert q_reason.startswith(reason), q_reason


def test_timestamp_within_one_day_ahead_is_accepted(base_clinic, write_csv):
    row = {**GOOD["checkins.csv"], "checked_in_at": SOON}
    assert ingest([write_csv("checkins.csv", [row])], settings=base_clinic).files[0].stored == 1


def test_gad7_with_items_8_and_9_empty_is_valid(base_clinic, write_csv, wh_query):
    row = {**GOOD["assessments.csv"], **GAD}
    summary = ingest([write_csv("assessments.csv", [row])], settings=base_clinic).files[0]
    assert (summary.stored, summary.quarantined) == (1, 0)
    assert wh_query("SELECT instrument, item_8, item_9, total FROM assessments") == [
        ("GAD-7", None, None, 14)
    ]


@pytest.mark.parametrize("spelling", ["PHQ9", "phq-9", " Phq 9 ", "PHQ_9"])
def test_instrument_spellings(base_clinic, write_csv, wh_query, spelling):
    row = {**GOOD["assessments.csv"], "instrument": spelling}
    assert ingest([write_csv("assessments.csv", [row])], settings=base_clinic).files[0].stored == 1
    assert wh_query("SELECT instrument FROM assessments") == [("PHQ-9",)]


@pytest.mark.parametrize("token", ["", "NA", "N/A", "null", "None", "-", "  NA  "])
def test_null_tokens_are_missing(base_clinic, write_csv, wh_query, token):
    row = {**GOOD["checkins.csv"], "anxiety": token}
    assert ingest([write_csv("checkins.csv", [row])], settings=base_clinic).files[0].stored == 1
    assert wh_query("SELECT anxiety FROM checkins") == [(None,)]


def test_integer_written_as_float_is_accepted(base_clinic, write_csv, wh_query):
    row = {**GOOD["checkins.csv"], "mood": "7.0"}
    assert ingest([write_csv("checkins.csv", [row])], settings=base_clinic).files[0].stored == 1
    assert wh_query("SELECT mood FROM checkins") == [(7,)]


def test_repeated_key_in_file_names_first_line(base_clinic, write_csv, wh_query):
    a = GOOD["checkins.csv"]
    b = {**a, "mood": "2"}
    c = {**a, "checked_in_at": "2026-03-02T10:00:00Z"}
    summary = ingest([write_csv("checkins.csv", [a, c, b])], settings=base_clinic).files[0]
    assert (summary.stored, summary.quarantined) == (2, 1)
    assert wh_query('SELECT line, "column", reason FROM quarantine') == [
        (
            4,
            "patient_id, checked_in_at",
            "repeated key: the key is repeated inside the file; first at line 2",
        )
    ]
    assert wh_query("SELECT mood FROM checkins WHERE checked_in_at = '2026-03-01T10:00:00Z'") == [
        (5,)
    ]


def test_lines_follow_quoted_line_breaks(base_clinic, write_csv, wh_query):
    text = (
        "patient_id,checked_in_at,mood,note\n"
        'p1,2026-03-01T10:00:00Z,5,"first line\nsecond line\nthird"\n'
        "p1,2026-03-02T10:00:00Z,99,\n"
    )
    ingest([write_csv("checkins.csv", text)], settings=base_clinic)
    assert wh_query("SELECT line FROM quarantine") == [(5,)]


def test_blank_lines_are_skipped_but_counted(base_clinic, write_csv, wh_query):
    text = (
        "patient_id,checked_in_at,mood\n\np1,2026-03-01T10:00:00Z,5\n\np1,2026-03-02T10:00:00Z,42\n"
    )
    summary = ingest([write_csv("checkins.csv", text)], settings=base_clinic).files[0]
    assert (summary.rows_read, summary.stored, summary.quarantined) == (2, 1, 1)
    assert wh_query("SELECT line FROM quarantine") == [(5,)]


def test_quarantine_keeps_raw_record_and_all_problems(base_clinic, write_csv, wh_query):
    row = {**GOOD["checkins.csv"], "mood": "11", "energy": "x"}
    ingest([write_csv("checkins.csv", [row])], settings=base_clinic)
    ((record, others),) = wh_query("SELECT record, other_problems FROM quarantine")
    assert '"mood":"11"' in record.replace(" ", "") and '"energy":"x"' in record.replace(" ", "")
    assert "mood: out of range" in others and "energy: bad type" in others
