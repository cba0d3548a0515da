"""Realistic mess planted into clean contract tables, so every ingest path is exercised.

Each entry of ``PLANTS`` is one kind of mess in one table. Its row count is
``min(available, max(minimum, round(rate * n)))`` where ``n`` is the row count of the
clean table; rows are chosen without overlap, so every planted row carries exactly one
kind of mess and can be counted back. ``valid`` says whether the contract accepts the
row (a spelling variant) or must quarantine it. The log returned by ``plant`` records
the counts actually planted.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import polars as pl

from ._util import Clock

ISO = "%Y-%m-%dT%H:%M:%S%:z"


@dataclass(frozen=True)
class Plant:
    table: str
    kind: str
    rate: float
    minimum: int
    valid: bool
    description: str


PLANTS = (
    # checkins
    Plant(
        "checkins", "duplicate_row", 0.008, 3, False, "exact copy of a row (same key and values)"
    ),
    Plant(
        "checkins",
        "unknown_patient",
        0.0005,
        3,
        False,
        "copy of a row under a patient_id not in patients",
    ),
    Plant("checkins", "mood_out_of_range", 0.0005, 2, False, "mood = 11"),
    Plant("checkins", "mood_bad_type", 0.0003, 2, False, 'mood = "seven"'),
    Plant("checkins", "mood_missing", 0.001, 2, False, "mood empty (required)"),
    Plant("checkins", "mood_na_token", 0.0, 1, False, 'mood = "N/A" (an empty token; required)'),
    Plant("checkins", "anxiety_out_of_range", 0.0002, 1, False, "anxiety = -1"),
    Plant(
        "checkins",
        "bad_timestamp",
        0.0,
        2,
        False,
        'checked_in_at like "31/10/2026 21:14" (not ISO 8601)',
    ),
    Plant("checkins", "note_too_long", 0.0, 1, False, "note of more than 2,000 characters"),
    Plant(
        "checkins", "extra_column", 0.0, 0, True, "extra column app_version on every row (ignored)"
    ),
    # assessments
    Plant(
        "assessments", "total_mismatch", 0.004, 3, False, "PHQ-9 total off by 1-2 from the item sum"
    ),
    Plant("assessments", "item_out_of_range", 0.0, 2, False, "PHQ-9 item_3 = 4 (total = item sum)"),
    Plant("assessments", "gad_item8_filled", 0.0, 1, False, "GAD-7 row with item_8 = 1"),
    Plant(
        "assessments",
        "duplicate_key",
        0.0,
        2,
        False,
        "same patient, instrument, completed_at; item_1 differs",
    ),
    Plant(
        "assessments",
        "unknown_patient",
        0.0005,
        2,
        False,
        "copy of a row under an unknown patient_id",
    ),
    Plant(
        "assessments",
        "instrument_variant",
        0.05,
        2,
        True,
        "instrument spelt PHQ9, phq-9, GAD7 or gad-7",
    ),
    Plant("assessments", "total_missing", 0.03, 0, True, "total left empty (optional)"),
    # wearable_daily
    Plant("wearable_daily", "steps_negative", 0.0003, 2, False, "steps = -5"),
    Plant("wearable_daily", "steps_bad_type", 0.0, 1, False, 'steps = "12k"'),
    Plant("wearable_daily", "resting_hr_out_of_range", 0.0003, 2, False, "resting_hr = 400"),
    Plant("wearable_daily", "sleep_out_of_range", 0.0, 1, False, "sleep_minutes = 1500"),
    Plant("wearable_daily", "hrv_out_of_range", 0.0, 1, False, "hrv_rmssd_ms = 0"),
    Plant("wearable_daily", "no_metrics", 0.0, 2, False, "every metric empty"),
    Plant(
        "wearable_daily",
        "unknown_patient",
        0.0005,
        3,
        False,
        "copy of a row under an unknown patient_id",
    ),
    Plant("wearable_daily", "source_missing", 0.01, 0, True, "source empty (defaults to unknown)"),
    Plant(
        "wearable_daily_resync",
        "resync",
        0.02,
        5,
        True,
        "same patient/date/source as a wearable_daily row, slightly different values (replaces it)",
    ),
    # messages
    Plant("messages", "empty_text", 0.0, 2, False, "text empty"),
    Plant("messages", "bad_sender", 0.0, 2, False, 'sender = "therapist"'),
    Plant(
        "messages",
        "duplicate_message_id",
        0.0,
        2,
        False,
        "a second, edited row reusing a message_id",
    ),
    Plant(
        "messages",
        "unknown_patient",
        0.0005,
        3,
        False,
        "copy of a row under an unknown patient_id (new id)",
    ),
    Plant("messages", "message_id_missing", 0.01, 0, True, "message_id empty (derived at ingest)"),
    Plant(
        "messages",
        "header_variants",
        0.0,
        0,
        True,
        'headers "Message_ID", "Patient_ID ", "Sent_At", "SENDER", " Text"',
    ),
    # appointments
    Plant("appointments", "bad_status", 0.0, 2, False, 'status = "rescheduled"'),
    Plant("appointments", "unknown_clinician", 0.0, 2, False, "clinician_id not in clinicians"),
    Plant(
        "appointments",
        "unknown_patient",
        0.0,
        2,
        False,
        "copy of a row under an unknown patient_id",
    ),
    # events
    Plant("events", "bad_kind", 0.0, 1, False, 'kind = "ER visit"'),
    Plant("events", "unknown_patient", 0.0, 1, False, "copy of a row under an unknown patient_id"),
    # patients
    Plant(
        "patients",
        "category_variants",
        0.05,
        0,
        True,
        'e.g. "es", "Español", " Medicaid ", "MEDICARE", "female"',
    ),
    Plant(
        "patients",
        "birth_year_out_of_range",
        0.0,
        1,
        False,
        "extra patient born 1890 (no other data)",
    ),
    Plant(
        "patients",
        "discharged_before_enrolled",
        0.0,
        1,
        False,
        "extra patient discharged before enrolment",
    ),
    Plant(
        "patients",
        "unknown_clinician",
        0.0,
        1,
        False,
        "extra patient with a clinician_id not in clinicians",
    ),
    Plant(
        "patients",
        "enrolled_on_missing",
        0.0,
        1,
        False,
        "extra patient without enrolled_on (required)",
    ),
    # clinicians
    Plant(
        "clinicians", "display_name_missing", 0.0, 1, False, "extra admin row without display_name"
    ),
)

Log = list[tuple[Plant, int]]

EMPTY_LOG = pl.DataFrame(
    schema={
        "table": pl.String,
        "kind": pl.String,
        "count": pl.Int64,
        "valid_under_contract": pl.Boolean,
        "description": pl.String,
    }
)

# Per-row kinds that only ever apply to one instrument.
_PHQ_ONLY = {"total_mismatch", "item_out_of_range"}
_GAD_ONLY = {"gad_item8_filled"}


def planned_count(plant: Plant, n: int) -> int:
    """Rows of this kind for a clean table of ``n`` rows (before capping to availability)."""
    return max(plant.minimum, round(plant.rate * n))


def _plants(table: str) -> list[Plant]:
    return [p for p in PLANTS if p.table == table]


class _Picker:
    """Hands out disjoint random rows of a frame, optionally filtered by a mask."""

    def __init__(self, rng: np.random.Generator, n: int) -> None:
        self.order = rng.permutation(n)
        self.used = np.zeros(n, dtype=bool)

    def take(self, k: int, allowed: np.ndarray | None = None) -> np.ndarray:
        ok = ~self.used[self.order]
        if allowed is not None:
            ok &= allowed[self.order]
        rows = self.order[ok][:k]
        self.used[rows] = True
        return np.sort(rows)


def _set(frame: pl.DataFrame, rows: np.ndarray, column: str, value: object) -> pl.DataFrame:
    if len(rows) == 0:
        return frame
    return frame.with_columns(frame[column].scatter(rows, value))


def _unknown_ids(patients: pl.DataFrame, k: int) -> list[str]:
    width = len(patients["patient_id"][0])
    n = patients.height
    return [f"P{n + 101 + i:0{width - 1}d}" for i in range(k)]


def _copies_with_unknown(frame: pl.DataFrame, rows: np.ndarray, ids: list[str]) -> pl.DataFrame:
    copies = frame[rows]
    return copies.with_columns(
        pl.Series("patient_id", [ids[i % len(ids)] for i in range(len(rows))])
    )


def plant(
    rng: np.random.Generator, tables: dict[str, pl.DataFrame], clock: Clock
) -> tuple[dict[str, pl.DataFrame], pl.DataFrame]:
    """Return messy copies of ``tables`` (plus ``wearable_daily_resync``) and the mess log."""
    out = dict(tables)
    log: Log = []
    unknown = _unknown_ids(tables["patients"], 5)

    out["checkins"] = _checkins(rng, tables["checkins"], unknown, log)
    out["assessments"] = _assessments(rng, tables["assessments"], unknown, log)
    out["wearable_daily"], out["wearable_daily_resync"] = _wearables(
        rng, tables["wearable_daily"], unknown, log
    )
    out["messages"] = _messages(rng, tables["messages"], unknown, log)
    out["appointments"] = _appointments(
        rng, tables["appointments"], tables["clinicians"], unknown, log
    )
    out["events"] = _events(rng, tables["events"], unknown, log)
    out["patients"] = _patients(rng, tables["patients"], tables["clinicians"], clock, log)
    out["clinicians"] = _clinicians(tables["clinicians"], log)
    frame = pl.DataFrame(
        {
            "table": [p.table for p, _ in log],
            "kind": [p.kind for p, _ in log],
            "count": [c for _, c in log],
            "valid_under_contract": [p.valid for p, _ in log],
            "description": [p.description for p, _ in log],
        },
        schema=EMPTY_LOG.schema,
    )
    return out, frame


def _by_kind(table: str) -> dict[str, Plant]:
    return {p.kind: p for p in _plants(table)}


def _checkins(
    rng: np.random.Generator, clean: pl.DataFrame, unknown: list[str], log: Log
) -> pl.DataFrame:
    plants = _by_kind("checkins")
    n = clean.height
    pick = _Picker(rng, n)
    f = clean.with_columns(
        pl.col("mood").cast(pl.String),
        pl.col("checked_in_at").dt.strftime(ISO),
    )
    rows = {}
    for kind in (
        "mood_out_of_range",
        "mood_bad_type",
        "mood_missing",
        "mood_na_token",
        "anxiety_out_of_range",
        "bad_timestamp",
        "note_too_long",
    ):
        rows[kind] = pick.take(planned_count(plants[kind], n))
    f = _set(f, rows["mood_out_of_range"], "mood", "11")
    f = _set(f, rows["mood_bad_type"], "mood", "seven")
    f = _set(f, rows["mood_missing"], "mood", None)
    f = _set(f, rows["mood_na_token"], "mood", "N/A")
    f = _set(f, rows["anxiety_out_of_range"], "anxiety", -1)
    r = rows["bad_timestamp"]
    if len(r):
        local = clean["checked_in_at"].gather(r).dt.strftime("%d/%m/%Y %H:%M")
        f = f.with_columns(f["checked_in_at"].scatter(r, local))
    long_note = ("slept badly again and the whole day felt heavy; " * 45).strip()
    f = _set(f, rows["note_too_long"], "note", long_note)
    unk = pick.take(planned_count(plants["unknown_patient"], n))
    dup = pick.take(planned_count(plants["duplicate_row"], n))
    f = f.with_columns(
        pl.Series("app_version", np.asarray(["3.2.0", "3.2.1", "3.3.0"])[rng.integers(0, 3, n)])
    )
    f = pl.concat([f, _copies_with_unknown(f, unk, unknown), f[dup]])
    for kind, r in rows.items():
        log.append((plants[kind], len(r)))
    log += [
        (plants["unknown_patient"], len(unk)),
        (plants["duplicate_row"], len(dup)),
        (plants["extra_column"], 1),
    ]
    return f.sort("patient_id", "checked_in_at", maintain_order=True)


def _assessments(
    rng: np.random.Generator, clean: pl.DataFrame, unknown: list[str], log: Log
) -> pl.DataFrame:
    plants = _by_kind("assessments")
    n = clean.height
    pick = _Picker(rng, n)
    phq = (clean["instrument"] == "PHQ-9").to_numpy()
    f = clean
    r = pick.take(planned_count(plants["total_mismatch"], n), phq)
    if len(r):
        total = f["total"].gather(r).to_numpy()
        delta = rng.choice([-2, -1, 1, 2], len(r))
        delta = np.where(total + delta < 0, -delta, np.where(total + delta > 27, -delta, delta))
        f = f.with_columns(f["total"].scatter(r, total + delta))
    log.append((plants["total_mismatch"], len(r)))
    r = pick.take(planned_count(plants["item_out_of_range"], n), phq)
    if len(r):
        new_total = f["total"].gather(r).to_numpy() - f["item_3"].gather(r).to_numpy() + 4
        f = f.with_columns(f["item_3"].scatter(r, 4), f["total"].scatter(r, new_total))
    log.append((plants["item_out_of_range"], len(r)))
    r = pick.take(planned_count(plants["gad_item8_filled"], n), ~phq)
    f = _set(f, r, "item_8", 1)
    log.append((plants["gad_item8_filled"], len(r)))

    r = pick.take(planned_count(plants["instrument_variant"], n))
    if len(r):
        variant = np.where(
            f["instrument"].gather(r).to_numpy() == "PHQ-9",
            np.asarray(["PHQ9", "phq-9"])[rng.integers(0, 2, len(r))],
            np.asarray(["GAD7", "gad-7"])[rng.integers(0, 2, len(r))],
        )
        f = f.with_columns(f["instrument"].scatter(r, variant))
    log.append((plants["instrument_variant"], len(r)))
    r = pick.take(planned_count(plants["total_missing"], n))
    f = _set(f, r, "total", None)
    log.append((plants["total_missing"], len(r)))

    dk = pick.take(planned_count(plants["duplicate_key"], n))
    dup = f[dk].with_columns(
        pl.when(pl.col("item_1") == 3).then(2).otherwise(pl.col("item_1") + 1).alias("item_1"),
    )
    dup = dup.with_columns((pl.col("total") - f[dk]["item_1"] + pl.col("item_1")).alias("total"))
    unk = pick.take(planned_count(plants["unknown_patient"], n))
    log += [(plants["duplicate_key"], len(dk)), (plants["unknown_patient"], len(unk))]
    f = pl.concat([f, dup, _copies_with_unknown(f, unk, unknown)])
    return f.sort("patient_id", "completed_at", maintain_order=True)


def _wearables(
    rng: np.random.Generator, clean: pl.DataFrame, unknown: list[str], log: Log
) -> tuple[pl.DataFrame, pl.DataFrame]:
    plants = _by_kind("wearable_daily")
    n = clean.height
    pick = _Picker(rng, n)
    has_steps = clean["steps"].is_not_null().to_numpy()
    # Re-synced days come from untouched rows so the resync file is itself valid.
    resync_plant = _by_kind("wearable_daily_resync")["resync"]
    rs = pick.take(planned_count(resync_plant, n), has_steps)
    f = clean.with_columns(pl.col("steps").cast(pl.String))
    rows = {}
    for kind in (
        "steps_negative",
        "steps_bad_type",
        "resting_hr_out_of_range",
        "sleep_out_of_range",
        "hrv_out_of_range",
        "no_metrics",
        "source_missing",
    ):
        rows[kind] = pick.take(planned_count(plants[kind], n))
        log.append((plants[kind], len(rows[kind])))
    f = _set(f, rows["steps_negative"], "steps", "-5")
    f = _set(f, rows["steps_bad_type"], "steps", "12k")
    f = _set(f, rows["resting_hr_out_of_range"], "resting_hr", 400)
    f = _set(f, rows["sleep_out_of_range"], "sleep_minutes", 1500)
    f = _set(f, rows["hrv_out_of_range"], "hrv_rmssd_ms", 0.0)
    for col in (
        "sleep_minutes",
        "steps",
        "resting_hr",
        "hrv_rmssd_ms",
        "active_minutes",
        "wear_minutes",
    ):
        f = _set(f, rows["no_metrics"], col, None)
    f = _set(f, rows["source_missing"], "source", None)
    unk = pick.take(planned_count(plants["unknown_patient"], n))
    log.append((plants["unknown_patient"], len(unk)))
    f = pl.concat([f, _copies_with_unknown(f, unk, unknown)]).sort(
        "patient_id", "date", maintain_order=True
    )

    base = clean[rs]
    k = len(rs)
    steps = base["steps"].to_numpy()
    change = np.maximum(1, np.rint(steps * rng.uniform(0.01, 0.08, k))).astype(np.int64)
    resync = base.with_columns(
        pl.Series("steps", steps + change * rng.choice([-1, 1], k)).clip(0, 100_000),
        (pl.col("sleep_minutes") + pl.Series(rng.integers(1, 21, k))).clip(0, 1440),
        (pl.col("hrv_rmssd_ms") * pl.Series(rng.uniform(0.97, 1.03, k))).round(1).clip(1, 500),
        (pl.col("wear_minutes") + pl.Series(rng.integers(0, 31, k))).clip(0, 1440),
    )
    # A zero-step day moved by -1 and clipped back would not differ; nudge it up instead.
    resync = resync.with_columns(
        pl.when(pl.col("steps") == base["steps"])
        .then(pl.col("steps") + 1)
        .otherwise(pl.col("steps"))
        .alias("steps")
    )
    log.append((resync_plant, k))
    return f, resync


def _messages(
    rng: np.random.Generator, clean: pl.DataFrame, unknown: list[str], log: Log
) -> pl.DataFrame:
    plants = _by_kind("messages")
    n = clean.height
    pick = _Picker(rng, n)
    f = clean
    rows = {
        kind: pick.take(planned_count(plants[kind], n))
        for kind in ("empty_text", "bad_sender", "message_id_missing")
    }
    f = _set(f, rows["empty_text"], "text", None)
    f = _set(f, rows["bad_sender"], "sender", "therapist")
    f = _set(f, rows["message_id_missing"], "message_id", None)
    patient = (clean["sender"] == "patient").to_numpy()
    dm = pick.take(planned_count(plants["duplicate_message_id"], n), patient)
    # A re-export after an edit: same id and time, different text.
    edited = clean[dm].with_columns((pl.col("text") + " (edited)").alias("text"))
    unk = pick.take(planned_count(plants["unknown_patient"], n))
    width = len(clean["message_id"][0]) - 1 if n else 8
    stray = _copies_with_unknown(clean, unk, unknown).with_columns(
        pl.Series("message_id", [f"M{n + 1 + i:0{width}d}" for i in range(len(unk))])
    )
    for kind in ("empty_text", "bad_sender"):
        log.append((plants[kind], len(rows[kind])))
    log += [
        (plants["duplicate_message_id"], len(dm)),
        (plants["unknown_patient"], len(unk)),
        (plants["message_id_missing"], len(rows["message_id_missing"])),
        (plants["header_variants"], 1),
    ]
    f = pl.concat([f, edited, stray]).sort("patient_id", "sent_at", maintain_order=True)
    return f.rename(
        {
            "message_id": "Message_ID",
            "patient_id": "Patient_ID ",
            "sent_at": "Sent_At",
            "sender": "SENDER",
            "text": " Text",
        }
    )


def _appointments(
    rng: np.random.Generator,
    clean: pl.DataFrame,
    clinicians: pl.DataFrame,
    unknown: list[str],
    log: Log,
) -> pl.DataFrame:
    plants = _by_kind("appointments")
    n = clean.height
    pick = _Picker(rng, n)
    r1 = pick.take(planned_count(plants["bad_status"], n))
    r2 = pick.take(planned_count(plants["unknown_clinician"], n))
    unk = pick.take(planned_count(plants["unknown_patient"], n))
    width = len(clinicians["clinician_id"][0]) - 1
    ghost = f"C{int('9' * width)}"
    f = _set(clean, r1, "status", "rescheduled")
    f = _set(f, r2, "clinician_id", ghost)
    log += [
        (plants["bad_status"], len(r1)),
        (plants["unknown_clinician"], len(r2)),
        (plants["unknown_patient"], len(unk)),
    ]
    return pl.concat([f, _copies_with_unknown(clean, unk, unknown)]).sort(
        "patient_id", "scheduled_at", maintain_order=True
    )


def _events(
    rng: np.random.Generator, clean: pl.DataFrame, unknown: list[str], log: Log
) -> pl.DataFrame:
    plants = _by_kind("events")
    n = clean.height
    pick = _Picker(rng, n)
    r = pick.take(planned_count(plants["bad_kind"], n))
    unk = pick.take(planned_count(plants["unknown_patient"], n))
    f = _set(clean, r, "kind", "ER visit")
    f = _set(f, r, "note", "Seen in the emergency department overnight; sent home.")
    log += [(plants["bad_kind"], len(r)), (plants["unknown_patient"], len(unk))]
    return pl.concat([f, _copies_with_unknown(clean, unk, unknown)]).sort(
        "patient_id", "occurred_at", maintain_order=True
    )


_LANGUAGE_VARIANTS = {
    "Spanish": ("es", "spanish", "Español"),
    "English": ("en-US", "english", "EN"),
}


def _patients(
    rng: np.random.Generator,
    clean: pl.DataFrame,
    clinicians: pl.DataFrame,
    clock: Clock,
    log: Log,
) -> pl.DataFrame:
    plants = _by_kind("patients")
    n = clean.height
    pick = _Picker(rng, n)
    # Only rows with an insurance value, so every chosen row visibly changes.
    r = pick.take(
        planned_count(plants["category_variants"], n), clean["insurance"].is_not_null().to_numpy()
    )
    f = clean
    if len(r):
        sub = clean[r]
        lang = [
            _LANGUAGE_VARIANTS[v][i % 3] if v in _LANGUAGE_VARIANTS else v
            for i, v in enumerate(sub["primary_language"].to_list())
        ]
        ins = [
            None if v is None else (f" {v} " if i % 2 else v.upper())
            for i, v in enumerate(sub["insurance"].to_list())
        ]
        gen = [
            None if v is None else (v.lower() if i % 2 else f"{v} ")
            for i, v in enumerate(sub["gender"].to_list())
        ]
        f = f.with_columns(
            f["primary_language"].scatter(r, pl.Series(lang, dtype=pl.String)),
            f["insurance"].scatter(r, pl.Series(ins, dtype=pl.String)),
            f["gender"].scatter(r, pl.Series(gen, dtype=pl.String)),
        )
    log.append((plants["category_variants"], len(r)))

    width = len(clean["patient_id"][0]) - 1
    template = clean[:1]
    start = clock.start
    extras = []
    for i, kind in enumerate(
        (
            "birth_year_out_of_range",
            "discharged_before_enrolled",
            "unknown_clinician",
            "enrolled_on_missing",
        )
    ):
        row = template.with_columns(
            pl.lit(f"P{n + 1 + i:0{width}d}").alias("patient_id"),
            pl.lit(f"Extra Patient{i + 1}").alias("display_name"),
            pl.lit(start).alias("enrolled_on"),
            pl.lit(None, dtype=pl.Date).alias("discharged_on"),
        )
        if kind == "birth_year_out_of_range":
            row = row.with_columns(pl.lit(1890, dtype=pl.Int64).alias("birth_year"))
        elif kind == "discharged_before_enrolled":
            row = row.with_columns(pl.lit(start - dt.timedelta(days=3)).alias("discharged_on"))
        elif kind == "unknown_clinician":
            row = row.with_columns(
                pl.lit("C" + "9" * (len(clinicians["clinician_id"][0]) - 1)).alias("clinician_id")
            )
        else:
            row = row.with_columns(pl.lit(None, dtype=pl.Date).alias("enrolled_on"))
        extras.append(row)
        log.append((plants[kind], 1))
    return pl.concat([f, *extras])


def _clinicians(clean: pl.DataFrame, log: Log) -> pl.DataFrame:
    plant_ = _by_kind("clinicians")["display_name_missing"]
    width = len(clean["clinician_id"][0]) - 1
    row = pl.DataFrame(
        {
            "clinician_id": [f"C{clean.height + 1:0{width}d}"],
            "display_name": [None],
            "site_id": [clean["site_id"][0]],
            "email": ["it.helpdesk@example.org"],
            "role": ["admin"],
        },
        schema=clean.schema,
    )
    log.append((plant_, 1))
    return pl.concat([clean, row])
