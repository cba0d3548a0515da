"""``python -m sample_data``: write a synthetic clinic, or refresh the committed sample."""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from pathlib import Path

from .generator import ClinicSpec, generate_with_truth, write_clinic, write_sample, write_truth


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, generate, write, and print what was written."""
    parser = argparse.ArgumentParser(prog="python -m sample_data", description=__doc__)
    parser.add_argument("--out", type=Path, help="output folder")
    parser.add_argument("--patients", type=int, default=ClinicSpec.patients)
    parser.add_argument("--days", type=int, default=ClinicSpec.days)
    parser.add_argument("--seed", type=int, default=ClinicSpec.seed)
    parser.add_argument("--end-date", type=dt.date.fromisoformat, default=None, help="YYYY-MM-DD")
    parser.add_argument("--no-mess", action="store_true", help="fully contract-valid output")
    parser.add_argument("--format", choices=("csv", "parquet"), default="csv")
    parser.add_argument(
        "--truth", action="store_true", help="also write ground truth to <out>/_truth"
    )
    parser.add_argument(
        "--write-sample", action="store_true", help="regenerate the committed sample_data/sample"
    )
    args = parser.parse_args(argv)
    if args.write_sample:
        for path in write_sample():
            print(path)
        return 0
    if args.out is None:
        parser.error("--out is required (or use --write-sample)")
    spec = ClinicSpec(
        patients=args.patients,
        days=args.days,
        seed=args.seed,
        end_date=args.end_date,
        mess=not args.no_mess,
    )
    started = time.perf_counter()
    tables, truth = generate_with_truth(spec)
    for path in write_clinic(tables, args.out, fmt=args.format):
        print(f"{path}  {tables[path.stem].height} rows")
    if args.truth:
        frames = truth.frames()
        for path in write_truth(truth, args.out / "_truth"):
            print(f"{path}  {frames[path.stem].height} rows (ground truth)")
    print(f"{time.perf_counter() - started:.1f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
