"""With mess on, exactly the documented mess is planted, and it can be counted back."""

from __future__ import annotations

import polars as pl
import pytest

from sample_data.mess import PLANTS, planned_count

ITEMS = [f"item_{i}" for i in range(1, 10)]
METRICS = ["sleep_minutes", "steps", "resting_hr", "hrv_rmssd_ms", "active_minutes", "wear_minutes"]


@pytest.fixture(scope="module")
def log(messy) -> dict[tuple[str, str], int]:
    frame = messy[1].mess
    return {
        (t, k): c for t, k, c in zip(frame["table"], frame["kind"], frame["count"], strict=True)
    }


@pytest.fixture(scope="module")
def known(clean) -> set[str]:
    return set(clean[0]["patients"]["patient_id"].to_list())


def _unknown(frame: pl.DataFrame, known: set[str], col: str = "patient_id") -> int:
    return int((~frame[col].is_in(list(known))).sum())


def test_every_documented_plant_is_logged_with_its_documented_count(clean, log):
    assert len(log) == len(PLANTS)
    sizes = {name: frame.height for name, frame in clean[0].items()}
    sizes["wearable_daily_resync"] = sizes["wearable_daily"]
    for plant in PLANTS:
        expected = planned_count(plant, sizes[plant.table])
        if plant.kind in {"extra_column", "header_variants"}:
            expected = 1
        assert log[(plant.table, plant.kind)] == expected, plant


def test_checkin_mess_counts_back(messy, clean, log, known):
    f = messy[0]["checkins"]
    c = {k: v for (t, k), v in log.items() if t == "checkins"}
    assert f.height == clean[0]["checkins"].height + c["unknown_patient"] + c["duplicate_row"]
    assert int(f.is_duplicated().sum()) == 2 * c["duplicate_row"]
    assert _unknown(f, known) == c["unknown_patient"]
    assert int((f["mood"] == "11").sum()) == c["mood_out_of_range"]
    assert int((f["mood"] == "seven").sum()) == c["mood_bad_type"]
    assert f["mood"].null_count() == c["mood_missing"]
    assert int((f["mood"] == "N/A").sum()) == c["mood_na_token"]
    assert int((f["anxiety"] == -1).sum()) == c["anxiety_out_of_range"]
    iso = f["checked_in_at"].str.contains(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}[+-]\d{2}:\d{2}$")
    assert int((~iso).sum()) == c["bad_timestamp"]
    assert int((f["note"].str.len_chars() > 2000).sum()) == c["note_too_long"]
    assert "app_version" in f.columns


def test_assessment_mess_counts_back(messy, clean, log, known):
    f = messy[0]["assessments"]
    c = {k: v for (t, k), v in log.items() if t == "assessments"}
    assert f.height == clean[0]["assessments"].height + c["duplicate_key"] + c["unknown_patient"]
    canonical = f.with_columns(
        pl.col("instrument")
        .str.to_uppercase()
        .str.replace("PHQ9", "PHQ-9")
        .str.replace("GAD7", "GAD-7")
    )
    assert int((canonical["instrument"] != f["instrument"]).sum()) == c["instrument_variant"]
    phq = canonical["instrument"] == "PHQ-9"
    expected_total = (
        pl.when(phq).then(pl.sum_horizontal(ITEMS)).otherwise(pl.sum_horizontal(ITEMS[:7]))
    )
    mismatch = canonical.filter(pl.col("total").is_not_null() & (pl.col("total") != expected_total))
    assert mismatch.height == c["total_mismatch"]
    assert f["total"].null_count() == c["total_missing"]
    assert (
        int(f.select(pl.any_horizontal(pl.col(ITEMS) > 3)).to_series().sum())
        == c["item_out_of_range"]
    )
    assert (
        int(canonical.filter(pl.col("instrument") == "GAD-7")["item_8"].is_not_null().sum())
        == c["gad_item8_filled"]
    )
    key = canonical.select("patient_id", "instrument", "completed_at")
    assert int(key.is_duplicated().sum()) == 2 * c["duplicate_key"]
    assert _unknown(f, known) == c["unknown_patient"]


def test_wearable_mess_and_resync_count_back(messy, clean, log, known):
    f = messy[0]["wearable_daily"]
    c = {k: v for (t, k), v in log.items() if t == "wearable_daily"}
    assert f.height == clean[0]["wearable_daily"].height + c["unknown_patient"]
    assert int((f["steps"] == "-5").sum()) == c["steps_negative"]
    assert int((f["steps"] == "12k").sum()) == c["steps_bad_type"]
    assert int((f["resting_hr"] == 400).sum()) == c["resting_hr_out_of_range"]
    assert int((f["sleep_minutes"] == 1500).sum()) == c["sleep_out_of_range"]
    assert int((f["hrv_rmssd_ms"] == 0).sum()) == c["hrv_out_of_range"]
    assert (
        int(f.select(pl.all_horizontal(pl.col(METRICS).is_null())).to_series().sum())
        == c["no_metrics"]
    )
    assert f["source"].null_count() == c["source_missing"]
    assert _unknown(f, known) == c["unknown_patient"]

    resync = messy[0]["wearable_daily_resync"]
    assert resync.height == log[("wearable_daily_resync", "resync")]
    key = ["patient_id", "date", "source"]
    original = clean[0]["wearable_daily"]
    matched = resync.join(original, on=key, suffix="_old")
    assert matched.height == resync.height  # every re-synced day exists in the first file
    assert (matched["steps"] != matched["steps_old"]).all()
    assert ((matched["steps"] - matched["steps_old"]).abs() <= 0.1 * matched["steps_old"] + 2).all()
    assert not resync.select(key).is_duplicated().any()


def test_message_mess_counts_back(messy, clean, log, known):
    f = messy[0]["messages"]
    c = {k: v for (t, k), v in log.items() if t == "messages"}
    assert f.columns == ["Message_ID", "Patient_ID ", "Sent_At", "SENDER", " Text"]
    # The contract matches headers case-insensitively after trimming.
    assert [x.strip().lower() for x in f.columns] == clean[0]["messages"].columns
    assert (
        f.height == clean[0]["messages"].height + c["duplicate_message_id"] + c["unknown_patient"]
    )
    assert f[" Text"].null_count() == c["empty_text"]
    assert int((f["SENDER"] == "therapist").sum()) == c["bad_sender"]
    assert f["Message_ID"].null_count() == c["message_id_missing"]
    ids = f["Message_ID"].drop_nulls()
    assert int(ids.is_duplicated().sum()) == 2 * c["duplicate_message_id"]
    assert _unknown(f, known, "Patient_ID ") == c["unknown_patient"]


def test_appointment_event_patient_and_clinician_mess_counts_back(messy, clean, log, known):
    tables = messy[0]
    clinician_ids = clean[0]["clinicians"]["clinician_id"].to_list()
    a = tables["appointments"]
    assert int((a["status"] == "rescheduled").sum()) == log[("appointments", "bad_status")]
    assert (
        int((~a["clinician_id"].is_in(clinician_ids)).sum())
        == log[("appointments", "unknown_clinician")]
    )
    assert _unknown(a, known) == log[("appointments", "unknown_patient")]
    e = tables["events"]
    assert int((e["kind"] == "ER visit").sum()) == log[("events", "bad_kind")]
    assert _unknown(e, known) == log[("events", "unknown_patient")]

    p = tables["patients"]
    n = clean[0]["patients"].height
    extra = p.slice(n)
    assert extra.height == 4
    assert not set(extra["patient_id"].to_list()) & known
    assert (extra["birth_year"] == 1890).sum() == 1
    assert (extra["discharged_on"] < extra["enrolled_on"]).sum() == 1
    assert (~extra["clinician_id"].is_in(clinician_ids)).sum() == 1
    assert extra["enrolled_on"].null_count() == 1
    cols = ["gender", "primary_language", "insurance"]
    before = clean[0]["patients"].select(cols)
    after = p.head(n).select(cols)
    changed = pl.DataFrame([after[c].ne_missing(before[c]) for c in cols]).select(
        pl.any_horizontal(pl.all())
    )
    assert int(changed.to_series().sum()) == log[("patients", "category_variants")]
    # Unknown ids in other tables never collide with the extra patient rows.
    for name in ("checkins", "wearable_daily", "assessments"):
        assert not set(tables[name]["patient_id"].to_list()) & set(extra["patient_id"].to_list())

    cl = tables["clinicians"]
    assert cl.height == clean[0]["clinicians"].height + 1
    assert cl["display_name"].null_count() == 1


def test_valid_mess_is_marked_valid(messy):
    log = messy[1].mess
    valid = set(log.filter(pl.col("valid_under_contract"))["kind"].to_list())
    assert {
        "instrument_variant",
        "total_missing",
        "source_missing",
        "resync",
        "header_variants",
    } <= valid
    assert "duplicate_row" not in valid and "unknown_patient" not in valid
