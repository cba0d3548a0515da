"""The ``caseload`` command.

Each verb is a thin layer over a function in ``analytics``; output names files, lines and
columns but never prints patient text or names.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from collections.abc import Sequence
from datetime import date
from pathlib import Path

from analytics.settings import Settings, default_data_dir, load_settings

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2


def _settings(args: argparse.Namespace) -> Settings:
    return load_settings(getattr(args, "data_dir", None))


def _err(message: str) -> None:
    print(f"caseload: {message}", file=sys.stderr)


# --- ingest ----------------------------------------------------------------------------


def cmd_ingest(args: argparse.Namespace) -> int:
    from analytics.ingest import ingest

    settings = _settings(args)
    result = ingest(
        args.paths, settings=settings, table=args.table, strict=args.strict, force=args.force
    )
    print(f"data directory: {settings.data_dir}")
    for f in result.files:
        print(_summary_line(f))
        if f.extra_columns:
            print(f"    extra columns ignored: {', '.join(f.extra_columns)}")
        for reason, n in f.reasons.items():
            print(f"    quarantined {n:,} x {reason}")
    stored = sum(f.stored for f in result.files)
    quarantined = sum(f.quarantined for f in result.files)
    if result.exit_code == EXIT_BAD_INPUT:
        _err("one or more files were rejected whole; see the messages above")
    elif result.exit_code == EXIT_FAILED:
        _err(f"--strict: {quarantined:,} row(s) would be quarantined, so nothing was written")
    print(
        f"run {result.run_id}: {len(result.files)} file(s), {stored:,} rows stored, "
        f"{quarantined:,} quarantined"
        + (" (see `caseload quarantine`)" if quarantined and not args.strict else "")
    )
    return result.exit_code


def _summary_line(f) -> str:
    head = f"{f.status:>11}  {f.file}" + (f" [{f.table}]" if f.table else "")
    if f.status == "rejected":
        return f"{head}\n    {f.message}"
    if f.status == "skipped":
        return f"{head}: {f.message}"
    return (
        f"{head}: read {f.rows_read:,}, stored {f.stored:,}, updated {f.updated:,}, "
        f"duplicates skipped {f.duplicates:,}, quarantined {f.quarantined:,}"
    )


def cmd_quarantine(args: argparse.Namespace) -> int:
    from analytics.ingest import export_quarantine, quarantined_rows
    from analytics.store import DataDir, connect

    settings = _settings(args)
    data_dir = DataDir(settings.data_dir)
    if not data_dir.warehouse.exists():
        print("no warehouse yet: nothing is quarantined")
        return EXIT_OK
    con = connect(data_dir.warehouse, settings=settings, read_only=True)
    try:
        if args.export:
            paths = export_quarantine(con, Path(args.export), table=args.table)
            for p in paths:
                print(f"wrote {p}")
            if not paths:
                print("nothing is quarantined")
            return EXIT_OK
        rows = quarantined_rows(con, table=args.table)
    finally:
        con.close()
    if not rows:
        print("nothing is quarantined")
        return EXIT_OK
    for r in rows:
        print(f"{r.file}:{r.line}  [{r.table}] column {r.column}: {r.reason}")
    print(
        f"{len(rows):,} quarantined row(s); `caseload quarantine --export DIR` writes them to fix"
    )
    return EXIT_OK


# --- refresh and status ----------------------------------------------------------------


def cmd_refresh(args: argparse.Namespace) -> int:
    from analytics.pipeline import refresh

    settings = _settings(args)
    as_of = date.fromisoformat(args.as_of) if args.as_of else None
    started = time.perf_counter()
    result = refresh(settings=settings, as_of=as_of)
    print(
        f"published snapshot {result.snapshot.snapshot_id} as of {result.as_of}: "
        f"{result.patients:,} patients ({result.active_patients:,} active) "
        f"in {time.perf_counter() - started:.1f} s"
    )
    for name, n in result.table_rows.items():
        print(f"    {name}: {n:,} rows")
    return EXIT_OK


def cmd_status(args: argparse.Namespace) -> int:
    from analytics.status import collect_status

    status = collect_status(settings=_settings(args))
    if args.json:
        print(json.dumps(status.to_json(), indent=2, sort_keys=True))
        return EXIT_OK
    print(status.to_text())
    return EXIT_OK


# --- text, contract, sample data, demo -------------------------------------------------


def cmd_text_check(args: argparse.Namespace) -> int:
    from analytics.text import text_check

    if args.file in (None, "-"):
        text_check(sys.stdin, sys.stdout)
    else:
        with open(args.file, encoding="utf-8") as fh:
            text_check(fh, sys.stdout)
    return EXIT_OK


def cmd_contract(args: argparse.Namespace) -> int:
    from analytics.contract import to_markdown

    print(to_markdown(), end="")
    return EXIT_OK


def cmd_sample_data(args: argparse.Namespace) -> int:
    from sample_data.generator import ClinicSpec, generate, write_clinic

    started = time.perf_counter()
    spec = ClinicSpec(patients=args.patients, days=args.days, seed=args.seed, mess=not args.clean)
    paths = write_clinic(generate(spec), Path(args.out), fmt=args.format)
    print(
        f"wrote {len(paths)} files for {args.patients:,} patients x {args.days} days "
        f"(seed {args.seed}) to {args.out} in {time.perf_counter() - started:.1f} s"
    )
    return EXIT_OK


def cmd_demo(args: argparse.Namespace) -> int:
    from analytics.ingest import ingest
    from analytics.pipeline import refresh
    from analytics.store import DataDir, current_snapshot
    from sample_data.generator import ClinicSpec, generate, write_clinic

    data_dir = Path(args.data_dir) if args.data_dir else default_data_dir() / "demo"
    if data_dir.exists() and args.rebuild:
        shutil.rmtree(data_dir)
    if current_snapshot(DataDir(data_dir)) is not None and not args.rebuild:
        print(f"demo clinic already built in {data_dir} (use --rebuild to start again)")
    else:
        started = time.perf_counter()
        spec = ClinicSpec(patients=args.patients, days=args.days, seed=args.seed)
        DataDir(data_dir).ensure()
        # The generator writes New York local times; read naive ones the same way.
        (data_dir / "settings.toml").write_text(f'clinic_timezone = "{spec.timezone}"\n', encoding="utf-8")
        settings = load_settings(data_dir)
        files_dir = data_dir / "demo-files"
        write_clinic(generate(spec), files_dir, fmt="csv")
        print(f"generated {args.patients:,} synthetic patients x {args.days} days into {files_dir}")
        result = ingest([files_dir], settings=settings)
        stored = sum(f.stored + f.updated for f in result.files)
        quarantined = sum(f.quarantined for f in result.files)
        print(
            f"ingested {len(result.files)} files: {stored:,} rows stored, {quarantined:,} quarantined "
            "(the demo plants realistic mistakes; see `caseload quarantine`)"
        )
        refreshed = refresh(settings=settings)
        print(
            f"published a snapshot as of {refreshed.as_of}: {refreshed.patients:,} patients, "
            f"{refreshed.active_patients:,} active; built in {time.perf_counter() - started:.1f} s"
        )
    print(f"data directory: {data_dir}")
    print(f"next: caseload status --data-dir {data_dir}")
    return EXIT_OK


def cmd_audit_log(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from analytics import audit
    from analytics.store import DataDir, open_workspace

    data_dir = DataDir(_settings(args).data_dir)
    ws = open_workspace(data_dir)
    try:
        if args.action == "verify":
            result = audit.verify(ws, audit.audit_key(data_dir.root))
            if result.ok:
                print(f"audit log: {result.entries:,} entries, chain intact")
                return EXIT_OK
            _err(f"audit log check FAILED at entry {result.seq}: {result.problem}")
            return EXIT_FAILED
        lines = (
            json.dumps(asdict(e), sort_keys=True) + "\n"
            for e in audit.entries(ws, since=args.since)
        )
        if args.out:
            with open(args.out, "w", encoding="utf-8") as out:
                out.writelines(lines)
            os.chmod(args.out, 0o600)
        else:
            sys.stdout.writelines(lines)
        return EXIT_OK
    finally:
        ws.close()


# --- the parser ------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="caseload", description="Caseload Insight: clinical analytics for mental-health care."
    )
    sub = parser.add_subparsers(dest="verb", required=True, metavar="VERB")

    def verb(name: str, help_text: str, func) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.add_argument(
            "--data-dir",
            help=f"data directory (default: $CASELOAD_DATA_DIR, else {default_data_dir()})",
        )
        p.set_defaults(func=func)
        return p

    p = verb("ingest", "Validate contract files and store them in the warehouse.", cmd_ingest)
    p.add_argument("paths", nargs="+", metavar="PATH", help="files, directories or globs")
    p.add_argument("--table", help="the table for every file (default: from the file name)")
    p.add_argument("--strict", action="store_true", help="any quarantined row stops the batch")
    p.add_argument("--force", action="store_true", help="re-read files ingested before")

    p = verb("quarantine", "List quarantined rows, or export them to fix.", cmd_quarantine)
    p.add_argument("--table", help="only this table")
    p.add_argument("--export", metavar="DIR", help="write <table>-quarantined.csv files here")

    p = verb("refresh", "Build and publish a new serving snapshot.", cmd_refresh)
    p.add_argument("--as-of", help="compute as of this date (default: newest data date)")

    p = verb("status", "Show the data directory, counts, snapshot and models.", cmd_status)
    p.add_argument("--json", action="store_true", help="machine-readable output")

    p = verb("text-check", "Analyse messages, one per line, and print JSON lines.", cmd_text_check)
    p.add_argument("file", nargs="?", help="a file, or - for standard input (default)")

    verb("contract", "Print the data contract reference (Markdown).", cmd_contract)

    p = verb("audit-log", "Verify or export the tamper-evident audit trail.", cmd_audit_log)
    p.add_argument("action", choices=("verify", "export"))
    p.add_argument("--since", help="export entries from this date (YYYY-MM-DD) on")
    p.add_argument("--out", help="export to this file (JSON lines; default: standard output)")

    p = verb("sample-data", "Write a synthetic clinic as contract files.", cmd_sample_data)
    p.add_argument("--patients", type=int, default=300)
    p.add_argument("--days", type=int, default=300)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--format", choices=("csv", "parquet"), default="csv")
    p.add_argument("--clean", action="store_true", help="no planted mess (all rows valid)")

    p = verb("demo", "Build a demo clinic in a fresh data directory.", cmd_demo)
    p.add_argument("--patients", type=int, default=300)
    p.add_argument("--days", type=int, default=300)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--rebuild", action="store_true", help="start again from scratch")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``caseload`` console script."""
    from analytics.ingest import FileRejected
    from analytics.pipeline import EmptyWarehouseError
    from analytics.store import BusyError, NoSnapshotError

    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except BusyError as exc:
        _err(str(exc))
        return EXIT_FAILED
    except (EmptyWarehouseError, NoSnapshotError) as exc:
        _err(str(exc))
        return EXIT_FAILED
    except FileRejected as exc:
        _err(str(exc))
        return EXIT_BAD_INPUT
    except FileNotFoundError as exc:
        _err(f"{exc.strerror}: {exc.filename}")
        return EXIT_BAD_INPUT


if __name__ == "__main__":
    raise SystemExit(main())
