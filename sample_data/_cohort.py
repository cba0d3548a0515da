"""Sites, staff and patients: who is in the clinic, and when they are enrolled."""

from __future__ import annotations

import math
import unicodedata
from dataclasses import dataclass

import numpy as np
import polars as pl

from . import phrases
from ._util import Clock, choice_index

# Length of stay: lognormal around a median of 160 days (floor 42). Its mean (~181 days)
# sets how many patients are already enrolled when the window opens.
LOS_MEDIAN = 160.0
LOS_SIGMA = 0.5
LOS_MIN = 42
LOS_MEAN = LOS_MEDIAN * math.exp(LOS_SIGMA**2 / 2)
# Therapists are added so that the typical active caseload stays at or below this.
CASELOAD_TARGET = 34

# Site id, rurality profile. The order makes small clinics mix urban and rural sites.
SITES = (
    ("northside", "urban"),
    ("valley", "rural"),
    ("riverside", "suburban"),
    ("harbor", "urban"),
    ("pinecrest", "rural"),
)
RURALITY = ("urban", "suburban", "rural", None)
RURALITY_BY_PROFILE = {
    "urban": (0.70, 0.24, 0.03, 0.03),
    "suburban": (0.20, 0.60, 0.17, 0.03),
    "rural": (0.05, 0.29, 0.63, 0.03),
}

AGE_BANDS = (
    (18, 24, 0.17),
    (25, 34, 0.25),
    (35, 44, 0.20),
    (45, 54, 0.15),
    (55, 64, 0.13),
    (65, 84, 0.10),
)
BIRTH_YEAR_MISSING = 0.015

GENDERS = ("Female", "Male", "Non-binary", "Another gender", "Prefer not to say", None)
GENDER_P = (0.57, 0.37, 0.03, 0.01, 0.01, 0.01)

RACES = (
    "White",
    "Hispanic or Latino",
    "Black or African American",
    "Asian",
    "American Indian or Alaska Native",
    "Multiracial",
    "Another race",
    None,
)
RACE_P = (0.52, 0.24, 0.13, 0.055, 0.01, 0.03, 0.005, 0.01)

# primary_language value -> message language code
LANGUAGES = {
    "English": "en",
    "Spanish": "es",
    "Vietnamese": "vi",
    "Chinese": "zh",
    "Korean": "ko",
    "Haitian Creole": "ht",
    "French": "fr",
    "Portuguese": "pt",
    "Arabic": "ar",
    "Russian": "ru",
}
LANGUAGE_NAMES = tuple(LANGUAGES)
# P(primary_language | race_ethnicity), in LANGUAGE_NAMES order. Illustrative only.
_L = {name: i for i, name in enumerate(LANGUAGE_NAMES)}


def _lang_row(**p: float) -> tuple[float, ...]:
    row = [0.0] * len(LANGUAGE_NAMES)
    for key, value in p.items():
        row[_L[key.replace("_", " ")]] = value
    return tuple(row)


LANGUAGE_BY_RACE = (
    _lang_row(English=0.975, Russian=0.01, Portuguese=0.01, Spanish=0.005),
    _lang_row(Spanish=0.66, English=0.34),
    _lang_row(English=0.93, Haitian_Creole=0.04, French=0.02, Spanish=0.01),
    _lang_row(English=0.66, Vietnamese=0.13, Chinese=0.13, Korean=0.08),
    _lang_row(English=1.0),
    _lang_row(English=0.90, Spanish=0.10),
    _lang_row(English=0.75, Arabic=0.25),
    _lang_row(English=0.82, Spanish=0.18),
)

INSURANCES = ("Commercial", "Medicaid", "Medicare", "Uninsured", None)
INSURANCE_UNDER_65 = (0.54, 0.33, 0.02, 0.09, 0.02)
INSURANCE_65_PLUS = (0.10, 0.06, 0.82, 0.01, 0.01)


@dataclass
class Staff:
    """Clinicians table plus the therapist lookups the generator needs."""

    clinicians: pl.DataFrame
    site_ids: list[str]
    therapist_ids: np.ndarray  # str, one per therapist
    therapist_site: np.ndarray  # int index into site_ids


@dataclass
class Cohort:
    """Per-patient arrays (index = patient row). Day indexes are relative to the window."""

    ids: np.ndarray
    therapist: np.ndarray
    site: np.ndarray
    enrol: np.ndarray  # may be negative: enrolled before the window opened
    start: np.ndarray  # first day with app data: max(enrol, 0)
    end: np.ndarray  # one past the last active day (discharge day + 1, or the window end)
    discharged: np.ndarray  # bool, discharged inside the window
    discharge_ltfu: np.ndarray  # bool, discharged as lost to follow-up
    age: np.ndarray
    birth_year: np.ndarray  # float, NaN when missing
    gender: np.ndarray
    race: np.ndarray
    language: np.ndarray
    lang_code: np.ndarray
    insurance: np.ndarray
    rurality: np.ndarray
    display_name: np.ndarray

    @property
    def n(self) -> int:
        return len(self.ids)

    @property
    def spanish(self) -> np.ndarray:
        return self.lang_code == "es"

    @property
    def low_coverage_insurance(self) -> np.ndarray:
        return np.isin(self.insurance, ["Medicaid", "Uninsured"])

    @property
    def rural(self) -> np.ndarray:
        return self.rurality == "rural"


def n_therapists(patients: int, days: int) -> int:
    """Therapists needed so the steady-state active caseload is about 25-34."""
    active = patients * LOS_MEAN / (LOS_MEAN + days)
    return max(1, math.ceil(active / CASELOAD_TARGET))


def _n_sites(therapists: int) -> int:
    if therapists <= 3:
        return therapists
    return min(5, max(3, math.ceil(therapists / 4)))


def _pick(rng: np.random.Generator, pool: tuple[str, ...], n: int) -> np.ndarray:
    return np.asarray(pool, dtype=object)[rng.integers(0, len(pool), n)]


def _ascii(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()


def make_staff(rng: np.random.Generator, therapists: int) -> Staff:
    """Therapists spread over sites, one manager per site, researchers and an admin."""
    n_sites = _n_sites(therapists)
    site_ids = [SITES[i][0] for i in range(n_sites)]
    roles = (
        ["therapist"] * therapists
        + ["manager"] * n_sites
        + ["researcher"] * (1 if therapists < 20 else 2)
        + ["admin"]
    )
    n = len(roles)
    site = np.concatenate(
        [
            np.arange(therapists) % n_sites,
            np.arange(n_sites),
            np.zeros(n - therapists - n_sites, int),
        ]
    )
    first_pool = (
        phrases.FIRST_FEMALE
        + phrases.FIRST_MALE
        + phrases.FIRST_NEUTRAL
        + phrases.FIRST_HISPANIC_FEMALE
    )
    last_pool = phrases.LAST_GENERAL + phrases.LAST_HISPANIC + phrases.LAST_ASIAN
    first = _pick(rng, first_pool, n)
    last = _pick(rng, last_pool, n)
    names, emails, seen = [], [], {}
    for f, la in zip(first, last, strict=True):
        names.append(f"{f} {la}")
        local = f"{_ascii(f)}.{_ascii(la)}"
        seen[local] = seen.get(local, 0) + 1
        emails.append(f"{local}{seen[local] if seen[local] > 1 else ''}@example.org")
    width = max(4, len(str(n)))
    ids = [f"C{i + 1:0{width}d}" for i in range(n)]
    clinicians = pl.DataFrame(
        {
            "clinician_id": ids,
            "display_name": names,
            "site_id": [site_ids[s] for s in site],
            "email": emails,
            "role": roles,
        }
    )
    return Staff(
        clinicians=clinicians,
        site_ids=site_ids,
        therapist_ids=np.asarray(ids[:therapists], dtype=object),
        therapist_site=site[:therapists].astype(np.int64),
    )


def _names(rng: np.random.Generator, gender: np.ndarray, race: np.ndarray) -> np.ndarray:
    n = len(gender)
    female = gender == "Female"
    male = gender == "Male"
    hispanic = race == "Hispanic or Latino"
    asian = race == "Asian"
    general_any = phrases.FIRST_FEMALE + phrases.FIRST_MALE + phrases.FIRST_NEUTRAL
    first = np.where(
        female,
        _pick(rng, phrases.FIRST_FEMALE, n),
        np.where(male, _pick(rng, phrases.FIRST_MALE, n), _pick(rng, general_any, n)),
    )
    hisp_first = np.where(
        female,
        _pick(rng, phrases.FIRST_HISPANIC_FEMALE, n),
        np.where(
            male,
            _pick(rng, phrases.FIRST_HISPANIC_MALE, n),
            _pick(rng, phrases.FIRST_HISPANIC_FEMALE + phrases.FIRST_HISPANIC_MALE, n),
        ),
    )
    # Not everyone carries a name from "their" list: families mix, names travel.
    u = rng.random((2, n))
    first = np.where(hispanic & (u[0] < 0.8), hisp_first, first)
    first = np.where(asian & (u[0] < 0.55), _pick(rng, phrases.FIRST_ASIAN, n), first)
    last = _pick(rng, phrases.LAST_GENERAL, n)
    last = np.where(hispanic & (u[1] < 0.85), _pick(rng, phrases.LAST_HISPANIC, n), last)
    last = np.where(asian & (u[1] < 0.8), _pick(rng, phrases.LAST_ASIAN, n), last)
    return np.asarray([f"{f} {la}" for f, la in zip(first, last, strict=True)], dtype=object)


def make_cohort(rng: np.random.Generator, patients: int, clock: Clock, staff: Staff) -> Cohort:
    """Demographics, clinician assignment and enrolment for ``patients`` patients."""
    n, days = patients, clock.days
    # Staggered enrolment in a steady-state clinic: some patients were already in care
    # when the app (and this export window) started, the rest join uniformly over it.
    los = np.maximum(LOS_MIN, np.round(rng.lognormal(math.log(LOS_MEDIAN), LOS_SIGMA, n))).astype(
        np.int64
    )
    existing_share = LOS_MEAN / (LOS_MEAN + days)
    existing = np.zeros(n, dtype=bool)
    existing[rng.permutation(n)[: round(n * existing_share)]] = True
    enrol_existing = -np.floor(rng.random(n) * (los - 7)).astype(np.int64)
    enrol_new = rng.integers(0, days, n)
    enrol = np.where(existing, enrol_existing, enrol_new)

    age_band = choice_index(rng.random(n), np.asarray([b[2] for b in AGE_BANDS]))
    lo = np.asarray([b[0] for b in AGE_BANDS])[age_band]
    hi = np.asarray([b[1] for b in AGE_BANDS])[age_band]
    age = lo + np.floor(rng.random(n) * (hi - lo + 1)).astype(np.int64)
    birth_year = (clock.end.year - age).astype(float)
    birth_year[rng.random(n) < BIRTH_YEAR_MISSING] = np.nan

    gender = np.asarray(GENDERS, dtype=object)[choice_index(rng.random(n), np.asarray(GENDER_P))]
    race_i = choice_index(rng.random(n), np.asarray(RACE_P))
    race = np.asarray(RACES, dtype=object)[race_i]
    lang_i = choice_index(rng.random(n), np.asarray(LANGUAGE_BY_RACE)[race_i])
    language = np.asarray(LANGUAGE_NAMES, dtype=object)[lang_i]
    lang_code = np.asarray([LANGUAGES[x] for x in LANGUAGE_NAMES], dtype=object)[lang_i]
    ins_p = np.where((age >= 65)[:, None], INSURANCE_65_PLUS, INSURANCE_UNDER_65)
    insurance = np.asarray(INSURANCES, dtype=object)[choice_index(rng.random(n), ins_p)]

    # Balanced random assignment to therapists; a patient's site is their therapist's.
    therapist = np.empty(n, dtype=np.int64)
    therapist[rng.permutation(n)] = np.arange(n) % len(staff.therapist_ids)
    site = staff.therapist_site[therapist]
    profile = np.asarray([RURALITY_BY_PROFILE[SITES[s][1]] for s in range(len(staff.site_ids))])
    rurality = np.asarray(RURALITY, dtype=object)[choice_index(rng.random(n), profile[site])]
    display_name = _names(rng, gender, race)

    # Patient ids follow enrolment order, as a clinic system would issue them.
    order = np.lexsort((rng.random(n), enrol))
    width = max(6, len(str(n)))
    ids = np.asarray([f"P{i + 1:0{width}d}" for i in range(n)], dtype=object)
    planned_end = (enrol + los)[order]
    enrol = enrol[order]
    discharged = planned_end <= days
    return Cohort(
        ids=ids,
        therapist=therapist[order],
        site=site[order],
        enrol=enrol,
        start=np.maximum(enrol, 0),
        end=np.minimum(planned_end, days),
        discharged=discharged,
        discharge_ltfu=np.zeros(n, dtype=bool),
        age=age[order],
        birth_year=birth_year[order],
        gender=gender[order],
        race=race[order],
        language=language[order],
        lang_code=lang_code[order],
        insurance=insurance[order],
        rurality=rurality[order],
        display_name=display_name[order],
    )


def patients_frame(cohort: Cohort, staff: Staff, clock: Clock) -> pl.DataFrame:
    """The contract ``patients`` table."""
    discharge_day = np.where(cohort.discharged, cohort.end - 1, 0)
    discharged_on = clock.dates(discharge_day, "discharged_on")
    birth = pl.Series("birth_year", cohort.birth_year).fill_nan(None).cast(pl.Int64)
    return pl.DataFrame(
        [
            pl.Series("patient_id", cohort.ids, dtype=pl.String),
            pl.Series("clinician_id", staff.therapist_ids[cohort.therapist], dtype=pl.String),
            clock.dates(cohort.enrol, "enrolled_on"),
            pl.Series(
                "site_id", np.asarray(staff.site_ids, dtype=object)[cohort.site], dtype=pl.String
            ),
            pl.Series("display_name", cohort.display_name.tolist(), dtype=pl.String),
            pl.select(pl.when(pl.Series(cohort.discharged)).then(discharged_on).otherwise(None))
            .to_series()
            .alias("discharged_on"),
            birth,
            pl.Series("gender", cohort.gender.tolist(), dtype=pl.String),
            pl.Series("race_ethnicity", cohort.race.tolist(), dtype=pl.String),
            pl.Series("primary_language", cohort.language.tolist(), dtype=pl.String),
            pl.Series("insurance", cohort.insurance.tolist(), dtype=pl.String),
            pl.Series("rurality", cohort.rurality.tolist(), dtype=pl.String),
        ]
    )
