"""Bias audits of this product's own models, from their held-out predictions.

At refresh, :func:`store_model_audits` copies each current model's held-out test
predictions into the snapshot (``heldout_predictions``, patients under their pseudonyms)
and stores a default audit (every attribute, the first alert budget, the largest group as
reference) with :func:`analytics.fairness.write_audit_tables`. The Fairness page reruns
:func:`audit_model` on the same rows when a researcher picks other options.
"""

from __future__ import annotations

from collections.abc import Sequence

import duckdb
import pandas as pd
import polars as pl

from analytics.access.disclosure import ATTRIBUTES, fold_category
from analytics.access.keys import patient_pseudonym, pseudonym_key
from analytics.data.store import DataDir
from analytics.fairness import AUDIT_TABLES_SCHEMA as FAIRNESS_SCHEMA
from analytics.fairness import AuditResult, audit_predictions, write_audit_tables
from analytics.models import registry
from analytics.settings import Settings

__all__ = [
    "COVERAGE",
    "DEFAULT_INTERSECTIONS",
    "HELDOUT_COLUMNS",
    "audit_model",
    "heldout_for_snapshot",
    "store_model_audits",
    "thresholds_for",
]

# Coverage measures the audit reports by group: the usual roots of unequal performance.
COVERAGE = {
    "wearable data (14 days)": "has_wearable",
    "sentiment available (supported language)": "sentiment_available",
    "regular check-ins (7+ of 14 days)": "regular_checkins",
}
HELDOUT_COLUMNS = (
    "patient_key",
    "as_of",
    "model",
    "version",
    "label",
    "probability",
    *ATTRIBUTES,
    "has_wearable",
    "sentiment_available",
    "regular_checkins",
)
# Intersections audited by default: where coverage differences are expected to compound.
DEFAULT_INTERSECTIONS = (("insurance", "rurality"), ("race_ethnicity", "primary_language"))


def heldout_for_snapshot(data_dir: DataDir) -> pd.DataFrame:
    """Every current model's held-out predictions, pseudonymised, with coverage flags."""

    key = pseudonym_key(data_dir.root)
    frames = []
    for entry in registry.current_models(data_dir):
        path = data_dir.models / entry["path"] / registry.HELDOUT_FILE
        if not path.is_file():
            continue
        frame = pd.read_parquet(path)
        frame["patient_key"] = [patient_pseudonym(key, str(p)) for p in frame["patient_id"]]
        frame["has_wearable"] = frame["wear_days_14d"].fillna(0) > 0
        frame["sentiment_available"] = frame["sentiment_available"].fillna(False).astype(bool)
        frame["regular_checkins"] = frame["checkin_days_14d"].fillna(0) >= 7
        frames.append(frame[list(HELDOUT_COLUMNS)])
    if frames:
        frames = [_fold_categories(pd.concat(frames, ignore_index=True))]
    if not frames:
        return pd.DataFrame({c: pd.Series(dtype="object") for c in HELDOUT_COLUMNS})
    return pd.concat(frames, ignore_index=True)


def _fold_categories(frame: pd.DataFrame) -> pd.DataFrame:
    """Audit groups as the model cards and the export group them: spellings that differ
    only in case or spacing ("Medicaid", "MEDICAID") are one, and so are a language's codes
    and names ("es", "Español": Spanish)."""
    for attribute in ATTRIBUTES:
        values = pl.Series(
            attribute, frame[attribute].astype("object").where(frame[attribute].notna(), None)
        )
        frame[attribute] = fold_category(values, attribute).to_list()
    return frame


def thresholds_for(data_dir: DataDir, model: str, *, settings: Settings) -> dict[float, float]:
    """Score threshold per alert budget, from the model's stored tier thresholds."""

    loaded = registry.load_current(data_dir, model)
    budgets = tuple(settings.alert_budgets)
    return {budgets[0]: loaded.thresholds["high"], budgets[-1]: loaded.thresholds["medium"]}


def audit_model(
    heldout: pd.DataFrame,
    *,
    model: str,
    threshold: float,
    settings: Settings,
    attributes: Sequence[str] = ATTRIBUTES,
    intersections: bool | Sequence[tuple[str, ...]] = DEFAULT_INTERSECTIONS,
    reference: str | None = None,
    n_boot: int = 1000,
) -> AuditResult:
    """Audit one model's held-out predictions at a score threshold."""
    rows = heldout[heldout["model"] == model]
    return audit_predictions(
        rows,
        label="label",
        score="probability",
        attributes=list(attributes),
        threshold=threshold,
        reference=reference,
        intersections=intersections,
        n_boot=n_boot,
        min_cell_size=settings.min_cell_size,
        coverage=COVERAGE,
        id_column="patient_key",
        time_column="as_of",
        source=f"{model} held-out test predictions",
    )


def store_model_audits(
    con: duckdb.DuckDBPyConnection, *, settings: Settings, n_boot: int = 1000
) -> None:
    """Copy held-out predictions into the snapshot and store each model's default audit."""
    data_dir = DataDir(settings.data_dir)
    heldout = heldout_for_snapshot(data_dir)
    con.register("_heldout", heldout)
    try:
        con.execute("CREATE TABLE heldout_predictions AS SELECT * FROM _heldout")
    finally:
        con.unregister("_heldout")
    for table, ddl in FAIRNESS_SCHEMA.items():  # present, if empty, before any model exists
        con.execute(f"CREATE TABLE IF NOT EXISTS {table} ({ddl})")
    for model in sorted(heldout["model"].dropna().unique()):
        rows = heldout[heldout["model"] == model]
        version = str(rows["version"].iloc[0])
        threshold = thresholds_for(data_dir, model, settings=settings)[settings.alert_budgets[0]]
        result = audit_model(
            heldout, model=model, threshold=threshold, settings=settings, n_boot=n_boot
        )
        write_audit_tables(con, result, model=model, version=version)
