"""Fixtures for the sample_data tests, and the data contract written out as checks.

The checks are written from ``docs/data-contract.md`` (version 1, with issue 12's rules for
partly answered questionnaires), independently of the generator, so the tests compare
the generator against the contract text rather than against itself.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable

import polars as pl
import pytest

from sample_data.generator import ClinicSpec, Truth, generate_with_truth

END = dt.date(2026, 10, 31)
SMALL = ClinicSpec(patients=120, days=90, seed=3, end_date=END, mess=False)
# Big enough for a few hundred relapse episodes and disengagement spells, still < 1 s.
MEDIUM = ClinicSpec(patients=2000, days=240, seed=11, end_date=END, mess=False)
# Enough patients in small intersections (Medicaid/Uninsured and rural: about 11%) for
# rate comparisons; about 1.5 s.
LARGE = ClinicSpec(patients=6000, days=365, seed=11, end_date=END, mess=False)

Clinic = tuple[dict[str, pl.DataFrame], Truth]


@pytest.fixture(scope="session")
def small_spec() -> ClinicSpec:
    return SMALL


@pytest.fixture(scope="session")
def clean() -> Clinic:
    return generate_with_truth(SMALL)


@pytest.fixture(scope="session")
def messy() -> Clinic:
    return generate_with_truth(dataclasses.replace(SMALL, mess=True))


@pytest.fixture(scope="session")
def medium() -> Clinic:
    return generate_with_truth(MEDIUM)


@pytest.fixture(scope="session")
def large() -> Clinic:
    return generate_with_truth(LARGE)


@pytest.fixture(scope="session")
def contract_violations() -> Callable[[dict[str, pl.DataFrame], dt.date, str], list[str]]:
    """The contract checker below, for tests (test modules cannot import conftest)."""
    return violations


@pytest.fixture(scope="session")
def contract_columns() -> dict[str, list[str]]:
    return COLUMNS


# --- the data contract, version 1 ------------------------------------------------------

COLUMNS: dict[str, list[str]] = {
    "clinicians": ["clinician_id", "display_name", "site_id", "email", "role"],
    "patients": [
        "patient_id",
        "clinician_id",
        "enrolled_on",
        "site_id",
        "display_name",
        "discharged_on",
        "birth_year",
        "gender",
        "race_ethnicity",
        "primary_language",
        "insurance",
        "rurality",
    ],
    "assessments": ["patient_id", "completed_at", "instrument"]
    + [f"item_{i}" for i in range(1, 10)]
    + ["total"],
    "checkins": ["patient_id", "checked_in_at", "mood", "anxiety", "energy", "note"],
    "wearable_daily": [
        "patient_id",
        "date",
        "source",
        "sleep_minutes",
        "steps",
        "resting_hr",
        "hrv_rmssd_ms",
        "active_minutes",
        "wear_minutes",
    ],
    "messages": ["message_id", "patient_id", "sent_at", "sender", "text"],
    "appointments": ["patient_id", "scheduled_at", "status", "clinician_id"],
    "events": ["patient_id", "occurred_at", "kind", "note"],
}
REQUIRED: dict[str, list[str]] = {
    "clinicians": ["clinician_id", "display_name", "site_id"],
    "patients": ["patient_id", "clinician_id", "enrolled_on"],
    # item_1 is a required column, but its cell may be blank (a partial questionnaire).
    "assessments": ["patient_id", "completed_at", "instrument"],
    "checkins": ["patient_id", "checked_in_at", "mood"],
    "wearable_daily": ["patient_id", "date"],
    "messages": ["patient_id", "sent_at", "sender", "text"],
    "appointments": ["patient_id", "scheduled_at", "status"],
    "events": ["patient_id", "occurred_at", "kind"],
}
TIMESTAMPS = {
    "assessments": "completed_at",
    "checkins": "checked_in_at",
    "messages": "sent_at",
    "appointments": "scheduled_at",
    "events": "occurred_at",
}
DATES = {"patients": ["enrolled_on", "discharged_on"], "wearable_daily": ["date"]}
INTEGER_TYPES = (pl.Int8, pl.Int16, pl.Int32, pl.Int64, pl.UInt8, pl.UInt16, pl.UInt32, pl.UInt64)
NUMBER_TYPES = (*INTEGER_TYPES, pl.Float32, pl.Float64)
RANGES = {
    "checkins": {"mood": (0, 10), "anxiety": (0, 10), "energy": (0, 10)},
    "wearable_daily": {
        "sleep_minutes": (0, 1440),
        "steps": (0, 100_000),
        "resting_hr": (20, 250),
        "hrv_rmssd_ms": (1, 500),
        "active_minutes": (0, 1440),
        "wear_minutes": (0, 1440),
    },
}
INTEGER_COLUMNS = {
    "patients": ["birth_year"],
    "assessments": [f"item_{i}" for i in range(1, 10)] + ["total"],
    "checkins": ["mood", "anxiety", "energy"],
    "wearable_daily": ["steps"],
}
ENUMS = {
    ("clinicians", "role"): {"therapist", "manager", "researcher", "admin"},
    ("patients", "rurality"): {"urban", "suburban", "rural"},
    ("assessments", "instrument"): {"PHQ-9", "GAD-7"},
    ("messages", "sender"): {"patient", "clinician", "assistant"},
    ("appointments", "status"): {"attended", "no_show", "cancelled", "scheduled"},
    ("events", "kind"): {
        "relapse",
        "hospitalization",
        "crisis_contact",
        "self_harm",
        "discharge",
        "other",
    },
}
KEYS = {
    "clinicians": ["clinician_id"],
    "patients": ["patient_id"],
    "assessments": ["patient_id", "instrument", "completed_at"],
    "checkins": ["patient_id", "checked_in_at"],
    "wearable_daily": ["patient_id", "date", "source"],
    "messages": ["message_id"],
}
METRICS = COLUMNS["wearable_daily"][3:]


def local_naive(series: pl.Series, tz: str) -> pl.Series:
    """Wall-clock time in ``tz`` without the zone, for comparing with local limits."""
    return series.dt.convert_time_zone(tz).dt.replace_time_zone(None)


def violations(tables: dict[str, pl.DataFrame], end_date: dt.date, tz: str) -> list[str]:
    """Every broken contract rule, as readable strings; empty when the output conforms."""
    out: list[str] = []
    if set(tables) != set(COLUMNS):
        out.append(f"tables {sorted(tables)} != {sorted(COLUMNS)}")
        return out
    last_instant = dt.datetime.combine(end_date, dt.time(23, 59, 59))
    patient_ids = set(tables["patients"]["patient_id"].to_list())
    clinician_ids = set(tables["clinicians"]["clinician_id"].to_list())

    for name, frame in tables.items():
        if frame.columns != COLUMNS[name]:
            out.append(f"{name}: columns {frame.columns}")
            continue
        for col in REQUIRED[name]:
            if frame[col].null_count():
                out.append(f"{name}.{col}: {frame[col].null_count()} missing required values")
        if name in KEYS and frame.select(KEYS[name]).is_duplicated().any():
            out.append(f"{name}: key {KEYS[name]} repeated")
        if "patient_id" in frame.columns and name != "patients":
            unknown = set(frame["patient_id"].drop_nulls().to_list()) - patient_ids
            if unknown:
                out.append(f"{name}: unknown patients {sorted(unknown)[:3]}")
        for col in INTEGER_COLUMNS.get(name, []):
            if frame[col].dtype not in INTEGER_TYPES:
                out.append(f"{name}.{col}: type {frame[col].dtype} is not integer")
        for col, (lo, hi) in RANGES.get(name, {}).items():
            if frame[col].dtype not in NUMBER_TYPES:
                out.append(f"{name}.{col}: type {frame[col].dtype} is not a number")
            elif ((frame[col] < lo) | (frame[col] > hi)).any():
                out.append(f"{name}.{col}: outside {lo}..{hi}")
        for (table, col), allowed in ENUMS.items():
            if table == name:
                bad = set(frame[col].drop_nulls().unique().to_list()) - allowed
                if bad:
                    out.append(f"{name}.{col}: values {sorted(bad)} not allowed")
        if name in TIMESTAMPS:
            ts = frame[TIMESTAMPS[name]]
            if not isinstance(ts.dtype, pl.Datetime) or ts.dtype.time_zone is None:
                out.append(f"{name}: timestamps are {ts.dtype}, not zone-aware")
            elif (local_naive(ts, tz) > last_instant).any():
                out.append(f"{name}: timestamp after {end_date} 23:59:59")
        for col in DATES.get(name, []):
            if frame[col].dtype != pl.Date:
                out.append(f"{name}.{col}: type {frame[col].dtype} is not a date")
            elif (frame[col] > end_date).any():
                out.append(f"{name}.{col}: date after {end_date}")
        for col in ("note",):
            if col in frame.columns and (frame[col].str.len_chars() > 2000).any():
                out.append(f"{name}.{col}: longer than 2,000 characters")

    clinicians = tables["clinicians"]
    if not clinicians["email"].drop_nulls().str.ends_with("@example.org").all():
        out.append("clinicians: an email outside example.org")

    patients = tables["patients"]
    if not set(patients["clinician_id"].to_list()) <= clinician_ids:
        out.append("patients: clinician_id not in clinicians")
    if (patients["discharged_on"] < patients["enrolled_on"]).any():
        out.append("patients: discharged before enrolled")
    by = patients["birth_year"].drop_nulls()
    if ((by < 1900) | (by > end_date.year)).any():
        out.append("patients: birth_year out of range")

    a = tables["assessments"]
    items = [f"item_{i}" for i in range(1, 10)]
    phq = a.filter(pl.col("instrument") == "PHQ-9")
    gad = a.filter(pl.col("instrument") == "GAD-7")
    # Blank items are allowed (a partly answered questionnaire is stored), but not all.
    if phq.select(pl.all_horizontal(pl.col(items).is_null())).to_series().any():
        out.append("assessments: PHQ-9 row with no answered item")
    if gad.select(pl.all_horizontal(pl.col(items[:7]).is_null())).to_series().any():
        out.append("assessments: GAD-7 row with no answered item 1-7")
    if gad["item_8"].is_not_null().any() or gad["item_9"].is_not_null().any():
        out.append("assessments: GAD-7 row with item 8 or 9")
    if a.select(((pl.col(c) < 0) | (pl.col(c) > 3)).any() for c in items).sum_horizontal().item():
        out.append("assessments: item outside 0..3")
    # A given total is the item sum; on a partial questionnaire the sum of the answered
    # items, or for a PHQ-9 with 1-2 blanks the prorated total (answered sum x 9 / number
    # answered, halves up).
    for part, cols, prorate in ((phq, items, True), (gad, items[:7], False)):
        scored = part.filter(pl.col("total").is_not_null()).select(
            pl.sum_horizontal(cols).alias("s"),
            pl.sum_horizontal(pl.col(cols).is_not_null()).alias("n"),
            "total",
        )
        full = scored["n"] == len(cols)
        prorated = (scored["s"] * 2 * len(cols) + scored["n"]) // (2 * scored["n"])
        may_prorate = (len(cols) - scored["n"] <= 2) & prorate
        ok = (scored["total"] == scored["s"]) | (
            ~full & may_prorate & (scored["total"] == prorated)
        )
        if not ok.all():
            out.append("assessments: total differs from the item sum")

    w = tables["wearable_daily"]
    if w.select(pl.all_horizontal(pl.col(METRICS).is_null())).to_series().any():
        out.append("wearable_daily: row without any metric")

    m = tables["messages"]
    lengths = m["text"].str.len_chars()
    if ((lengths < 1) | (lengths > 10_000)).any():
        out.append("messages: text length outside 1..10,000")

    appt = tables["appointments"]
    if not set(appt["clinician_id"].drop_nulls().to_list()) <= clinician_ids:
        out.append("appointments: clinician_id not in clinicians")
    return out
