"""Training and honest evaluation of the risk models (``caseload train``).

The recipe, for each model in :data:`analytics.models.labels.MODELS`:

1. Features (:mod:`analytics.models.features`) and labels (:mod:`analytics.models.labels`) for every
   Sunday with enough history, for every patient active that day.
2. **Split by time** over the as-of dates that have labels: the last 30% of the span is
   the *test* period; the *validation* slice is the 20% before it, ending one full horizon
   before the test period starts; *training* ends one full horizon before validation
   starts. No label window of a training or validation row reaches into a later period,
   so no patient's future is in training; test rows are only those inside the test period.
3. A ``HistGradientBoostingClassifier`` (fixed ``random_state``, no early stopping, so no
   hidden random split) on training rows, then **calibrated** on the later validation
   slice with Platt scaling (``CalibratedClassifierCV`` around a ``FrozenEstimator``,
   method ``sigmoid``). Sigmoid rather than isotonic: it is monotone, so the calibrated
   probability ranks patients exactly as the model's raw score (which the SHAP reasons
   explain), it has no flat steps that tie patients, and it needs little validation data.
4. Baselines in the same report, on the same test rows: the obvious **clinical rule**
   (relapse: latest PHQ-9 >= 15 or up >= 3 in 28 days; engagement: 5 or more days since
   the last check-in, or none yet) and a **logistic regression** on the same features
   (median imputation with missing-value indicators, standardised). The rule ranks flagged
   patients first, then by the quantity it thresholds (latest PHQ-9; days since check-in);
   its probability is the event rate among flagged / not-flagged training rows.
5. Metrics with patient-level bootstrap intervals (:mod:`analytics.models.evaluation`), by
   demographic group with small-cell suppression, global SHAP importance on the test rows,
   and tier thresholds from the validation probabilities at the alert budgets.

Too little data (fewer than ``settings.min_positive_labels`` positive labels in training
or test) raises :class:`InsufficientDataError`; nothing is fitted.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import polars as pl
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.frozen import FrozenEstimator
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from analytics.access.disclosure import ATTRIBUTES, age_band_sql, fold_category, suppress_table
from analytics.data.store import DataDir, connect, open_warehouse, pipeline_lock
from analytics.models import registry
from analytics.models.evaluation import Evaluation, auroc, brier, calibration_bins, evaluate
from analytics.models.explain import tree_shap
from analytics.models.features import (
    FEATURE_NAMES,
    build_features,
    feature_matrix,
    weekly_as_of_dates,
)
from analytics.models.labels import MODELS, build_labels, eligible_sql
from analytics.models.scoring import coverage_notes
from analytics.models.windows import data_as_of
from analytics.settings import Settings

__all__ = [
    "MONOTONE",
    "GroupMetric",
    "InsufficientDataError",
    "Split",
    "TrainedModel",
    "TrainingData",
    "clinical_rule",
    "fit_model",
    "load_training_data",
    "monotonic_cst",
    "time_split",
]

TEST_SHARE = 0.30
VALIDATION_SHARE = 0.20
# Global SHAP dependence: this many points per top feature, for the top this many.
DEPENDENCE_POINTS = 2000
DEPENDENCE_FEATURES = 10
RULE_RESIDUAL_PHQ9 = 5  # mild residual symptoms in a patient below caseness
# Directions that are clinically fixed: a higher value never lowers the risk (+1) or
# never raises it (-1). Enforced with HistGradientBoostingClassifier(monotonic_cst=...).
MONOTONE: dict[str, dict[str, int]] = {
    "relapse_risk": {
        "phq9_latest": 1,
        "gad7_latest": 1,
        "phq9_change_28d": 1,
        "gad7_change_28d": 1,
        "item9_latest": 1,
        "item9_positive_90d": 1,
        "flags_28d": 1,
        "events_180d": 1,
        "episodes_so_far": 1,
        # Relapse risk is highest soon after an episode and falls the longer a patient
        # stays well, so more days since the last onset or recovery never raise it.
        "days_since_onset": -1,
        "days_since_episode_end": -1,
    },
    "engagement_drop": {
        "phq9_latest": 1,
        "item9_positive_90d": 1,
        "flags_28d": 1,
        "days_since_checkin": 1,
        "days_since_message": 1,
    },
}


class InsufficientDataError(RuntimeError):
    """Too few labels to train or evaluate a model honestly; nothing was fitted."""

    def __init__(self, model: str, message: str, counts: dict[str, int] | None = None):
        super().__init__(message)
        self.model = model
        self.counts = counts or {}


@dataclass(frozen=True)
class Split:
    """As-of date ranges (inclusive) of the three periods."""

    train_end: date
    validation_start: date
    validation_end: date
    test_start: date
    test_end: date

    def period(self, as_of: pd.Series) -> np.ndarray:
        """'train', 'validation', 'test' or '' (a gap between periods) per as-of date."""
        d = pd.to_datetime(as_of).dt.date.to_numpy()
        return np.select(
            [
                d <= self.train_end,
                (d >= self.validation_start) & (d <= self.validation_end),
                (d >= self.test_start) & (d <= self.test_end),
            ],
            ["train", "validation", "test"],
            "",
        )


def time_split(dates: Sequence[date], *, horizon_days: int) -> Split:
    """Periods over the labelled as-of dates, each a full horizon after the one before."""
    if not dates:
        raise ValueError("no labelled as-of dates")
    first, last = min(dates), max(dates)
    span = (last - first).days
    h = timedelta(days=horizon_days)
    test_start = last - timedelta(days=math.floor(TEST_SHARE * span))
    validation_end = test_start - h
    validation_start = validation_end - timedelta(days=math.floor(VALIDATION_SHARE * span))
    return Split(
        train_end=validation_start - h,
        validation_start=validation_start,
        validation_end=validation_end,
        test_start=test_start,
        test_end=last,
    )


@dataclass(frozen=True)
class TrainingData:
    """Features, labels and audit attributes for every (patient, as-of) row.

    ``frame`` columns: patient_id, as_of, the features, one label column per model (NaN
    where censored or not eligible), the group attributes and ``eligible_<model>``.
    """

    frame: pd.DataFrame
    data_end: date
    as_of_dates: tuple[date, ...]


def load_training_data(con: duckdb.DuckDBPyConnection, *, settings: Settings) -> TrainingData:
    """Build features and labels from the warehouse attached to ``con`` as ``wh``."""

    data_end = data_as_of(con)
    dates = weekly_as_of_dates(con)
    if data_end is None or not dates:
        return TrainingData(pd.DataFrame(), data_end or date.min, ())
    build_features(con, as_of=dates, table="train_features")
    build_labels(con, settings=settings, data_end=data_end, features="train_features")
    frame = con.execute(
        f"""SELECT f.*, l.relapse_risk, l.engagement_drop,
                   {eligible_sql("engagement_drop")} AS eligible_engagement_drop,
                   coalesce({eligible_sql("relapse_risk")}, FALSE) AS eligible_relapse_risk,
                   coalesce(p.gender, 'Unknown') AS gender,
                   coalesce(p.race_ethnicity, 'Unknown') AS race_ethnicity,
                   coalesce(p.primary_language, 'Unknown') AS primary_language,
                   coalesce(p.insurance, 'Unknown') AS insurance,
                   coalesce(p.rurality, 'Unknown') AS rurality,
                   {age_band_sql("p.birth_year", "year(f.as_of)")} AS age_band
            FROM train_features f
            JOIN labels l USING (patient_id, as_of)
            JOIN wh.patients p USING (patient_id)
            ORDER BY f.as_of, f.patient_id"""
    ).df()
    con.execute("DROP TABLE IF EXISTS train_features")
    con.execute("DROP TABLE IF EXISTS labels")
    for name in MODELS:
        frame[name] = frame[name].astype("float64")
    frame["as_of"] = pd.to_datetime(frame["as_of"]).dt.date
    return TrainingData(frame, data_end, tuple(dates))


def clinical_rule(model: str, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(flag, ranking score) of the obvious clinical rule for ``model``."""
    if model == "relapse_risk":
        # For a patient who is well: residual symptoms, a new episode before, or a rise.
        phq = frame["phq9_latest"].astype("float64").to_numpy()
        change = frame["phq9_change_28d"].astype("float64").to_numpy()
        episodes = frame["episodes_so_far"].astype("float64").to_numpy()
        flag = (
            (np.nan_to_num(phq, nan=-1) >= RULE_RESIDUAL_PHQ9)
            | (np.nan_to_num(episodes, nan=0) >= 1)
            | (np.nan_to_num(change, nan=-99) >= 3)
        )
        tiebreak = np.nan_to_num(phq, nan=-1) / 100.0
    else:
        since = frame["days_since_checkin"].astype("float64").to_numpy()
        in_care = frame["days_in_care"].astype("float64").to_numpy()
        # Never checked in: the days since enrolment stand in for days since the last one.
        effective = np.where(np.isnan(since), in_care + 1, since)
        flag = effective >= 5
        tiebreak = np.minimum(effective, 999) / 1000.0
    return flag, flag.astype(np.float64) + tiebreak


@dataclass(frozen=True)
class GroupMetric:
    """One demographic group's test metrics, for the model card. A group the disclosure
    rule hides (:mod:`analytics.access.disclosure`: too few patients, too few with or
    without the outcome, or complementary) is ``suppressed``: its name and ``note`` only,
    every figure None."""

    attribute: str
    group: str
    patients: int | None
    rows: int | None
    positives: int | None
    prevalence: float | None
    mean_probability: float | None
    auroc: float | None
    brier: float | None
    suppressed: bool
    note: str | None = None


@dataclass(frozen=True)
class TrainedModel:
    """A fitted, calibrated, evaluated model, ready for the registry."""

    name: str
    estimator: HistGradientBoostingClassifier
    calibrator: CalibratedClassifierCV
    features: tuple[str, ...]
    split: Split
    data_end: date
    counts: dict[str, dict[str, int]]
    evaluations: tuple[Evaluation, ...]
    groups: tuple[GroupMetric, ...]
    importance: pd.DataFrame  # feature, mean_abs_shap, rank
    dependence: pd.DataFrame  # feature, value, shap_value
    calibration: tuple[tuple[float, int, float, float], ...]
    thresholds: dict[str, float]
    heldout: pd.DataFrame
    seed: int
    params: dict[str, object] = field(default_factory=dict)
    # The model that scores patients is refit on all labelled data (see fit_model); these
    # describe that refit and compare its training rows with the population it scores.
    refit: dict[str, object] = field(default_factory=dict)
    population: dict[str, dict[str, float | int | None]] = field(default_factory=dict)
    # The evaluated (training-period) model and the baselines, for research comparisons
    # such as the generator-truth benchmark; not saved with the model.
    evaluated: dict[str, object] = field(default_factory=dict, repr=False)


# Small trees with large leaves: positives are few (engagement drops are ~2% of
# patient-weeks) and most effects are smooth. Chosen once on the validation slices of a
# different generated clinic (seed 1) than the demo's, never on a test period.
HGB_PARAMS: dict[str, object] = {
    "learning_rate": 0.05,
    "max_iter": 200,
    "max_leaf_nodes": 4,
    "min_samples_leaf": 100,
    "l2_regularization": 1.0,
    "early_stopping": False,
}


def monotonic_cst(name: str, features: Sequence[str]) -> list[int]:
    """The monotonic constraint of each feature (in ``features`` order) for model ``name``."""
    fixed = MONOTONE.get(name, {})
    return [fixed.get(f, 0) for f in features]


def _population(rows: pd.DataFrame) -> dict[str, float | int | None]:
    """Who a set of rows describes: the card compares training rows with those scored."""
    if rows.empty:
        return {"rows": 0, "patients": 0}
    return {
        "rows": len(rows),
        "patients": int(rows["patient_id"].nunique()),
        "median_days_in_care": float(rows["days_in_care"].median()),
        "share_prior_episode": float((rows["episodes_so_far"].fillna(0) > 0).mean()),
        "share_with_wearable": float((rows["wear_days_14d"].fillna(0) > 0).mean()),
    }


def _counts(rows: pd.DataFrame, label: str) -> dict[str, int]:
    return {
        "rows": len(rows),
        "patients": int(rows["patient_id"].nunique()),
        "positives": int(rows[label].sum()),
    }


def fit_model(
    data: TrainingData,
    name: str,
    *,
    settings: Settings,
    seed: int = 0,
    resamples: int = 500,
) -> TrainedModel:
    """Split, fit, calibrate, compare with the baselines and evaluate one model."""

    spec = MODELS[name]
    need = int(settings.min_positive_labels)
    frame = data.frame
    if frame.empty or name not in frame or frame[name].notna().sum() == 0:
        raise InsufficientDataError(
            name,
            f"{name}: no labelled patient-weeks yet (the data must span more than the "
            f"{spec.horizon_days}-day horizon after four weeks of history); "
            "scores are unavailable until there is more data",
        )
    rows = frame[frame[name].notna()].reset_index(drop=True)
    split = time_split(sorted(set(rows["as_of"])), horizon_days=spec.horizon_days)
    period = split.period(rows["as_of"])
    parts = {p: rows[period == p].reset_index(drop=True) for p in ("train", "validation", "test")}
    counts = {p: _counts(parts[p], name) for p in parts}
    need_validation = max(10, need // 3)
    short = [
        f"{counts[p]['positives']} positive labels in {p} (need {n})"
        for p, n in (("train", need), ("validation", need_validation), ("test", need))
        if counts[p]["positives"] < n or counts[p]["rows"] - counts[p]["positives"] < n
    ]
    if short:
        raise InsufficientDataError(
            name,
            f"{name}: too little data to train and evaluate honestly: "
            + "; ".join(short)
            + f" (periods: training to {split.train_end}, validation "
            f"{split.validation_start} to {split.validation_end}, test {split.test_start} "
            f"to {split.test_end}). Scores are shown as unavailable; add data or lower "
            "min_positive_labels in settings.toml",
            {f"{p}_positives": counts[p]["positives"] for p in counts},
        )

    # A feature with no value at all in training (say, a clinic without wearables) carries
    # no information, and scikit-learn cannot bin it; the model is fitted without it.
    observed = ~np.isnan(feature_matrix(parts["train"])).all(axis=0)
    features = tuple(n for n, keep in zip(FEATURE_NAMES, observed, strict=True) if keep)
    x = {p: feature_matrix(parts[p], features) for p in parts}
    y = {p: parts[p][name].to_numpy(dtype=np.int64) for p in parts}
    cst = monotonic_cst(name, features)
    estimator = HistGradientBoostingClassifier(**HGB_PARAMS, monotonic_cst=cst, random_state=seed)
    estimator.fit(x["train"], y["train"])
    calibrator = CalibratedClassifierCV(FrozenEstimator(estimator), method="sigmoid")
    calibrator.fit(x["validation"], y["validation"])
    p_test = calibrator.predict_proba(x["test"])[:, 1]
    p_val = calibrator.predict_proba(x["validation"])[:, 1]

    logistic = make_pipeline(
        SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True),
        StandardScaler(),
        LogisticRegression(C=0.1, max_iter=5000),
    )
    logistic.fit(x["train"], y["train"])
    p_logistic = logistic.predict_proba(x["test"])[:, 1]

    flag_train, _ = clinical_rule(name, parts["train"])
    flag_test, rule_score = clinical_rule(name, parts["test"])
    rate = {
        flagged: float(y["train"][flag_train == flagged].mean())
        if (flag_train == flagged).any()
        else float(y["train"].mean())
        for flagged in (True, False)
    }
    p_rule = np.where(flag_test, rate[True], rate[False])

    test = parts["test"]
    common = {
        "patient": test["patient_id"].to_numpy(),
        "group": np.asarray([d.toordinal() for d in test["as_of"]]),
        "budgets": tuple(settings.alert_budgets),
        "resamples": resamples,
        "seed": seed,
    }
    evaluations = (
        evaluate("model", y["test"], score=p_test, probability=p_test, **common),
        evaluate("clinical_rule", y["test"], score=rule_score, probability=p_rule, **common),
        evaluate("logistic", y["test"], score=p_logistic, probability=p_logistic, **common),
    )

    # Refit for production: the evaluated recipe on all labelled rows up to one horizon
    # before the latest slice, calibrated on that slice (the newest labels). The model
    # fitted on the training period alone has never seen a patient months into care.
    production, prod_calibrator, refit, p_slice = _refit(
        rows, features, name, cst=cst, seed=seed, need=need_validation
    )
    if production is None:
        production, prod_calibrator, p_slice = estimator, calibrator, p_val
    scored = data.frame[data.frame[f"eligible_{name}"].astype(bool)]
    scored = scored[scored["as_of"] == scored["as_of"].max()] if not scored.empty else scored
    fitted_rows = rows[rows["as_of"] <= refit["fit_to"]] if refit.get("fit_to") else parts["train"]
    population = {
        "evaluated_model_training": _population(parts["train"]),
        "production_model_training": _population(fitted_rows),
        "scored_latest": _population(scored),
    }

    shap_values, _base, _raw = tree_shap(estimator, x["test"])
    mean_abs = np.abs(shap_values).mean(axis=0)
    order = np.argsort(-mean_abs, kind="mergesort")
    importance = pd.DataFrame(
        {
            "feature": [features[i] for i in order],
            "mean_abs_shap": mean_abs[order],
            "rank": np.arange(1, len(order) + 1),
        }
    )
    rng = np.random.default_rng(seed)
    take = rng.permutation(len(test))[:DEPENDENCE_POINTS]
    dependence = pd.concat(
        [
            pd.DataFrame(
                {
                    "feature": features[i],
                    "value": x["test"][take, i],
                    "shap_value": shap_values[take, i],
                }
            )
            for i in order[:DEPENDENCE_FEATURES]
        ],
        ignore_index=True,
    )

    budgets = sorted(settings.alert_budgets)
    thresholds = {
        "high": float(np.quantile(p_slice, 1 - budgets[0])),
        "medium": float(np.quantile(p_slice, 1 - budgets[-1]))
        if len(budgets) > 1
        else float(np.quantile(p_slice, 1 - budgets[0])),
    }

    heldout = pd.DataFrame(
        {
            "patient_id": test["patient_id"],
            "as_of": test["as_of"],
            "label": y["test"],
            "probability": p_test,
            "raw_score": estimator.decision_function(x["test"]),
            "rule_flag": flag_test,
            "rule_probability": p_rule,
            "logistic_probability": p_logistic,
            **{a: test[a] for a in ATTRIBUTES},
            "wear_days_14d": test["wear_days_14d"],
            "checkin_days_14d": test["checkin_days_14d"],
            "sentiment_available": test["sentiment_available"].astype(bool),
            "coverage_note": coverage_notes(test),
        }
    )
    return TrainedModel(
        name=name,
        estimator=production,
        calibrator=prod_calibrator,
        features=features,
        split=split,
        data_end=data.data_end,
        counts=counts,
        evaluations=evaluations,
        groups=_group_metrics(heldout, min_cell=int(settings.min_cell_size)),
        importance=importance,
        dependence=dependence,
        calibration=tuple(calibration_bins(y["test"], p_test)),
        thresholds=thresholds,
        heldout=heldout,
        seed=seed,
        params={
            **HGB_PARAMS,
            "monotonic_cst": {f: c for f, c in zip(features, cst, strict=True) if c},
        },
        refit=refit,
        population=population,
        evaluated={
            "estimator": estimator,
            "calibrator": calibrator,
            "logistic": logistic,
            "rule_rate": rate,
        },
    )


def _refit(
    rows: pd.DataFrame,
    features: tuple[str, ...],
    name: str,
    *,
    cst: list[int],
    seed: int,
    need: int,
) -> tuple[HistGradientBoostingClassifier | None, CalibratedClassifierCV | None, dict, np.ndarray]:
    """Fit on every labelled row up to one horizon before the latest slice; calibrate on
    the slice. Returns (None, None, reason, []) when the slice is too thin to calibrate."""
    h = timedelta(days=MODELS[name].horizon_days)
    dates = sorted(set(rows["as_of"]))
    span = (dates[-1] - dates[0]).days
    slice_start = dates[-1] - timedelta(days=math.floor(VALIDATION_SHARE * span))
    fit_to = slice_start - h
    fit = rows[rows["as_of"] <= fit_to]
    cal = rows[rows["as_of"] >= slice_start]
    y_fit = fit[name].to_numpy(dtype=np.int64)
    y_cal = cal[name].to_numpy(dtype=np.int64)
    info: dict[str, object] = {
        "fit_to": fit_to,
        "calibration_slice": [str(slice_start), str(dates[-1])],
        "fit_rows": len(fit),
        "fit_positives": int(y_fit.sum()),
        "calibration_rows": len(cal),
        "calibration_positives": int(y_cal.sum()),
    }
    if min(y_cal.sum(), len(y_cal) - y_cal.sum(), y_fit.sum()) < need:
        info["status"] = "not refit: too few labels in the latest slice; the evaluated model scores"
        return None, None, info, np.empty(0)
    estimator = HistGradientBoostingClassifier(**HGB_PARAMS, monotonic_cst=cst, random_state=seed)
    estimator.fit(feature_matrix(fit, features), y_fit)
    calibrator = CalibratedClassifierCV(FrozenEstimator(estimator), method="sigmoid")
    x_cal = feature_matrix(cal, features)
    calibrator.fit(x_cal, y_cal)
    info["status"] = "refit on all labelled data"
    info["fit_to"] = fit_to
    return estimator, calibrator, info, calibrator.predict_proba(x_cal)[:, 1]


def _group_metrics(heldout: pd.DataFrame, *, min_cell: int) -> tuple[GroupMetric, ...]:
    """The card's groups: categories folded, and suppressed, as in the bias audit of the
    same predictions; the card also shows the test totals, so each attribute's groups
    are suppressed with the totals as their margin (complementary)."""

    y = heldout["label"].to_numpy(dtype=np.int8)
    p = heldout["probability"].to_numpy(dtype=np.float64)
    unit = pd.factorize(heldout["patient_id"], sort=True)[0]
    out = []
    for attribute in ATTRIBUTES:
        raw = heldout[attribute].astype("object")
        values = fold_category(pl.Series(attribute, raw.where(raw.notna(), None)), attribute)
        column = values.fill_null("Unknown").to_numpy()
        groups = sorted(set(column.tolist()))
        rows = [np.flatnonzero(column == g) for g in groups]
        notes = suppress_table([(g,) for g in groups], rows, y, unit, min_cell)
        for i, group in enumerate(groups):
            if i in notes:  # no figure of a hidden group is computed
                out.append(
                    GroupMetric(attribute, group, *(None,) * 7, suppressed=True, note=notes[i])
                )
                continue
            yy, pp = y[rows[i]].astype(np.float64), p[rows[i]]
            out.append(
                GroupMetric(
                    attribute=attribute,
                    group=group,
                    patients=len(np.unique(unit[rows[i]])),
                    rows=len(rows[i]),
                    positives=int(yy.sum()),
                    prevalence=float(yy.mean()),
                    mean_probability=float(pp.mean()),
                    auroc=auroc(yy, pp),
                    brier=brier(yy, pp),
                    suppressed=False,
                )
            )
    return tuple(out)


@dataclass(frozen=True)
class TrainOutcome:
    """What ``caseload train`` did for one model."""

    model: str
    status: str  # "ok" | "refused"
    message: str
    version: str | None = None
    path: Path | None = None
    trained: TrainedModel | None = None


def train_models(
    *,
    settings: Settings,
    models: Sequence[str] = tuple(MODELS),
    seed: int = 0,
    resamples: int = 500,
) -> list[TrainOutcome]:
    """Train, evaluate and register each model, holding the pipeline lock throughout.

    A model with too little data is refused (recorded in the registry, so the next
    refresh shows its scores as unavailable with the reason); the others still train.
    """

    unknown = [m for m in models if m not in MODELS]
    if unknown:
        raise ValueError(f"unknown model(s) {unknown}; expected {', '.join(MODELS)}")
    data_dir = DataDir(settings.data_dir)
    outcomes = []
    with pipeline_lock(data_dir, purpose="train"):
        open_warehouse(data_dir, settings=settings).close()
        con = connect(Path(":memory:"), settings=settings)
        try:
            con.execute("ATTACH ? AS wh (READ_ONLY)", [str(data_dir.warehouse)])
            data = load_training_data(con, settings=settings)
            con.execute("DETACH wh")
        finally:
            con.close()
        for name in models:
            try:
                trained = fit_model(data, name, settings=settings, seed=seed, resamples=resamples)
            except InsufficientDataError as exc:
                registry.record_refusal(data_dir, name, str(exc))
                outcomes.append(TrainOutcome(name, "refused", str(exc)))
                continue
            version, path = registry.save(data_dir, trained, settings=settings)
            registry.save_reports(path, trained, data.frame, settings=settings)
            outcomes.append(
                TrainOutcome(
                    name, "ok", f"{name} {version} saved to {path}", version, path, trained
                )
            )
    return outcomes
