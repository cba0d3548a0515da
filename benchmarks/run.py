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


def run_stage(name: str, work: Path, args: argparse.Namespace) -> dict:
    """Run one stage in this process and return its measurements."""
    func = globals()[f"_stage_{name}"]
    started = time.perf_counter()
    out = func(work, args)
    seconds = time.perf_counter() - started
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
