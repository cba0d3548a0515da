"""One benchmark harness for every stage, each run in its own process.

    python -m benchmarks.run --patients 10000 --days 365

Each stage runs as ``python -m benchmarks.run --stage NAME`` in a child process so its
peak memory (ru_maxrss) is its own. Baselines run in the same invocation, on the same
files, and the report gives ratios. Results go to ``benchmarks/results/<size>.json`` and
``benchmarks/RESULTS.md`` is rewritten from every results file (plus, per size, the
hand-written analysis in ``benchmarks/results/<size>.notes.md`` when there is one).

The generate stage makes ``days + 1`` days and holds the last one back
(``files_next/``): the ``incremental`` stage ingests that day into a copy of the data
directory and times the incremental refresh it triggers. The ``browser_caseload`` stage
writes the ``DEMO`` marker into the benchmark data directory (its patients are
synthetic) so the app offers the demo identity picker instead of sign-in.
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
from datetime import UTC, date, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS_DIR = HERE / "results"

TEXT_SAMPLE = 50_000  # patient messages analysed by the text_analysis stage

# stage -> (what it measures, baseline stage or None); the default run order
STAGES: dict[str, tuple[str, str | None]] = {
    "generate": ("write the synthetic clinic as CSV (one more day held back)", None),
    "ingest_pandas": ("baseline: pandas read + validate the same CSV files", None),
    "ingest": (
        "caseload ingest of the generated CSV files (incl. message analysis)",
        "ingest_pandas",
    ),
    "text_analysis": (
        f"message analysis alone, {TEXT_SAMPLE:,} patient messages, each text vs each distinct text",
        None,
    ),
    "text_speed": (
        f"message analysis, every text of {TEXT_SAMPLE:,}: today's vs the pre-issue-13 module, same run",
        None,
    ),
    "features_pandas": ("baseline: the same model features in plain pandas", None),
    "features": (
        "model features, every patient x weekly as-of date (DuckDB + numpy)",
        "features_pandas",
    ),
    "features_check": ("check: our features and pandas' agree (not a timing)", None),
    "train": ("caseload train: both models, evaluation with bootstrap, registry", None),
    "refresh": (
        "caseload refresh --full: serving tables, scores + SHAP reasons, bias audits, publish",
        None,
    ),
    "incremental": (
        "ingest one more day for every patient, then caseload refresh (incremental)",
        None,
    ),
    "incremental_full": ("the same grown data: caseload refresh --full, to compare", None),
    "loaders": ("every page's data loaders, 50 calls each (table below)", None),
    "loaders_incremental": ("the same loaders on the incrementally refreshed snapshot", None),
    "caseload_pandas": ("baseline: the caseload query in plain pandas from the CSV files", None),
    "browser_caseload": ("caseload serve + Chromium: until the caseload table is shown", None),
    "shap": ("SHAP reasons for every active patient, both models (s/patient in JSON)", None),
    "fairness_fairlearn": (
        "baseline: fairlearn MetricFrame bootstrap (n_boot=1000), 100,000 predictions x 4 attributes",
        None,
    ),
    "fairness": (
        "bias audit: 9 metrics x 4 attributes, 1,000 bootstrap resamples, 100,000 predictions",
        "fairness_fairlearn",
    ),
}

# The targets of the performance issue, measured at 100,000 patients x 365 days.
TARGETS = {
    "full_refresh_s": 600,
    "incremental_s": 60,
    "caseload_p95_ms": 50,
    "patient_p95_ms": 100,
    "clinic_p95_ms": 500,
    "features_speedup": 10,
    "features_memory_share": 1 / 3,
}
LOADER_CALLS, LOADER_WARMUP = 50, 3


def _stage_generate(work: Path, args: argparse.Namespace) -> dict:
    from sample_data.generator import ClinicSpec, generate, write_clinic

    files, following = work / "files", work / "files_next"
    for folder in (files, following):
        shutil.rmtree(folder, ignore_errors=True)
    spec = ClinicSpec(
        patients=args.patients, days=args.days + 1, seed=args.seed, end_date=args.end_date
    )
    tables = generate(spec)
    now, later = _split_last_day(tables, spec.resolved_end_date())
    paths = write_clinic(now, files, fmt="csv")
    write_clinic(later, following, fmt="csv")
    rows = sum(t.height for t in now.values())
    return {
        "rows": rows,
        "files": len(paths),
        "bytes": sum(p.stat().st_size for p in paths),
        "next_day_rows": sum(t.height for t in later.values()),
    }


def _split_last_day(tables: dict, last: date) -> tuple[dict, dict]:
    """The clinic up to the day before ``last``, and ``last`` on its own.

    Rows dated ``last`` (clinic-local; unparseable dates stay with the history) form the
    next day; patients enrolled that day are new then, and a discharge on that day is an
    update of the patient's row then (and not yet known before).
    """
    import polars as pl

    now, later = {}, {}
    for name, frame in tables.items():
        if name == "clinicians":
            now[name], later[name] = frame, frame.head(0)
            continue
        if name == "patients":
            new = (pl.col("enrolled_on") == last).fill_null(False)
            leaving = (pl.col("discharged_on") == last).fill_null(False)
            now[name] = frame.filter(~new).with_columns(
                pl.when(leaving)
                .then(None)
                .otherwise(pl.col("discharged_on"))
                .alias("discharged_on")
            )
            later[name] = frame.filter(new | leaving)
            continue
        column = next(
            c
            for c in frame.columns
            if c.strip().lower()
            in ("date", "checked_in_at", "completed_at", "sent_at", "scheduled_at", "occurred_at")
        )
        dtype = frame.schema[column]
        if dtype == pl.Date:
            day = pl.col(column)
        elif isinstance(dtype, pl.Datetime):
            day = pl.col(column).dt.date()
        else:  # text: ISO dates and local timestamps start with the local date
            day = pl.col(column).str.slice(0, 10).str.to_date(strict=False)
        is_last = (day == last).fill_null(False)
        now[name], later[name] = frame.filter(~is_last), frame.filter(is_last)
    return now, later


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
    from analytics.data.ingest import ingest
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


def _stage_text_analysis(work: Path, args: argparse.Namespace) -> dict:
    """Message analysis without ingest around it: a sample of the patient messages, every
    text analysed, then each distinct text once (what ingest does), and the projected
    cost of every patient message without deduplication."""
    import polars as pl

    from analytics.text import analyze_messages

    frame = pl.read_csv(work / "files" / "messages.csv", infer_schema=False)
    frame = frame.rename({c: c.strip().lower() for c in frame.columns})
    texts = (
        frame.filter(pl.col("sender").str.strip_chars().str.to_lowercase() == "patient")["text"]
        .drop_nulls()
        .to_list()
    )
    sample = texts[:TEXT_SAMPLE]
    analyze_messages(sample[:200])  # load the models
    started = time.perf_counter()
    analyze_messages(sample)
    every = time.perf_counter() - started
    started = time.perf_counter()
    distinct = list(dict.fromkeys(sample))
    analyze_messages(distinct)
    once = time.perf_counter() - started
    return {
        "rows": len(sample),
        "patient_messages": len(texts),
        "distinct_in_sample": len(distinct),
        "distinct_in_all": len(set(texts)),
        "every_text_per_second": round(len(sample) / every),
        "distinct_once_per_second": round(len(sample) / once),
        "projected_all_without_dedup_s": round(len(texts) / (len(sample) / every), 1),
        "seconds": every,
    }


def _stage_text_speed(work: Path, args: argparse.Namespace) -> dict:
    """Every patient message of the sample analysed (no de-duplication) by the current
    module and by the copy of the old one in benchmarks/text_baseline, in the same run."""
    import polars as pl

    from benchmarks.text_speed import measure

    frame = pl.read_csv(work / "files" / "messages.csv", infer_schema=False)
    frame = frame.rename({c: c.strip().lower() for c in frame.columns})
    texts = (
        frame.filter(pl.col("sender").str.strip_chars().str.to_lowercase() == "patient")["text"]
        .drop_nulls()
        .to_list()
    )[:TEXT_SAMPLE]
    started = time.perf_counter()
    result = measure(texts, repeats=1)
    return {"rows": len(texts), **result, "seconds": time.perf_counter() - started}


def _stage_refresh(work: Path, args: argparse.Namespace) -> dict:
    from analytics.serving.pipeline import refresh
    from analytics.settings import load_settings

    result = refresh(settings=load_settings(work / "data"), full=True)
    return {
        "rows": sum(result.table_rows.values()),
        "patients": result.patients,
        "active_patients": result.active_patients,
        "mode": result.mode,
    }


def _grown(work: Path) -> Path:
    return work / "data_next"


def _stage_incremental(work: Path, args: argparse.Namespace) -> dict:
    """Copy the data directory (untimed), ingest the held-back day, refresh incrementally."""
    from analytics.data.ingest import ingest
    from analytics.serving.pipeline import refresh
    from analytics.settings import load_settings

    target = _grown(work)
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(work / "data", target, ignore=shutil.ignore_patterns("pipeline.lock"))
    settings = load_settings(target)
    started = time.perf_counter()
    ingested = ingest([work / "files_next"], settings=settings)
    ingest_seconds = time.perf_counter() - started
    started = time.perf_counter()
    result = refresh(settings=settings)
    seconds = time.perf_counter() - started
    return {
        "rows": sum(f.rows_read for f in ingested.files),
        "stored": sum(f.stored + f.updated for f in ingested.files),
        "ingest_seconds": round(ingest_seconds, 3),
        "seconds": seconds,
        "mode": result.mode,
        "reason": result.reason,
        "recomputed": result.recomputed,
        "active_patients": result.active_patients,
    }


def _stage_incremental_full(work: Path, args: argparse.Namespace) -> dict:
    from analytics.serving.pipeline import refresh
    from analytics.settings import load_settings

    result = refresh(settings=load_settings(_grown(work)), full=True)
    return {"rows": sum(result.table_rows.values()), "mode": result.mode}


def _actors(ctx) -> dict:
    """A therapist with a typical (median) caseload, one of their patients, and the first
    manager, researcher and admin."""
    from analytics.access.roles import actor_for_clinician

    rows = ctx.snapshot.execute(
        """SELECT c.clinician_id, c.role, count(s.patient_id) AS active
           FROM clinicians c LEFT JOIN patient_summary s
             ON s.clinician_id = c.clinician_id AND s.active
           GROUP BY ALL ORDER BY c.role, active, c.clinician_id"""
    ).fetchall()
    therapists = [(cid, n) for cid, role, n in rows if role == "therapist"]
    out: dict = {}
    if therapists:
        cid, n = therapists[len(therapists) // 2]
        out["therapist"] = actor_for_clinician(ctx, cid)
        out["caseload_size"] = n
        out["therapists"] = [c for c, _ in therapists]
    for role in ("manager", "researcher", "admin"):
        found = [cid for cid, r, _ in rows if r == role]
        if found:
            out[role] = actor_for_clinician(ctx, found[0])
    return out


def _stage_loaders(work: Path, args: argparse.Namespace) -> dict:
    """Each page's view functions: median and p95 over repeated calls after a warm-up."""
    return _loaders(work / "data")


def _stage_loaders_incremental(work: Path, args: argparse.Namespace) -> dict:
    """The same on the snapshot the incremental refresh produced (rows appended, not
    re-sorted: lookups by patient may touch more row groups)."""
    return _loaders(_grown(work))


def _loaders(data: Path) -> dict:
    from analytics import views
    from analytics.access.roles import Context
    from analytics.settings import load_settings

    ctx = Context.open(load_settings(data))
    try:
        who = _actors(ctx)
        t = who.get("therapist")
        first = views.caseload(ctx, t)["patient_id"][0] if t is not None else None
        budget = ctx.settings.alert_budgets[0]
        options = views.fairness_options(ctx, who["researcher"]) if "researcher" in who else None
        calls = {
            "caseload": ("therapist", lambda: views.caseload(ctx, t)),
            "patient": ("therapist", lambda: views.patient(ctx, t, first)),
            "patient_risk": ("therapist", lambda: views.patient_risk(ctx, t, first)),
            "patient page (patient + patient_risk)": (
                "therapist",
                lambda: (views.patient(ctx, t, first), views.patient_risk(ctx, t, first)),
            ),
            "alerts": ("therapist", lambda: views.alerts(ctx, t)),
            "clinic_overview": ("manager", lambda: views.clinic_overview(ctx, who["manager"])),
            "model_report": ("researcher", lambda: views.model_report(ctx, who["researcher"])),
            "fairness_options": (
                "researcher",
                lambda: views.fairness_options(ctx, who["researcher"]),
            ),
            "research_cohort": (
                "researcher",
                lambda: views.research_cohort(ctx, who["researcher"]),
            ),
            "data_status": ("admin", lambda: views.data_status(ctx, who["admin"])),
        }
        if options is not None and options.models:
            # One live audit (1,000 resamples); the page caches it per snapshot and options.
            calls["fairness_audit (one attribute)"] = (
                "researcher",
                lambda: views.fairness_audit(
                    ctx,
                    who["researcher"],
                    model=options.models[0],
                    attributes=(options.attributes[0],),
                    budget=budget,
                ),
            )
        results = {}
        total = 0
        for name, (role, call) in calls.items():
            if role not in who:
                continue
            heavy = name.startswith("fairness_audit")
            n, warm = (5, 1) if heavy else (LOADER_CALLS, LOADER_WARMUP)
            for _ in range(warm):
                call()
            times = []
            for _ in range(n):
                started = time.perf_counter()
                call()
                times.append((time.perf_counter() - started) * 1000)
            total += n
            results[name] = {
                "role": role,
                "calls": n,
                "median_ms": round(_quantile(times, 0.5), 2),
                "p95_ms": round(_quantile(times, 0.95), 2),
                "max_ms": round(max(times), 2),
            }
        return {
            "rows": total,
            "caseload_size": who.get("caseload_size"),
            "loaders": results,
            "seconds": sum(r["median_ms"] * r["calls"] for r in results.values()) / 1000,
        }
    finally:
        ctx.close()


def _quantile(values: list[float], q: float) -> float:
    import numpy as np

    return float(np.quantile(np.asarray(values), q))


def _stage_caseload_pandas(work: Path, args: argparse.Namespace) -> dict:
    """The caseload query in pandas from the CSV files: load once, then per-query times
    for the same typical therapist as the ``loaders`` stage."""
    from analytics.access.roles import Context
    from analytics.settings import load_settings
    from benchmarks.caseload_pandas import load, time_queries

    settings = load_settings(work / "data")
    ctx = Context.open(settings)
    try:
        who = _actors(ctx)
    finally:
        ctx.close()
    started = time.perf_counter()
    data = load(work / "files", timezone=settings.clinic_timezone)
    load_seconds = time.perf_counter() - started
    clinician = who["therapist"].clinician_id
    time_queries(data, [clinician], settings.clinical, repeat=LOADER_WARMUP)
    times = [
        1000 * s for s in time_queries(data, [clinician], settings.clinical, repeat=LOADER_CALLS)
    ]
    return {
        "rows": len(data.patients) + len(data.assessments) + len(data.checkin_days),
        "load_seconds": round(load_seconds, 3),
        "median_ms": round(_quantile(times, 0.5), 2),
        "p95_ms": round(_quantile(times, 0.95), 2),
        "seconds": load_seconds,
    }


# As tests/browser/conftest.py drives Debian's Chromium.
CHROMIUM = os.environ.get("CASELOAD_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
BROWSER_RUNS = 5
# Streamlit is done when neither its running indicator nor a spinner is on the page.
_IDLE = (
    "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')"
    " && !document.querySelector('[data-testid=\"stSpinner\"]')"
)


def _caseload_shown(page, caption: str = "active patients", *, timeout: int = 120_000) -> None:
    page.get_by_role("heading", name="My caseload").wait_for(timeout=timeout)
    page.get_by_text(caption).first.wait_for(timeout=timeout)
    page.locator('[data-testid="stDataFrame"]').first.wait_for(state="visible", timeout=timeout)
    page.wait_for_function(_IDLE, timeout=timeout)


def _stage_browser_caseload(work: Path, args: argparse.Namespace) -> dict:
    """Seconds from navigation until the caseload table is shown, in a real browser.

    The data directory gets the DEMO marker (its patients are synthetic), so the app
    opens on the first therapist in the demo picker; a second timing picks the typical
    therapist of the ``loaders`` stage in the picker.
    """
    import socket
    import urllib.request

    from playwright.sync_api import sync_playwright

    from analytics.access.roles import Context
    from analytics.cli import DEMO_MARKER
    from analytics.settings import load_settings

    data = work / "data"
    (data / DEMO_MARKER).write_text("synthetic benchmark clinic (benchmarks/run.py)\n")
    ctx = Context.open(load_settings(data))
    try:
        who = _actors(ctx)
        cid = who["therapist"].clinician_id
        name = ctx.snapshot.execute(
            "SELECT display_name FROM clinicians WHERE clinician_id = ?", [cid]
        ).fetchall()[0][0]
    finally:
        ctx.close()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if k != "CASELOAD_DATA_DIR"}
    log = open(work / "browser-server.log", "w", encoding="utf-8")  # noqa: SIM115
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "analytics.cli",
            "serve",
            "--data-dir",
            str(data),
            "--port",
            str(port),
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=HERE.parent,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2):
                    break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError(f"caseload serve did not start; see {log.name}") from None
                time.sleep(0.5)
        loads, picks = [], []
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                for _ in range(BROWSER_RUNS + 1):  # the first load starts the app: reported apart
                    context = browser.new_context(viewport={"width": 1400, "height": 1200})
                    page = context.new_page()
                    started = time.perf_counter()
                    page.goto(url)
                    _caseload_shown(page)
                    loads.append(time.perf_counter() - started)
                    box = page.locator('[data-testid="stSidebar"] [data-testid="stSelectbox"]')
                    box.click()
                    # The option list only renders what fits: type to find the therapist.
                    page.keyboard.type(name)
                    option = page.get_by_role("option").filter(has_text=f"{name} (therapist")
                    option.first.wait_for()
                    started = time.perf_counter()
                    option.first.click()
                    _caseload_shown(page, f"{who['caseload_size']} active patients")
                    picks.append(time.perf_counter() - started)
                    context.close()
            finally:
                browser.close()
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()
    warm = sorted(loads[1:])
    return {
        "rows": BROWSER_RUNS,
        "first_load_seconds": round(loads[0], 3),
        "median_load_seconds": round(warm[len(warm) // 2], 3),
        "median_pick_seconds": round(sorted(picks[1:])[len(picks[1:]) // 2], 3),
        "loads": [round(x, 3) for x in loads],
        "picks": [round(x, 3) for x in picks],
        "caseload_size": who.get("caseload_size"),
        "seconds": warm[len(warm) // 2],
    }


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
    from analytics.data.store import connect
    from analytics.models.features import weekly_as_of_dates
    from analytics.settings import load_settings

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
    from analytics.models.features import build_features

    _, con, dates = _feature_inputs(work)
    rows = build_features(con, as_of=dates)
    # Written out like the pandas baseline's, so both stages do the same work.
    con.execute("COPY features TO ? (FORMAT parquet)", [str(work / "features_duckdb.parquet")])
    con.close()
    return {"rows": rows, "as_of_dates": len(dates)}


def _stage_features_check(work: Path, args: argparse.Namespace) -> dict:
    import numpy as np
    import pandas as pd

    from analytics.models.features import FEATURE_NAMES

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
    from analytics.models.training import train_models
    from analytics.settings import load_settings

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
    from analytics.data.store import DataDir
    from analytics.models import registry
    from analytics.models.explain import explain_rows
    from analytics.models.features import build_features, feature_matrix
    from analytics.models.windows import data_as_of

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
        "--end-date",
        args.end_date.isoformat(),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=HERE.parent)
    if proc.returncode != 0:
        # A long run goes on without the stage; the report says it failed and why.
        print(f"stage {name} failed:\n{proc.stderr[-4000:]}", file=sys.stderr, flush=True)
        lines = [x for x in proc.stderr.strip().splitlines() if x.strip()]
        return {"stage": name, "failed": lines[-1][:300] if lines else f"exit {proc.returncode}"}
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    out["measured_at"] = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return out


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
        "Written by `python -m benchmarks.run`; each size's tables come from",
        "`benchmarks/results/<size>.json`, and the analysis under them from",
        "`benchmarks/results/<size>.notes.md`. Every stage runs in its own process; peak",
        "memory is that process's maximum resident set. Ratios are baseline / ours,",
        "measured in the same run on the same files (above 1: we are faster or smaller).",
        "The targets are the performance issue's, for 100,000 patients x 365 days on one",
        "machine with 2 cores and 24 GB.",
        "",
    ]
    for path in sorted(
        RESULTS_DIR.glob("*.json"), key=lambda p: json.loads(p.read_text())["patients"]
    ):
        res = json.loads(path.read_text())
        lines += _size_report(res)
        notes = path.with_suffix(".notes.md")
        if notes.is_file():
            lines += [notes.read_text(encoding="utf-8").rstrip(), ""]
    out = HERE / "RESULTS.md"
    out.write_text("\n".join(lines), encoding="utf-8")
    return out


def _ratio(base: dict, ours: dict) -> str:
    return (
        f"{base['seconds'] / ours['seconds']:.2f}x time, "
        f"{base['peak_mb'] / ours['peak_mb']:.2f}x memory"
    )


def _size_report(res: dict) -> list[str]:
    m = res["machine"]
    by = {s["stage"]: s for s in res["stages"]}
    lines = [
        f"## {res['patients']:,} patients x {res['days']} days (seed {res['seed']})",
        "",
        f"Run {res['started_at']} on {m['cores']} cores, {m['memory_gb']} GB, Python {m['python']}.",
        "",
        "| stage | what | wall s | rows | rows/s | peak MB | vs baseline |",
        "|---|---|---:|---:|---:|---:|---|",
    ]
    for s in res["stages"]:
        what, base = STAGES.get(s["stage"], ("", None))
        if s.get("extrapolated"):
            what += f" (extrapolated from {s['measured_n_boot']} resamples)"
        if s["stage"] == "caseload_pandas":
            what += " (wall s: loading the files; per query: loader table)"
        ratio = _ratio(by[base], s) if base and base in by else ""
        rps = f"{s['rows_per_second']:,}" if s.get("rows_per_second") else ""
        lines.append(
            f"| {s['stage']} | {what} | {s['seconds']:.1f} | {s.get('rows', 0):,} | {rps} | "
            f"{s['peak_mb']:,.0f} | {ratio} |"
        )
        if "other_seconds" in s and base in by and "other_seconds" in by[base]:
            # The same comparison without messages, whose text analysis only we do.
            b = by[base]
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
    lines += [""]
    lines += _text_report(by)
    lines += _refresh_report(by)
    lines += _loader_report(by)
    lines += _browser_report(by)
    lines += _target_report(res, by)
    failed = [
        f"- stage `{n}` failed in the last run: {why}" for n, why in res.get("failed", {}).items()
    ]
    return lines + failed + [f"- {note}" for note in res.get("notes", [])] + [""]


def _text_report(by: dict) -> list[str]:
    if "text_analysis" not in by:
        return []
    t = by["text_analysis"]
    line = (
        f"Ingest analyses each distinct message text once per file. On a sample of "
        f"{t['rows']:,} patient messages ({t['distinct_in_sample']:,} distinct texts; "
        f"{t['distinct_in_all']:,} distinct among all {t['patient_messages']:,}): "
        f"{t['every_text_per_second']:,} messages/s analysing every text, "
        f"{t['distinct_once_per_second']:,} messages/s analysing each distinct text once. "
        "The generator draws messages from a phrase bank, so its texts repeat far more than "
        "a clinic's would: the deduplicated figure flatters this data. Without "
        f"deduplication every patient message would take about "
        f"{t['projected_all_without_dedup_s']:,.0f} s (projected from the sample rate)"
    )
    if "ingest" in by:
        line += f", against {by['ingest']['messages_seconds']:,.1f} s measured with it"
    return ["### Message analysis", "", line + ".", ""]


def _refresh_report(by: dict) -> list[str]:
    if "refresh" not in by and "incremental" not in by:
        return []
    lines = [
        "### Refresh: full and incremental",
        "",
        "| refresh | s | peak MB | what |",
        "|---|---:|---:|---|",
    ]
    if "train" in by:
        lines.append(
            f"| training (caseload train) | {by['train']['seconds']:.1f} | "
            f"{by['train']['peak_mb']:,.0f} | both models, evaluation, registry |"
        )
    if "refresh" in by:
        r = by["refresh"]
        lines.append(
            f"| full refresh | {r['seconds']:.1f} | {r['peak_mb']:,.0f} | serving tables, "
            f"scores and reasons for {r.get('active_patients', 0):,} active patients, audits |"
        )
        if "train" in by:
            lines.append(
                f"| full refresh incl. training | {r['seconds'] + by['train']['seconds']:.1f} | | "
                "features, training, scoring, explanations, audits, publish |"
            )
    if "incremental" in by:
        i = by["incremental"]
        done = ", ".join(f"{k} {v:,}" for k, v in i.get("recomputed", {}).items())
        lines.append(
            f"| ingest of the next day | {i['ingest_seconds']:.1f} | | "
            f"{i.get('rows', 0):,} rows incl. message analysis |"
        )
        lines.append(
            f"| incremental refresh | {i['seconds']:.1f} | {i['peak_mb']:,.0f} | "
            f"{i.get('mode')}: {done}; scores for {i.get('active_patients', 0):,} active patients |"
        )
    if "incremental_full" in by:
        f = by["incremental_full"]
        lines.append(
            f"| full refresh of the same data | {f['seconds']:.1f} | {f['peak_mb']:,.0f} | "
            "for comparison |"
        )
    return lines + [""]


def _loader_report(by: dict) -> list[str]:
    if "loaders" not in by:
        return []
    loaders = by["loaders"]["loaders"]
    targets = {
        "caseload": TARGETS["caseload_p95_ms"],
        "patient page (patient + patient_risk)": TARGETS["patient_p95_ms"],
        "patient": TARGETS["patient_p95_ms"],
        "clinic_overview": TARGETS["clinic_p95_ms"],
    }
    lines = [
        "### Page data loaders",
        "",
        f"A therapist with a typical caseload ({by['loaders'].get('caseload_size')} active "
        "patients, the median therapist), one of their patients, and the first manager, "
        "researcher and admin; every call checks access and writes the audit trail, as in "
        f"the app. {LOADER_CALLS} timed calls after {LOADER_WARMUP} warm-up calls (the live "
        "bias audit: 5 after 1).",
        "",
        "| loader | role | median ms | p95 ms | target p95 | met | p95 ms after incremental |",
        "|---|---|---:|---:|---:|---|---:|",
    ]
    after = by.get("loaders_incremental", {}).get("loaders", {})
    for name, r in loaders.items():
        target = targets.get(name)
        met = "" if target is None else ("yes" if r["p95_ms"] < target else "**no**")
        later = f"{after[name]['p95_ms']:.1f}" if name in after else ""
        lines.append(
            f"| {name} | {r['role']} | {r['median_ms']:.1f} | {r['p95_ms']:.1f} | "
            f"{'' if target is None else f'< {target}'} | {met} | {later} |"
        )
    if "caseload_pandas" in by:
        b, ours = by["caseload_pandas"], loaders.get("caseload")
        if ours:
            lines.append(
                f"| baseline: caseload in pandas from CSV | (after {b['load_seconds']:.1f} s "
                f"loading) | {b['median_ms']:.1f} | {b['p95_ms']:.1f} | | "
                f"pandas / ours at the median: {b['median_ms'] / ours['median_ms']:.2f}x | |"
            )
    return lines + [""]


def _browser_report(by: dict) -> list[str]:
    if "browser_caseload" not in by:
        return []
    b = by["browser_caseload"]
    return [
        "### Caseload page in a browser",
        "",
        f"`caseload serve` on this data directory (marked DEMO so the identity picker works), "
        f"Chromium via Playwright: from navigation until the caseload table is shown "
        f"(heading, table, Streamlit idle). First load, which starts the app's script: "
        f"{b['first_load_seconds']:.2f} s; median of the next {len(b['loads']) - 1} loads: "
        f"**{b['median_load_seconds']:.2f} s**; picking the typical therapist "
        f"({b.get('caseload_size')} patients) in the picker until their table is shown: "
        f"median {b['median_pick_seconds']:.2f} s.",
        "",
    ]


def _target_report(res: dict, by: dict) -> list[str]:
    rows = []

    def add(what: str, measured: float | None, target: float, unit: str, higher: bool = False):
        if measured is None:
            rows.append(f"| {what} | not measured | {target:g} {unit} | |")
            return
        met = measured >= target if higher else measured < target
        if met:
            verdict = "met"
        elif higher:
            verdict = f"**missed** ({measured / target:.0%} of the target)"
        else:
            verdict = f"**missed** by {measured - target:,.1f} {unit} ({measured / target:.1f}x)"
        shown = f"{measured:,.2f}" if measured < 10 else f"{measured:,.1f}"
        op = ">=" if higher else "<"
        rows.append(f"| {what} | {shown} {unit} | {op} {target:g} {unit} | {verdict} |")

    refresh = by.get("refresh", {}).get("seconds")
    train = by.get("train", {}).get("seconds")
    add(
        "full refresh (serving, scores, reasons, audits, publish)",
        refresh,
        TARGETS["full_refresh_s"],
        "s",
    )
    add(
        "full refresh incl. training",
        refresh + train if refresh is not None and train is not None else None,
        TARGETS["full_refresh_s"],
        "s",
    )
    add(
        "incremental daily refresh",
        by.get("incremental", {}).get("seconds"),
        TARGETS["incremental_s"],
        "s",
    )
    loaders = by.get("loaders", {}).get("loaders", {})
    for name, key in (
        ("caseload", "caseload_p95_ms"),
        ("patient page (patient + patient_risk)", "patient_p95_ms"),
        ("clinic_overview", "clinic_p95_ms"),
    ):
        add(f"{name} loader p95", loaders.get(name, {}).get("p95_ms"), TARGETS[key], "ms")
    if "features" in by and "features_pandas" in by:
        f, b = by["features"], by["features_pandas"]
        add(
            "feature build speed vs pandas",
            b["seconds"] / f["seconds"],
            TARGETS["features_speedup"],
            "x",
            True,
        )
        share = f["peak_mb"] / b["peak_mb"]
        rows.append(
            f"| feature build peak memory vs pandas | {share:.2f} of pandas' | <= 0.33 | "
            f"{'met' if share <= TARGETS['features_memory_share'] else '**missed**'} |"
        )
    label = "" if res["patients"] == 100_000 else " (the targets are set for 100,000 patients)"
    return [
        f"### Targets{label}",
        "",
        "| target | measured | target | verdict |",
        "|---|---:|---:|---|",
        *rows,
        "",
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--patients", type=int, default=1000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--seed", type=int, default=0)
    # Pinned, so a benchmark measures the same clinic whatever day it runs.
    parser.add_argument("--end-date", type=date.fromisoformat, default=date(2026, 11, 20))
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
        if not args.no_report:  # saved after every stage, so a long run is never lost
            _save(args, started, results)
    if not args.no_report:
        print(f"wrote {RESULTS_DIR / f'{args.patients}x{args.days}.json'} and {write_report()}")
    return 0


def _save(args: argparse.Namespace, started: str, results: list[dict]) -> None:
    """Merge this run's stages into the size's results file and rewrite the report."""
    RESULTS_DIR.mkdir(exist_ok=True)
    path = RESULTS_DIR / f"{args.patients}x{args.days}.json"
    old = json.loads(path.read_text()) if path.exists() else {}
    # Stages measured by an earlier run that this one skipped are kept (each says when it
    # was measured); a stage that failed now is dropped and listed as failed.
    stages = {s["stage"]: s for s in old.get("stages", [])}
    failed = dict(old.get("failed", {}))
    for res in results:
        stages.pop(res["stage"], None)
        failed.pop(res["stage"], None)
        if "failed" in res:
            failed[res["stage"]] = res["failed"]
        else:
            stages[res["stage"]] = res
    record = {
        "patients": args.patients,
        "days": args.days,
        "seed": args.seed,
        "end_date": args.end_date.isoformat(),
        "started_at": started,
        "machine": machine(),
        "stages": [stages[n] for n in STAGES if n in stages],
        "failed": failed,
        "notes": old.get("notes", []),
    }
    path.write_text(json.dumps(record, indent=2), encoding="utf-8")
    write_report()


if __name__ == "__main__":
    raise SystemExit(main())
