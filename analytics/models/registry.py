"""The model registry, inside the data directory.

Layout (``models/`` in the data directory)::

    current.json                 {"models": [{"name", "version", "path", "sha256",
                                              "trained_at", "data_end"}, ...]}
    attempts.json                the last training attempt per model: status, message, at
    <name>/<version>/model.skops estimator, calibrator, feature list and tier thresholds
    <name>/<version>/manifest.json
                                 version, sha256 of model.skops, training data window and
                                 periods, feature list, metrics, thresholds, library versions
    <name>/<version>/model_card.md, model_card.json
    <name>/<version>/metrics.parquet, importance.parquet, dependence.parquet
    <name>/<version>/heldout_predictions.parquet

``heldout_predictions.parquet`` has one row per test-period (patient, as-of date):
patient_id, as_of, label (0/1), probability (calibrated), raw_score (log-odds), rule_flag,
rule_probability, logistic_probability, gender, race_ethnicity, primary_language,
insurance, rurality, age_band (``Unknown`` when missing), wear_days_14d,
checkin_days_14d, sentiment_available, coverage_note, model, version. The fairness audit
reads it.

``model.skops`` is written with skops, whose loader builds only the types it is told to
trust and runs no code from the file (a pickle would run whatever it names). The trusted
types are the fixed list below, the ones these models are made of; a file naming any other
type is refused. It is read only after its SHA-256 matches both its manifest and
``current.json``. A model trained with another scikit-learn version is refused too, and so
is a model saved as a pickle by an earlier release (retrain it).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import sklearn
import skops.io as sio

from analytics.data.store import DataDir
from analytics.files import write_private
from analytics.models.curves import evaluation_curves, feature_drift
from analytics.models.features import FEATURE_NAMES, FEATURES_BY_NAME
from analytics.models.labels import MODELS
from analytics.settings import Settings

__all__ = [
    "LoadedModel",
    "ModelLoadError",
    "NotTrainedError",
    "current_models",
    "last_attempt",
    "load_current",
    "model_card_markdown",
    "record_refusal",
    "save",
]

CURRENT = "current.json"
ATTEMPTS = "attempts.json"
MODEL_FILE = "model.skops"
# The types a saved model may contain beyond those skops trusts by default (numpy,
# builtins, scikit-learn estimators): the calibrated HistGradientBoosting's internals.
TRUSTED_TYPES = (
    "sklearn.calibration._CalibratedClassifier",
    "sklearn.calibration._SigmoidCalibration",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
)
HELDOUT_FILE = "heldout_predictions.parquet"


class ModelLoadError(RuntimeError):
    """A registered model that must not be used (hash mismatch, version or feature drift)."""


class NotTrainedError(RuntimeError):
    """No model of this name has been trained in this data directory."""


@dataclass(frozen=True)
class LoadedModel:
    """A verified model from the registry, ready to score."""

    name: str
    version: str
    estimator: Any
    calibrator: Any
    features: tuple[str, ...]
    thresholds: dict[str, float]
    manifest: dict[str, Any]
    path: Path


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _write_json(path: Path, value: Any) -> None:
    write_private(path, json.dumps(value, indent=2, sort_keys=True, default=str), replace=True)


def _read_json(path: Path, default: Any) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return default


def current_models(data_dir: DataDir) -> list[dict[str, Any]]:
    """The entries of ``current.json`` (empty before any training)."""
    return list(_read_json(data_dir.models / CURRENT, {"models": []}).get("models", []))


def last_attempt(data_dir: DataDir, name: str) -> dict[str, Any] | None:
    """The last training attempt of ``name``: {status, message, at}, or None."""
    return _read_json(data_dir.models / ATTEMPTS, {}).get(name)


def _record_attempt(data_dir: DataDir, name: str, status: str, message: str) -> None:
    attempts = _read_json(data_dir.models / ATTEMPTS, {})
    attempts[name] = {"status": status, "message": message, "at": datetime.now(UTC).isoformat()}
    _write_json(data_dir.models / ATTEMPTS, attempts)


def record_refusal(data_dir: DataDir, name: str, message: str) -> None:
    """Note that training ``name`` refused (too little data) and why."""
    data_dir.ensure()
    _record_attempt(data_dir, name, "refused", message)


def _next_version(folder: Path) -> str:
    numbers = [
        int(m.group(1))
        for p in (folder.iterdir() if folder.is_dir() else ())
        if (m := re.fullmatch(r"v(\d+)", p.name))
    ]
    return f"v{max(numbers, default=0) + 1}"


def save(data_dir: DataDir, trained, *, settings: Settings) -> tuple[str, Path]:
    """Write a trained model and its card as the next version, and make it current."""
    data_dir.ensure()
    folder = data_dir.models / trained.name
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    version = _next_version(folder)
    path = folder / version
    path.mkdir(mode=0o700)
    payload = {
        "name": trained.name,
        "estimator": trained.estimator,
        "calibrator": trained.calibrator,
        "features": tuple(trained.features),
        "thresholds": dict(trained.thresholds),
    }
    write_private(path / MODEL_FILE, sio.dumps(payload), exclusive=True)
    sha = _sha256(path / MODEL_FILE)
    trained_at = datetime.now(UTC).isoformat(timespec="seconds")
    manifest = _manifest(
        trained, version=version, sha=sha, trained_at=trained_at, settings=settings
    )
    _write_json(path / "manifest.json", manifest)
    metrics = metrics_frame(trained.evaluations)
    metrics.insert(0, "version", version)
    metrics.insert(0, "model", trained.name)
    # to_parquet() without a path returns the bytes, written owner-only like every file.
    write_private(path / "metrics.parquet", metrics.to_parquet(index=False))
    write_private(
        path / "importance.parquet",
        trained.importance.assign(model=trained.name).to_parquet(index=False),
    )
    write_private(
        path / "dependence.parquet",
        trained.dependence.assign(model=trained.name).to_parquet(index=False),
    )
    write_private(
        path / HELDOUT_FILE,
        trained.heldout.assign(model=trained.name, version=version).to_parquet(index=False),
    )
    card = model_card(trained, manifest, outcome=MODELS[trained.name].outcome(settings.clinical))
    _write_json(path / "model_card.json", card)
    write_private(path / "model_card.md", model_card_markdown(card))

    entries = [m for m in current_models(data_dir) if m.get("name") != trained.name]
    entries.append(
        {
            "name": trained.name,
            "version": version,
            "path": str(path.relative_to(data_dir.models)),
            "sha256": sha,
            "trained_at": trained_at,
            "data_end": str(trained.data_end),
        }
    )
    _write_json(data_dir.models / CURRENT, {"models": sorted(entries, key=lambda m: m["name"])})
    _record_attempt(data_dir, trained.name, "ok", f"trained {version}")
    return version, path


DRIFT_FEATURES = 6  # top features by importance shown in the drift chart


def save_reports(path: Path, trained, frame: pd.DataFrame, *, settings: Settings) -> None:
    """Evaluation curves and feature drift beside a saved model, for the Models page."""
    curves = evaluation_curves(trained.heldout, min_bin_rows=settings.min_cell_size)
    curves.insert(0, "model", trained.name)
    write_private(path / "curves.parquet", curves.to_parquet(index=False))
    top = trained.importance.sort_values("rank")["feature"].head(DRIFT_FEATURES).tolist()
    drift = feature_drift(frame[frame[f"eligible_{trained.name}"].astype(bool)], top)
    drift.insert(0, "model", trained.name)
    write_private(path / "drift.parquet", drift.to_parquet(index=False))


def metrics_frame(evaluations) -> pd.DataFrame:
    """One row per (method, metric): estimate and 95% interval."""
    return pd.DataFrame(
        [
            {
                "method": e.method,
                "metric": m.metric,
                "estimate": m.estimate,
                "ci_low": m.ci_low,
                "ci_high": m.ci_high,
            }
            for e in evaluations
            for m in e.metrics
        ]
    )


def _manifest(trained, *, version: str, sha: str, trained_at: str, settings: Settings) -> dict:
    split = trained.split
    return {
        "name": trained.name,
        "version": version,
        "sha256": sha,
        "trained_at": trained_at,
        "data_end": str(trained.data_end),
        "training_window": {
            "train_as_of_to": str(split.train_end),
            "validation_as_of": [str(split.validation_start), str(split.validation_end)],
            "test_as_of": [str(split.test_start), str(split.test_end)],
        },
        "horizon_days": MODELS[trained.name].horizon_days,
        "features": list(trained.features),
        "counts": trained.counts,
        "thresholds": trained.thresholds,
        "alert_budgets": list(settings.alert_budgets),
        "seed": trained.seed,
        "params": trained.params,
        "calibration": "sigmoid (Platt) on the validation slice",
        "metrics": metrics_frame(trained.evaluations).to_dict("records"),
        "libraries": {"scikit-learn": sklearn.__version__},
    }


def load_current(data_dir: DataDir, name: str) -> LoadedModel:
    """The current model ``name``, verified; raises NotTrainedError or ModelLoadError."""
    entry = next((m for m in current_models(data_dir) if m.get("name") == name), None)
    if entry is None:
        raise NotTrainedError(f"{name}: no model trained yet (run `caseload train`)")
    path = data_dir.models / entry["path"]
    return load_version(path, expected_sha=entry.get("sha256"))


def load_version(path: Path, *, expected_sha: str | None = None) -> LoadedModel:
    """Load one model folder after checking its content hash and library version."""
    manifest = _read_json(path / "manifest.json", None)
    if manifest is None or not (path / MODEL_FILE).is_file():
        if (path / "model.pkl").is_file():
            raise ModelLoadError(
                f"{path}: saved as a pickle by an earlier release, which this release does "
                "not load (a pickle can run code); retrain with `caseload train`"
            )
        raise ModelLoadError(f"{path}: model files are missing; retrain with `caseload train`")
    actual = _sha256(path / MODEL_FILE)
    for recorded in (manifest.get("sha256"), expected_sha):
        if recorded is not None and recorded != actual:
            raise ModelLoadError(
                f"{manifest.get('name')} {manifest.get('version')}: model file does not match "
                f"its recorded hash (expected {recorded[:12]}..., found {actual[:12]}...); "
                "refusing to load it. Retrain with `caseload train`"
            )
    trained_with = manifest.get("libraries", {}).get("scikit-learn")
    if trained_with != sklearn.__version__:
        raise ModelLoadError(
            f"{manifest.get('name')} {manifest.get('version')} was trained with scikit-learn "
            f"{trained_with}, this is {sklearn.__version__}; retrain with `caseload train`"
        )
    if not set(manifest.get("features", ())) <= set(FEATURE_NAMES):
        raise ModelLoadError(
            f"{manifest.get('name')} {manifest.get('version')} was trained on another feature "
            "list than this version of Caseload Insight computes; retrain with `caseload train`"
        )
    data = (path / MODEL_FILE).read_bytes()
    unexpected = set(sio.get_untrusted_types(data=data)) - set(TRUSTED_TYPES)
    if unexpected:
        raise ModelLoadError(
            f"{manifest.get('name')} {manifest.get('version')}: the model file names types "
            f"this release does not load ({', '.join(sorted(unexpected))}); refusing it"
        )
    payload = sio.loads(data, trusted=list(TRUSTED_TYPES))
    return LoadedModel(
        name=manifest["name"],
        version=manifest["version"],
        estimator=payload["estimator"],
        calibrator=payload["calibrator"],
        features=tuple(payload["features"]),
        thresholds=dict(payload["thresholds"]),
        manifest=manifest,
        path=path,
    )


# --- the model card ----------------------------------------------------------------------

_METRIC_LABELS = {
    "auroc": "AUROC",
    "auprc": "AUPRC",
    "brier": "Brier score",
    "calibration_error": "Calibration error (ECE)",
}
_METHOD_LABELS = {
    "model": "Model (calibrated gradient boosting)",
    "clinical_rule": "Clinical rule",
    "logistic": "Logistic regression",
}
_RULES = {
    "relapse_risk": "for a patient who is well: latest PHQ-9 >= 5 (residual symptoms), a new "
    "episode since enrolment, or PHQ-9 up >= 3 points in 28 days",
    "engagement_drop": "5 or more days since the last check-in (or none yet)",
}


def metric_label(metric: str) -> str:
    """'recall_at_10pct' -> 'Recall at 10% budget'."""
    if metric in _METRIC_LABELS:
        return _METRIC_LABELS[metric]
    m = re.fullmatch(r"(recall|ppv)_at_(\d+)pct", metric)
    if m:
        return f"{'Recall' if m.group(1) == 'recall' else 'PPV'} at {m.group(2)}% budget"
    return metric


def model_card(trained, manifest: dict, *, outcome: str) -> dict:
    """The model card's content, as data (written as JSON and as Markdown); ``outcome`` is
    the definition the model was trained under, in words."""
    top = trained.importance.head(10)
    return {
        "model": trained.name,
        "version": manifest["version"],
        "trained_at": manifest["trained_at"],
        "intended_use": (
            f"Estimates the probability of {outcome}, for every active patient each time "
            "the dashboard is refreshed, so a therapist can decide whom to look at first. It "
            "is a prompt to look, shown with its reasons and a data-coverage note; it never "
            "triggers an action by itself and does not replace clinical judgement or safety "
            "screening (a PHQ-9 item 9 answer above 0 is always shown as a safety flag, "
            "whatever the score)."
        ),
        "outcome": outcome,
        "data": {
            "source": "this clinic's warehouse: check-ins, questionnaires, wearables, messages, "
            "appointments and recorded events",
            "unit": "one row per patient active on each Sunday (as-of date)",
            "data_end": manifest["data_end"],
            "periods": manifest["training_window"],
            "counts": trained.counts,
            "features": [
                {"name": n, "label": FEATURES_BY_NAME[n].label, "unit": FEATURES_BY_NAME[n].unit}
                for n in trained.features
            ],
        },
        "method": (
            "HistGradientBoostingClassifier (fixed seed, no early stopping) on the training "
            "period, with monotonic constraints where the direction is clinically fixed ("
            + ", ".join(
                f"{f} {'never lowers' if c > 0 else 'never raises'} the risk"
                for f, c in trained.params.get("monotonic_cst", {}).items()
            )
            + "); Platt (sigmoid) calibration on the later validation period; evaluated "
            "once on the test period. Baselines on the same test rows: the clinical rule ("
            f"{_RULES[trained.name]}) and a logistic regression on the same features. "
            "The model that scores patients is then refit with the same recipe on all "
            "labelled rows up to one horizon before the latest slice and calibrated on that "
            "slice; its tier thresholds come from that slice. The test metrics are those of "
            "the model fitted on the training period (the refit has no held-out period)."
        ),
        "refit": {k: str(v) if isinstance(v, date) else v for k, v in trained.refit.items()},
        "population": trained.population,
        "unknown_windows": (
            "excluded: a window with no questionnaire and no recorded event, or with a "
            "deterioration that no later questionnaire could confirm, has no label"
            if trained.name == "relapse_risk"
            else "none: activity is observed every day"
        ),
        "metrics": manifest["metrics"],
        "calibration_bins": [
            {"bin_from": b[0], "rows": b[1], "mean_probability": b[2], "observed_rate": b[3]}
            for b in trained.calibration
        ],
        "by_group": [asdict(g) for g in trained.groups],
        "top_features": top.to_dict("records"),
        "thresholds": trained.thresholds,
        "limitations": [
            "Evaluated on this clinic's own history: performance elsewhere or after changes in "
            "care, devices or population is unknown until the model is retrained and re-tested.",
            "Relapse by questionnaire can only be seen when a PHQ-9 or GAD-7 is completed in "
            "the 28 days; windows without one (and without an event) are excluded as unknown, "
            "so patients who stop answering are under-represented among the labels.",
            "Recorded events depend on the care team recording them.",
            "Patients without a wearable, or writing in a language the sentiment method does "
            "not support, have fewer inputs; their predictions carry a data-coverage note and "
            "group results above show whether accuracy differs.",
            "Appointment statuses are read as finally recorded; a status entered late is "
            "treated as known on the appointment day.",
            "Reasons (SHAP) explain the model's raw score; the calibrated probability is a "
            "monotone transform of it, so they explain the ranking, not an exact probability.",
            "Demographic attributes are not model inputs; they are used only for the group "
            "results. A group is shown only with at least the minimum cell size of patients, "
            "of patients with the outcome and of patients without it; a larger group is "
            "suppressed too where the test totals would otherwise give a small one away.",
        ],
    }


def _fmt(v: float | None, digits: int = 3) -> str:
    if v is None or v != v:
        return "n/a"
    return f"{v:.{digits}f}"


def model_card_markdown(card: dict) -> str:
    """The model card as Markdown."""
    lines = [
        f"# Model card: {card['model']} {card['version']}",
        "",
        f"Trained {card['trained_at']}; data up to {card['data']['data_end']}.",
        "",
        "## Intended use",
        "",
        card["intended_use"],
        "",
        "## Data",
        "",
        f"- Outcome: {card['outcome']}.",
        f"- Unit: {card['data']['unit']}.",
    ]
    periods = card["data"]["periods"]
    counts = card["data"]["counts"]
    lines += [
        f"- Training: as-of dates up to {periods['train_as_of_to']} "
        f"({counts['train']['rows']:,} rows, {counts['train']['patients']:,} patients, "
        f"{counts['train']['positives']:,} positive).",
        f"- Validation (calibration, tier thresholds): {periods['validation_as_of'][0]} to "
        f"{periods['validation_as_of'][1]} ({counts['validation']['rows']:,} rows, "
        f"{counts['validation']['positives']:,} positive).",
        f"- Test (held out, evaluated once): {periods['test_as_of'][0]} to "
        f"{periods['test_as_of'][1]} ({counts['test']['rows']:,} rows, "
        f"{counts['test']['patients']:,} patients, {counts['test']['positives']:,} positive).",
        f"- {len(card['data']['features'])} features; see `manifest.json`.",
        "",
        "## Method",
        "",
        card["method"],
        "",
        f"Unknown outcome windows: {card.get('unknown_windows', 'n/a')}.",
        "",
        "## Who the model learned from, and whom it scores",
        "",
        "| rows | count | patients | median days in care | with a prior new episode "
        "| with wearable data (14 days) |",
        "|---|---|---|---|---|---|",
    ]
    names = {
        "evaluated_model_training": "training period (evaluated model)",
        "production_model_training": "refit (the model that scores)",
        "scored_latest": "patients scored at the latest date",
    }
    for key, label in names.items():
        pop = card.get("population", {}).get(key) or {}
        lines.append(
            f"| {label} | {pop.get('rows', 0):,} | {pop.get('patients', 0):,} | "
            f"{_fmt(pop.get('median_days_in_care'), 0)} | "
            f"{_fmt(pop.get('share_prior_episode'), 2)} | "
            f"{_fmt(pop.get('share_with_wearable'), 2)} |"
        )
    lines += [
        "",
        f"Refit: {card.get('refit', {}).get('status', 'n/a')}.",
        "",
        "## Metrics on the test period (95% patient-level bootstrap intervals)",
        "",
        "| metric | " + " | ".join(_METHOD_LABELS.values()) + " |",
        "|---|" + "---|" * len(_METHOD_LABELS),
    ]
    by = {(m["method"], m["metric"]): m for m in card["metrics"]}
    for metric in dict.fromkeys(m["metric"] for m in card["metrics"]):
        cells = []
        for method in _METHOD_LABELS:
            m = by.get((method, metric))
            cells.append(
                "n/a"
                if m is None
                else f"{_fmt(m['estimate'])} ({_fmt(m['ci_low'])}-{_fmt(m['ci_high'])})"
            )
        lines.append(f"| {metric_label(metric)} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "Recall and PPV at a budget: the top share of each week's active caseload is flagged.",
        "",
        "## Calibration (test period)",
        "",
        "| probability bin | rows | mean predicted | observed |",
        "|---|---:|---:|---:|",
    ]
    for b in card["calibration_bins"]:
        lines.append(
            f"| {b['bin_from']:.1f}-{b['bin_from'] + 0.1:.1f} | {b['rows']:,} | "
            f"{b['mean_probability']:.3f} | {b['observed_rate']:.3f} |"
        )
    lines += [
        "",
        "## By group (test period)",
        "",
        "| attribute | group | patients | positives | prevalence | mean predicted | AUROC | Brier |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for g in card["by_group"]:
        if g["suppressed"]:
            # Cards written before the shared disclosure rule carry no note.
            note = g.get("note") or "suppressed (fewer than the minimum cell size)"
            lines.append(f"| {g['attribute']} | {g['group']} | {note} | | | | | |")
            continue
        # Only cards written before the shared rule withheld a shown group's positives.
        positives = "withheld" if g["positives"] is None else f"{g['positives']:,}"
        lines.append(
            f"| {g['attribute']} | {g['group']} | {g['patients']:,} | {positives} | "
            f"{_fmt(g['prevalence'])} | {_fmt(g['mean_probability'])} | {_fmt(g['auroc'])} | "
            f"{_fmt(g['brier'])} |"
        )
    lines += [
        "",
        "A group is shown only with at least the minimum cell size of patients, of patients",
        "with the outcome and of patients without it; where hiding it alone would let the test",
        "totals above give it away, the next smallest group is suppressed too.",
        "",
        "## Top features (mean |SHAP| on the test period)",
        "",
    ]
    lines += [
        f"{r['rank']}. {r['feature']} ({FEATURES_BY_NAME[r['feature']].label}): "
        f"{r['mean_abs_shap']:.3f}"
        for r in card["top_features"]
    ]
    lines += [
        "",
        f"Tier thresholds (calibrated probability): high >= {card['thresholds']['high']:.3f}, "
        f"medium >= {card['thresholds']['medium']:.3f}.",
        "",
        "## Limitations",
        "",
    ]
    lines += [f"- {item}" for item in card["limitations"]]
    return "\n".join(lines) + "\n"
