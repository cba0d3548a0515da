"""Benchmark baseline: the model features of ``analytics.models.features`` in plain pandas.

The same definitions (dense daily calendar, the same windows and minimum counts), written
the way a data scientist would in pandas: per-table groupbys, merges and
``groupby().rolling()``. The benchmark runs it on the same warehouse and compares both
the time and the values with the DuckDB version.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from analytics.clinical import MAX_BLANK_ITEMS
from analytics.models.features import CLINICAL_EVENT_KINDS, EPISODE_FEATURES, FEATURE_NAMES
from analytics.models.windows import MIN_WEAR_MINUTES, RECENT, USUAL
from analytics.settings import ClinicalSettings


def _prorated(frame: pd.DataFrame, items: list[str], instrument: str) -> pd.Series:
    """The published proration, written here apart from the SQL: the answered items'
    sum scaled to all items, halves rounded up; missing past the allowed blanks."""
    answered = frame[items].notna().sum(axis=1)
    scaled = frame[items].sum(axis=1) * len(items) / answered.where(answered > 0)
    total = np.floor(scaled + 0.5)
    return total.where((answered > 0) & (len(items) - answered <= MAX_BLANK_ITEMS[instrument]))


def _read(warehouse: Path, table: str, tz: str) -> pd.DataFrame:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        frame = con.execute(f'SELECT * EXCLUDE (_run_id) FROM "{table}"').df()
    finally:
        con.close()
    for col in frame.columns:
        if isinstance(frame[col].dtype, pd.DatetimeTZDtype):
            frame[col] = frame[col].dt.tz_convert(tz)
    return frame


def _day(ts: pd.Series) -> pd.Series:
    return ts.dt.normalize().dt.tz_localize(None)


def build_features_pandas(
    warehouse: Path, *, as_of: Sequence[date], timezone: str = "UTC"
) -> pd.DataFrame:
    """patient_id, as_of and every feature, for patients active on each as-of date."""
    dates = pd.to_datetime(sorted(set(as_of)))
    lo, hi = dates.min(), dates.max()
    pts = _read(warehouse, "patients", timezone)
    pts["enrolled_on"] = pd.to_datetime(pts["enrolled_on"])
    pts["discharged_on"] = pd.to_datetime(pts["discharged_on"])
    pts = pts[(pts.enrolled_on <= hi) & (pts.discharged_on.isna() | (pts.discharged_on > lo))]

    ck = _read(warehouse, "checkins", timezone)
    ck["d"] = _day(ck["checked_in_at"])
    ck = (
        ck[ck.d <= hi]
        .groupby(["patient_id", "d"])
        .agg(checkins=("mood", "size"), mood=("mood", "mean"), anxiety=("anxiety", "mean"))
    )

    wd = _read(warehouse, "wearable_daily", timezone)
    wd["d"] = pd.to_datetime(wd["date"])
    wd = wd[wd.d <= hi]
    wd["_wear"] = wd["wear_minutes"].fillna(0)
    wd = wd.sort_values("_wear", ascending=False, kind="stable")
    g = wd.groupby(["patient_id", "d"])
    # first() skips missing values: the longest-worn source that reported each metric.
    w = g[["sleep_minutes", "steps", "resting_hr", "hrv_rmssd_ms"]].first()
    has = g[["sleep_minutes", "resting_hr", "hrv_rmssd_ms"]].count().sum(axis=1) > 0
    w["wear_day"] = has | (g["wear_minutes"].max().fillna(0) >= MIN_WEAR_MINUTES)
    w["sleep"] = (w["sleep_minutes"] / 60.0).where(w["wear_day"])
    w["steps"] = w["steps"].where(w["wear_day"])
    w = w.rename(columns={"hrv_rmssd_ms": "hrv"})[
        ["sleep", "steps", "resting_hr", "hrv", "wear_day"]
    ]

    msg = _read(warehouse, "messages", timezone)
    msg = msg[msg.sender == "patient"].copy()
    msg["d"] = _day(msg["sent_at"])
    msg["flag"] = msg["crisis_level"].isin(["concern", "crisis"])
    msg = (
        msg[msg.d <= hi]
        .groupby(["patient_id", "d"])
        .agg(
            messages=("message_id", "size"),
            sent_sum=("sentiment", "sum"),
            sent_n=("sentiment", "count"),
            flags=("flag", "sum"),
        )
    )

    asm = _read(warehouse, "assessments", timezone)
    asm["d"] = _day(asm["completed_at"])
    asm = asm[asm.d <= hi].sort_values("completed_at")
    items = [f"item_{i}" for i in range(1, 10)]
    phq = asm[asm.instrument == "PHQ-9"].assign(phq9=lambda f: _prorated(f, items, "PHQ-9"))
    phq = phq.groupby(["patient_id", "d"]).agg(phq9=("phq9", "last"), item9=("item_9", "last"))
    gad = asm[asm.instrument == "GAD-7"].assign(gad7=lambda f: _prorated(f, items[:7], "GAD-7"))
    gad = gad.groupby(["patient_id", "d"]).agg(gad7=("gad7", "last"))

    ap = _read(warehouse, "appointments", timezone)
    ap["d"] = _day(ap["scheduled_at"])
    ap = ap[ap.d <= hi]
    ap = (
        ap.assign(attended=ap.status.eq("attended"), no_shows=ap.status.eq("no_show"))
        .groupby(["patient_id", "d"])[["attended", "no_shows"]]
        .sum()
    )

    ev = _read(warehouse, "events", timezone)
    ev["d"] = _day(ev["occurred_at"])
    ev = ev[(ev.d <= hi) & ev.kind.isin(CLINICAL_EVENT_KINDS)].groupby(["patient_id", "d"]).size()
    ev = ev.rename("events").to_frame()

    sources = [ck, w, msg, phq, gad, ap, ev]
    first = pd.concat([s.reset_index()[["patient_id", "d"]] for s in sources])
    first = first.groupby("patient_id")["d"].min()
    span = pts.set_index("patient_id")[["enrolled_on", "discharged_on"]]
    span["start"] = np.minimum(span.enrolled_on, first.reindex(span.index).fillna(span.enrolled_on))
    span["stop"] = (span.discharged_on - pd.Timedelta(days=1)).fillna(hi).clip(upper=hi)
    span = span[span.stop >= span.start]
    lengths = ((span.stop - span.start).dt.days + 1).to_numpy()
    cal = pd.DataFrame(
        {
            "patient_id": np.repeat(span.index.to_numpy(), lengths),
            "d": np.repeat(span.start.to_numpy(), lengths)
            + pd.to_timedelta(
                np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths), "D"
            ),
            "enrolled_on": np.repeat(span.enrolled_on.to_numpy(), lengths),
        }
    )
    daily = cal
    for s in sources:
        daily = daily.merge(s, left_on=["patient_id", "d"], right_index=True, how="left")
    for col in (
        "checkins",
        "messages",
        "sent_sum",
        "sent_n",
        "flags",
        "attended",
        "no_shows",
        "events",
    ):
        daily[col] = daily[col].fillna(0)
    daily["wear_day"] = daily["wear_day"].fillna(False).astype(bool)
    daily = daily.sort_values(["patient_id", "d"]).reset_index(drop=True)
    daily["dn"] = (daily["d"] - pd.Timestamp("1970-01-01")).dt.days.astype("float64")
    out = _windows(daily, dates)
    history = _episode_history(out[["patient_id", "as_of"]], phq, gad, ev)
    out = out.drop(columns=list(EPISODE_FEATURES)).merge(history, on=["patient_id", "as_of"])
    return out[["patient_id", "as_of", *FEATURE_NAMES]]


def _episode_history(
    rows: pd.DataFrame, phq: pd.DataFrame, gad: pd.DataFrame, ev: pd.DataFrame
) -> pd.DataFrame:
    """Episode history at each (patient, as-of) row, the definitions of EPISODE_HISTORY_SQL
    written as per-patient cumulative operations on a sorted table of marks."""
    c = ClinicalSettings()
    sit = phq[["phq9"]].join(gad[["gad7"]], how="outer").reset_index()
    sit = sit.sort_values(["patient_id", "d"])
    sit[["phq9", "gad7"]] = sit.groupby("patient_id")[["phq9", "gad7"]].ffill()
    sit["is_event"] = 0
    events = ev.reset_index()[["patient_id", "d"]].assign(is_event=1, phq9=np.nan, gad7=np.nan)
    marks = pd.concat([sit, events], ignore_index=True)
    marks = marks.sort_values(["patient_id", "d", "is_event"]).reset_index(drop=True)
    marks["unwell"] = (
        marks.is_event.eq(1) | (marks.phq9 >= c.phq9_caseness) | (marks.gad7 >= c.gad7_caseness)
    )
    g = marks.groupby("patient_id")
    prev = g["unwell"].shift(1)
    well = marks[["phq9", "gad7"]].where(~marks["unwell"], np.nan)
    well["patient_id"] = marks["patient_id"]
    last_well = well.groupby("patient_id")[["phq9", "gad7"]].ffill()
    last_well["patient_id"] = marks["patient_id"]
    last_well = last_well.groupby("patient_id")[["phq9", "gad7"]].shift(1)
    rise = (
        marks.is_event.eq(1)
        | (marks.phq9 >= last_well.phq9 + c.phq9_reliable_change)
        | (marks.gad7 >= last_well.gad7 + c.gad7_reliable_change)
    )
    marks["onset"] = marks["unwell"] & prev.eq(False) & rise
    marks["ended"] = ~marks["unwell"] & prev.eq(True)
    marks["n_onsets"] = marks.groupby("patient_id")["onset"].cumsum()
    marks["onset_d"] = marks["d"].where(marks["onset"])
    marks["end_d"] = marks["d"].where(marks["ended"])
    marks[["onset_d", "end_d"]] = marks.groupby("patient_id")[["onset_d", "end_d"]].ffill()
    left = rows.assign(t=pd.to_datetime(rows["as_of"]).astype("datetime64[us]")).sort_values("t")
    marks["d"] = marks["d"].astype("datetime64[us]")
    right = marks.sort_values("d")
    joined = pd.merge_asof(left, right, left_on="t", right_on="d", by="patient_id")
    out = pd.DataFrame(
        {
            "patient_id": joined["patient_id"],
            "as_of": joined["as_of"],
            "episodes_so_far": joined["n_onsets"].fillna(0).astype(float),
            "days_since_onset": (joined["t"] - joined["onset_d"]).dt.days.astype(float),
            "days_since_episode_end": (joined["t"] - joined["end_d"]).dt.days.astype(float),
            "in_episode": joined["unwell"].astype(float),
        }
    )
    return out


def _windows(daily: pd.DataFrame, dates: pd.DatetimeIndex) -> pd.DataFrame:
    g = daily.groupby("patient_id", sort=False)
    lo, hi = USUAL.newest, USUAL.oldest

    def roll(col: str | pd.Series, n: int, how: str, shift: int = 0) -> pd.Series:
        s = daily[col] if isinstance(col, str) else col
        r = getattr(s.groupby(daily["patient_id"], sort=False).rolling(n, min_periods=1), how)()
        r = r.reset_index(level=0, drop=True).sort_index()
        if shift:
            r = r.groupby(daily["patient_id"], sort=False).shift(shift)
        return r

    out = pd.DataFrame({"patient_id": daily["patient_id"], "d": daily["d"]})
    base_n = hi - lo + 1
    for key in ("sleep", "steps", "resting_hr", "hrv", "mood", "anxiety"):
        n7 = roll(key, RECENT.days, "count", RECENT.newest)
        out[f"{key}_7d"] = roll(key, RECENT.days, "mean", RECENT.newest).where(
            n7 >= RECENT.min_values
        )
        nb = roll(key, base_n, "count", lo)
        out[f"{key}_baseline"] = roll(key, base_n, "mean", lo).where(nb >= USUAL.min_values)
        out[f"{key}_delta"] = out[f"{key}_7d"] - out[f"{key}_baseline"]
    for key in ("sleep", "mood"):
        out[f"{key}_sd_14d"] = roll(key, 14, "std").where(roll(key, 14, "count") >= 5)
    for key in ("phq9", "gad7"):
        out[f"{key}_latest"] = g[key].ffill()
        dn_k = daily["dn"].where(daily[key].notna())
        n29 = roll(key, 29, "count")
        first_dn = roll(dn_k, 29, "min")
        lookup = daily[["patient_id", "dn", key]].dropna().rename(columns={key: "_first"})
        first_val = (
            pd.DataFrame({"patient_id": daily["patient_id"], "dn": first_dn})
            .merge(lookup, on=["patient_id", "dn"], how="left")["_first"]
            .to_numpy()
        )
        out[f"{key}_change_28d"] = (out[f"{key}_latest"] - first_val).where(n29 >= 2)
        y, x = daily[key], dn_k
        n = roll(y, 56, "count")
        sx, sy = roll(x, 56, "sum"), roll(y, 56, "sum")
        sxy, sxx = roll(x * y, 56, "sum"), roll(x * x, 56, "sum")
        slope = (n * sxy - sx * sy) / (n * sxx - sx * sx)
        out[f"{key}_slope_56d"] = (7 * slope).where(n >= 3)
    assessed = daily["dn"].where(daily["phq9"].notna() | daily["gad7"].notna())
    out["days_since_assessment"] = daily["dn"] - assessed.groupby(daily["patient_id"]).ffill()
    out["item9_latest"] = g["item9"].ffill()
    pos = (daily["item9"] > 0).astype(float)
    out["item9_positive_90d"] = roll(pos, 90, "sum").where(roll("item9", 90, "count") > 0)
    checked = (daily["checkins"] > 0).astype(float)
    for n in (7, 14, 28):
        out[f"checkin_days_{n}d"] = roll(checked, n, "sum")
    nb = roll(checked, base_n, "count", lo)
    out["checkin_days_baseline"] = (7.0 * roll(checked, base_n, "sum", lo) / nb).where(
        nb >= USUAL.min_values
    )
    out["checkin_delta"] = out["checkin_days_7d"] - out["checkin_days_baseline"]
    last_ck = daily["dn"].where(daily["checkins"] > 0).groupby(daily["patient_id"]).ffill()
    out["days_since_checkin"] = daily["dn"] - last_ck
    out["messages_14d"] = roll("messages", 14, "sum")
    out["message_trend"] = out["messages_14d"] - roll("messages", 14, "sum", 14)
    last_msg = daily["dn"].where(daily["messages"] > 0).groupby(daily["patient_id"]).ffill()
    out["days_since_message"] = daily["dn"] - last_msg
    seen = roll("attended", 90, "sum") + roll("no_shows", 90, "sum")
    out["no_show_rate_90d"] = (100.0 * roll("no_shows", 90, "sum") / seen).where(seen > 0)
    n14 = roll("sent_n", 14, "sum")
    out["sentiment_14d"] = (roll("sent_sum", 14, "sum") / n14).where(n14 > 0)
    nbs = roll("sent_n", base_n, "sum", lo)
    baseline = (roll("sent_sum", base_n, "sum", lo) / nbs).where(nbs >= USUAL.min_values)
    out["sentiment_trend"] = out["sentiment_14d"] - baseline
    out["flags_28d"] = roll("flags", 28, "sum")
    out["wear_days_14d"] = roll(daily["wear_day"].astype(float), 14, "sum")
    out["sentiment_available"] = (roll("sent_n", 28, "sum") > 0).astype(float)
    out["events_180d"] = roll("events", 180, "sum")
    out["days_in_care"] = (daily["d"] - daily["enrolled_on"]).dt.days.astype(float)
    for name in EPISODE_FEATURES:  # from the marks table in _episode_history
        out[name] = np.nan
    picked = out[out["d"].isin(dates)].rename(columns={"d": "as_of"})
    picked["as_of"] = picked["as_of"].dt.date
    cols = ["patient_id", "as_of", *FEATURE_NAMES]
    return picked[cols].sort_values(["patient_id", "as_of"]).reset_index(drop=True)
