"""A realistic synthetic clinic, written to the Caseload Insight data contract.

``generate(spec)`` returns one polars frame per contract file (column names exactly as in
the contract); ``write_clinic`` writes them as CSV or Parquet. ``generate_with_truth``
also returns the hidden ground truth (latent severity, relapse episodes, disengagement
spells, coverage groups, message categories, planted mess) for tests and research; it is
never part of the contract files. The mechanisms are documented in ``README.md`` here.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, fields
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import polars as pl

from . import _cohort, _latent, _messages, _partial, _tables, mess
from ._util import Clock, make_streams

CLINIC_TZ = "America/New_York"
TABLES = (
    "clinicians",
    "patients",
    "assessments",
    "checkins",
    "wearable_daily",
    "messages",
    "appointments",
    "events",
)
# Output that is not its own table: ingest maps it to wearable_daily by its file stem.
RESYNC_FILE = "wearable_daily_resync"
CSV_DATETIME_FORMAT = "%Y-%m-%dT%H:%M:%S%:z"


@dataclass(frozen=True)
class ClinicSpec:
    """What to generate. The same spec always gives byte-identical files."""

    patients: int = 300
    days: int = 300
    seed: int = 0
    # Last day of data; default yesterday in the clinic's time zone (never in the future).
    end_date: dt.date | None = None
    # Plant realistic mess (duplicates, bad values, unknown ids, re-synced wearable days).
    mess: bool = True
    timezone: str = CLINIC_TZ
    # Leave a few items blank on a small share of questionnaires (valid under the
    # contract: ingest stores them). Off only to compare against the complete answers.
    partial_questionnaires: bool = True

    def resolved_end_date(self) -> dt.date:
        """``end_date``, or yesterday in the clinic's time zone (which is never after
        yesterday in UTC for a zone west of Greenwich, and never in the future)."""
        if self.end_date is not None:
            return self.end_date
        today_local = dt.datetime.now(ZoneInfo(self.timezone)).date()
        today_utc = dt.datetime.now(dt.UTC).date()
        return min(today_local, today_utc) - dt.timedelta(days=1)


# The committed sample in ``sample_data/sample`` is exactly ``generate(SAMPLE_SPEC)``.
SAMPLE_SPEC = ClinicSpec(patients=60, days=120, seed=7, end_date=dt.date(2026, 10, 31))
SAMPLE_DIR = Path(__file__).parent / "sample"


@dataclass(frozen=True)
class Truth:
    """Hidden ground truth of a generated clinic (not contract data)."""

    patients: pl.DataFrame
    daily: pl.DataFrame
    relapse_episodes: pl.DataFrame
    disengagements: pl.DataFrame
    messages: pl.DataFrame
    mess: pl.DataFrame

    def frames(self) -> dict[str, pl.DataFrame]:
        """Name -> frame for every part of the truth."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


def _check(spec: ClinicSpec) -> None:
    if spec.patients < 1:
        raise ValueError(f"patients must be at least 1, got {spec.patients}")
    if spec.days < 14:
        raise ValueError(f"days must be at least 14, got {spec.days}")
    ZoneInfo(spec.timezone)  # raises for an unknown zone


def generate_with_truth(spec: ClinicSpec) -> tuple[dict[str, pl.DataFrame], Truth]:
    """Contract tables (name -> frame) and the ground truth behind them."""
    _check(spec)
    end = spec.resolved_end_date()
    clock = Clock(start=end - dt.timedelta(days=spec.days - 1), days=spec.days, tz=spec.timezone)
    rng = make_streams(spec.seed)

    staff = _cohort.make_staff(rng["cohort"], _cohort.n_therapists(spec.patients, spec.days))
    cohort = _cohort.make_cohort(rng["cohort"], spec.patients, clock, staff)
    lat = _latent.simulate(rng["latent"], rng["episodes"], rng["disengagement"], cohort, spec.days)

    checkins, adherence = _tables.checkins(rng["checkins"], cohort, lat, clock)
    dev = _tables.devices(rng["wearables"], cohort)
    wearables = _tables.wearable_daily(rng["wearables"], cohort, lat, clock, dev)
    assessments = _tables.assessments(rng["assessments"], cohort, lat, clock)
    appointments = _tables.appointments(rng["appointments"], cohort, lat, clock, staff)
    messages, message_truth, crisis_p, crisis_t = _messages.messages(
        rng["messages"], cohort, lat, clock, adherence
    )
    events, event_flags = _tables.events(rng["events"], cohort, lat, clock, crisis_p, crisis_t)

    tables = {
        "clinicians": staff.clinicians,
        "patients": _cohort.patients_frame(cohort, staff, clock),
        "assessments": assessments,
        "checkins": checkins,
        "wearable_daily": wearables,
        "messages": messages,
        "appointments": appointments,
        "events": events,
    }
    truth = Truth(
        patients=_truth_patients(cohort, lat, dev, adherence, clock),
        daily=_truth_daily(cohort, lat, clock),
        relapse_episodes=_truth_episodes(cohort, lat, clock, event_flags),
        disengagements=_truth_spells(cohort, lat, clock),
        messages=message_truth,
        mess=mess.EMPTY_LOG,
    )
    if spec.mess:
        tables, log = mess.plant(rng["mess"], tables, clock)
        truth = Truth(**(truth.frames() | {"mess": log}))
    if spec.partial_questionnaires:
        # Last, so no other value (nor the truth, nor the mess) moves; drawn over the
        # clean table so mess on or off blanks the same questionnaires.
        tables["assessments"] = _partial.blank(
            rng["partial"], assessments, tables["assessments"], tables["patients"]["patient_id"]
        )
    return tables, truth


def generate(spec: ClinicSpec) -> dict[str, pl.DataFrame]:
    """Contract tables, name -> frame (plus ``wearable_daily_resync`` when messy)."""
    return generate_with_truth(spec)[0]


def write_clinic(tables: dict[str, pl.DataFrame], out: Path, *, fmt: str = "csv") -> list[Path]:
    """Write ``<name>.csv`` or ``<name>.parquet`` per table into ``out``; returns the paths.

    CSV is UTF-8 without BOM, ``\\n`` line ends, timestamps ISO 8601 with the clinic's
    offset, dates ``YYYY-MM-DD`` and empty cells for missing values.
    """
    if fmt not in ("csv", "parquet"):
        raise ValueError(f"fmt must be 'csv' or 'parquet', got {fmt!r}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name in sorted(tables):
        path = out / f"{name}.{fmt}"
        if fmt == "csv":
            tables[name].write_csv(
                path, datetime_format=CSV_DATETIME_FORMAT, date_format="%Y-%m-%d"
            )
        else:
            tables[name].write_parquet(path, compression="zstd", statistics=False)
        paths.append(path)
    return paths


SAMPLE_README = """\
# Committed sample clinic

Made by `python -m sample_data --write-sample`, i.e. `write_clinic(generate(SAMPLE_SPEC), ...)` with
`ClinicSpec(patients={patients}, days={days}, seed={seed}, end_date={end}, mess={mess})`
(time zone {tz}). Synthetic data only: no real people. With mess on, some rows are
deliberately invalid; see `../README.md` for the planted mechanisms and mess.
"""


def write_sample(out: Path = SAMPLE_DIR) -> list[Path]:
    """(Re)write the committed sample: ``SAMPLE_SPEC`` as CSV plus a README line."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("*.csv"):
        old.unlink()
    paths = write_clinic(generate(SAMPLE_SPEC), out, fmt="csv")
    readme = out / "README.md"
    s = SAMPLE_SPEC
    readme.write_text(
        SAMPLE_README.format(
            patients=s.patients,
            days=s.days,
            seed=s.seed,
            end=repr(s.end_date),
            mess=s.mess,
            tz=s.timezone,
        )
    )
    return [*paths, readme]


def write_truth(truth: Truth, out: Path) -> list[Path]:
    """Write the ground truth as Parquet files into ``out`` (e.g. ``<data>/_truth``)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, frame in truth.frames().items():
        path = out / f"{name}.parquet"
        frame.write_parquet(path, compression="zstd", statistics=False)
        paths.append(path)
    return paths


# --- ground truth frames ---------------------------------------------------------------


def _insurance_group(insurance: np.ndarray) -> np.ndarray:
    return np.select(
        [
            np.isin(insurance, ["Medicaid", "Uninsured"]),
            insurance == "Commercial",
            insurance == "Medicare",
        ],
        ["medicaid_or_uninsured", "commercial", "medicare"],
        "missing",
    )


def _truth_patients(
    cohort: _cohort.Cohort,
    lat: _latent.Latent,
    dev: _tables.Devices,
    adherence: _tables.Adherence,
    clock: Clock,
) -> pl.DataFrame:
    n = cohort.n
    eps, sp = lat.episodes, lat.spells
    n_eps = np.bincount(eps.patient, minlength=n)
    never = np.iinfo(np.int64).max
    first_spell = np.full(n, never, dtype=np.int64)
    np.minimum.at(first_spell, sp.patient, sp.start)
    first_spell[first_spell == never] = -1
    first_on = clock.dates(np.maximum(first_spell, 0), "first_disengaged_on")
    first_on = pl.select(
        pl.when(pl.Series(first_spell >= 0)).then(first_on).otherwise(None)
    ).to_series()
    return pl.DataFrame(
        [
            pl.Series("patient_id", cohort.ids, dtype=pl.String),
            pl.Series("age", cohort.age),
            pl.Series("insurance_group", _insurance_group(cohort.insurance), dtype=pl.String),
            pl.Series("rurality", cohort.rurality.tolist(), dtype=pl.String),
            pl.Series("rural", cohort.rural),
            pl.Series("language_code", cohort.lang_code, dtype=pl.String),
            pl.Series("spanish_speaker", cohort.spanish),
            pl.Series("low_coverage_insurance", cohort.low_coverage_insurance),
            pl.Series("owns_wearable", dev.owns),
            pl.Series(
                "wearable_source", np.where(dev.owns, dev.source, None).tolist(), dtype=pl.String
            ),
            pl.Series("wear_rate", np.where(dev.owns, dev.wear_rate, np.nan)).fill_nan(None),
            pl.Series("checkin_adherence", adherence.start.astype(np.float64)).round(3),
            pl.Series("checkin_decay_days", adherence.tau.astype(np.float64)).round(1),
            pl.Series("first_active_on", clock.dates(cohort.start, "d")),
            pl.Series("last_active_on", clock.dates(cohort.end - 1, "d")),
            pl.Series("active_days", np.maximum(cohort.end - cohort.start, 0)),
            pl.Series("baseline_severity", lat.baseline),
            pl.Series("improvement", lat.improvement),
            pl.Series("response_tau_days", lat.response_tau),
            pl.Series("relapse_frailty", lat.relapse_frailty),
            pl.Series("disengage_frailty", lat.disengage_frailty),
            pl.Series("relapse_episodes", n_eps),
            pl.Series("disengaged", first_spell >= 0),
            first_on,
            pl.Series("discharged", cohort.discharged),
            pl.Series("lost_to_follow_up", cohort.discharge_ltfu),
        ]
    )


def _truth_daily(cohort: _cohort.Cohort, lat: _latent.Latent, clock: Clock) -> pl.DataFrame:
    pi, di = np.nonzero(lat.active)
    return pl.DataFrame(
        [
            pl.Series("patient_id", cohort.ids, dtype=pl.String).gather(pi),
            clock.dates(di, "date"),
            pl.Series("severity", lat.severity[pi, di]).round(2),
            pl.Series("anxiety", lat.anxiety[pi, di]).round(2),
            pl.Series("prodrome", lat.prodrome[pi, di]).round(3),
            pl.Series("episode", lat.episode[pi, di]).round(3),
            pl.Series("engagement", lat.engagement[pi, di]).round(3),
            pl.Series("silent", lat.silent[pi, di]),
        ]
    )


def _truth_episodes(
    cohort: _cohort.Cohort, lat: _latent.Latent, clock: Clock, flags: dict[str, np.ndarray]
) -> pl.DataFrame:
    eps = lat.episodes
    return pl.DataFrame(
        [
            pl.Series("patient_id", cohort.ids, dtype=pl.String).gather(eps.patient),
            clock.dates(eps.prodrome_start, "prodrome_start"),
            clock.dates(eps.onset, "onset"),
            # Clipped to the patient's last active day inside the window.
            clock.dates(np.minimum(eps.end, cohort.end[eps.patient]) - 1, "last_day"),
            pl.Series("amplitude", eps.amplitude).round(2),
            pl.Series("sleep_shift_minutes", eps.sleep_shift).round(1),
            pl.Series("relapse_event", flags["relapse_recorded"]),
            pl.Series("hospitalization_event", flags["hospitalization"]),
            pl.Series("crisis_contact_event", flags["crisis_contact"]),
            pl.Series("self_harm_event", flags["self_harm"]),
        ]
    )


def _truth_spells(cohort: _cohort.Cohort, lat: _latent.Latent, clock: Clock) -> pl.DataFrame:
    sp = lat.spells
    end = clock.dates(np.minimum(sp.end, clock.days + 10_000), "returned_on")
    returned = (~sp.permanent) & (sp.end < cohort.end[sp.patient])
    return pl.DataFrame(
        [
            pl.Series("patient_id", cohort.ids, dtype=pl.String).gather(sp.patient),
            clock.dates(sp.fade_start, "fade_start"),
            clock.dates(sp.start, "silent_from"),
            pl.select(pl.when(pl.Series(returned)).then(end).otherwise(None)).to_series(),
            pl.Series("permanent", sp.permanent),
            pl.Series("wearable_stops", sp.wearable_stops),
        ]
    )
