"""Benchmark stage: the risk models against the generator's ground truth.

The relapse label is what a clinic can observe (a confirmed deterioration on a
questionnaire, or a recorded event); the generator also knows when each new episode truly
began. This stage generates a clinic with its truth, ingests it, trains both models
exactly as ``caseload train`` does, and scores the *evaluated* model (fitted on the
training period), the logistic baseline and the clinical rule on every test-period row of
a patient who was well (the population the relapse model scores), against whether a true
episode onset fell in the next 28 days. Rows whose observed label is unknown (no
questionnaire, no event) are included: the truth is known for them even when the clinic's
label is not. Intervals are the patient-level bootstrap of ``analytics.models.evaluation``.

``python -m benchmarks.truth [--patients 2000 --days 365 --seed 0 --end-date 2026-11-20]
[--json]`` prints the table; ``benchmarks/RESULTS.md`` records the measured numbers.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["TruthResult", "main", "true_onset_within", "truth_benchmark"]

DEMO_END = date(2026, 11, 20)


@dataclass(frozen=True)
class TruthResult:
    """AUROC (estimate, 95% interval) per method against the truth and against the label."""

    spec: dict
    rows: int
    patients: int
    true_onsets: int
    label_rows: int
    label_positives: int
    truth_auroc: dict[str, tuple[float, float, float]]
    label_auroc: dict[str, tuple[float, float, float]]
    label_precision_vs_truth: float | None  # share of positive labels with a true onset


def true_onset_within(rows: pd.DataFrame, onsets: pd.DataFrame, *, horizon_days: int) -> np.ndarray:
    """1 where a true onset of the row's patient falls in days as_of+1 .. as_of+horizon."""
    if rows.empty:
        return np.zeros(0, dtype=np.int64)
    left = rows[["patient_id", "as_of"]].reset_index()
    joined = left.merge(onsets[["patient_id", "onset"]], on="patient_id", how="left")
    days = (pd.to_datetime(joined["onset"]) - pd.to_datetime(joined["as_of"])).dt.days
    joined["hit"] = (days >= 1) & (days <= horizon_days)
    hit = joined.groupby("index")["hit"].any()
    return hit.reindex(left["index"]).fillna(False).to_numpy(dtype=np.int64)


def truth_benchmark(
    *, patients: int, days: int, seed: int, end_date: date, resamples: int = 500
) -> TruthResult:
    """Generate, ingest, train and judge the relapse model against the true onsets."""
    from analytics.data.ingest import ingest
    from analytics.data.store import DataDir, connect
    from analytics.models.evaluation import evaluate
    from analytics.models.labels import MODELS
    from analytics.models.training import clinical_rule, fit_model, load_training_data
    from analytics.settings import load_settings
    from sample_data import ClinicSpec, generate_with_truth, write_clinic

    name = "relapse_risk"
    horizon = MODELS[name].horizon_days
    spec = ClinicSpec(patients=patients, days=days, seed=seed, end_date=end_date, mess=False)
    with tempfile.TemporaryDirectory(prefix="truth-bench-") as tmp:
        root = Path(tmp)
        data = root / "data"
        data.mkdir(mode=0o700)
        (data / "settings.toml").write_text(f'clinic_timezone = "{spec.timezone}"\n')
        tables, truth = generate_with_truth(spec)
        write_clinic(tables, root / "files", fmt="parquet")
        settings = load_settings(data)
        if ingest([root / "files"], settings=settings).exit_code != 0:
            raise RuntimeError("ingest of the generated clinic failed")
        con = connect(Path(":memory:"), settings=settings)
        try:
            con.execute("ATTACH ? AS wh (READ_ONLY)", [str(DataDir(data).warehouse)])
            training = load_training_data(con, settings=settings)
        finally:
            con.close()
    trained = fit_model(training, name, settings=settings, seed=0, resamples=resamples)
    frame = training.frame
    split = trained.split
    as_of = pd.to_datetime(frame["as_of"]).dt.date
    test = frame[
        frame["eligible_relapse_risk"].astype(bool)
        & (as_of >= split.test_start)
        & (as_of + timedelta(days=horizon) <= training.data_end)
    ].reset_index(drop=True)
    onsets = truth.relapse_episodes.select("patient_id", "onset").to_pandas()
    y_true = true_onset_within(test, onsets, horizon_days=horizon)

    from analytics.models.features import feature_matrix

    ev = trained.evaluated
    x = feature_matrix(test, trained.features)
    p_model = ev["calibrator"].predict_proba(x)[:, 1]
    p_logistic = ev["logistic"].predict_proba(x)[:, 1]
    flag, rule_score = clinical_rule(name, test)
    p_rule = np.where(flag, ev["rule_rate"][True], ev["rule_rate"][False])
    common = {
        "patient": test["patient_id"].to_numpy(),
        "group": np.asarray([d.toordinal() for d in test["as_of"]]),
        "budgets": tuple(settings.alert_budgets),
        "resamples": resamples,
        "seed": 0,
    }
    truth_auroc = {}
    for method, score, prob in (
        ("model", p_model, p_model),
        ("logistic", p_logistic, p_logistic),
        ("clinical_rule", rule_score, p_rule),
    ):
        m = evaluate(method, y_true, score=score, probability=prob, **common).get("auroc")
        truth_auroc[method] = (m.estimate, m.ci_low, m.ci_high)
    label_auroc = {}
    for e in trained.evaluations:
        m = e.get("auroc")
        label_auroc[e.method] = (m.estimate, m.ci_low, m.ci_high)
    held = trained.heldout
    held_truth = true_onset_within(held, onsets, horizon_days=horizon)
    positives = held["label"].to_numpy() == 1
    precision = float(held_truth[positives].mean()) if positives.any() else None
    return TruthResult(
        spec={"patients": patients, "days": days, "seed": seed, "end_date": str(end_date)},
        rows=len(test),
        patients=int(test["patient_id"].nunique()),
        true_onsets=int(y_true.sum()),
        label_rows=len(held),
        label_positives=int(positives.sum()),
        truth_auroc=truth_auroc,
        label_auroc=label_auroc,
        label_precision_vs_truth=precision,
    )


def _table(r: TruthResult) -> str:
    def fmt(t: tuple[float, float, float]) -> str:
        return f"{t[0]:.3f} ({t[1]:.3f}-{t[2]:.3f})"

    lines = [
        f"clinic {r.spec}: {r.rows:,} well patient-weeks in the test period "
        f"({r.patients:,} patients, {r.true_onsets:,} with a true onset in 28 days); "
        f"{r.label_rows:,} labelled, {r.label_positives:,} positive; "
        f"positive labels with a true onset: "
        + (
            f"{r.label_precision_vs_truth:.1%}" if r.label_precision_vs_truth is not None else "n/a"
        ),
        "| method | AUROC vs true onsets | AUROC vs label |",
        "|---|---|---|",
    ]
    for method in ("model", "logistic", "clinical_rule"):
        lines.append(f"| {method} | {fmt(r.truth_auroc[method])} | {fmt(r.label_auroc[method])} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.truth", description=__doc__)
    parser.add_argument("--patients", type=int, default=2000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--end-date", type=date.fromisoformat, default=DEMO_END)
    parser.add_argument("--resamples", type=int, default=500)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    result = truth_benchmark(
        patients=args.patients,
        days=args.days,
        seed=args.seed,
        end_date=args.end_date,
        resamples=args.resamples,
    )
    if args.json:
        print(json.dumps(result.__dict__, default=str, indent=2))
    else:
        print(_table(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
