"""Observed tables drawn from the latent state: check-ins, wearables, questionnaires,
appointments and events. Every draw is vectorised over patient-days or rows."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from . import phrases
from ._cohort import Cohort, Staff
from ._latent import Latent
from ._util import DAY, Bank, Clock, choice_index

HOUR = 3600

# --- check-ins -----------------------------------------------------------------------
WEEKDAY_ADHERENCE = np.asarray([1.0, 1.0, 0.98, 0.96, 0.90, 0.78, 0.80], dtype=np.float32)
ADHERENCE_BETA = (6.0, 2.0)  # personal starting adherence
ADHERENCE_TAU = (60.0, 240.0)  # days, decay time constant
ADHERENCE_FLOOR = (0.35, 0.60)  # share of the starting adherence kept in the long run
# Deteriorating patients use the app less (missing not at random): check-ins and replies
# fall by 30% at full prodrome and 45% in an episode (lower EMA compliance on low-mood
# days is the usual finding in ambulatory-assessment studies).
PRODROME_ADHERENCE_DROP, EPISODE_ADHERENCE_DROP = 0.30, 0.45
SECOND_CHECKIN_P = 0.015
EVENING_PERSON_P = 0.65
ANXIETY_MISSING_P, ENERGY_MISSING_P, NOTE_P = 0.02, 0.04, 0.12
# The assistant texts a reminder on every third day (counted from data start) when there
# has been no check-in in the three days before; an engaged patient often replies to the
# text with a mood score. The reply is a check-in with mood only (an SMS has no form).
REMINDER_AFTER_DAYS = 3
REMINDER_REPLY_P = 0.8  # x engagement x the drops above; the same in every group
REMINDER_HOUR = 18

# --- access to the app (digital-access barriers; illustrative) -------------------------
# Multipliers on personal app use for patients with Medicaid or no insurance (patchy
# data plans, shared or prepaid phones) and for rural patients (poor connectivity). A
# patient in both groups gets both. Nothing about true risk depends on them.
ACCESS_GROUPS = ("low_coverage_insurance", "rural")
ACCESS_ADHERENCE = (0.60, 0.65)  # starting check-in adherence a0
ACCESS_DECAY_TAU = (0.5, 0.6)  # time constant of the adherence decay (faster fall-off)
ACCESS_ASSESSMENT = (0.65, 0.70)  # completion of the between-session questionnaires

# --- wearables -----------------------------------------------------------------------
OWNERSHIP_BASE = 0.78
OWNERSHIP_INSURANCE = {"Medicaid": 0.5, "Uninsured": 0.4, "Medicare": 0.8}
OWNERSHIP_RURALITY = {"rural": 0.6, "suburban": 0.95}
OWNERSHIP_AGE_65 = 0.75
WEAR_RATE_BASE = 0.90
WEAR_RATE_LOW_INSURANCE = 0.20  # subtracted for Medicaid / Uninsured
WEAR_RATE_RURAL = 0.15  # subtracted for rural
ABANDON_RATE_PER_YEAR = 0.3  # device stops syncing for good; x2.5 / x2 in the groups above
PARTIAL_DAY_P = 0.25  # a non-wear day still exports a short, steps-only row
DUAL_SOURCE_P = 0.04  # owners whose phone also exports steps
SOURCES = ("fitbit", "apple_health", "garmin", "oura")
SOURCE_P = (0.35, 0.35, 0.15, 0.15)
SLEEP_MISSING_P, HRV_MISSING_P, RHR_MISSING_P = 0.07, 0.05, 0.02
# Effects of (prodrome, episode) at full intensity, of the modest size reported for
# depressive episodes in wearable studies: a few percent of HRV, a fifth of steps, a bpm
# or two of resting heart rate against day-to-day noise of about 3 bpm.
STEPS_DROP = (0.12, 0.22)
HRV_DROP = (0.06, 0.08)
RHR_RISE = (1.5, 2.0)
RHR_DAILY_SD = 3.0

# --- questionnaires ------------------------------------------------------------------
ASSESS_EVERY = 14
ASSESS_JITTER = (-2, 3)  # inclusive
ASSESS_COMPLETE_P, INTAKE_COMPLETE_P = 0.92, 0.97
RELAPSE_EXTRA_ASSESS_P = 0.25  # a recorded relapse sometimes prompts an extra questionnaire
# Questionnaires due in a prodrome or episode are skipped more (missing not at random):
# completion x (1 - 0.5 max(prodrome, episode)).
ASSESS_DETERIORATION_DROP = 0.5
GAD_SKIPPED_P = 0.04
PHQ_ITEM_PROFILE = np.asarray([1.15, 1.2, 1.25, 1.3, 1.0, 1.0, 1.0, 0.85, 0.10])
# Item 9 from its own ordinal model: z = -2.3 + 0.15 (severity - 10) + 1.8 episode +
# personal N(0, 0.9) + N(0, 1); 0 below 0, 1 below 1.1, 2 below 1.8, else 3. Most positive
# answers are "several days" with a minority of 2s and 3s, as in outpatient PHQ-9 series
# (e.g. Simon et al. 2013); shares measured in the README.
ITEM9_INTERCEPT, ITEM9_SEVERITY, ITEM9_EPISODE, ITEM9_PERSON_SD = -2.3, 0.15, 1.8, 0.9
ITEM9_CUTS = (0.0, 1.1, 1.8)
ITEM_NOISE, ITEM9_NOISE = 0.45, 0.3
GAD_ITEM_PROFILE = np.asarray([1.2, 1.15, 1.1, 1.0, 0.8, 0.95, 0.8])

# --- appointments --------------------------------------------------------------------
WEEKLY_P = 0.55  # else fortnightly
# attended, no_show, cancelled
STATUS_P = {
    "normal": (0.82, 0.08, 0.10),
    "episode": (0.72, 0.12, 0.16),
    "fading": (0.40, 0.42, 0.18),
    "silent": (0.05, 0.65, 0.30),
}
STATUSES = ("attended", "no_show", "cancelled")
SILENT_STOP_SCHEDULING = 28  # days into a silence after which no more sessions are booked
COVER_P = 0.05  # seen by a colleague at the same site

# --- events --------------------------------------------------------------------------
HOSPITALIZATION_P, CRISIS_CONTACT_P, SELF_HARM_P = 0.12, 0.20, 0.04
CRISIS_MESSAGE_CONTACT_P = 0.5
OTHER_EVENT_EVERY = 250  # active days per 'other' event, Poisson


@dataclass
class Adherence:
    """Personal app-use decay shared by check-ins and messages, and the reminder texts."""

    decay: np.ndarray  # (P, D) float32 multiplier in (0, 1]
    start: np.ndarray  # personal starting adherence a0
    tau: np.ndarray
    reminders: np.ndarray  # (P, D) bool: the assistant sent a check-in reminder that day


def access_multiplier(cohort: Cohort, factors: tuple[float, ...]) -> np.ndarray:
    """Per patient: the product of ``factors`` over the access groups they belong to."""
    out = np.ones(cohort.n)
    for group, factor in zip(ACCESS_GROUPS, factors, strict=True):
        out[getattr(cohort, group)] *= factor
    return out


def _ints(values: np.ndarray, missing: np.ndarray | None, name: str) -> pl.Series:
    s = pl.Series(name, values.astype(np.int64))
    if missing is not None and missing.any():
        s = s.scatter(np.nonzero(missing)[0], None)
    return s


def _floats(values: np.ndarray, missing: np.ndarray | None, name: str) -> pl.Series:
    s = pl.Series(name, values.astype(np.float64))
    if missing is not None and missing.any():
        s = s.scatter(np.nonzero(missing)[0], None)
    return s


def _lang_for_rows(
    rng: np.random.Generator, cohort: Cohort, pi: np.ndarray, spanish_p: float
) -> np.ndarray:
    """'es' for most rows of Spanish speakers, else 'en'."""
    spanish = cohort.spanish[pi] & (rng.random(len(pi)) < spanish_p)
    return np.where(spanish, "es", "en").astype(object)


def checkins(
    rng: np.random.Generator, cohort: Cohort, lat: Latent, clock: Clock
) -> tuple[pl.DataFrame, Adherence]:
    """Daily self-report, and the adherence and reminders the messages share."""
    n, days = cohort.n, clock.days
    a0 = rng.beta(*ADHERENCE_BETA, n) * access_multiplier(cohort, ACCESS_ADHERENCE)
    tau = rng.uniform(*ADHERENCE_TAU, n) * access_multiplier(cohort, ACCESS_DECAY_TAU)
    a0, tau = a0.astype(np.float32), tau.astype(np.float32)
    floor = rng.uniform(*ADHERENCE_FLOOR, n).astype(np.float32)
    since = np.maximum(lat.day - cohort.start[:, None], 0).astype(np.float32)
    decay = floor[:, None] + (1 - floor[:, None]) * np.exp(-since / tau[:, None])
    prob = a0[:, None] * decay
    prob *= WEEKDAY_ADHERENCE[clock.weekday(lat.day)]
    willing = lat.engagement * (
        1 - PRODROME_ADHERENCE_DROP * lat.prodrome - EPISODE_ADHERENCE_DROP * lat.episode
    )
    prob *= willing
    u = rng.random((n, days), dtype=np.float32)
    app = lat.active & (u < prob)
    # Reminder texts depend on the days before, so walk forward a day at a time. A reply
    # is a second chance on a reminder day: P(check-in) = 1 - (1 - prob)(1 - reply).
    reply = REMINDER_REPLY_P * willing
    since_i = lat.day - cohort.start[:, None]
    grid = (lat.active & (since_i >= REMINDER_AFTER_DAYS) & (since_i % REMINDER_AFTER_DAYS == 0)).T
    app_t, u_t, prob_t, reply_t = app.T, u.T, prob.T, reply.T
    mask_t = app_t.copy()
    remind_t = np.zeros((days, n), dtype=bool)
    for d in np.nonzero(grid.any(axis=1))[0]:
        remind_t[d] = grid[d] & ~mask_t[max(d - REMINDER_AFTER_DAYS, 0) : d].any(axis=0)
        p_any = 1 - (1 - prob_t[d]) * (1 - reply_t[d])
        mask_t[d] |= remind_t[d] & (u_t[d] < p_any)
    mask = np.ascontiguousarray(mask_t.T)
    reminders = np.ascontiguousarray(remind_t.T)
    sms = mask & ~app
    del prob, u, reply, willing, grid, app_t, u_t, prob_t, reply_t, mask_t, remind_t

    pi, di = np.nonzero(mask)
    by_sms = sms[pi, di]
    evening = rng.random(n) < EVENING_PERSON_P
    centre = np.where(evening, 21 * HOUR, 8 * HOUR) + rng.normal(0, 40 * 60, n)
    other = np.where(evening, 8 * HOUR, 21 * HOUR) + rng.normal(0, 40 * 60, n)
    sec = centre[pi] + rng.normal(0, 50 * 60, len(pi))
    # Replies come in the evening, after the reminder (sent 18:00-18:10).
    reply_sec = REMINDER_HOUR * HOUR + 900 + rng.exponential(HOUR, len(pi))
    sec = np.where(by_sms, reply_sec, sec)
    second = (rng.random(len(pi)) < SECOND_CHECKIN_P) & ~by_sms  # app check-in days only
    pi2, di2 = pi[second], di[second]
    sec2 = other[pi2] + rng.normal(0, 50 * 60, len(pi2))
    pi, di = np.concatenate([pi, pi2]), np.concatenate([di, di2])
    sec = np.clip(np.concatenate([sec, sec2]), 5.5 * HOUR, DAY - 1).astype(np.int64)
    mood_only = np.concatenate([by_sms, np.zeros(len(pi2), dtype=bool)])

    m = len(pi)
    s, g = lat.severity[pi, di], lat.anxiety[pi, di]
    p, e = lat.prodrome[pi, di], lat.episode[pi, di]
    mood = np.clip(np.rint(8.6 - 0.28 * s - 1.4 * p - 0.5 * e + rng.normal(0, 1.1, m)), 0, 10)
    anxiety = np.clip(np.rint(0.42 * g + 1.0 * p + rng.normal(0, 1.2, m)), 0, 10)
    energy = np.clip(np.rint(7.8 - 0.2 * s - 1.2 * p + rng.normal(0, 1.3, m)), 0, 10)

    bank = Bank(phrases.NOTE_BODIES)
    lang = _lang_for_rows(rng, cohort, pi, 0.85)
    cat = np.where(mood >= 7, "positive", np.where(mood >= 4, "neutral", "negative"))
    list_id = bank.list_ids(lang, cat)
    note = bank.text(bank.pick(list_id, rng.random(m)))
    note = pl.select(
        pl.when(pl.Series((rng.random(m) < NOTE_P) & ~mood_only)).then(note).otherwise(None)
    ).to_series()

    frame = pl.DataFrame(
        [
            pl.Series("patient_id", cohort.ids, dtype=pl.String).gather(pi),
            clock.timestamps(di * DAY + sec, "checked_in_at"),
            _ints(mood, None, "mood"),
            _ints(anxiety, mood_only | (rng.random(m) < ANXIETY_MISSING_P), "anxiety"),
            _ints(energy, mood_only | (rng.random(m) < ENERGY_MISSING_P), "energy"),
            note.alias("note"),
        ]
    ).sort("patient_id", "checked_in_at")
    return frame, Adherence(decay=decay.astype(np.float32), start=a0, tau=tau, reminders=reminders)


@dataclass
class Devices:
    owns: np.ndarray
    source: np.ndarray
    wear_rate: np.ndarray
    dual: np.ndarray
    start: np.ndarray
    end: np.ndarray


def devices(rng: np.random.Generator, cohort: Cohort) -> Devices:
    """Who owns a wearable, which one, and how often they wear it."""
    n = cohort.n
    low = cohort.low_coverage_insurance
    rural = cohort.rural
    own_p = np.full(n, OWNERSHIP_BASE)
    for value, mult in OWNERSHIP_INSURANCE.items():
        own_p[cohort.insurance == value] *= mult
    for value, mult in OWNERSHIP_RURALITY.items():
        own_p[cohort.rurality == value] *= mult
    own_p[cohort.age >= 65] *= OWNERSHIP_AGE_65
    owns = rng.random(n) < own_p
    source = np.asarray(SOURCES, dtype=object)[choice_index(rng.random(n), np.asarray(SOURCE_P))]
    base = WEAR_RATE_BASE - WEAR_RATE_LOW_INSURANCE * low - WEAR_RATE_RURAL * rural
    wear_rate = np.clip(base + rng.normal(0, 0.06, n), 0.3, 0.98)
    start = cohort.start + rng.integers(0, 15, n)
    abandon = ABANDON_RATE_PER_YEAR / 365.0 * (1 + 1.5 * low) * (1 + 1.0 * rural)
    end = start + np.floor(rng.exponential(1.0, n) / abandon).astype(np.int64)
    dual = owns & (rng.random(n) < DUAL_SOURCE_P)
    return Devices(owns=owns, source=source, wear_rate=wear_rate, dual=dual, start=start, end=end)


def wearable_daily(
    rng: np.random.Generator, cohort: Cohort, lat: Latent, clock: Clock, dev: Devices
) -> pl.DataFrame:
    """One row per patient, day and source for owners on days the device synced."""
    n, days = cohort.n, clock.days
    day = lat.day
    ok = lat.active & dev.owns[:, None] & (day >= dev.start[:, None]) & (day < dev.end[:, None])
    ok &= ~lat.wear_blocked
    u = rng.random((n, days), dtype=np.float32)
    rate = dev.wear_rate.astype(np.float32)[:, None]
    worn = ok & (u < rate)
    partial = ok & ~worn & (u < rate + (1 - rate) * PARTIAL_DAY_P)
    del u, ok

    age = cohort.age.astype(float)
    sleep0 = np.clip(rng.normal(425, 40, n), 300, 540)
    steps0 = np.exp(rng.normal(np.log(7000) - 0.012 * np.maximum(0, age - 40), 0.4))
    rhr0 = np.clip(rng.normal(65, 7, n), 48, 92)
    hrv0 = np.exp(rng.normal(np.log(np.maximum(15, 48 - 0.45 * (age - 30))), 0.3))

    pi, di = np.nonzero(worn)
    m = len(pi)
    s, p, e = lat.severity[pi, di], lat.prodrome[pi, di], lat.episode[pi, di]
    weekend = clock.weekday(di) >= 5
    sleep = np.clip(
        np.rint(
            sleep0[pi]
            + lat.sleep_shift[pi, di]
            + 25 * weekend
            + 0.8 * (s - 10)
            + rng.normal(0, 45, m)
        ),
        60,
        960,
    )
    activity = (1 - STEPS_DROP[0] * p - STEPS_DROP[1] * e) * (1 - 0.012 * (s - 10))
    activity *= np.where(weekend, 0.88, 1.0)
    steps = np.clip(np.rint(steps0[pi] * activity * np.exp(rng.normal(0, 0.35, m))), 0, 60000)
    active_min = np.clip(np.rint(steps / 110 * rng.uniform(0.6, 1.4, m)), 0, 600)
    rhr = np.clip(
        np.rint(
            rhr0[pi]
            + RHR_RISE[0] * p
            + RHR_RISE[1] * e
            + 0.12 * (s - 10)
            + rng.normal(0, RHR_DAILY_SD, m)
        ),
        38,
        130,
    )
    hrv = np.clip(
        np.round(
            hrv0[pi]
            * (1 - HRV_DROP[0] * p - HRV_DROP[1] * e)
            * (1 - 0.008 * (s - 10))
            * np.exp(rng.normal(0, 0.13, m)),
            1,
        ),
        5,
        250,
    )
    wear = np.clip(np.rint(rng.normal(1330, 60, m)), 900, 1440)
    worn_frame = pl.DataFrame(
        [
            pl.Series("p", pi),
            pl.Series("d", di),
            pl.Series("source", dev.source[pi], dtype=pl.String),
            _ints(sleep, rng.random(m) < SLEEP_MISSING_P, "sleep_minutes"),
            _ints(steps, None, "steps"),
            _ints(rhr, rng.random(m) < RHR_MISSING_P, "resting_hr"),
            _floats(hrv, rng.random(m) < HRV_MISSING_P, "hrv_rmssd_ms"),
            _ints(active_min, None, "active_minutes"),
            _ints(wear, None, "wear_minutes"),
        ]
    )

    # Short-wear days: the band was on for a few hours, only steps made it out.
    pj, dj = np.nonzero(partial)
    k = len(pj)
    wear_p = rng.integers(30, 301, k)
    steps_p = np.rint(steps0[pj] * wear_p / 1000 * np.exp(rng.normal(0, 0.4, k)))
    partial_frame = pl.DataFrame(
        [
            pl.Series("p", pj),
            pl.Series("d", dj),
            pl.Series("source", dev.source[pj], dtype=pl.String),
            pl.Series("sleep_minutes", [None] * k, dtype=pl.Int64),
            _ints(steps_p, None, "steps"),
            pl.Series("resting_hr", [None] * k, dtype=pl.Int64),
            pl.Series("hrv_rmssd_ms", [None] * k, dtype=pl.Float64),
            _ints(np.rint(steps_p / 150), None, "active_minutes"),
            _ints(wear_p, None, "wear_minutes"),
        ]
    )

    # A few owners also export phone step counts as a second source on most days.
    dual_idx = np.nonzero(dev.dual)[0]
    sub = lat.active[dual_idx] & (rng.random((len(dual_idx), days)) < 0.8)
    sj, dk = np.nonzero(sub)
    pk = dual_idx[sj]
    q = len(pk)
    act = (
        1 - STEPS_DROP[0] * lat.prodrome[pk, dk] - STEPS_DROP[1] * lat.episode[pk, dk]
    ) * np.where(clock.weekday(dk) >= 5, 0.88, 1.0)
    steps_q = np.clip(np.rint(0.8 * steps0[pk] * act * np.exp(rng.normal(0, 0.3, q))), 0, 60000)
    phone_frame = pl.DataFrame(
        [
            pl.Series("p", pk),
            pl.Series("d", dk),
            pl.Series("source", ["phone"] * q, dtype=pl.String),
            pl.Series("sleep_minutes", [None] * q, dtype=pl.Int64),
            _ints(steps_q, None, "steps"),
            pl.Series("resting_hr", [None] * q, dtype=pl.Int64),
            pl.Series("hrv_rmssd_ms", [None] * q, dtype=pl.Float64),
            pl.Series("active_minutes", [None] * q, dtype=pl.Int64),
            pl.Series("wear_minutes", [None] * q, dtype=pl.Int64),
        ]
    )
    all_rows = pl.concat([worn_frame, partial_frame, phone_frame]).sort("p", "d", "source")
    ids = pl.Series("patient_id", cohort.ids, dtype=pl.String)
    return pl.DataFrame(
        [
            ids.gather(all_rows["p"].to_numpy()),
            clock.dates(all_rows["d"].to_numpy(), "date"),
        ]
    ).hstack(all_rows.drop("p", "d"))


def assessments(
    rng: np.random.Generator, cohort: Cohort, lat: Latent, clock: Clock
) -> pl.DataFrame:
    """PHQ-9 and GAD-7 about every two weeks, plus one at most recorded relapses."""
    n, days = cohort.n, clock.days
    k = days // 12 + 4
    first = cohort.start + np.where(cohort.enrol < 0, rng.integers(0, 8, n), rng.integers(0, 3, n))
    gaps = ASSESS_EVERY + rng.integers(ASSESS_JITTER[0], ASSESS_JITTER[1] + 1, (n, k - 1))
    due = first[:, None] + np.concatenate(
        [np.zeros((n, 1), np.int64), np.cumsum(gaps, axis=1)], axis=1
    )
    valid = due < cohort.end[:, None]
    rows = np.broadcast_to(np.arange(n)[:, None], due.shape)
    eng = lat.engagement[rows, np.minimum(due, days - 1)]
    between = ASSESS_COMPLETE_P * access_multiplier(cohort, ACCESS_ASSESSMENT)
    at_due = (rows, np.minimum(due, days - 1))
    worse = np.maximum(lat.prodrome[at_due], lat.episode[at_due])
    p_done = np.where(np.arange(k)[None, :] == 0, INTAKE_COMPLETE_P, between[:, None]) * eng**0.7
    p_done = p_done * (1 - ASSESS_DETERIORATION_DROP * worse)
    done = valid & (rng.random(due.shape) < p_done)
    pi, di = rows[done], due[done]
    sec = rng.integers(9 * HOUR, 21 * HOUR, len(pi))

    eps = lat.episodes
    extra = eps.recorded & (rng.random(len(eps.onset)) < RELAPSE_EXTRA_ASSESS_P)
    extra &= lat.engagement[eps.patient, np.minimum(eps.record_day, days - 1)] > 0.5
    pe, de = eps.patient[extra], eps.record_day[extra]
    # Skip it when a scheduled questionnaire already falls on that day.
    fresh = ~np.isin(pe * (days + 1) + de, pi * (days + 1) + di)
    pe, de = pe[fresh], de[fresh]
    pi, di = np.concatenate([pi, pe]), np.concatenate([di, de])
    sec = np.concatenate([sec, rng.integers(10 * HOUR, 17 * HOUR, len(pe))])
    m = len(pi)

    w_phq = PHQ_ITEM_PROFILE * rng.lognormal(0, 0.2, (n, 9))
    w_phq *= 9 / w_phq.sum(axis=1, keepdims=True)
    w_gad = GAD_ITEM_PROFILE * rng.lognormal(0, 0.2, (n, 7))
    w_gad *= 7 / w_gad.sum(axis=1, keepdims=True)

    t_phq = np.clip(lat.severity[pi, di] + rng.normal(0, 1.2, m), 0, 27)
    w = w_phq[pi].copy()
    w[:, 8] *= 1 + 2.0 * lat.episode[pi, di]  # thoughts of self-harm rise in episodes
    noise = rng.normal(0, 1, (m, 9)) * np.asarray([ITEM_NOISE] * 8 + [ITEM9_NOISE])
    phq = np.clip(np.rint(t_phq[:, None] / 9 * w + noise), 0, 3).astype(np.int64)
    person9 = rng.normal(0, ITEM9_PERSON_SD, n)
    z9 = (
        ITEM9_INTERCEPT
        + ITEM9_SEVERITY * (lat.severity[pi, di] - 10)
        + ITEM9_EPISODE * lat.episode[pi, di]
        + person9[pi]
        + rng.normal(0, 1, m)
    )
    phq[:, 8] = np.searchsorted(np.asarray(ITEM9_CUTS), z9, side="right")
    t_gad = np.clip(lat.anxiety[pi, di] + rng.normal(0, 1.0, m), 0, 21)
    gad = np.clip(
        np.rint(t_gad[:, None] / 7 * w_gad[pi] + rng.normal(0, ITEM_NOISE, (m, 7))), 0, 3
    ).astype(np.int64)
    gad_taken = rng.random(m) >= GAD_SKIPPED_P
    gad_sec = sec + rng.integers(60, 301, m)

    ids = pl.Series("patient_id", cohort.ids, dtype=pl.String)
    at = di * DAY

    def block(idx: np.ndarray, seconds: np.ndarray, name: str, items: np.ndarray) -> pl.DataFrame:
        cols: list[pl.Series] = [
            ids.gather(pi[idx]),
            clock.timestamps(at[idx] + seconds[idx], "completed_at"),
            pl.Series("instrument", [name] * len(idx), dtype=pl.String),
        ]
        for j in range(9):
            if j < items.shape[1]:
                cols.append(pl.Series(f"item_{j + 1}", items[idx, j]))
            else:
                cols.append(pl.Series(f"item_{j + 1}", [None] * len(idx), dtype=pl.Int64))
        cols.append(pl.Series("total", items[idx].sum(axis=1)))
        return pl.DataFrame(cols)

    everyone = np.arange(m)
    out = pl.concat(
        [block(everyone, sec, "PHQ-9", phq), block(np.nonzero(gad_taken)[0], gad_sec, "GAD-7", gad)]
    )
    return out.sort("patient_id", "completed_at", "instrument")


def appointments(
    rng: np.random.Generator, cohort: Cohort, lat: Latent, clock: Clock, staff: Staff
) -> pl.DataFrame:
    """Weekly or fortnightly sessions with the patient's therapist."""
    n, days = cohort.n, clock.days
    cadence = np.where(rng.random(n) < WEEKLY_P, 7, 14)
    weekday = rng.integers(0, 5, n)
    slot = rng.integers(16, 37, n) * 1800  # 08:00 .. 18:00 on the half hour
    first = cohort.start + (weekday - clock.weekday(cohort.start)) % 7
    first += np.where(cadence == 14, 7 * rng.integers(0, 2, n), 0)
    k = days // 7 + 2
    due = first[:, None] + cadence[:, None] * np.arange(k)[None, :]
    valid = due < cohort.end[:, None]
    rows = np.broadcast_to(np.arange(n)[:, None], due.shape)
    pi, di = rows[valid], due[valid]

    silent = lat.silent[pi, di]
    # Stop booking sessions once a patient has been silent for a while.
    sp = lat.spells
    late = sp.start + SILENT_STOP_SCHEDULING < np.minimum(sp.end, days)
    stop = np.zeros(len(pi), dtype=bool)
    if late.any():
        # Interval lookup on (patient, day) keys; a patient's spells never overlap.
        key = pi * (days + 1) + di
        lo = sp.patient[late] * (days + 1) + sp.start[late] + SILENT_STOP_SCHEDULING
        hi = sp.patient[late] * (days + 1) + np.minimum(sp.end[late], days)
        order = np.argsort(lo, kind="stable")
        lo, hi = lo[order], hi[order]
        pos = np.searchsorted(lo, key, side="right") - 1
        stop = (pos >= 0) & (key < hi[np.maximum(pos, 0)])
    keep = ~stop
    pi, di, silent = pi[keep], di[keep], silent[keep]
    m = len(pi)

    state = np.where(
        silent,
        3,
        np.where(lat.fading[pi, di], 2, np.where(lat.episode[pi, di] > 0.3, 1, 0)),
    )
    probs = np.asarray([STATUS_P[s] for s in ("normal", "episode", "fading", "silent")])[state]
    status = np.asarray(STATUSES, dtype=object)[choice_index(rng.random(m), probs)]
    # The export ran before the last day's outcomes were entered.
    pending = (di == days - 1) | ((di == days - 2) & (rng.random(m) < 0.3))
    status = np.where(pending, "scheduled", status)

    therapist = cohort.therapist[pi]
    cover = rng.random(m) < COVER_P
    colleague = rng.integers(0, len(staff.therapist_ids), m)
    same_site = staff.therapist_site[colleague] == staff.therapist_site[therapist]
    therapist = np.where(cover & same_site, colleague, therapist)
    frame = pl.DataFrame(
        [
            pl.Series("patient_id", cohort.ids, dtype=pl.String).gather(pi),
            clock.timestamps(di * DAY + slot[pi], "scheduled_at"),
            pl.Series("status", status, dtype=pl.String),
            pl.Series("clinician_id", staff.therapist_ids[therapist], dtype=pl.String),
        ]
    )
    return frame.sort("patient_id", "scheduled_at")


def events(
    rng: np.random.Generator,
    cohort: Cohort,
    lat: Latent,
    clock: Clock,
    crisis_patient: np.ndarray,
    crisis_seconds: np.ndarray,
) -> tuple[pl.DataFrame, dict[str, np.ndarray]]:
    """Care-team recorded outcomes. Also returns per-episode flags for the ground truth."""
    eps = lat.episodes
    k = len(eps.onset)
    parts: list[tuple[np.ndarray, np.ndarray, str]] = []  # (patient, local seconds, kind)

    def add(mask: np.ndarray, day: np.ndarray, lo_h: float, hi_h: float, kind: str) -> np.ndarray:
        ok = mask & (day < cohort.end[eps.patient]) & (day < clock.days)
        sec = day[ok] * DAY + rng.integers(int(lo_h * HOUR), int(hi_h * HOUR), int(ok.sum()))
        parts.append((eps.patient[ok], sec, kind))
        return ok

    flags = {"relapse_recorded": add(eps.recorded, eps.record_day, 9, 18, "relapse")}
    flags["hospitalization"] = add(
        rng.random(k) < HOSPITALIZATION_P,
        eps.onset + rng.integers(3, 16, k),
        0,
        24,
        "hospitalization",
    )
    flags["crisis_contact"] = add(
        rng.random(k) < CRISIS_CONTACT_P,
        eps.onset + rng.integers(0, 11, k),
        0,
        24,
        "crisis_contact",
    )
    flags["self_harm"] = add(
        rng.random(k) < SELF_HARM_P, eps.onset + rng.integers(2, 22, k), 8, 20, "self_harm"
    )

    # Some crisis messages lead to a recorded crisis contact within hours.
    c = rng.random(len(crisis_patient)) < CRISIS_MESSAGE_CONTACT_P
    sec = crisis_seconds[c] + rng.integers(10 * 60, 6 * HOUR, int(c.sum()))
    ok = (sec < clock.end_seconds) & (sec // DAY < cohort.end[crisis_patient[c]])
    parts.append((crisis_patient[c][ok], sec[ok], "crisis_contact"))

    disc = np.nonzero(cohort.discharged)[0]
    parts.append(
        (
            disc,
            (cohort.end[disc] - 1) * DAY + rng.integers(15 * HOUR, 18 * HOUR, len(disc)),
            "discharge",
        )
    )

    active_days = np.maximum(cohort.end - cohort.start, 0)
    count = rng.poisson(active_days / OTHER_EVENT_EVERY)
    po = np.repeat(np.arange(cohort.n), count)
    day = cohort.start[po] + np.floor(rng.random(len(po)) * active_days[po]).astype(np.int64)
    parts.append((po, day * DAY + rng.integers(9 * HOUR, 18 * HOUR, len(po)), "other"))

    patient = np.concatenate([p for p, _, _ in parts])
    seconds = np.concatenate([s for _, s, _ in parts])
    kind = np.concatenate([np.full(len(p), kd, dtype=object) for p, _, kd in parts])
    note_key = np.where(
        (kind == "discharge") & cohort.discharge_ltfu[patient], "discharge_ltfu", kind
    )
    bank = Bank({("note", k_): v for k_, v in phrases.EVENT_NOTES.items()})
    list_id = bank.list_ids(np.full(len(note_key), "note"), note_key)
    note = bank.text(bank.pick(list_id, rng.random(len(patient))))
    frame = pl.DataFrame(
        [
            pl.Series("patient_id", cohort.ids, dtype=pl.String).gather(patient),
            clock.timestamps(seconds, "occurred_at"),
            pl.Series("kind", kind, dtype=pl.String),
            note.alias("note"),
        ]
    ).sort("patient_id", "occurred_at", "kind")
    return frame, flags
