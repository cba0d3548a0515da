"""The de-identified research export: ``caseload export research --out DIR``.

One public function, :func:`export_research`, for an admin or researcher actor (anyone
else is refused, and the refusal is audited). It writes, into a new owner-only directory
(0700, every file 0600), one Parquet file per table and a ``manifest.json``:

- ``patients.parquet``: one row per patient enrolled by the end of the data.
- ``features.parquet``: the weekly as-of model features (:mod:`analytics.models.features`).
- ``labels.parquet``: the model labels for the same rows (:mod:`analytics.models.labels`).
- ``predictions.parquet``: the held-out test predictions of the current models.
- ``aggregates.parquet``: patient counts by group and outcome, small cells suppressed.
- ``manifest.json``: versions, row counts, every column described, what was removed and
  why, and the residual risks.

Parquet (not CSV) because it keeps types: a missing value stays missing and a count stays
an integer. Every column is a number, a boolean, a pseudonym, a category or a note this
module writes; there is no date, timestamp or free-text column anywhere.

De-identification, in brief (the manifest says the same in full):

- Patient, clinician and site ids become keyed pseudonyms (``P-``, ``C-``, ``S-``): the
  HMAC key is ``pseudonym.key`` in the data directory, the same key the dashboard's
  research views use, so keys match the dashboard; the key is never exported.
- Names, emails and all free text (messages, check-in and event notes, clinical notes,
  generated reasons) are left out; raw streams are exported only as weekly features.
- Dates become days since the patient's enrolment. The export date is not recorded. Each
  patient's data ends at a keyed-random cut-off 15-44 days before the last day of data,
  so the data's end date (shown in model cards) no longer dates enrolments or discharges.
- Patients whose site, demographics and age band are shared by fewer than
  ``export_min_k`` others have values suppressed until every combination is shared by
  that many (local suppression); the manifest reports k, and the export is refused if
  it cannot be reached.
- Birth year becomes an age band on the data's last day (Under 18, 18-24, 25-34, ...,
  55-64, 65+, Unknown: :data:`analytics.access.disclosure.AGE_BANDS`), as in the
  dashboard's research cohort.
- Site is kept as a pseudonymous category: a site id usually names a place, and geography
  finer than a state is a direct identifier; researchers still get the site as a cluster.
- In every category (site and each demographic, including age band) a value held by fewer
  than ``min_cell_size`` patients becomes ``Other (suppressed)``, pooled with the next
  smallest values until the pool itself has at least ``min_cell_size`` patients. Spellings
  that differ only in case or spacing are merged first (``male`` and ``Male``), and a
  language's codes and names are one language (``es``, ``Español``: Spanish).
- Aggregates use the one disclosure rule of every audience (primary and complementary:
  :mod:`analytics.access.disclosure`).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow.parquet as pq

from analytics.access.disclosure import (
    ATTRIBUTES,
    OTHER,
    age_band,
    fold_category,
    k_anonymise,
    pool_rare,
    suppress_table,
)
from analytics.access.keys import keyed_hash
from analytics.access.roles import Actor, Context, Role, require_role
from analytics.data.contract import CONTRACT_VERSION
from analytics.data.store import DataDir, connect, pipeline_lock
from analytics.files import open_private, refuse_symlink
from analytics.models import registry
from analytics.models.features import FEATURES, build_features, weekly_as_of_dates
from analytics.models.labels import MODELS, build_labels
from analytics.models.windows import data_as_of
from analytics.serving.pipeline import EmptyWarehouseError
from analytics.settings import Settings

__all__ = [
    "CENSOR_DAYS",
    "ExportBlocked",
    "ExportResult",
    "OutputNotEmpty",
    "censor_days",
    "export_research",
]

# Each patient's export ends a keyed-random number of days (in this range) before the
# last day of data, so no date rebuilt from the data's end date is within 14 days of the
# truth (tests/security/test_export_dates.py checks every patient).
CENSOR_DAYS = (15, 44)

EXPORT_FORMAT_VERSION = 1
ACTION = "export_research"
UNKNOWN = "Unknown"
# The audited demographics, and the site: a site is a cluster for research and a
# quasi-identifier (it usually names a place).
QUASI_IDENTIFIERS = ("site", *ATTRIBUTES)
OUTCOMES = ("discharged", "relapse_risk", "engagement_drop")
TABLE_NAMES = ("patients", "features", "labels", "predictions", "aggregates")


class OutputNotEmpty(FileExistsError):
    """The export directory already exists and holds something; nothing was written."""


class ExportBlocked(RuntimeError):
    """The export would not meet the clinic's k-anonymity threshold; nothing was written."""


@dataclass(frozen=True)
class ExportResult:
    """What :func:`export_research` wrote."""

    out_dir: Path
    files: tuple[Path, ...]  # every file written, the manifest last
    rows: dict[str, int]  # table name -> rows
    manifest: Path
    model_versions: dict[str, str]


def export_research(
    *,
    settings: Settings,
    out_dir: str | os.PathLike[str],
    actor: Actor,
    os_user: str | None = None,
) -> ExportResult:
    """Write the de-identified research export into ``out_dir`` (new or empty).

    Raises :class:`~analytics.access.roles.AccessDenied` (audited) unless ``actor`` is an admin
    or a researcher, :class:`OutputNotEmpty` if ``out_dir`` holds anything, and
    :class:`~analytics.data.store.BusyError` while an ingest, refresh or training holds the
    data directory. The export is recorded in the audit trail with its row counts.
    """
    out = Path(out_dir).expanduser().absolute()
    ctx = Context.open(settings, os_user=os_user)
    try:
        require_role(ctx, actor, Role.ADMIN, Role.RESEARCHER, action=ACTION)
        _check_target(out)
        data_dir = DataDir(settings.data_dir)
        with pipeline_lock(data_dir, purpose="research export"):
            tables, info = _build(ctx, data_dir)
        rows = {name: tables[name].height for name in TABLE_NAMES}
        # Recorded before anything is written: an export of patient data is an access.
        ctx.record(actor, ACTION, target="research export", detail=json.dumps(rows, sort_keys=True))
    finally:
        ctx.close()
    blobs = {f"{name}.parquet": _parquet(tables[name]) for name in TABLE_NAMES}
    manifest = _manifest(tables, info, blobs, settings=settings)
    blobs["manifest.json"] = (json.dumps(manifest, indent=2) + "\n").encode()
    paths = _write(out, blobs)
    return ExportResult(
        out_dir=out,
        files=tuple(paths),
        rows=rows,
        manifest=out / "manifest.json",
        model_versions=dict(info["model_versions"]),
    )


# --- building the tables ------------------------------------------------------------------


def _build(ctx: Context, data_dir: DataDir) -> tuple[dict[str, pl.DataFrame], dict]:

    settings = ctx.settings
    con = connect(Path(":memory:"), settings=settings)
    try:
        con.execute("ATTACH ? AS wh (READ_ONLY)", [str(data_dir.warehouse)])
        end = data_as_of(con)
        if end is None:
            raise EmptyWarehouseError(f"the warehouse in {data_dir.root} holds no data to export")
        con.complete()  # data_as_of reads one row; finish it before a new query
        people = con.sql(
            """SELECT p.patient_id, p.clinician_id,
                      coalesce(p.site_id, c.site_id, 'Unknown') AS site,
                      p.enrolled_on, p.birth_year, year($end) AS as_of_year,
                      coalesce(p.gender, 'Unknown') AS gender,
                      coalesce(p.race_ethnicity, 'Unknown') AS race_ethnicity,
                      coalesce(p.primary_language, 'Unknown') AS primary_language,
                      coalesce(p.insurance, 'Unknown') AS insurance,
                      coalesce(p.rurality, 'Unknown') AS rurality,
                      p.discharged_on
               FROM wh.patients p LEFT JOIN wh.clinicians c USING (clinician_id)
               WHERE p.enrolled_on <= $end
               ORDER BY p.patient_id""",
            params={"end": end},
        ).pl()
        dates = weekly_as_of_dates(con)
        build_features(con, as_of=dates, table="export_features")
        build_labels(
            con, settings=settings, data_end=end, features="export_features", table="export_labels"
        )
        con.complete()
        features = con.sql("SELECT * FROM export_features ORDER BY patient_id, as_of").pl()
        labels = con.sql(
            """SELECT patient_id, as_of,
                      CAST(relapse_risk AS TINYINT) AS relapse_risk,
                      CAST(engagement_drop AS TINYINT) AS engagement_drop
               FROM export_labels ORDER BY patient_id, as_of"""
        ).pl()
    finally:
        con.close()

    heldout, versions, missing = _heldout(data_dir)
    # Each patient's data ends at their own censor date (see CENSOR_DAYS): everything
    # measured to "the end" is measured to it, and later rows are left out.
    people = people.with_columns(
        (
            pl.lit(end)
            - pl.duration(
                days=pl.col("patient_id").map_elements(
                    lambda pid: censor_days(ctx.pseudonym_key, pid), return_dtype=pl.Int64
                )
            )
        )
        .cast(pl.Date)
        .alias("end_p")
    ).filter(pl.col("enrolled_on") <= pl.col("end_p"))
    people = people.with_columns(
        (pl.col("end_p") - pl.col("enrolled_on"))
        .dt.total_days()
        .cast(pl.Int32)
        .alias("days_enrolled"),
        (pl.col("discharged_on") <= pl.col("end_p")).fill_null(False).alias("discharged"),
        pl.when(pl.col("discharged_on") <= pl.col("end_p"))
        .then((pl.col("discharged_on") - pl.col("enrolled_on")).dt.total_days())
        .cast(pl.Int32)
        .alias("days_to_discharge"),
    )
    enrolled = people.select("patient_id", "enrolled_on", "end_p")
    ids = set(people["patient_id"]) | set(features["patient_id"]) | set(heldout["patient_id"])
    keys = {pid: ctx.pseudonym(pid) for pid in ids}

    def keyed(frame: pl.DataFrame) -> pl.DataFrame:
        """patient_id and as_of -> patient_key and day (days since enrolment)."""
        return (
            frame.join(enrolled, on="patient_id", how="inner")
            .filter(pl.col("as_of") <= pl.col("end_p"))
            .with_columns(
                pl.col("patient_id")
                .replace_strict(keys, return_dtype=pl.String)
                .alias("patient_key"),
                (pl.col("as_of") - pl.col("enrolled_on"))
                .dt.total_days()
                .cast(pl.Int32)
                .alias("day"),
            )
            .drop("patient_id", "as_of", "enrolled_on", "end_p")
        )

    feature_names = [f.name for f in FEATURES]
    features = keyed(features).select("patient_key", "day", *feature_names)
    labels = keyed(labels).select("patient_key", "day", *MODELS)
    predictions = keyed(heldout).select(
        "patient_key", "day", "model", "version", "label", "probability"
    )
    patients, collapsed = _patients(people, keys, ctx)
    patients, anonymity = k_anonymise(
        patients, quasi=QUASI_IDENTIFIERS, k=int(settings.export_min_k), order=SUPPRESSION_ORDER
    )
    if anonymity["k"] < int(settings.export_min_k):
        raise ExportBlocked(
            f"the export would leave {anonymity['below_k']:,} patient(s) sharing their "
            f"site, demographics and age band with fewer than {settings.export_min_k} "
            "patients (export_min_k in settings.toml); nothing was written"
        )
    outcomes = _outcomes(patients, labels)
    aggregates = _aggregates(
        patients.join(outcomes, on="patient_key", how="left"), int(settings.min_cell_size)
    )
    tables = {
        "patients": patients,
        "features": features.sort("patient_key", "day"),
        "labels": labels.sort("patient_key", "day"),
        "predictions": predictions.sort("model", "patient_key", "day"),
        "aggregates": aggregates,
    }
    info = {
        "model_versions": versions,
        "models_without_predictions": missing,
        "collapsed": collapsed,
        "k_anonymity": anonymity,
    }
    return tables, info


def censor_days(key: bytes, patient_id: str) -> int:
    """How many days before the last day of data this patient's export ends (keyed, so
    the same in every export: fresh noise per export could be averaged away)."""
    lo, hi = CENSOR_DAYS
    h = int(keyed_hash(key, f"censor:{patient_id}", length=8), 16)
    return lo + h % (hi - lo + 1)


# Quasi-identifiers are suppressed in this order (least useful for research first) for
# the patients in classes smaller than k, until every class has at least k patients.
SUPPRESSION_ORDER = (
    "primary_language",
    "insurance",
    "rurality",
    "race_ethnicity",
    "gender",
    "age_band",
    "site",
)


def _heldout(data_dir: DataDir) -> tuple[pl.DataFrame, dict[str, str], list[str]]:
    """Held-out test predictions of every current model in the registry."""
    schema = {
        "patient_id": pl.String,
        "as_of": pl.Date,
        "model": pl.String,
        "version": pl.String,
        "label": pl.Int8,
        "probability": pl.Float64,
    }
    parts = [pl.DataFrame(schema=schema)]
    versions: dict[str, str] = {}
    missing: list[str] = []
    for entry in registry.current_models(data_dir):
        name, version = entry["name"], entry["version"]
        path = data_dir.models / entry["path"] / registry.HELDOUT_FILE
        if not path.is_file():
            missing.append(name)
            continue
        versions[name] = version
        frame = pl.read_parquet(path, columns=["patient_id", "as_of", "label", "probability"])
        parts.append(
            frame.with_columns(pl.lit(name).alias("model"), pl.lit(version).alias("version"))
            .select(list(schema))
            .cast(schema)
        )
    for name in MODELS:
        if name not in versions and name not in missing:
            missing.append(name)
    return pl.concat(parts, how="vertical"), versions, sorted(missing)


def _patients(
    people: pl.DataFrame, keys: dict[str, str], ctx: Context
) -> tuple[pl.DataFrame, dict[str, int]]:
    """Pseudonymous ids, age band, and every category folded and coarsened."""
    n = int(ctx.settings.min_cell_size)
    frame = people.with_columns(
        pl.col("patient_id").replace_strict(keys, return_dtype=pl.String).alias("patient_key"),
        pl.col("clinician_id")
        .map_elements(ctx.clinician_pseudonym, return_dtype=pl.String)
        .alias("clinician_key"),
        # Age on the data's as-of date, as in the dashboard's research cohort: the same
        # patient has the same band in both, so the two cannot be intersected.
        age_band(pl.col("birth_year"), as_of_year=pl.col("as_of_year")).alias("age_band"),
    )
    collapsed: dict[str, int] = {}
    coarse = {}
    for attribute in QUASI_IDENTIFIERS:
        folded = fold_category(frame[attribute].fill_null(UNKNOWN), attribute)
        values, hidden = pool_rare(folded, n)
        coarse[attribute] = values
        collapsed[attribute] = hidden
    frame = frame.with_columns(**coarse).with_columns(
        pl.col("site").map_elements(
            lambda s: (
                s
                if s == OTHER
                else keyed_hash(ctx.pseudonym_key, f"site:{s}", prefix="S-", length=8)
            ),
            return_dtype=pl.String,
        )
    )
    columns = ["patient_key", "clinician_key", *QUASI_IDENTIFIERS]
    columns += ["days_enrolled", "discharged", "days_to_discharge"]
    return frame.select(columns).sort("patient_key"), collapsed


def _outcomes(patients: pl.DataFrame, labels: pl.DataFrame) -> pl.DataFrame:
    """Per patient: discharged, and whether any labelled week had each model's outcome."""
    per = labels.group_by("patient_key").agg(pl.col(m).max() for m in MODELS)
    return patients.select("patient_key", pl.col("discharged").cast(pl.Int8)).join(
        per, on="patient_key", how="left"
    )


def _aggregates(frame: pl.DataFrame, k: int) -> pl.DataFrame:
    """Patients by attribute value and outcome, small cells suppressed (the rule of every
    audience; the group totals per outcome are the margin)."""
    records = []
    for outcome in OUTCOMES:
        known = frame.filter(pl.col(outcome).is_not_null())
        y = known[outcome].cast(pl.Int8).to_numpy()
        unit = np.arange(known.height)
        for attribute in QUASI_IDENTIFIERS:
            column = known[attribute].to_numpy()
            groups = sorted(set(column.tolist()))
            rows = [np.flatnonzero(column == g) for g in groups]
            notes = suppress_table([(g,) for g in groups], rows, y, unit, k)
            for i, group in enumerate(groups):
                shown = i not in notes
                with_outcome = int(y[rows[i]].sum())
                records.append(
                    {
                        "attribute": attribute,
                        "group": group,
                        "outcome": outcome,
                        "patients": len(rows[i]) if shown else None,
                        "with_outcome": with_outcome if shown else None,
                        "without_outcome": len(rows[i]) - with_outcome if shown else None,
                        "rate": with_outcome / len(rows[i]) if shown else None,
                        "suppressed": not shown,
                        "note": notes.get(i),
                    }
                )
    return pl.DataFrame(
        records,
        schema={
            "attribute": pl.String,
            "group": pl.String,
            "outcome": pl.String,
            "patients": pl.Int64,
            "with_outcome": pl.Int64,
            "without_outcome": pl.Int64,
            "rate": pl.Float64,
            "suppressed": pl.Boolean,
            "note": pl.String,
        },
    )


# --- the manifest ---------------------------------------------------------------------------

_CATEGORY = "(values held by fewer than min_cell_size patients pooled as 'Other (suppressed)')"

COLUMNS: dict[str, dict[str, str]] = {
    "patients": {
        "patient_key": "patient pseudonym (keyed hash of the patient id; matches the dashboard)",
        "clinician_key": "treating clinician's pseudonym (keyed hash of the clinician id)",
        "site": f"site pseudonym (keyed hash of the site id) {_CATEGORY}",
        "gender": f"gender as recorded, spelling variants merged {_CATEGORY}",
        "race_ethnicity": f"race/ethnicity as recorded, spelling variants merged {_CATEGORY}",
        "primary_language": "primary language, codes and names of one language merged "
        f"('es', 'Español': 'Spanish') {_CATEGORY}",
        "insurance": f"insurance as recorded, spelling variants merged {_CATEGORY}",
        "rurality": f"urban / suburban / rural / Unknown {_CATEGORY}",
        "age_band": "age on the last day of data: 'Under 18', '18-24', '25-34', '35-44', "
        f"'45-54', '55-64', '65+', 'Unknown' {_CATEGORY}",
        "days_enrolled": "days from enrolment to this patient's cut-off (15-44 days, keyed per "
        "patient, before the last day of data)",
        "discharged": "discharged on or before the last day of data",
        "days_to_discharge": "days from enrolment to discharge (missing if not discharged)",
    },
    "features": {
        "patient_key": "patient pseudonym",
        "day": "the as-of day, in days since the patient's enrolment (weekly rows; may be "
        "negative when data precede enrolment)",
        **{f.name: f"{f.description} [{f.unit}]" for f in FEATURES},
    },
    "labels": {
        "patient_key": "patient pseudonym",
        "day": "the as-of day, in days since enrolment (same rows as features)",
        # The outcome columns are described from the clinic's settings: _column_description.
    },
    "predictions": {
        "patient_key": "patient pseudonym",
        "day": "the as-of day, in days since enrolment",
        "model": "model name (relapse_risk, engagement_drop)",
        "version": "model version in the registry",
        "label": "the observed outcome (0/1)",
        "probability": "calibrated predicted probability on the held-out test period",
    },
    "aggregates": {
        "attribute": "the patients-table column grouped by",
        "group": "its value (as in the patients table)",
        "outcome": "discharged, or relapse_risk / engagement_drop: any positive weekly label "
        "(patients with no label are not counted)",
        "patients": "patients in the group with a known outcome (missing when suppressed)",
        "with_outcome": "of them, with the outcome (missing when suppressed)",
        "without_outcome": "of them, without it (missing when suppressed)",
        "rate": "with_outcome / patients (missing when suppressed)",
        "suppressed": "true when the group's figures are withheld",
        "note": "why the figures are withheld",
    },
}

DESCRIPTIONS = {
    "patients": "one row per patient enrolled by their cut-off",
    "features": "model features as of each Sunday, from data up to that day only",
    "labels": "model outcome labels for the same rows as features",
    "predictions": "held-out test-period predictions of the current models",
    "aggregates": "patient counts by group and outcome, small cells suppressed",
}


def _column_description(table: str, column: str, settings: Settings) -> str:
    if table == "labels" and column in MODELS:
        outcome = MODELS[column].outcome(settings.clinical)
        return f"1 if {outcome} after the day, 0 if not, missing when censored or not eligible"
    return COLUMNS[table][column]


def _removed(k: int, collapsed: dict[str, int]) -> list[dict[str, str]]:
    pooled = ", ".join(f"{a} {n}" for a, n in collapsed.items() if n) or "none"
    return [
        {
            "what": "names",
            "how": "patient and clinician display names are not exported",
            "why": "direct identifiers",
        },
        {
            "what": "emails",
            "how": "clinician emails are not exported",
            "why": "direct identifiers",
        },
        {
            "what": "free text",
            "how": "message text, check-in notes, event notes, clinical notes, alert notes, "
            "matched crisis phrases and generated reasons are not exported",
            "why": "free text can name or describe a person and cannot be checked automatically",
        },
        {
            "what": "raw records",
            "how": "check-ins, questionnaire items, wearable days, messages, appointments and "
            "events are exported only as the weekly features derived from them",
            "why": "each raw record carries an exact time",
        },
        {
            "what": "ids",
            "how": "patient, clinician and site ids are replaced by keyed pseudonyms (HMAC-SHA256) "
            "with the prefixes P-, C- and S-; the key stays in the data directory and is never "
            "exported",
            "why": "ids link to clinic records; without the key a pseudonym cannot be reversed "
            "or recomputed, and the same key keeps pseudonyms stable across exports and equal "
            "to the dashboard's",
        },
        {
            "what": "exact dates",
            "how": "every date becomes days since the patient's enrolment (day, days_enrolled, "
            "days_to_discharge); no calendar date, timestamp or export date is included, nor "
            "the models' training dates; each patient's data is cut off "
            f"{CENSOR_DAYS[0]}-{CENSOR_DAYS[1]} days (keyed per patient) before the last day "
            "of data and days_enrolled counts to that cut-off",
            "why": "dates are identifiers; with one shared end point, the data's end date "
            "(shown in model cards) would date every enrolment and discharge exactly",
        },
        {
            "what": "rare combinations",
            "how": "patients whose combination of site, demographics and age band is shared "
            "by fewer than export_min_k patients have values suppressed, least useful first, "
            "until every combination is shared by export_min_k; the export is refused if that "
            "cannot be reached (see k_anonymity)",
            "why": "a unique combination of ordinary values singles a person out",
        },
        {
            "what": "birth year",
            "how": "replaced by an age band on the last day of data (18-24, 25-34, ... 55-64, "
            "65+, and Under 18), every age over 64 together",
            "why": "birth year and extreme ages are identifiers",
        },
        {
            "what": "site ids",
            "how": "pseudonymised like other ids",
            "why": "a site id usually names a place, and geography finer than a state is an "
            "identifier",
        },
        {
            "what": "small categories",
            "how": f"in site and each demographic column, values held by fewer than {k} patients "
            f"are pooled as '{OTHER}' (with the next smallest until the pool has {k}); spellings "
            "that differ only in case or spacing, and the codes and names of one language, are "
            f"merged first. Categories pooled: {pooled}",
            "why": "a rare value can single a person out",
        },
        {
            "what": "small cells",
            "how": f"in aggregates, a group needs {k} patients, {k} with the outcome and {k} "
            "without; others are suppressed, and complementary suppression stops totals "
            "giving one away",
            "why": "the clinic's minimum cell size for anything shown in aggregate",
        },
    ]


RESIDUAL_RISKS = [
    "Pseudonymous, not anonymous: the clinic can re-identify rows with the key, and the "
    "export is for use under a data-use agreement, not for publication row by row.",
    "k-anonymity covers the categorical quasi-identifiers; days_enrolled and the outcomes "
    "are not part of it, so combined with them most patients are unique. Their dates are "
    "protected by the per-patient cut-off instead: someone who knows the cut-off range "
    "narrows an enrolment date to a 30-day window, not to the day.",
    "Relative timing within a patient is kept exactly; feature rows fall on Sundays, so "
    "day modulo 7 shows the weekday of enrolment.",
]


def _manifest(
    tables: dict[str, pl.DataFrame], info: dict, blobs: dict[str, bytes], *, settings: Settings
) -> dict:
    return {
        "export": "Caseload Insight research export",
        "export_format_version": EXPORT_FORMAT_VERSION,
        "data_contract_version": CONTRACT_VERSION,
        "min_cell_size": int(settings.min_cell_size),
        "model_versions": info["model_versions"],
        "models_without_predictions": info["models_without_predictions"],
        "files": [
            {
                "file": f"{name}.parquet",
                "description": DESCRIPTIONS[name],
                "rows": tables[name].height,
                "sha256": hashlib.sha256(blobs[f"{name}.parquet"]).hexdigest(),
                "columns": [
                    {
                        "name": column,
                        "type": str(dtype),
                        "description": _column_description(name, column, settings),
                    }
                    for column, dtype in tables[name].schema.items()
                ],
            }
            for name in TABLE_NAMES
        ],
        "k_anonymity": info["k_anonymity"],
        "date_censoring": {
            "days_before_end": list(CENSOR_DAYS),
            "guarantee": f"each patient's export ends {CENSOR_DAYS[0]}-{CENSOR_DAYS[1]} days "
            "(keyed per patient) before the last day of data, so a date rebuilt from the "
            f"data's end date is at least {CENSOR_DAYS[0]} days from the truth",
        },
        "removed": _removed(int(settings.min_cell_size), info["collapsed"]),
        "residual_risks": RESIDUAL_RISKS,
        "not_recorded": "the date of the export (see 'exact dates' under removed)",
    }


# --- writing --------------------------------------------------------------------------------


def _parquet(frame: pl.DataFrame) -> bytes:
    buf = io.BytesIO()
    pq.write_table(frame.to_arrow(), buf, compression="zstd")
    return buf.getvalue()


def _check_target(out: Path) -> None:
    refuse_symlink(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise OutputNotEmpty(
            f"{out} already exists and is not an empty directory; choose a new --out "
            "directory (nothing was written)"
        )


def _write(out: Path, blobs: dict[str, bytes]) -> list[Path]:
    """Write every file owner-only into a hidden staging directory, then rename it into
    place, so a failed export leaves nothing half-written."""
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".partial", dir=out.parent))
    try:
        # mkdtemp makes the directory 0700; each file is created 0600.
        for name, data in blobs.items():
            with open_private(staging / name, "wb", exclusive=True) as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
        _check_target(out)
        try:
            os.rename(staging, out)  # replaces an empty directory
        except OSError as exc:
            raise OutputNotEmpty(f"{out} is not empty; nothing was written") from exc
    except BaseException:
        with contextlib.suppress(OSError):
            shutil.rmtree(staging)
        raise
    return [out / name for name in blobs]
