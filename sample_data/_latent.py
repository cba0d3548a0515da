"""The hidden processes behind every table: severity, relapse episodes, engagement.

All grids are (patients, days) float32 arrays over the export window. Nothing here
depends on insurance, rurality, language or any other demographic attribute: the true
risk of relapse and of disengagement is the same in every group by construction.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._cohort import Cohort

# Severity on the PHQ-9 scale (0-27).
BASELINE_MEAN, BASELINE_SD, BASELINE_MIN, BASELINE_MAX = 14.5, 4.5, 4.0, 25.0
IMPROVEMENT_SCALE = 0.75  # share of baseline lost at full treatment response: Beta(2.2, 2) x this
RESPONSE_TAU = (30.0, 120.0)  # days, uniform
AR_PHI, AR_SD = 0.92, 2.2  # daily AR(1) deviation: persistence and stationary sd
GAD_AR_PHI, GAD_AR_SD = 0.90, 1.6

# Relapse episodes.
RELAPSE_RATE_PER_YEAR = (
    0.6  # hazard at residual severity 8 with no episode yet; frailty Gamma(2, 0.5)
)
# Residual symptoms and past episodes are the strongest known predictors of a new episode
# (Paykel et al. 1995; Judd et al. 1998: residual symptoms; Solomon et al. 2000: risk rises
# with each episode). The hazard scales by exp(0.12 per PHQ-9 point of the patient's
# treatment trajectory above 8) and by 1.5 for each onset so far in the window.
RELAPSE_RESIDUAL_CENTRE = 8.0
RELAPSE_RESIDUAL_SLOPE = 0.12
RELAPSE_PER_EPISODE = 1.5
RELAPSE_MIN_DAYS_IN_APP = 28  # onsets only once there is a month of data
RELAPSE_REFRACTORY = 90  # days between onsets
PRODROME_DAYS = (7, 21)  # inclusive
EPISODE_DAYS = (21, 56)  # inclusive
EPISODE_AMPLITUDE = (8.0, 13.0)  # PHQ-9 points at full intensity
PRODROME_SEVERITY = 2.5  # PHQ-9 points at the end of the prodrome
SLEEP_LESS_P = 0.7
SLEEP_LESS_MINUTES = (30.0, 60.0)
SLEEP_MORE_MINUTES = (40.0, 90.0)
RELAPSE_RECORDED_P = 0.9  # share of episodes the care team records as a 'relapse' event
RELAPSE_RECORD_DELAY = (0, 6)  # days after onset, inclusive

# Disengagement.
DISENGAGE_RATE_PER_YEAR = 0.9  # mean hazard; per-patient frailty Gamma(2, 0.5)
DISENGAGE_MIN_DAYS_IN_APP = 21
FADE_DAYS = (10, 21)  # inclusive: engagement falls linearly to FADE_FLOOR before the stop
FADE_FLOOR = 0.15
ABRUPT_P = 0.4  # share of spells with no fade: the patient simply stops
PERMANENT_P = 0.5
RETURN_AFTER = (14, 60)  # inclusive: days silent before a non-permanent return
WEARABLE_STOPS_P = 0.5  # the wearable also stops syncing while disengaged
LTFU_DISCHARGE_P = 0.7
LTFU_DISCHARGE_AFTER = (30, 90)  # inclusive: days after the stop


@dataclass
class Episodes:
    """Relapse episodes, one entry per episode (arrays of equal length)."""

    patient: np.ndarray
    prodrome_start: np.ndarray
    onset: np.ndarray
    end: np.ndarray  # exclusive
    amplitude: np.ndarray
    sleep_shift: np.ndarray  # signed minutes at full intensity
    recorded: np.ndarray  # bool: a 'relapse' event is written
    record_day: np.ndarray


@dataclass
class Disengagements:
    """Disengagement spells, one entry per spell."""

    patient: np.ndarray
    fade_start: np.ndarray
    start: np.ndarray  # first silent day
    end: np.ndarray  # exclusive; the window end (or later) when permanent
    permanent: np.ndarray
    wearable_stops: np.ndarray


@dataclass
class Latent:
    """Hidden daily state and the per-patient parameters behind it."""

    day: np.ndarray  # (1, D) day indexes for broadcasting
    active: np.ndarray  # bool (P, D)
    severity: np.ndarray  # PHQ-9 scale
    anxiety: np.ndarray  # GAD-7 scale
    prodrome: np.ndarray  # 0-1, ramps up before an onset
    episode: np.ndarray  # 0-1, episode intensity
    sleep_shift: np.ndarray  # minutes
    engagement: np.ndarray  # 0-1 multiplier on every patient-initiated stream
    silent: np.ndarray  # bool: inside a disengagement spell
    wear_blocked: np.ndarray  # bool: wearable stopped with the spell
    fading: np.ndarray  # bool: inside a fade
    baseline: np.ndarray
    improvement: np.ndarray
    response_tau: np.ndarray
    relapse_frailty: np.ndarray
    disengage_frailty: np.ndarray
    episodes: Episodes
    spells: Disengagements


def _ragged_arange(lengths: np.ndarray) -> np.ndarray:
    """0..len-1 for each length, concatenated."""
    offsets = np.repeat(np.cumsum(lengths) - lengths, lengths)
    return np.arange(int(lengths.sum())) - offsets


def _disengagement(
    rng: np.random.Generator, cohort: Cohort, days: int
) -> tuple[Disengagements, np.ndarray]:
    n = cohort.n
    frailty = rng.gamma(2.0, 0.5, n)
    hazard = DISENGAGE_RATE_PER_YEAR / 365.0 * frailty
    rows: list[tuple[np.ndarray, ...]] = []
    ready = cohort.start.astype(np.int64).copy()
    alive = np.ones(n, dtype=bool)
    # At most two spells per patient; the second can only follow a return.
    for _ in range(2):
        fade = rng.integers(FADE_DAYS[0], FADE_DAYS[1] + 1, n)
        fade = np.where(rng.random(n) < ABRUPT_P, 0, fade)
        wait = np.floor(rng.exponential(1.0, n) / hazard).astype(np.int64)
        start = ready + DISENGAGE_MIN_DAYS_IN_APP + fade + wait
        has = alive & (start < cohort.end)
        permanent = rng.random(n) < PERMANENT_P
        back = start + rng.integers(RETURN_AFTER[0], RETURN_AFTER[1] + 1, n)
        # A permanent spell runs to the window end; truth reports it without an end.
        end = np.where(permanent, days, back)
        stops = rng.random(n) < WEARABLE_STOPS_P
        idx = np.nonzero(has)[0]
        rows.append((idx, start[idx] - fade[idx], start[idx], end[idx], permanent[idx], stops[idx]))
        alive = has & ~permanent & (back < cohort.end)
        ready = back
    cols = [np.concatenate(parts) for parts in zip(*rows, strict=True)]
    order = np.lexsort((cols[2], cols[0]))
    return Disengagements(*(c[order] for c in cols)), frailty


def _lost_to_follow_up(rng: np.random.Generator, cohort: Cohort, spells: Disengagements) -> None:
    """Discharge some permanently silent patients, shortening their active span."""
    perm = spells.permanent
    p = spells.patient[perm]
    day = spells.start[perm] + rng.integers(
        LTFU_DISCHARGE_AFTER[0], LTFU_DISCHARGE_AFTER[1] + 1, len(p)
    )
    take = (rng.random(len(p)) < LTFU_DISCHARGE_P) & (day + 1 < cohort.end[p])
    p, day = p[take], day[take]
    cohort.end[p] = day + 1
    cohort.discharged[p] = True
    cohort.discharge_ltfu[p] = True
    # A planned discharge that falls inside a permanent silence is also a lost contact.
    silent_at_end = spells.patient[perm & (spells.start < cohort.end[spells.patient])]
    cohort.discharge_ltfu[silent_at_end] = cohort.discharged[silent_at_end]


def _episodes(
    rng: np.random.Generator, cohort: Cohort, day: np.ndarray, trajectory: np.ndarray
) -> tuple[Episodes, np.ndarray]:
    n, days = cohort.n, day.shape[1]
    frailty = rng.gamma(2.0, 0.5, n)
    hazard = (RELAPSE_RATE_PER_YEAR / 365.0 * frailty).astype(np.float32)[:, None] * np.exp(
        RELAPSE_RESIDUAL_SLOPE * (trajectory - RELAPSE_RESIDUAL_CENTRE)
    ).astype(np.float32)
    eligible = (day >= (cohort.start + RELAPSE_MIN_DAYS_IN_APP)[:, None]) & (
        day < cohort.end[:, None]
    )
    u = rng.random((n, days), dtype=np.float32)
    # Candidates at the highest multiplier a patient could reach; thinned day by day below.
    cap = float(RELAPSE_PER_EPISODE**3)
    candidate = eligible & (u < hazard * cap)
    onset = np.zeros((n, days), dtype=bool)
    last = np.full(n, -(10**6), dtype=np.int64)
    count = np.zeros(n, dtype=np.int64)
    # Enforce the refractory gap and the per-episode rise day by day, across patients.
    for d in np.nonzero(candidate.any(axis=0))[0]:
        mult = np.minimum(RELAPSE_PER_EPISODE**count, cap)
        ok = candidate[:, d] & (d - last >= RELAPSE_REFRACTORY) & (u[:, d] < hazard[:, d] * mult)
        onset[ok, d] = True
        last[ok] = d
        count[ok] += 1
    patient, on = np.nonzero(onset)
    k = len(patient)
    prodrome = rng.integers(PRODROME_DAYS[0], PRODROME_DAYS[1] + 1, k)
    length = rng.integers(EPISODE_DAYS[0], EPISODE_DAYS[1] + 1, k)
    amplitude = rng.uniform(*EPISODE_AMPLITUDE, k)
    less = rng.random(k) < SLEEP_LESS_P
    shift = np.where(
        less, -rng.uniform(*SLEEP_LESS_MINUTES, k), rng.uniform(*SLEEP_MORE_MINUTES, k)
    )
    record_day = on + rng.integers(RELAPSE_RECORD_DELAY[0], RELAPSE_RECORD_DELAY[1] + 1, k)
    recorded = (rng.random(k) < RELAPSE_RECORDED_P) & (record_day < cohort.end[patient])
    eps = Episodes(
        patient=patient,
        prodrome_start=on - prodrome,
        onset=on,
        end=on + length,
        amplitude=amplitude,
        sleep_shift=shift,
        recorded=recorded,
        record_day=record_day,
    )
    return eps, frailty


def _episode_grids(eps: Episodes, n: int, days: int) -> tuple[np.ndarray, ...]:
    prodrome = np.zeros((n, days), dtype=np.float32)
    episode = np.zeros((n, days), dtype=np.float32)
    amplitude = np.zeros((n, days), dtype=np.float32)
    sleep = np.zeros((n, days), dtype=np.float32)
    # Prodrome: a linear ramp from 1/L on its first day to 1 on the day before onset.
    lp = eps.onset - eps.prodrome_start
    k = _ragged_arange(lp)
    rows = np.repeat(eps.patient, lp)
    cols = np.repeat(eps.prodrome_start, lp) + k
    val = (k + 1) / np.repeat(lp, lp)
    keep = (cols >= 0) & (cols < days)
    prodrome[rows[keep], cols[keep]] = val[keep]
    sleep[rows[keep], cols[keep]] = (val * np.repeat(eps.sleep_shift, lp))[keep]
    # Episode: rises over 4 days, plateaus to its midpoint, then fades linearly to zero.
    le = eps.end - eps.onset
    k = _ragged_arange(le)
    rows = np.repeat(eps.patient, le)
    cols = np.repeat(eps.onset, le) + k
    full = np.repeat(le, le)
    half = full // 2
    val = np.where(k < half, np.minimum(1.0, (k + 1) / 4.0), (full - k) / (full - half))
    keep = cols < days
    episode[rows[keep], cols[keep]] = val[keep]
    amplitude[rows[keep], cols[keep]] = (val * np.repeat(eps.amplitude, le))[keep]
    sleep[rows[keep], cols[keep]] = (0.8 * val * np.repeat(eps.sleep_shift, le))[keep]
    return prodrome, episode, amplitude, sleep


def _engagement(spells: Disengagements, n: int, days: int) -> tuple[np.ndarray, ...]:
    engagement = np.ones((n, days), dtype=np.float32)
    silent = np.zeros((n, days), dtype=bool)
    fading = np.zeros((n, days), dtype=bool)
    blocked = np.zeros((n, days), dtype=bool)
    for p, f, s, e, stops in zip(
        spells.patient,
        spells.fade_start,
        spells.start,
        spells.end,
        spells.wearable_stops,
        strict=True,
    ):
        lo, hi = max(f, 0), min(s, days)
        if hi > lo:
            ramp = 1.0 - (1.0 - FADE_FLOOR) * (np.arange(lo, hi) - f + 1) / (s - f)
            engagement[p, lo:hi] = np.minimum(engagement[p, lo:hi], ramp)
            fading[p, lo:hi] = True
        lo, hi = max(s, 0), min(e, days)
        if hi > lo:
            engagement[p, lo:hi] = 0.0
            silent[p, lo:hi] = True
            fading[p, lo:hi] = False
            if stops:
                blocked[p, lo:hi] = True
    return engagement, silent, fading, blocked


def _ar1(rng: np.random.Generator, n: int, days: int, phi: float, sd: float) -> np.ndarray:
    out = np.empty((n, days), dtype=np.float32)
    x = rng.normal(0.0, sd, n)
    innovations = rng.normal(0.0, sd * np.sqrt(1 - phi**2), (days, n))
    for d in range(days):
        x = phi * x + innovations[d]
        out[:, d] = x
    return out


def simulate(
    rng_latent: np.random.Generator,
    rng_episodes: np.random.Generator,
    rng_disengage: np.random.Generator,
    cohort: Cohort,
    days: int,
) -> Latent:
    """Draw the hidden processes. Updates ``cohort.end`` for lost-to-follow-up discharges."""
    n = cohort.n
    day = np.arange(days, dtype=np.int64)[None, :]
    spells, dis_frailty = _disengagement(rng_disengage, cohort, days)
    _lost_to_follow_up(rng_disengage, cohort, spells)

    # Severity: personal mean improving with treatment, plus an AR(1) wobble, plus episodes.
    rng = rng_latent
    baseline = np.clip(rng.normal(BASELINE_MEAN, BASELINE_SD, n), BASELINE_MIN, BASELINE_MAX)
    improvement = rng.beta(2.2, 2.0, n) * IMPROVEMENT_SCALE
    tau = rng.uniform(*RESPONSE_TAU, n)
    since = np.maximum(day - cohort.enrol[:, None], 0).astype(np.float32)
    mean = baseline[:, None] * (1.0 - improvement[:, None] * (1.0 - np.exp(-since / tau[:, None])))
    mean = mean.astype(np.float32)
    # The residual severity of the treatment trajectory drives the relapse hazard.
    eps, rel_frailty = _episodes(rng_episodes, cohort, day, mean)
    prodrome, episode, amplitude, sleep = _episode_grids(eps, n, days)
    engagement, silent, fading, blocked = _engagement(spells, n, days)
    severity = mean + _ar1(rng, n, days, AR_PHI, AR_SD)
    severity += PRODROME_SEVERITY * prodrome + amplitude
    np.clip(severity, 0.0, 27.0, out=severity)
    # Anxiety tracks severity with a personal mix and its own wobble, and rises in episodes.
    mix = rng.uniform(0.55, 0.95, n).astype(np.float32)
    offset = rng.normal(0.0, 2.0, n).astype(np.float32)
    anxiety = mix[:, None] * severity * (21.0 / 27.0) + offset[:, None]
    anxiety += _ar1(rng, n, days, GAD_AR_PHI, GAD_AR_SD) + 0.35 * amplitude + prodrome
    np.clip(anxiety, 0.0, 21.0, out=anxiety)

    active = (day >= cohort.start[:, None]) & (day < cohort.end[:, None])
    return Latent(
        day=day,
        active=active,
        severity=severity,
        anxiety=anxiety,
        prodrome=prodrome,
        episode=episode,
        sleep_shift=sleep,
        engagement=engagement,
        silent=silent,
        wear_blocked=blocked,
        fading=fading,
        baseline=baseline,
        improvement=improvement,
        response_tau=tau,
        relapse_frailty=rel_frailty,
        disengage_frailty=dis_frailty,
        episodes=eps,
        spells=spells,
    )
