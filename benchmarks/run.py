"""One benchmark harness for every stage, each run in its own process.

    python -m benchmarks.run --patients 10000 --days 365

Each stage runs as ``python -m benchmarks.run --stage NAME`` in a child process so its
peak memory (ru_maxrss) is its own. Baselines run in the same invocation, on the same
files, and the report gives ratios. Results go to ``benchmarks/results/<size>.json`` and
``benchmarks/RESULTS.md`` is rewritten from every results file.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS_DIR = HERE / "results"

# stage -> (what it measures, baseline stage or None)
STAGES: dict[str, tuple[str, str | None]] = {
    "generate": ("write the synthetic clinic as CSV", None),
    "ingest_pandas": ("baseline: pandas read + validate the same CSV files", None),
    "ingest": (
        "caseload ingest of the generated CSV files (incl. message analysis)",
        "ingest_pandas",
    ),
    "refresh": ("caseload refresh: serving tables + publish", None),
    "fairness_fairlearn": (
        "baseline: fairlearn MetricFrame bootstrap (n_boot=1000), 100,000 predictions x 4 attributes",
        None,
    ),
    "fairness": (
        "bias audit: 9 metrics x 4 attributes, 1,000 bootstrap resamples, 100,000 predictions",
        "fairness_fairlearn",
    ),
    "features_pandas": ("baseline: the same model features in plain pandas", None),
    "features": (
        "model features (DuckDB SQL), every patient x weekly as-of date",
        "features_pandas",
    ),
    "features_check": ("check: DuckDB and pandas features agree (not a timing)", None),
    "train": ("caseload train: both models, evaluation with bootstrap, registry", None),
    "shap": ("SHAP reasons for every active patient, both models (s/patient in JSON)", None),
}


def _stage_generate(work: Path, args: argparse.Namespace) -> dict:
    from sample_data.generator import ClinicSpec, generate, write_clinic

    files = work / "files"
    shutil.rmtree(files, ignore_errors=True)
    tables = generate(ClinicSpec(patients=args.patients, days=args.days, seed=args.seed))
    paths = write_clinic(tables, files, fmt="csv")
    rows = sum(t.height for t in tables.values())
    return {"rows": rows, "files": len(paths), "bytes": sum(p.stat().st_size for p in paths)}


def _stage_ingest_pandas(work: Path, args: argparse.Namespace) -> dict:
    from benchmarks.pandas_baseline import read_and_validate

    valid, seconds = read_and_validate(work / "files")
    messages = sum(t for name, t in seconds.items() if name.startswith("messages"))
    return {
        "rows": sum(rows for rows, _ in valid.values()),
        "valid_rows": sum(v for _, v in valid.values()),
        "messages_seconds": round(messages, 3),
        "other_seconds": round(sum(seconds.values()) - messages, 3),
    }


def _stage_ingest(work: Path, args: argparse.Namespace) -> dict:
    from analytics.ingest import ingest
    from analytics.settings import load_settings

    data = work / "data"
    shutil.rmtree(data, ignore_errors=True)
    result = ingest([work / "files"], settings=load_settings(data))
    other = [f for f in result.files if f.table != "messages"]
    return {
        "rows": sum(f.rows_read for f in result.files),
        "stored": sum(f.stored + f.updated for f in result.files),
        "quarantined": sum(f.quarantined for f in result.files),
        # Messages carry the per-message text analysis the baseline does not do.
        "messages_seconds": round(sum(f.seconds for f in result.files if f.table == "messages"), 3),
        "other_rows": sum(f.rows_read for f in other),
        "other_seconds": round(sum(f.seconds for f in other), 3),
    }


def _stage_refresh(work: Path, args: argparse.Namespace) -> dict:
    from analytics.pipeline import refresh
    from analytics.settings import load_settings

    result = refresh(settings=load_settings(work / "data"))
    return {"rows": sum(result.table_rows.values()), "patients": result.patients}


FAIRNESS_ROWS, FAIRNESS_BOOT = 100_000, 1000


def _stage_fairness_fairlearn(work: Path, args: argparse.Namespace) -> dict:
    from benchmarks.fairness_baseline import fairlearn_bootstrap, synthetic_predictions

    frame = synthetic_predictions(FAIRNESS_ROWS, seed=args.seed)
    # fairlearn resamples one pandas frame at a time; if 1,000 resamples would take more
    # than about ten minutes, measure fewer and extrapolate linearly from the base cost.
    base = fairlearn_bootstrap(frame, n_boot=None)["seconds"]
    probe = fairlearn_bootstrap(frame, n_boot=2)["seconds"]
    per_resample = max((probe - base) / 2, 1e-9)
    if base + per_resample * FAIRNESS_BOOT <= 600:
        measured_boot, measured = FAIRNESS_BOOT, fairlearn_bootstrap(frame, n_boot=FAIRNESS_BOOT)
    else:
        measured_boot = max(2, min(FAIRNESS_BOOT, int(120 / per_resample)))
        measured = fairlearn_bootstrap(frame, n_boot=measured_boot)
    seconds = base + (measured["seconds"] - base) * FAIRNESS_BOOT / measured_boot
    return {
        "rows": frame.height,
        "n_boot": FAIRNESS_BOOT,
        "groups": measured["groups"],
        "seconds": seconds,
        "measured_n_boot": measured_boot,
        "measured_seconds": round(measured["seconds"], 3),
        "extrapolated": measured_boot != FAIRNESS_BOOT,
    }


def _stage_fairness(work: Path, args: argparse.Namespace) -> dict:
    from analytics.fairness import audit_predictions
    from benchmarks.fairness_baseline import ATTRIBUTES, synthetic_predictions

    frame = synthetic_predictions(FAIRNESS_ROWS, seed=args.seed)
    started = time.perf_counter()
    result = audit_predictions(
        frame,
        label="label",
        score="probability",
        attributes=list(ATTRIBUTES),
        n_boot=FAIRNESS_BOOT,
        seed=args.seed,
        mitigation=None,
        coverage=False,
    )
    seconds = time.perf_counter() - started
    flags = [d.flag for d in result.disparities]
    return {
        "rows": frame.height,
        "n_boot": FAIRNESS_BOOT,
        "groups": sum(not g.suppressed for g in result.groups),
        "disparities": flags.count("disparity"),
        "seconds": seconds,
    }


def _feature_inputs(work: Path):
    from analytics.features import weekly_as_of_dates
    from analytics.settings import load_settings
    from analytics.store import connect

    settings = load_settings(work / "data")
    con = connect(Path(":memory:"), settings=settings)
    con.execute("ATTACH ? AS wh (READ_ONLY)", [str(work / "data" / "warehouse.duckdb")])
    return settings, con, weekly_as_of_dates(con)


def _stage_features_pandas(work: Path, args: argparse.Namespace) -> dict:
    from benchmarks.features_pandas import build_features_pandas

    settings, con, dates = _feature_inputs(work)
    con.close()
    frame = build_features_pandas(
        work / "data" / "warehouse.duckdb", as_of=dates, timezone=settings.clinic_timezone
    )
    frame.to_parquet(work / "features_pandas.parquet", index=False)
    return {"rows": len(frame), "as_of_dates": len(dates)}


def _stage_features(work: Path, args: argparse.Namespace) -> dict:
    from analytics.features import build_features

    _, con, dates = _feature_inputs(work)
    rows = build_features(con, as_of=dates)
    # Written out like the pandas baseline's, so both stages do the same work.
    con.execute("COPY features TO ? (FORMAT parquet)", [str(work / "features_duckdb.parquet")])
    con.close()
    return {"rows": rows, "as_of_dates": len(dates)}


def _stage_features_check(work: Path, args: argparse.Namespace) -> dict:
    import numpy as np
    import pandas as pd

    from analytics.features import FEATURE_NAMES

    ours = pd.read_parquet(work / "features_duckdb.parquet")
    theirs = pd.read_parquet(work / "features_pandas.parquet")
    ours["as_of"] = pd.to_datetime(ours["as_of"]).dt.date
    both = ours.merge(theirs, on=["patient_id", "as_of"], suffixes=("", "_pd"))
    a = both[list(FEATURE_NAMES)].to_numpy(float)
    b = both[[f"{n}_pd" for n in FEATURE_NAMES]].to_numpy(float)
    return {
        "rows": len(both),
        "duckdb_rows": len(ours),
        "pandas_rows": len(theirs),
        "missing_mismatches": int((np.isnan(a) != np.isnan(b)).sum()),
        "max_abs_diff": float(np.nanmax(np.abs(a - b))) if len(both) else None,
    }


def _stage_train(work: Path, args: argparse.Namespace) -> dict:
    from analytics.settings import load_settings
    from analytics.training import train_models

    outcomes = train_models(settings=load_settings(work / "data"), seed=args.seed)
    out: dict = {"rows": 0}
    for o in outcomes:
        out[o.model] = o.status
        if o.trained is not None:
            out["rows"] += sum(c["rows"] for c in o.trained.counts.values())
            m = o.trained.evaluations[0].get("auroc")
            out[f"{o.model}_auroc"] = [
                round(m.estimate, 4),
                round(m.ci_low, 4),
                round(m.ci_high, 4),
            ]
    return out


def _stage_shap(work: Path, args: argparse.Namespace) -> dict:
    from analytics import registry
    from analytics.explain import explain_rows
    from analytics.features import build_features, feature_matrix
    from analytics.serving import data_as_of
    from analytics.store import DataDir

    _, con, _ = _feature_inputs(work)
    build_features(con, as_of=data_as_of(con))
    frame = con.execute("SELECT * FROM features ORDER BY patient_id").df()
    con.close()
    out: dict = {"rows": 0, "patients": len(frame)}
    seconds = 0.0
    for name in ("relapse_risk", "engagement_drop"):
        try:
            model = registry.load_current(DataDir(work / "data"), name)
        except registry.NotTrainedError:
            continue
        x = feature_matrix(frame, model.features)
        started = time.perf_counter()
        reasons, *_ = explain_rows(model.estimator, frame, x, features=model.features)
        seconds += time.perf_counter() - started
        out["rows"] += len(frame)
        out[f"{name}_reasons"] = len(reasons)
    # SHAP values and plain-language reasons, per patient per model explained.
    out["shap_seconds"] = round(seconds, 3)
    out["seconds_per_patient"] = round(seconds / out["rows"], 6) if out["rows"] else None
    return out


def run_stage(name: str, work: Path, args: argparse.Namespace) -> dict:
    """Run one stage in this process and return its measurements."""
    func = globals()[f"_stage_{name}"]
    started = time.perf_counter()
    out = func(work, args)
    seconds = time.perf_counter() - started
    if "seconds" in out:  # the stage timed its own work (or extrapolated it)
        out["wall_seconds"] = round(seconds, 3)
        seconds = out.pop("seconds")
    out.update(
        stage=name,
        seconds=round(seconds, 3),
        rows_per_second=round(out["rows"] / seconds) if seconds and out.get("rows") else None,
        peak_mb=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    )
    return out


def _child(name: str, work: Path, args: argparse.Namespace) -> dict:
    cmd = [
        sys.executable,
        "-m",
        "benchmarks.run",
        "--stage",
        name,
        "--work",
        str(work),
        "--patients",
        str(args.patients),
        "--days",
        str(args.days),
        "--seed",
        str(args.seed),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=HERE.parent)
    if proc.returncode != 0:
        raise SystemExit(f"stage {name} failed:\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def machine() -> dict:
    """Cores and memory of this machine, for the report."""
    mem_kb = 0
    with open("/proc/meminfo", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    return {
        "cores": os.cpu_count(),
        "memory_gb": round(mem_kb / 1024 / 1024, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def write_report() -> Path:
    """Rewrite RESULTS.md from every results file."""
    lines = [
        "# Benchmark results",
        "",
        "Written by `python -m benchmarks.run`; each size's table comes from",
        "`benchmarks/results/<size>.json`. Every stage runs in its own process; peak memory",
        "is that process's maximum resident set. Ratios are baseline time / our time,",
        "measured in the same run on the same files (above 1: we are faster).",
        "",
    ]
    for path in sorted(
        RESULTS_DIR.glob("*.json"), key=lambda p: json.loads(p.read_text())["patients"]
    ):
        res = json.loads(path.read_text())
        m = res["machine"]
        lines += [
            f"## {res['patients']:,} patients x {res['days']} days (seed {res['seed']})",
            "",
            f"Run {res['started_at']} on {m['cores']} cores, {m['memory_gb']} GB, Python {m['python']}.",
            "",
            "| stage | what | wall s | rows | rows/s | peak MB | vs baseline |",
            "|---|---|---:|---:|---:|---:|---|",
        ]
        by_name = {s["stage"]: s for s in res["stages"]}
        for s in res["stages"]:
            what, base = STAGES.get(s["stage"], ("", None))
            ratio = ""
            if base and base in by_name:
                b = by_name[base]
                ratio = f"{b['seconds'] / s['seconds']:.2f}x time, {b['peak_mb'] / s['peak_mb']:.2f}x memory"
            rps = f"{s['rows_per_second']:,}" if s.get("rows_per_second") else ""
            lines.append(
                f"| {s['stage']} | {what} | {s['seconds']:.1f} | {s.get('rows', 0):,} | {rps} | {s['peak_mb']:,.0f} | {ratio} |"
            )
            if "other_seconds" in s and base in by_name and "other_seconds" in by_name[base]:
                # The same comparison without messages, whose text analysis only we do.
                b = by_name[base]
                rows = s["other_rows"]
                lines.append(
                    f"| {s['stage']} (all but messages) | same files without messages.csv | "
                    f"{s['other_seconds']:.1f} | {rows:,} | {round(rows / s['other_seconds']):,} | | "
                    f"{b['other_seconds'] / s['other_seconds']:.2f}x time |"
                )
                lines.append(
                    f"| {s['stage']} (messages) | messages.csv incl. language, sentiment, crisis analysis | "
                    f"{s['messages_seconds']:.1f} | {s['rows'] - rows:,} | "
                    f"{round((s['rows'] - rows) / s['messages_seconds']):,} | | "
                    f"{b['messages_seconds'] / s['messages_seconds']:.2f}x time (baseline does no text analysis) |"
                )
        lines += [""] + [f"- {note}" for note in res.get("notes", [])] + [""]
    out = HERE / "RESULTS.md"
    out.write_text("\n".join(lines), encoding="utf-8")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--patients", type=int, default=1000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--stages", default=",".join(STAGES), help="comma-separated stages to run")
    parser.add_argument(
        "--work", type=Path, help="working directory (default: benchmarks/out/<size>)"
    )
    parser.add_argument("--stage", help=argparse.SUPPRESS)
    parser.add_argument(
        "--no-report", action="store_true", help="print results, do not record them"
    )
    args = parser.parse_args(argv)
    work = args.work or HERE / "out" / f"{args.patients}x{args.days}"
    work.mkdir(parents=True, exist_ok=True)
    if args.stage:
        print(json.dumps(run_stage(args.stage, work, args)))
        return 0
    started = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    results = []
    for name in args.stages.split(","):
        res = _child(name, work, args)
        print(json.dumps(res), flush=True)
        results.append(res)
    if args.no_report:
        return 0
    RESULTS_DIR.mkdir(exist_ok=True)
    record = {
        "patients": args.patients,
        "days": args.days,
        "seed": args.seed,
        "started_at": started,
        "machine": machine(),
        "stages": results,
    }
    path = RESULTS_DIR / f"{args.patients}x{args.days}.json"
    if path.exists():  # keep stages measured by an earlier run that this one skipped
        old = {s["stage"]: s for s in json.loads(path.read_text())["stages"]}
        old.update({s["stage"]: s for s in results})
        record["stages"] = [old[n] for n in STAGES if n in old]
    path.write_text(json.dumps(record, indent=2), encoding="utf-8")
    print(f"wrote {path} and {write_report()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
