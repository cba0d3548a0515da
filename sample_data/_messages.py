"""Chat messages between patients, their clinicians and the app's assistant."""

from __future__ import annotations

import numpy as np
import polars as pl

from . import phrases
from ._cohort import Cohort
from ._latent import Latent
from ._tables import HOUR, REMINDER_HOUR, Adherence
from ._util import DAY, Bank, Clock, choice_index

PATIENT_MESSAGE_RATE = 0.25  # mean messages per active day; Gamma(shape 1.2) across patients
STRUGGLE_BOOST = 0.5  # more messages at full prodrome / episode intensity
NIGHT_P = 0.04  # sent between midnight and 06:00
# Categories drawn by a multinomial logit on distress z = (severity - 10)/5 + 1.5 prodrome
# + 1.2 episode. Each entry: (intercept, slope on z).
CATEGORY_LOGIT = {
    "positive": (0.8, -0.9),
    "neutral": (0.9, 0.0),
    "logistics": (0.6, 0.0),
    "negative": (-0.3, 0.8),
    "concern": (-2.8, 1.1),
    "idiom": (-1.7, 0.0),
    "negated": (-3.2, 0.5),
}
CATEGORIES = tuple(CATEGORY_LOGIT)
CRISIS_BASE_P = 0.0008  # per patient message, outside episodes
CRISIS_EPISODE_P = 0.02  # added at full episode intensity
RISK_CATEGORIES = ("concern", "crisis", "negated")
SPANISH_WRITES_SPANISH_P = 0.85
OTHER_WRITES_OWN_P = 0.4
CLINICIAN_REPLY_P = {"concern": 0.9, "crisis": 1.0, "negated": 0.8}
CLINICIAN_REPLY_DEFAULT_P = 0.45
CLINICIAN_SPANISH_P = 0.75
ASSISTANT_ACK_P = 0.25
OUTREACH_DAYS = (5, 12, 21, 35)  # clinician outreach, days into a silence

SENDER_RANK = {"patient": 0, "assistant": 1, "clinician": 2}


def _assemble(
    rng: np.random.Generator, bank: Bank, lang: np.ndarray, cat: np.ndarray, decorate: np.ndarray
) -> pl.Series:
    """Opener + body + tail; only rows with ``decorate`` get a tail."""
    m = len(lang)
    body = bank.text(bank.pick(bank.list_ids(lang, cat), rng.random(m)))
    deco = Bank(
        {(la, "opener"): v for la, v in phrases.OPENERS.items()}
        | {(la, "tail"): v for la, v in phrases.TAILS.items()}
    )
    has_deco = np.isin(lang, list(phrases.OPENERS))
    safe_lang = np.where(has_deco, lang, "en")
    opener = deco.text(deco.pick(deco.list_ids(safe_lang, np.full(m, "opener")), rng.random(m)))
    tail = deco.text(deco.pick(deco.list_ids(safe_lang, np.full(m, "tail")), rng.random(m)))
    frame = pl.DataFrame(
        {
            "o": opener,
            "b": body,
            "t": tail,
            "deco": has_deco,
            "tail_ok": has_deco & decorate,
        }
    )
    out = frame.select(
        pl.concat_str(
            pl.when(pl.col("deco") & (pl.col("o") != ""))
            .then(pl.col("o") + " ")
            .otherwise(pl.lit("")),
            pl.col("b"),
            pl.when(pl.col("tail_ok")).then(pl.col("t")).otherwise(pl.lit("")),
        ).alias("text")
    )
    return out.to_series()


def messages(
    rng: np.random.Generator,
    cohort: Cohort,
    lat: Latent,
    clock: Clock,
    adherence: Adherence,
) -> tuple[pl.DataFrame, pl.DataFrame, np.ndarray, np.ndarray]:
    """Messages table, per-message truth, and the (patient, local seconds) of crisis messages."""
    n, days = cohort.n, clock.days
    rate = rng.gamma(1.2, PATIENT_MESSAGE_RATE / 1.2, n).astype(np.float32)
    lam = rate[:, None] * lat.engagement * adherence.decay
    lam *= 1 + STRUGGLE_BOOST * np.maximum(lat.prodrome, lat.episode)
    lam[~lat.active] = 0
    counts = rng.poisson(lam)
    del lam
    pi, di = np.nonzero(counts)
    reps = counts[pi, di]
    pi, di = np.repeat(pi, reps), np.repeat(di, reps)
    m = len(pi)
    night = rng.random(m) < NIGHT_P
    sec = np.where(night, rng.integers(0, 6 * HOUR, m), rng.integers(7 * HOUR, 23 * HOUR + 1800, m))
    t_patient = di * DAY + sec

    z = (lat.severity[pi, di] - 10) / 5 + 1.5 * lat.prodrome[pi, di] + 1.2 * lat.episode[pi, di]
    coef = np.asarray(list(CATEGORY_LOGIT.values()))
    logits = coef[:, 0][None, :] + coef[:, 1][None, :] * z[:, None]
    probs = np.exp(logits - logits.max(axis=1, keepdims=True))
    cat = np.asarray(CATEGORIES, dtype=object)[choice_index(rng.random(m), probs)]
    crisis_p = CRISIS_BASE_P + CRISIS_EPISODE_P * lat.episode[pi, di]
    cat = np.where(rng.random(m) < crisis_p, "crisis", cat)

    bank = Bank(phrases.PATIENT_BODIES)
    own = cohort.lang_code[pi]
    u = rng.random(m)
    lang = np.where(own == "es", np.where(u < SPANISH_WRITES_SPANISH_P, "es", "en"), "en").astype(
        object
    )
    other = (own != "es") & (own != "en") & (u < OTHER_WRITES_OWN_P)
    has_list = bank.list_ids(own, cat) >= 0
    lang = np.where(other & has_list, own, lang)
    text_patient = _assemble(rng, bank, lang, cat, ~np.isin(cat, RISK_CATEGORIES))

    # Clinician replies: fast and near-certain for risk messages.
    reply_p = np.full(m, CLINICIAN_REPLY_DEFAULT_P)
    for c, p in CLINICIAN_REPLY_P.items():
        reply_p[cat == c] = p
    replied = rng.random(m) < reply_p
    delay = np.where(
        cat == "crisis",
        rng.integers(3 * 60, 30 * 60, m),
        np.where(
            cat == "concern",
            rng.lognormal(np.log(HOUR), 0.6, m),
            rng.lognormal(np.log(3 * HOUR), 0.8, m),
        ),
    ).astype(np.int64)
    c_lang = np.where((lang == "es") & (rng.random(m) < CLINICIAN_SPANISH_P), "es", "en").astype(
        object
    )
    c_cat = np.where(np.isin(cat, ("concern", "crisis")), "safety", "reply").astype(object)
    cb = Bank(phrases.CLINICIAN_BODIES)
    r = np.nonzero(replied)[0]
    text_reply = cb.text(cb.pick(cb.list_ids(c_lang[r], c_cat[r]), rng.random(len(r))))

    # Assistant: instant acknowledgements, and a safety message after every crisis message.
    ab = Bank(phrases.ASSISTANT_BODIES)
    a_lang = np.where(lang == "es", "es", "en").astype(object)
    ack = (cat != "crisis") & (rng.random(m) < ASSISTANT_ACK_P)
    a_idx = np.nonzero(ack | (cat == "crisis"))[0]
    a_cat = np.where(cat[a_idx] == "crisis", "safety", "ack").astype(object)
    text_ack = ab.text(ab.pick(ab.list_ids(a_lang[a_idx], a_cat), rng.random(len(a_idx))))
    a_delay = np.where(
        cat[a_idx] == "crisis", rng.integers(2, 21, len(a_idx)), rng.integers(5, 61, len(a_idx))
    )

    # Assistant reminders after a few days without a check-in, every third day (drawn with
    # the check-ins, which answer them).
    remind = adherence.reminders
    rp, rd = np.nonzero(remind)
    r_lang = np.where(cohort.spanish[rp], "es", "en").astype(object)
    text_remind = ab.text(
        ab.pick(ab.list_ids(r_lang, np.full(len(rp), "reminder")), rng.random(len(rp)))
    )
    t_remind = rd * DAY + REMINDER_HOUR * HOUR + rng.integers(0, 600, len(rp))

    # Clinician outreach into a silence.
    sp = lat.spells
    op = np.repeat(sp.patient, len(OUTREACH_DAYS))
    od = np.repeat(sp.start, len(OUTREACH_DAYS)) + np.tile(OUTREACH_DAYS, len(sp.patient))
    ok = od < np.repeat(np.minimum(sp.end, days), len(OUTREACH_DAYS))
    op, od = op[ok], od[ok]
    o_lang = np.where(
        cohort.spanish[op] & (rng.random(len(op)) < CLINICIAN_SPANISH_P), "es", "en"
    ).astype(object)
    text_out = cb.text(
        cb.pick(cb.list_ids(o_lang, np.full(len(op), "outreach")), rng.random(len(op)))
    )
    t_out = od * DAY + rng.integers(10 * HOUR, 16 * HOUR, len(op))

    parts = [
        (pi, t_patient, "patient", cat, lang, text_patient),
        (pi[r], t_patient[r] + delay[r], "clinician", c_cat[r], c_lang[r], text_reply),
        (pi[a_idx], t_patient[a_idx] + a_delay, "assistant", a_cat, a_lang[a_idx], text_ack),
        (
            rp,
            t_remind,
            "assistant",
            np.full(len(rp), "reminder", dtype=object),
            r_lang,
            text_remind,
        ),
        (op, t_out, "clinician", np.full(len(op), "outreach", dtype=object), o_lang, text_out),
    ]
    frame = pl.concat(
        [
            pl.DataFrame(
                {
                    "p": np.asarray(p, dtype=np.int64),
                    "t": np.asarray(t, dtype=np.int64),
                    "sender": pl.Series([s] * len(p), dtype=pl.String),
                    "rank": np.full(len(p), SENDER_RANK[s], dtype=np.int8),
                    "category": pl.Series(c, dtype=pl.String),
                    "language": pl.Series(la, dtype=pl.String),
                    "text": txt,
                }
            )
            for p, t, s, c, la, txt in parts
        ]
    )
    end = pl.Series(cohort.end.astype(np.int64))
    frame = frame.filter(
        (pl.col("t") < clock.end_seconds) & ((pl.col("t") // DAY) < end.gather(frame["p"]))
    ).sort("p", "t", "rank", "text")
    width = max(8, len(str(frame.height)))
    ids = pl.Series(
        "message_id", [f"M{i + 1:0{width}d}" for i in range(frame.height)], dtype=pl.String
    )
    patient_ids = pl.Series("patient_id", cohort.ids, dtype=pl.String).gather(frame["p"].to_numpy())
    table = pl.DataFrame(
        [
            ids,
            patient_ids,
            clock.timestamps(frame["t"].to_numpy(), "sent_at"),
            frame["sender"],
            frame["text"],
        ]
    )
    truth = pl.DataFrame([ids, patient_ids, frame["sender"], frame["category"], frame["language"]])
    crisis = frame.filter((pl.col("sender") == "patient") & (pl.col("category") == "crisis"))
    return table, truth, crisis["p"].to_numpy(), crisis["t"].to_numpy()
