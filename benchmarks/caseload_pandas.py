"""Benchmark baseline: the caseload query in plain pandas, straight from the CSV files.

What a data scientist would write without a database: read the contract files once into
pandas (parsing timestamps, sorting each table by patient and remembering where each
patient's rows start and end, so one therapist's rows are slices, not a scan), then
answer "this therapist's active patients with their latest PHQ-9 and GAD-7 and bands,
check-in adherence over 14 days and safety flags" per query.

It does less than the product's caseload view: no message text analysis (crisis flags
need it, so only PHQ-9 item 9 flags are shown), no risk scores, no 28-day mood strip, no
audit trail. The comparison is conservative.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from analytics.settings import ClinicalSettings

ITEMS = [f"item_{i}" for i in range(1, 10)]


def _read(folder: Path, name: str, **kwargs) -> pd.DataFrame:
    frame = pd.read_csv(folder / f"{name}.csv", **kwargs)
    frame.columns = [c.strip().lower() for c in frame.columns]
    return frame


def _band(total: pd.Series, bands) -> pd.Series:
    out = pd.Series(pd.NA, index=total.index, dtype="object")
    for lo, hi, name in bands:
        out[(total >= lo) & (total <= hi)] = name
    return out


def _spans(frame: pd.DataFrame) -> dict[str, tuple[int, int]]:
    """Where each patient's rows start and end in a frame sorted by patient."""
    ids = frame["patient_id"].to_numpy()
    cut = np.r_[0, np.flatnonzero(ids[1:] != ids[:-1]) + 1, len(ids)]
    return {ids[a]: (a, b) for a, b in zip(cut[:-1], cut[1:], strict=True)}


def _rows(frame: pd.DataFrame, spans: dict, ids) -> pd.DataFrame:
    parts = [np.arange(*spans[p]) for p in ids if p in spans]
    return frame.iloc[np.concatenate(parts) if parts else []]


@dataclass
class Loaded:
    """The files in memory, sorted by patient, with each patient's row span."""

    patients: pd.DataFrame
    assessments: pd.DataFrame
    checkin_days: pd.DataFrame
    as_of: pd.Timestamp
    assessment_spans: dict
    checkin_spans: dict


def load(folder: Path, *, timezone: str = "UTC") -> Loaded:
    """Read and prepare the files once (timed separately from the queries)."""
    patients = _read(folder, "patients", parse_dates=["enrolled_on", "discharged_on"])
    patients = patients.drop_duplicates("patient_id", keep="last").set_index("patient_id")
    asm = _read(folder, "assessments")
    asm["completed_at"] = pd.to_datetime(asm["completed_at"], utc=True, errors="coerce")
    asm = asm.dropna(subset=["completed_at"])
    for item in ITEMS:
        asm[item] = pd.to_numeric(asm[item], errors="coerce")
    asm["instrument"] = (
        asm["instrument"].astype(str).str.upper().str.replace(r"[\s_-]", "", regex=True)
    )
    asm["total"] = asm[ITEMS].fillna(0).sum(axis=1)
    asm = asm.sort_values(["patient_id", "completed_at"]).reset_index(drop=True)
    ck = _read(
        folder, "checkins", usecols=lambda c: c.strip().lower() in {"patient_id", "checked_in_at"}
    )
    stamp = pd.to_datetime(ck["checked_in_at"], utc=True, errors="coerce")
    ck = pd.DataFrame(
        {"patient_id": ck["patient_id"], "day": stamp.dt.tz_convert(timezone).dt.normalize()}
    ).dropna()
    ck = ck.drop_duplicates().sort_values(["patient_id", "day"]).reset_index(drop=True)
    as_of = ck["day"].max()
    return Loaded(patients, asm, ck, as_of, _spans(asm), _spans(ck))


def caseload(data: Loaded, clinician_id: str, settings: ClinicalSettings) -> pd.DataFrame:
    """One therapist's active patients with scores, bands, adherence and item-9 flags."""
    as_of = data.as_of.tz_localize(None)
    p = data.patients
    mine = p[
        (p["clinician_id"] == clinician_id)
        & (p["enrolled_on"] <= as_of)
        & (p["discharged_on"].isna() | (p["discharged_on"] > as_of))
    ]
    ids = mine.index
    asm = _rows(data.assessments, data.assessment_spans, ids).set_index("patient_id")
    out = pd.DataFrame(index=ids)
    for code, name, bands in (
        ("PHQ9", "phq9", settings.phq9_bands),
        ("GAD7", "gad7", settings.gad7_bands),
    ):
        latest = asm[asm["instrument"] == code].groupby(level=0).tail(1)
        out[f"{name}_latest_total"] = latest["total"]
        out[f"{name}_latest_band"] = _band(out[f"{name}_latest_total"], bands)
    phq = asm[asm["instrument"] == "PHQ9"]
    recent = phq[
        (phq["item_9"] > 0)
        & (
            phq["completed_at"].dt.tz_localize(None)
            > as_of - pd.Timedelta(days=settings.item9_lookback_days)
        )
    ]
    out["item9_flag_current"] = out.index.isin(recent.index)
    days = _rows(data.checkin_days, data.checkin_spans, ids).set_index("patient_id")
    window = days[days["day"].dt.tz_localize(None) > as_of - pd.Timedelta(days=14)]
    counted = window.groupby(level=0).size().reindex(ids, fill_value=0)
    in_care = np.minimum(14, (as_of - mine["enrolled_on"]).dt.days + 1).clip(lower=1)
    out["checkin_adherence_14d"] = counted / in_care
    out["display_name"] = mine["display_name"]
    return out.sort_values(["item9_flag_current", "phq9_latest_total"], ascending=[False, False])


def time_queries(
    data: Loaded, clinicians: list[str], settings: ClinicalSettings, *, repeat: int
) -> list[float]:
    """Seconds per query, cycling through ``clinicians``."""
    times = []
    for i in range(repeat):
        started = time.perf_counter()
        caseload(data, clinicians[i % len(clinicians)], settings)
        times.append(time.perf_counter() - started)
    return times
