"""The ``caseload`` command.

Each verb is a thin layer over a function in ``analytics``; output names files, lines and
columns but never prints patient text or names.

Each verb imports what it needs inside its function ("# lazy"): this module alone imports
in 0.2 s, every verb's modules together (scikit-learn, SHAP, DuckDB, Streamlit's launcher,
the language models) in 6-7 s, so ``caseload --help`` or ``caseload contract`` stays instant.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from analytics.files import (
    csv_safe_row,
    open_private,
    private_dir,
    private_umask,
    refuse_symlink,
    write_private,
)
from analytics.settings import Settings, default_data_dir, load_settings

if TYPE_CHECKING:
    from analytics.access.roles import Actor, Context

__all__ = ["build_parser", "main"]

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2


def _settings(args: argparse.Namespace) -> Settings:
    return load_settings(getattr(args, "data_dir", None))


def _err(message: str) -> None:
    print(f"caseload: {message}", file=sys.stderr)


def _os_user() -> str:
    # lazy: this verb's own dependencies
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (some containers): the numeric uid
        return f"uid {os.getuid()}"


def _record_cli(
    settings: Settings,
    *,
    action: str,
    target: str,
    detail: dict,
    actor: str | None = None,
    role: str = "cli",
    outcome: str = "allowed",
) -> None:
    """Audit an access made from the command line, naming the operator's OS user."""
    # lazy: this verb's own dependencies
    from analytics.access import audit_trail
    from analytics.access.keys import load_key
    from analytics.data.store import DataDir, open_workspace
    from analytics.settings import audit_anchor_path, audit_key_path

    ws = open_workspace(DataDir(settings.data_dir))
    who = f"cli:{_os_user()}" if actor is None else f"{actor} via cli:{_os_user()}"
    try:
        audit_trail.record(
            ws,
            load_key(audit_key_path(settings)),
            actor=who,
            role=role,
            action=action,
            target=target,
            detail=json.dumps(detail, sort_keys=True),
            outcome=outcome,
            anchor=audit_anchor_path(settings),
        )
    finally:
        ws.close()


def _cli_actor(settings: Settings, con, email: str | None, *, action: str, roles: tuple[str, ...]):
    """The clinician ``--as`` names, checked for one of ``roles``; refusals are audited.

    Shell access to the data directory is access to everything in it (README, "Who can
    see what"): ``--as`` is what the person claims, so the audit trail records it next
    to the operating-system account that ran the command.
    """
    # lazy: this verb's own dependencies
    from analytics.access.roles import AccessDenied, UnknownUser, lookup_email

    if not email:
        _record_cli(
            settings,
            action=action,
            target="command line",
            detail={"reason": "no --as"},
            outcome="denied",
        )
        raise AccessDenied(
            f"{action.replace('_', ' ')} needs --as EMAIL: the sign-in email of a "
            f"{' or '.join(roles)} (the attempt was recorded)"
        )
    try:
        actor = lookup_email(con, email)
    except UnknownUser:
        _record_cli(
            settings, action=action, target="command line", detail={"reason": "unknown --as"},
            outcome="denied",
        )  # fmt: skip
        raise
    if actor.role.value not in roles:
        _record_cli(
            settings,
            action=action,
            target="command line",
            detail={"reason": f"role {actor.role.value} not allowed"},
            actor=actor.user,
            role=actor.role.value,
            outcome="denied",
        )
        raise AccessDenied(
            f"{action.replace('_', ' ')} is for {' or '.join(roles)} only; --as "
            f"{actor.role.value} (the attempt was recorded)"
        )
    if _deactivated(settings, actor.clinician_id):
        _record_cli(
            settings, action=action, target="command line", detail={"reason": "deactivated"},
            actor=actor.user, role=actor.role.value, outcome="denied",
        )  # fmt: skip
        raise AccessDenied("this account has been deactivated (the attempt was recorded)")
    return actor


@contextmanager
def _signed_in(args: argparse.Namespace) -> Iterator[tuple[Context, Actor]]:
    """The open Context of a ``--as`` verb and the actor that email names, with the
    operating-system account beside it in the audit trail. An unknown email or a refused
    access propagates to :func:`main`, which words it (exit 2 and 1)."""
    from analytics.access.roles import Context, actor_for_email  # lazy: opens DuckDB

    ctx = Context.open(_settings(args), os_user=_os_user())
    try:
        yield ctx, actor_for_email(ctx, args.as_email)
    finally:
        ctx.close()


def _deactivated(settings: Settings, clinician_id: str | None) -> bool:
    # lazy: this verb's own dependencies
    from analytics.data.store import DataDir, open_workspace

    ws = open_workspace(DataDir(settings.data_dir))
    try:
        row = ws.execute(
            "SELECT active FROM clinician_status WHERE clinician_id = ?", [clinician_id]
        ).fetchone()
    finally:
        ws.close()
    return row is not None and row[0] == "false"


# --- ingest ----------------------------------------------------------------------------


def cmd_ingest(args: argparse.Namespace) -> int:
    # lazy: this verb's own dependencies
    from analytics.data.ingest import ingest

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
        f"duplicates skipped {f.duplicates:,}, quarantined {f.quarantined:,} ({f.seconds:.1f} s)"
    )


def cmd_quarantine(args: argparse.Namespace) -> int:
    # lazy: this verb's own dependencies
    from analytics.data.ingest import export_quarantine, quarantined_rows
    from analytics.data.store import DataDir, connect

    settings = _settings(args)
    data_dir = DataDir(settings.data_dir)
    if not data_dir.warehouse.exists():
        print("no warehouse yet: nothing is quarantined")
        return EXIT_OK
    con = connect(data_dir.warehouse, settings=settings, read_only=True)
    try:
        if args.export:
            # The export holds raw rows: names and message text. An admin's job.
            actor = _cli_actor(
                settings, con, args.as_email, action="export_quarantine", roles=("admin",)
            )
            _record_cli(
                settings,
                action="export_quarantine",
                target=Path(args.export).name,
                detail={"table": args.table or "all"},
                actor=actor.user,
                role=actor.role.value,
            )
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
    # lazy: this verb's own dependencies
    from analytics.serving.pipeline import refresh

    settings = _settings(args)
    as_of = args.as_of
    started = time.perf_counter()
    result = refresh(settings=settings, as_of=as_of, full=args.full)
    print(
        f"published snapshot {result.snapshot.snapshot_id} as of {result.as_of}: "
        f"{result.patients:,} patients ({result.active_patients:,} active) "
        f"in {time.perf_counter() - started:.1f} s"
    )
    print(f"    {result.mode} refresh: {result.reason}")
    for what, n in result.recomputed.items():
        print(f"    recomputed {what}: {n:,}")
    for name, n in result.table_rows.items():
        print(f"    {name}: {n:,} rows")
    return EXIT_OK


def cmd_status(args: argparse.Namespace) -> int:
    # lazy: this verb's own dependencies
    from analytics.data.status import collect_status

    status = collect_status(settings=_settings(args))
    if args.json:
        print(json.dumps(status.to_json(), indent=2, sort_keys=True))
        return EXIT_OK
    print(status.to_text())
    return EXIT_OK


# --- text, contract, sample data, demo -------------------------------------------------


def cmd_text_check(args: argparse.Namespace) -> int:
    # lazy: this verb's own dependencies
    from analytics.text import text_check

    if args.file in (None, "-"):
        text_check(sys.stdin, sys.stdout)
    else:
        with open(args.file, encoding="utf-8") as fh:
            text_check(fh, sys.stdout)
    return EXIT_OK


def cmd_contract(args: argparse.Namespace) -> int:
    # lazy: this verb's own dependencies
    from analytics.data.contract import to_markdown

    print(to_markdown(), end="")
    return EXIT_OK


def cmd_sample_data(args: argparse.Namespace) -> int:
    # lazy: this verb's own dependencies
    from sample_data.generator import ClinicSpec, generate, write_clinic

    started = time.perf_counter()
    spec = ClinicSpec(
        patients=args.patients,
        days=args.days,
        seed=args.seed,
        end_date=args.end_date,
        mess=not args.clean,
    )
    paths = write_clinic(generate(spec), Path(args.out), fmt=args.format)
    print(
        f"wrote {len(paths)} files for {args.patients:,} patients x {args.days} days "
        f"to {spec.resolved_end_date()} (seed {args.seed}) to {args.out} "
        f"in {time.perf_counter() - started:.1f} s"
    )
    return EXIT_OK


def cmd_demo(args: argparse.Namespace) -> int:
    # lazy: this verb's own dependencies
    from analytics.data.ingest import ingest
    from analytics.data.store import DataDir, current_snapshot
    from analytics.launcher import DEMO_MARKER, DEMO_TEXT, is_demo_dir
    from analytics.serving.pipeline import refresh
    from sample_data.generator import ClinicSpec, generate, write_clinic

    data_dir = Path(args.data_dir) if args.data_dir else default_data_dir() / "demo"
    # Only a directory demo made itself (its DEMO marker written before anything else) is
    # ever rebuilt, reused or served as a demo: pointed at a real clinic, demo refuses.
    if _holds_anything(data_dir) and not is_demo_dir(data_dir):
        _err(
            f"{data_dir} holds data that `caseload demo` did not build; refusing to use it "
            "as a demo (choose a new --data-dir; nothing was changed)"
        )
        return EXIT_BAD_INPUT
    if data_dir.exists() and args.rebuild:
        shutil.rmtree(data_dir)
    if current_snapshot(DataDir(data_dir)) is not None and not args.rebuild:
        print(f"demo clinic already built in {data_dir} (use --rebuild to start again)")
    else:
        started = time.perf_counter()
        spec = ClinicSpec(
            patients=args.patients, days=args.days, seed=args.seed, end_date=args.end_date
        )
        DataDir(data_dir).ensure()
        write_private(data_dir / DEMO_MARKER, DEMO_TEXT)
        # The generator writes New York local times; read naive ones the same way.
        write_private(data_dir / "settings.toml", f'clinic_timezone = "{spec.timezone}"\n')
        settings = load_settings(data_dir)
        files_dir = private_dir(data_dir / "demo-files")
        write_clinic(generate(spec), files_dir, fmt="csv")
        print(
            f"generated {args.patients:,} synthetic patients x {args.days} days "
            f"to {spec.resolved_end_date()} into {files_dir}"
        )
        result = ingest([files_dir], settings=settings)
        stored = sum(f.stored + f.updated for f in result.files)
        quarantined = sum(f.quarantined for f in result.files)
        print(
            f"ingested {len(result.files)} files: {stored:,} rows stored, {quarantined:,} quarantined "
            "(the demo plants realistic mistakes; see `caseload quarantine`)"
        )
        _demo_train(settings)
        refreshed = refresh(settings=settings)
        print(
            f"published a snapshot as of {refreshed.as_of}: {refreshed.patients:,} patients, "
            f"{refreshed.active_patients:,} active; built in {time.perf_counter() - started:.1f} s"
        )
    print(f"data directory: {data_dir}")
    if args.no_serve:
        print(f"next: caseload serve --data-dir {data_dir}")
        return EXIT_OK
    return _serve(data_dir, args.port)


def _holds_anything(path: Path) -> bool:
    return path.is_dir() and any(path.iterdir())


def _serve(data_dir: Path, port: int | None) -> int:
    # lazy: this verb's own dependencies
    import socket

    from analytics.launcher import is_demo_dir, serve

    if port is None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
    return serve(data_dir=data_dir, port=port, demo=is_demo_dir(data_dir))


def cmd_serve(args: argparse.Namespace) -> int:
    settings = _settings(args)
    return _serve(settings.data_dir, args.port)


def cmd_audit_log(args: argparse.Namespace) -> int:
    # lazy: this verb's own dependencies
    from dataclasses import asdict

    from analytics.access import audit_trail
    from analytics.data.store import DataDir, open_workspace
    from analytics.settings import audit_anchor_path, audit_key_path

    settings = _settings(args)
    data_dir = DataDir(settings.data_dir)
    if args.action == "verify":
        # Opened read-only: verifying must not create the directory, workspace or key.
        result = audit_trail.verify_data_dir(
            data_dir.root, key_file=audit_key_path(settings), anchor=audit_anchor_path(settings)
        )
        if result.ok:
            print(f"audit log: {result.entries:,} entries, chain intact and anchored")
            return EXIT_OK
        where = f" at entry {result.seq}" if result.seq is not None else ""
        _err(f"audit log check FAILED{where}: {result.problem}")
        return EXIT_FAILED
    if not data_dir.root.is_dir():
        _err(f"the data directory {data_dir.root} does not exist")
        return EXIT_BAD_INPUT
    ws = open_workspace(data_dir)
    try:
        lines = (
            json.dumps(asdict(e), sort_keys=True) + "\n"
            for e in audit_trail.entries(ws, since=args.since)
        )
        if args.out:
            with open_private(args.out) as out:
                out.writelines(lines)
        else:
            sys.stdout.writelines(lines)
        return EXIT_OK
    finally:
        ws.close()


# --- fairness audit --------------------------------------------------------------------


def cmd_audit(args: argparse.Namespace) -> int:
    # lazy: this verb's own dependencies
    from analytics.fairness import (
        AuditInputError,
        audit_predictions,
        format_for,
        read_predictions,
        render,
        write_report,
    )

    settings = _settings(args)
    started = time.perf_counter()
    try:
        frame = read_predictions(args.predictions)
        validation = read_predictions(args.validation) if args.validation else None
        result = audit_predictions(
            frame,
            label=args.label,
            score=args.score,
            attributes=args.attributes,
            threshold=0.5 if args.threshold is None else args.threshold,
            score_is_binary=args.score_is_binary,
            reference=args.reference,
            intersections=args.intersections,
            n_boot=args.n_boot,
            seed=args.seed,
            min_cell_size=settings.min_cell_size,
            coverage=args.coverage,
            validation=validation,
            mitigation=None if args.mitigation == "none" else args.mitigation,
            source=Path(args.predictions).name,
        )
    except AuditInputError as exc:
        _err(str(exc))
        return EXIT_BAD_INPUT
    fmt = format_for(args.out, args.format) if args.out else args.format
    if args.out:
        path = write_report(result, args.out, fmt)
    elif fmt:
        sys.stdout.write(render(result, fmt))
    if args.out or not fmt:
        for finding in result.findings:
            print(f"- {finding.text}")
        print(f"audited in {time.perf_counter() - started:.1f} s")
    if args.out:
        print(f"wrote the {fmt} report to {path}")
    _record_audit(args, settings, result, fmt)
    return EXIT_OK


def _record_audit(args: argparse.Namespace, settings: Settings, result, fmt: str | None) -> None:
    """Record the audit in the data directory's audit trail, if there is one."""

    # lazy: this verb's own dependencies
    from analytics.data.store import DataDir

    data_dir = DataDir(settings.data_dir)
    if not (args.data_dir or data_dir.root.exists()):
        return
    flags = [d.flag for d in result.disparities]
    detail = {
        "label": args.label,
        "score": args.score,
        "attributes": list(result.meta.attributes),
        "rows": result.meta.rows,
        "groups_suppressed": len(result.suppressed()),
        "disparities": flags.count("disparity"),
        "uncertain": flags.count("uncertain"),
        "format": fmt,
        "out": Path(args.out).name if args.out else None,
    }
    _record_cli(
        settings, action="fairness_audit", target=Path(args.predictions).name, detail=detail
    )


# --- models: train and export ---------------------------------------------------------


def _demo_train(settings: Settings) -> None:
    # lazy: this verb's own dependencies
    from analytics.models.training import train_models

    started = time.perf_counter()
    for outcome in train_models(settings=settings):
        if outcome.status == "ok":
            print(f"trained {outcome.model} {outcome.version}{_auroc_line(outcome)}")
        else:
            print(f"did not train {outcome.model}: {outcome.message}")
    print(f"models trained in {time.perf_counter() - started:.1f} s")


def _auroc_line(outcome) -> str:
    if outcome.trained is None:
        return ""
    parts = []
    for e in outcome.trained.evaluations:
        m = e.get("auroc")
        parts.append(f"{e.method} {m.estimate:.3f} ({m.ci_low:.3f}-{m.ci_high:.3f})")
    return ": held-out AUROC " + ", ".join(parts)


def _outcome_json(outcome) -> dict:
    out = {"model": outcome.model, "status": outcome.status, "message": outcome.message}
    t = outcome.trained
    if t is None:
        return out
    # lazy: this verb's own dependencies
    from analytics.models.registry import metrics_frame

    out.update(
        version=outcome.version,
        path=str(outcome.path),
        data_end=str(t.data_end),
        periods={k: str(v) for k, v in vars(t.split).items()},
        counts=t.counts,
        metrics=metrics_frame(t.evaluations).to_dict("records"),
        thresholds=t.thresholds,
        top_features=t.importance.head(10).to_dict("records"),
    )
    return out


def cmd_train(args: argparse.Namespace) -> int:
    # lazy: this verb's own dependencies
    from analytics.models.labels import MODELS
    from analytics.models.training import train_models

    settings = _settings(args)
    models = tuple(MODELS) if args.model == "all" else (args.model,)
    started = time.perf_counter()
    outcomes = train_models(settings=settings, models=models, seed=args.seed)
    if args.json:
        print(json.dumps([_outcome_json(o) for o in outcomes], indent=2, default=str))
    else:
        for o in outcomes:
            if o.status == "ok":
                print(f"{o.model} {o.version}{_auroc_line(o)}")
                print(f"    model card: {o.path / 'model_card.md'}")
            else:
                _err(o.message)
        print(f"trained in {time.perf_counter() - started:.1f} s; run `caseload refresh` to score")
    return EXIT_OK if all(o.status == "ok" for o in outcomes) else EXIT_FAILED


PREDICTION_COLUMNS = (
    "patient_id",
    "model",
    "version",
    "as_of",
    "probability",
    "tier",
    "top_reason",
)


def cmd_predictions(args: argparse.Namespace) -> int:
    # lazy: this verb's own dependencies
    import csv

    from analytics.data.store import DataDir, open_snapshot

    settings = _settings(args)
    data_dir = DataDir(settings.data_dir)
    fmt = args.format or ("json" if args.out and args.out.endswith(".json") else "csv")
    if args.out:
        refuse_symlink(args.out)
    info, con = open_snapshot(data_dir, settings=settings)
    try:
        # Every patient's risk scores by patient id: a data operation, an admin's.
        actor = _cli_actor(
            settings, con, args.as_email, action="export_predictions", roles=("admin",)
        )
        where = "WHERE model = $model" if args.model else ""
        rel = con.execute(
            f"""SELECT {", ".join(PREDICTION_COLUMNS)} FROM predictions {where}
                ORDER BY model, patient_id""",
            {"model": args.model} if args.model else {},
        )
        rows = rel.fetchall()
    finally:
        con.close()
    records = [
        {
            k: (v.isoformat() if isinstance(v, date) else v)
            for k, v in zip(PREDICTION_COLUMNS, r, strict=True)
        }
        for r in rows
    ]
    # Recorded before anything is written: an export of patient data is an access.
    _record_cli(
        settings,
        action="export_predictions",
        target=f"snapshot {info.snapshot_id}",
        detail={
            "rows": len(records),
            "model": args.model or "all",
            "format": fmt,
            "out": Path(args.out).name if args.out else "stdout",
        },
        actor=actor.user,
        role=actor.role.value,
    )

    def write(out) -> None:
        if fmt == "json":
            json.dump(records, out, indent=2)
            out.write("\n")
        else:
            writer = csv.DictWriter(out, fieldnames=PREDICTION_COLUMNS, lineterminator="\n")
            writer.writeheader()
            writer.writerows(csv_safe_row(r) for r in records)

    if not args.out:
        try:
            write(sys.stdout)
            sys.stdout.flush()
        except BrokenPipeError:  # e.g. piped into `head`: the reader has what it wanted
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    # Owner-only from the moment it exists: it holds patient ids and risk scores.
    with open_private(args.out, newline="") as out:
        write(out)
    print(f"wrote {len(records):,} predictions to {args.out}", file=sys.stderr)
    return EXIT_OK


def cmd_export(args: argparse.Namespace) -> int:
    """``caseload export research``: the de-identified research export.

    ``--as`` is required: the export runs as a named researcher or admin, recorded with
    the operating-system account, never as an implicit administrator.
    """
    # lazy: this verb's own dependencies
    from analytics.views.export import ExportBlocked, OutputNotEmpty, export_research

    settings = _settings(args)
    if not args.as_email:
        _record_cli(
            settings,
            action="export_research",
            target="command line",
            detail={"reason": "no --as"},
            outcome="denied",
        )
        _err(
            "export research needs --as EMAIL: the sign-in email of a researcher or admin "
            "(the attempt was recorded)"
        )
        return EXIT_FAILED
    with _signed_in(args) as (_, actor):
        pass  # the export opens the data directory itself, once the actor is known
    try:
        result = export_research(
            settings=settings, out_dir=args.out, actor=actor, os_user=_os_user()
        )
    except OutputNotEmpty as exc:
        _err(str(exc))
        return EXIT_BAD_INPUT
    except ExportBlocked as exc:
        _err(str(exc))
        return EXIT_FAILED
    counts = ", ".join(f"{name} {n:,}" for name, n in result.rows.items())
    print(f"wrote the research export to {result.out_dir} (owner-only): {counts} rows")
    print(f"    manifest: {result.manifest}")
    anonymity = json.loads(result.manifest.read_text(encoding="utf-8"))["k_anonymity"]
    print(
        f"    k-anonymity {anonymity['k']} (threshold {anonymity['threshold']}; "
        f"{anonymity['unique_before']:,} patients were unique before suppression)"
    )
    return EXIT_OK


PATIENT_FIELDS = (
    "patient_id",
    "active",
    "enrolled_on",
    "phq9_latest_total",
    "phq9_latest_band",
    "phq9_latest_at",
    "phq9_reliable_change",
    "gad7_latest_total",
    "gad7_latest_band",
    "gad7_latest_at",
    "gad7_reliable_change",
    "item9_flag_current",
    "item9_last_positive_at",
    "last_checkin_at",
    "checkin_adherence_14d",
)


def cmd_patient(args: argparse.Namespace) -> int:
    """One patient's scores and flags for their own clinician: the same access rules and
    audit as the app. Names and message text are not printed."""
    from analytics import views  # lazy: the views pull in polars and DuckDB

    with _signed_in(args) as (ctx, actor):
        view = views.patient(ctx, actor, args.patient_id)
        waiting = views.alerts(ctx, actor, patient_id=args.patient_id)
    out = {k: view.summary.get(k) for k in PATIENT_FIELDS}
    # Live, as the app shows them: alerts nobody has resolved yet, by level.
    out["unresolved_alerts"] = dict(sorted(Counter(waiting["level"].to_list()).items()))
    print(json.dumps(out, indent=2, default=str))
    return EXIT_OK


def cmd_alerts(args: argparse.Namespace) -> int:
    """A clinician's safety alerts, most urgent first: the same access rules and audit as
    the app's Alerts page. Patient ids, never names or message text; notes are the
    clinicians' own words and are printed for their own alerts."""
    from analytics import views  # lazy: the views pull in polars and DuckDB

    with _signed_in(args) as (ctx, actor):
        rows = views.alerts(ctx, actor, include_resolved=args.all)
        ctx.record(
            actor, "view_alerts", target="alerts", detail=f"cli alerts={rows.height} all={args.all}"
        )
    out = [
        {
            "alert_id": r["alert_id"],
            "patient_id": r["patient_id"],
            "kind": r["kind"],
            "level": r["level"],
            "opened_at": r["raised_at"].isoformat(),
            "age_days": r["age_days"],
            "status": r["status"],
            "overdue": r["overdue"],
            "history": r["history"],
        }
        for r in rows.iter_rows(named=True)
    ]
    if args.json:
        print(json.dumps(out, default=str))
        return EXIT_OK
    if not out:
        print("No open alerts." if not args.all else "No alerts.")
        return EXIT_OK
    for a in out:
        late = " OVERDUE" if a["overdue"] else ""
        print(
            f"{a['level']:<13} {a['patient_id']:<12} {a['kind']:<21} opened {a['opened_at'][:16]}"
            f"  {a['age_days']}d  {a['status']}{late}"
        )
        for h in a["history"]:
            note = f": {h['note']}" if h["note"] else ""
            print(f"    {h['at']}  {h['action']} by {h['actor']}{note}")
    return EXIT_OK


# --- the parser ------------------------------------------------------------------------


def _iso_date(text: str) -> date:
    """An argparse type: a YYYY-MM-DD date, with a short error otherwise."""
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date YYYY-MM-DD, got {text!r}") from None


END_DATE_HELP = "last day of data, YYYY-MM-DD (default: yesterday; pin it for the same clinic)"


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
    p.add_argument(
        "--as", dest="as_email", metavar="EMAIL", help="an admin's sign-in email (for --export)"
    )

    p = verb("refresh", "Build and publish a new serving snapshot.", cmd_refresh)
    p.add_argument(
        "--as-of", type=_iso_date, help="compute as of this date (default: newest data date)"
    )
    p.add_argument(
        "--full",
        action="store_true",
        help="rebuild every table from the whole warehouse (default: update the snapshot "
        "in service incrementally when nothing invalidates it)",
    )

    p = verb("status", "Show the data directory, counts, snapshot and models.", cmd_status)
    p.add_argument("--json", action="store_true", help="machine-readable output")

    p = verb("text-check", "Analyse messages, one per line, and print JSON lines.", cmd_text_check)
    p.add_argument("file", nargs="?", help="a file, or - for standard input (default)")

    verb("contract", "Print the data contract reference (Markdown).", cmd_contract)

    p = verb("audit-log", "Verify or export the tamper-evident audit trail.", cmd_audit_log)
    p.add_argument("action", choices=("verify", "export"))
    p.add_argument("--since", help="export entries from this date (YYYY-MM-DD) on")
    p.add_argument("--out", help="export to this file (JSON lines; default: standard output)")

    p = verb("audit", "Audit predictions for bias across groups and intersections.", cmd_audit)
    p.add_argument("--predictions", required=True, metavar="FILE", help="CSV or Parquet")
    p.add_argument("--label", required=True, metavar="COL", help="the outcome column (0/1)")
    p.add_argument("--score", required=True, metavar="COL", help="the score column")
    p.add_argument("--attributes", required=True, metavar="A[,B...]", help="columns to audit")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--threshold", type=float, metavar="T", help="flag scores >= T (default 0.5)")
    g.add_argument("--score-is-binary", action="store_true", help="the score is a 0/1 decision")
    p.add_argument(
        "--reference",
        action="append",
        metavar="GROUP",
        help="reference group as ATTRIBUTE=VALUE (repeatable; default: the largest group)",
    )
    p.add_argument(
        "--intersections",
        nargs="?",
        type=int,
        const=2,
        default=0,
        metavar="N",
        help="also audit intersections of up to N attributes (N defaults to 2)",
    )
    p.add_argument("--coverage", metavar="COL[,COL...]", help="data-coverage columns")
    p.add_argument("--validation", metavar="FILE", help="predictions to fit the what-if on")
    p.add_argument(
        "--mitigation", default="equalized_odds", choices=("equalized_odds", "tpr", "none")
    )
    p.add_argument("--n-boot", type=int, default=1000, help="bootstrap resamples")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--format", choices=("json", "csv", "html"), help="default: from --out")
    p.add_argument("--out", metavar="PATH", help="write the report here (owner-only)")

    p = verb("train", "Train and evaluate the risk models; register them with cards.", cmd_train)
    p.add_argument("--model", choices=("relapse_risk", "engagement_drop", "all"), default="all")
    p.add_argument("--seed", type=int, default=0, help="random seed (same seed, same metrics)")
    p.add_argument("--json", action="store_true", help="machine-readable output")

    p = verb("predictions", "Export the current risk predictions (admins).", cmd_predictions)
    p.add_argument(
        "--as", dest="as_email", metavar="EMAIL", help="an admin's sign-in email (required)"
    )
    p.add_argument("--model", choices=("relapse_risk", "engagement_drop"), help="default: all")
    p.add_argument("--format", choices=("csv", "json"), help="default: from --out, else csv")
    p.add_argument("--out", metavar="FILE", help="write here (owner-only; default: stdout)")

    p = verb("export", "Write a de-identified research export.", cmd_export)
    p.add_argument("what", choices=("research",), help="what to export")
    p.add_argument("--out", required=True, metavar="DIR", help="a new or empty directory")
    p.add_argument(
        "--as",
        dest="as_email",
        metavar="EMAIL",
        help="a researcher's or admin's sign-in email (required)",
    )

    p = verb(
        "patient", "Show one of your patients' scores and flags (as the app would).", cmd_patient
    )
    p.add_argument("patient_id")
    p.add_argument(
        "--as", dest="as_email", required=True, metavar="EMAIL", help="your sign-in email"
    )

    p = verb("alerts", "List your safety alerts, most urgent first (as the app would).", cmd_alerts)
    p.add_argument(
        "--as", dest="as_email", required=True, metavar="EMAIL", help="your sign-in email"
    )
    p.add_argument("--json", action="store_true", help="print one JSON array")
    p.add_argument("--all", action="store_true", help="include resolved alerts")

    p = verb("sample-data", "Write a synthetic clinic as contract files.", cmd_sample_data)
    p.add_argument("--patients", type=int, default=300)
    p.add_argument("--days", type=int, default=300)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--format", choices=("csv", "parquet"), default="csv")
    p.add_argument("--clean", action="store_true", help="no planted mess (all rows valid)")
    p.add_argument("--end-date", type=_iso_date, help=END_DATE_HELP)

    p = verb("demo", "Build a demo clinic in a fresh data directory.", cmd_demo)
    # Big enough for both risk models to have 30+ positive labels in training and test.
    p.add_argument("--patients", type=int, default=2000)
    p.add_argument("--days", type=int, default=365)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--end-date", type=_iso_date, help=END_DATE_HELP)
    p.add_argument("--rebuild", action="store_true", help="start again from scratch")
    p.add_argument("--port", type=int, help="port for the app (default: a free one)")
    p.add_argument(
        "--no-serve", action="store_true", help="build the demo but do not start the app"
    )

    p = verb("serve", "Run the dashboard on this machine.", cmd_serve)
    p.add_argument("--port", type=int, default=8501, help="port (default 8501)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``caseload`` console script.

    Every failure a user can cause ends in one line on standard error and an exit code:
    2 for bad input (a file, a date, settings), 1 for a refused or failed operation.
    """
    # lazy: this verb's own dependencies
    import errno

    from analytics.access.roles import AccessDenied, UnknownUser
    from analytics.data.ingest import FileRejected
    from analytics.data.store import BusyError, NoSnapshotError
    from analytics.files import SymlinkRefused
    from analytics.serving.pipeline import EmptyWarehouseError
    from analytics.settings import SettingsError

    # Every file and directory this run creates (DuckDB, SQLite, exports) is owner-only.
    private_umask()
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except BusyError as exc:
        _err(str(exc))
        return EXIT_FAILED
    except (EmptyWarehouseError, NoSnapshotError) as exc:
        _err(str(exc))
        return EXIT_FAILED
    except (FileRejected, SettingsError, SymlinkRefused) as exc:
        _err(str(exc))
        return EXIT_BAD_INPUT
    except UnknownUser as exc:
        _err(f"{exc} (the attempt was recorded)" if "recorded" not in str(exc) else str(exc))
        return EXIT_BAD_INPUT
    except AccessDenied as exc:
        _err(f"{exc} (the attempt was recorded)" if "recorded" not in str(exc) else str(exc))
        return EXIT_FAILED
    except FileNotFoundError as exc:
        _err(f"{exc.strerror}: {exc.filename}")
        return EXIT_BAD_INPUT
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            _err(
                "the disk is full: nothing more could be written"
                + (f" to {exc.filename}" if exc.filename else "")
                + "; free some space and run the command again (stored data is unchanged)"
            )
        else:
            where = f": {exc.filename}" if exc.filename else ""
            _err(f"{exc.strerror or type(exc).__name__}{where}")
        return EXIT_FAILED


if __name__ == "__main__":
    raise SystemExit(main())
