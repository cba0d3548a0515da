"""The baseline: plain pandas reading and validating the same contract files.

It applies the same column rules as ingest (types, ranges, choices, lengths, required,
references, keys repeated in a file, future timestamps) from the same contract
definitions, and keeps the valid rows in memory. It stores nothing and analyses no
message text, so it does less than ``caseload ingest``; the ratio is conservative.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from analytics.data.contract import (
    CURRENT_YEAR,
    INGEST_ORDER,
    NULL_TOKENS,
    ColumnType,
    Table,
    table_for_stem,
)

INT_RE = r"^[+-]?\d{1,15}(\.0*)?$"
NUM_RE = r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$"
DATE_RE = r"^\d{4}-\d{2}-\d{2}$"


def _validate(frame: pd.DataFrame, table: Table, known: dict[str, set[str]]) -> pd.DataFrame:
    frame.columns = [c.strip().lower() for c in frame.columns]
    bad = pd.Series(False, index=frame.index)
    parsed: dict[str, pd.Series] = {}
    now = datetime.now(UTC)
    for col in table.columns:
        raw = (
            frame[col.name]
            if col.name in frame.columns
            else pd.Series(pd.NA, index=frame.index, dtype="object")
        )
        raw = (
            raw.where(~raw.str.strip().isin(NULL_TOKENS), other=pd.NA)
            if raw.dtype == object
            else raw
        )
        present = raw.notna()
        if col.required:
            bad |= ~present
        text = raw.fillna("").astype(str).str.strip()
        if col.type is ColumnType.INTEGER:
            ok = text.str.match(INT_RE)
            value = pd.to_numeric(text.where(ok), errors="coerce")
        elif col.type is ColumnType.NUMBER:
            ok = text.str.match(NUM_RE)
            value = pd.to_numeric(text.where(ok), errors="coerce")
        elif col.type is ColumnType.DATE:
            value = pd.to_datetime(
                text.where(text.str.match(DATE_RE)), format="%Y-%m-%d", errors="coerce"
            )
        elif col.type is ColumnType.TIMESTAMP:
            value = pd.to_datetime(text.where(present), format="ISO8601", utc=True, errors="coerce")
        else:
            value = raw
        if col.type is not ColumnType.TEXT:
            bad |= present & value.isna()
        if col.choices:
            bad |= (
                present
                & ~text.str.lower().isin([c.lower() for c in col.choices])
                & (col.name != "instrument")
            )
        high = now.year if col.maximum == CURRENT_YEAR else col.maximum
        if col.minimum is not None:
            bad |= present & (value < col.minimum)
        if high is not None:
            bad |= present & (value > high)
        if col.max_length is not None:
            bad |= present & (text.str.len() > col.max_length)
        if col.not_future and col.type is ColumnType.TIMESTAMP:
            bad |= present & (value > pd.Timestamp(now + timedelta(days=1)))
        if col.references:
            ref_table = col.references.split(".")[0]
            bad |= present & ~text.isin(known.get(ref_table, set()))
        parsed[col.name] = value
    if table.name == "assessments":
        items = pd.DataFrame({f"item_{i}": parsed[f"item_{i}"] for i in range(1, 10)})
        total = parsed["total"]
        bad |= total.notna() & (total != items.fillna(0).sum(axis=1))
    if table.name == "wearable_daily":
        metrics = [
            "sleep_minutes",
            "steps",
            "resting_hr",
            "hrv_rmssd_ms",
            "active_minutes",
            "wear_minutes",
        ]
        bad |= pd.DataFrame({m: parsed[m] for m in metrics}).isna().all(axis=1)
    key = pd.DataFrame({k: parsed[k] for k in table.key if k in parsed})
    bad |= (~bad) & key.duplicated(keep="first") & np.asarray(~bad)
    valid = pd.DataFrame(parsed)[~bad]
    if table.name in ("clinicians", "patients"):
        known[table.name] = set(valid[table.key[0]].astype(str))
    return valid


def read_and_validate(folder: Path) -> tuple[dict[str, tuple[int, int]], dict[str, float]]:
    """Read every contract CSV in ``folder``; return (rows read, valid rows) and seconds per file."""
    files = sorted(
        folder.glob("*.csv"),
        key=lambda p: (INGEST_ORDER.index(table_for_stem(p.stem).name), p.name),
    )
    known: dict[str, set[str]] = {}
    out: dict[str, tuple[int, int]] = {}
    seconds: dict[str, float] = {}
    for path in files:
        started = time.perf_counter()
        table = table_for_stem(path.stem)
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
        frame = frame.replace("", pd.NA)
        out[path.name] = (len(frame), len(_validate(frame, table, known)))
        seconds[path.name] = time.perf_counter() - started
    return out, seconds
