"""Message analysis speed: today's analytics.text against the pre-issue-13 baseline.

Both analyse the same patient messages of a synthetic clinic, every message (no
de-duplication), in the same process and run, so the ratio is fair on a busy machine:

    .venv/bin/python -m benchmarks.text_speed [--patients 2000] [--messages 50000] [--json]

The baseline is a copy of the old module in ``benchmarks/text_baseline/``.
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import date

__all__ = ["main", "measure"]


def _messages(patients: int, limit: int) -> list[str]:
    import polars as pl

    from sample_data.generator import ClinicSpec, generate

    tables = generate(ClinicSpec(patients=patients, days=365, seed=7, end_date=date(2025, 6, 30)))
    frame = tables["messages"]
    # The generator writes messy headers on purpose (ingest's job to fold them).
    frame = frame.rename({c: c.strip().lower() for c in frame.columns})
    texts = (
        frame.filter(
            pl.col("sender").cast(pl.String).str.strip_chars().str.to_lowercase() == "patient"
        )["text"]
        .drop_nulls()
        .to_list()
    )
    return (texts * (limit // max(1, len(texts)) + 1))[:limit]


def measure(texts: list[str], *, repeats: int = 2) -> dict:
    """Messages per second for the baseline and the current implementation.

    The two are run alternately, ``repeats`` times each, and the best time of each is
    kept, so that a change in the machine's load hits both alike.
    """
    from analytics.text import analyze_messages
    from benchmarks.text_baseline import analyze_messages as baseline

    for analyse in (baseline, analyze_messages):
        analyse(texts[:500])  # load models, compile lexicons
    best = {"baseline": float("inf"), "current": float("inf")}
    for _ in range(repeats):
        for name, analyse in (("baseline", baseline), ("current", analyze_messages)):
            started = time.perf_counter()
            analyse(texts)
            best[name] = min(best[name], time.perf_counter() - started)
    old, new = len(texts) / best["baseline"], len(texts) / best["current"]
    return {
        "messages": len(texts),
        "distinct": len(set(texts)),
        "baseline_per_second": round(old),
        "current_per_second": round(new),
        "ratio": round(new / old, 2),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=2000)
    parser.add_argument("--messages", type=int, default=50_000)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    result = measure(_messages(args.patients, args.messages), repeats=args.repeats)
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:>22}: {value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
