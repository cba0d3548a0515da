"""The three stores under one data directory.

DuckDB lets one process write a file or many read it, never both, so:

- the *warehouse* (``warehouse.duckdb``) holds validated rows, quarantine and the ingest
  log; only the pipeline writes it, one run at a time (``pipeline.lock``);
- the *serving snapshot* (``snapshots/*.duckdb``) is what the app reads; the pipeline
  builds a new file and publishes it atomically by replacing the ``CURRENT`` pointer;
- the *workspace* (``workspace.sqlite``, WAL) is what people do in the app.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from analytics.data.contract import TABLES, ColumnType
from analytics.files import open_private, owner_only, private_dir, write_private
from analytics.settings import Settings

__all__ = [
    "CURRENT_FILE",
    "DERIVED_COLUMNS",
    "KEEP_SNAPSHOTS",
    "LOCK_FILE",
    "SNAPSHOT_DIR",
    "SQL_TYPES",
    "WAREHOUSE_FILE",
    "WORKSPACE_FILE",
    "BusyError",
    "DataDir",
    "NoSnapshotError",
    "SnapshotInfo",
    "connect",
    "current_snapshot",
    "cursor",
    "ensure_workspace_schema",
    "has_table",
    "new_snapshot_path",
    "open_snapshot",
    "open_warehouse",
    "open_workspace",
    "pipeline_lock",
    "publish_snapshot",
    "sync_clinician_status",
    "table_ddl",
]

WAREHOUSE_FILE = "warehouse.duckdb"
LOCK_FILE = "pipeline.lock"
SNAPSHOT_DIR = "snapshots"
CURRENT_FILE = "CURRENT"
WORKSPACE_FILE = "workspace.sqlite"
# Older snapshots are removed after a publish; readers that still hold one keep working
# because an open file outlives its directory entry.
KEEP_SNAPSHOTS = 3

SQL_TYPES = {
    ColumnType.TEXT: "VARCHAR",
    ColumnType.INTEGER: "BIGINT",
    ColumnType.NUMBER: "DOUBLE",
    ColumnType.DATE: "DATE",
    ColumnType.TIMESTAMP: "TIMESTAMPTZ",
}

# Columns ingest derives for stored rows beyond the contract's own.
DERIVED_COLUMNS: dict[str, tuple[tuple[str, str], ...]] = {
    "messages": (
        ("language", "VARCHAR"),
        ("sentiment", "DOUBLE"),
        ("sentiment_note", "VARCHAR"),
        ("crisis_level", "VARCHAR"),
        ("crisis_matched", "VARCHAR"),  # the evidence: the words that decided the level
        ("language_confidence", "DOUBLE"),
        ("crisis_category", "VARCHAR"),
        ("crisis_about_other", "BOOLEAN"),
        ("crisis_reason", "VARCHAR"),
    ),
}


class BusyError(RuntimeError):
    """Another ingest or refresh holds the data directory's pipeline lock."""


class NoSnapshotError(RuntimeError):
    """No serving snapshot has been published yet."""


@dataclass(frozen=True)
class DataDir:
    """Paths inside one data directory."""

    root: Path

    @property
    def warehouse(self) -> Path:
        return self.root / WAREHOUSE_FILE

    @property
    def lock(self) -> Path:
        return self.root / LOCK_FILE

    @property
    def snapshots(self) -> Path:
        return self.root / SNAPSHOT_DIR

    @property
    def current(self) -> Path:
        return self.root / CURRENT_FILE

    @property
    def workspace(self) -> Path:
        return self.root / WORKSPACE_FILE

    @property
    def models(self) -> Path:
        return self.root / "models"

    def ensure(self) -> DataDir:
        """Create the directory tree, readable by its owner only."""
        for path in (self.root, self.snapshots, self.models):
            private_dir(path)
            # A directory made before this release may be wider: narrow it.
            if path.stat().st_mode & 0o077:
                os.chmod(path, 0o700)
        return self


def connect(
    path: Path, *, settings: Settings, read_only: bool = False
) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with the clinic's time zone, so dates are local dates."""
    with owner_only():
        con = duckdb.connect(str(path), read_only=read_only)
    con.execute("SET TimeZone = ?", [settings.clinic_timezone])
    return con


def cursor(con: duckdb.DuckDBPyConnection, *, settings: Settings) -> duckdb.DuckDBPyConnection:
    """A cursor for one thread, with the clinic's time zone (cursors start in UTC)."""
    cur = con.cursor()
    cur.execute("SET TimeZone = ?", [settings.clinic_timezone])
    return cur


# --- the pipeline lock ---------------------------------------------------------------


@contextlib.contextmanager
def pipeline_lock(data_dir: DataDir, *, purpose: str) -> Iterator[None]:
    """Hold the one-writer lock, or raise BusyError naming who holds it.

    ``flock`` is released by the kernel when the holder dies, so a killed run never
    leaves a stale lock behind.
    """
    data_dir.ensure()
    # "r+b": the holder's note must survive another process opening the file to ask.
    with open_private(data_dir.lock, "r+b") as lock:
        fd = lock.fileno()
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_lock_note(fd)
            raise BusyError(
                f"the data directory {data_dir.root} is busy: another {holder} is running. "
                "Wait for it to finish and try again."
            ) from None
        note = json.dumps(
            {"purpose": purpose, "pid": os.getpid(), "since": datetime.now(UTC).isoformat()}
        )
        os.ftruncate(fd, 0)
        os.pwrite(fd, note.encode(), 0)
        yield


def _read_lock_note(fd: int) -> str:
    try:
        note = json.loads(os.pread(fd, 4096, 0) or b"{}")
        return f"{note.get('purpose', 'run')} (pid {note.get('pid')}, since {note.get('since')})"
    except (OSError, ValueError):
        return "ingest or refresh"


# --- the warehouse -------------------------------------------------------------------


def table_ddl(name: str) -> str:
    """CREATE TABLE for one contract table as stored in the warehouse."""
    table = TABLES[name]
    cols = [f'"{c.name}" {SQL_TYPES[c.type]}' for c in table.columns]
    cols += [f'"{n}" {t}' for n, t in DERIVED_COLUMNS.get(name, ())]
    cols.append('"_run_id" BIGINT')
    return f'CREATE TABLE IF NOT EXISTS "{name}" ({", ".join(cols)})'


_WAREHOUSE_META = (
    """CREATE TABLE IF NOT EXISTS ingest_runs (
        run_id BIGINT PRIMARY KEY, started_at TIMESTAMPTZ, finished_at TIMESTAMPTZ,
        strict BOOLEAN, status VARCHAR)""",
    """CREATE TABLE IF NOT EXISTS ingest_log (
        run_id BIGINT, file VARCHAR, sha256 VARCHAR, "table" VARCHAR, status VARCHAR,
        rows_read BIGINT, stored BIGINT, updated BIGINT, duplicates BIGINT,
        quarantined BIGINT, reasons VARCHAR, extra_columns VARCHAR, message VARCHAR,
        logged_at TIMESTAMPTZ)""",
    """CREATE TABLE IF NOT EXISTS quarantine (
        run_id BIGINT, file VARCHAR, line BIGINT, "table" VARCHAR, "column" VARCHAR,
        reason VARCHAR, other_problems VARCHAR, record VARCHAR, quarantined_at TIMESTAMPTZ)""",
    "CREATE SEQUENCE IF NOT EXISTS run_ids START 1",
)


def has_table(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    """Whether ``con``'s database has the table ``name`` (a snapshot of an older release
    may lack one that a newer one adds)."""
    row = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE table_name = ? AND NOT temporary", [name]
    ).fetchone()
    return bool(row and row[0])


def open_warehouse(data_dir: DataDir, *, settings: Settings) -> duckdb.DuckDBPyConnection:
    """Open (creating if needed) the warehouse for writing. Hold the pipeline lock."""
    data_dir.ensure()
    con = connect(data_dir.warehouse, settings=settings)
    for ddl in _WAREHOUSE_META:
        con.execute(ddl)
    for name in TABLES:
        con.execute(table_ddl(name))
    _add_missing_columns(con)
    return con


def _add_missing_columns(con: duckdb.DuckDBPyConnection) -> None:
    """Bring a warehouse built by an older version up to today's columns: contract columns
    added since (e.g. ``clinicians.active``) and derived ones (message analysis).

    Rows stored before keep NULL in the new columns until they are re-analysed
    (``caseload ingest --force`` of the same files, see the README's "Messages").
    """
    for table in TABLES:
        wanted = [(c.name, SQL_TYPES[c.type]) for c in TABLES[table].columns]
        wanted += DERIVED_COLUMNS.get(table, ())
        for name, sql_type in wanted:
            con.execute(f'ALTER TABLE "{table}" ADD COLUMN IF NOT EXISTS "{name}" {sql_type}')


# --- the serving snapshot ------------------------------------------------------------


@dataclass(frozen=True)
class SnapshotInfo:
    """The snapshot in service, as the ``CURRENT`` pointer names it."""

    path: Path
    published_at: datetime
    snapshot_id: str


def new_snapshot_path(data_dir: DataDir) -> tuple[str, Path]:
    """A fresh, unpublished snapshot file to build into."""
    data_dir.ensure()
    # Microseconds, so names sort in publish order even for refreshes within a second.
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
    snapshot_id = f"{stamp}-{secrets.token_hex(3)}"
    return snapshot_id, data_dir.snapshots / f".building-{snapshot_id}.duckdb"


def publish_snapshot(data_dir: DataDir, snapshot_id: str, building: Path) -> SnapshotInfo:
    """Rename a finished snapshot into place and flip ``CURRENT`` to it atomically."""
    final = data_dir.snapshots / f"snapshot-{snapshot_id}.duckdb"
    os.replace(building, final)
    published = datetime.now(UTC)
    pointer = {
        "snapshot": final.name,
        "snapshot_id": snapshot_id,
        "published_at": published.isoformat(),
    }
    write_private(data_dir.current, json.dumps(pointer), replace=True)
    _fsync_dir(data_dir.root)
    _prune_snapshots(data_dir, keep=final.name)
    return SnapshotInfo(final, published, snapshot_id)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _prune_snapshots(data_dir: DataDir, *, keep: str) -> None:
    files = sorted(data_dir.snapshots.glob("snapshot-*.duckdb"))
    for old in files[:-KEEP_SNAPSHOTS]:
        if old.name != keep:
            with contextlib.suppress(OSError):
                old.unlink()
    # A building file left by a crashed refresh is never published; clear it.
    for stale in data_dir.snapshots.glob(".building-*"):
        with contextlib.suppress(OSError):
            if stale.stat().st_mtime < datetime.now(UTC).timestamp() - 24 * 3600:
                stale.unlink()


def current_snapshot(data_dir: DataDir) -> SnapshotInfo | None:
    """The snapshot in service, or None before the first refresh."""
    try:
        pointer = json.loads(data_dir.current.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    return SnapshotInfo(
        data_dir.snapshots / pointer["snapshot"],
        datetime.fromisoformat(pointer["published_at"]),
        pointer["snapshot_id"],
    )


def open_snapshot(
    data_dir: DataDir, *, settings: Settings
) -> tuple[SnapshotInfo, duckdb.DuckDBPyConnection]:
    """Open the snapshot in service read-only.

    A publish may flip the pointer and prune the file we were about to open; reading the
    pointer again then finds the newer one.
    """
    for _ in range(5):
        info = current_snapshot(data_dir)
        if info is None:
            raise NoSnapshotError(
                f"no serving snapshot in {data_dir.root} yet: ingest data and run `caseload refresh`"
            )
        try:
            return info, connect(info.path, settings=settings, read_only=True)
        except duckdb.IOException:
            if info.path.exists():
                raise
    raise NoSnapshotError(f"the serving snapshot in {data_dir.root} kept changing; try again")


# --- the workspace -------------------------------------------------------------------

_ALERT_ACTIONS = """CREATE TABLE IF NOT EXISTS alert_actions (
    id INTEGER PRIMARY KEY AUTOINCREMENT, alert_id TEXT NOT NULL, patient_id TEXT NOT NULL,
    action TEXT NOT NULL CHECK (action IN ('acknowledge', 'resolve', 'reopen', 'review')),
    note TEXT, actor TEXT NOT NULL, at TEXT NOT NULL)"""

_WORKSPACE_SCHEMA = (
    _ALERT_ACTIONS,
    """CREATE TABLE IF NOT EXISTS notes (
        id INTEGER PRIMARY KEY AUTOINCREMENT, patient_id TEXT NOT NULL, author TEXT NOT NULL,
        body TEXT NOT NULL, at TEXT NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS alert_actions_patient ON alert_actions (patient_id)",
    "CREATE INDEX IF NOT EXISTS notes_patient ON notes (patient_id)",
    # Each clinician's active flag, copied here by ingest so that access checks see a
    # deactivation at the next request (analytics.access.roles).
    """CREATE TABLE IF NOT EXISTS clinician_status (
        clinician_id TEXT PRIMARY KEY, active TEXT NOT NULL, at TEXT NOT NULL)""",
    # The access trail (analytics.access.audit_trail): append-only, enforced by triggers.
    """CREATE TABLE IF NOT EXISTS audit_log (
        seq INTEGER PRIMARY KEY, at TEXT NOT NULL, actor TEXT NOT NULL, role TEXT NOT NULL,
        action TEXT NOT NULL, target TEXT, patient_key TEXT, outcome TEXT NOT NULL,
        detail TEXT, prev_hash TEXT NOT NULL, hash TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS audit_head (
        id INTEGER PRIMARY KEY CHECK (id = 1), seq INTEGER NOT NULL, hash TEXT NOT NULL)""",
    """CREATE TRIGGER IF NOT EXISTS audit_log_no_update BEFORE UPDATE ON audit_log
        BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END""",
    """CREATE TRIGGER IF NOT EXISTS audit_log_no_delete BEFORE DELETE ON audit_log
        BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END""",
)


def _allow_reopen(con: sqlite3.Connection) -> None:
    """Workspaces made before re-opening existed refuse the action in a CHECK constraint,
    which SQLite cannot alter: copy the rows (ids kept, so their order) into the new
    table, in one transaction; nothing is lost."""
    row = con.execute(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'alert_actions'"
    ).fetchone()
    if row is None or "'reopen'" in row[0]:
        return
    con.execute("BEGIN IMMEDIATE")
    try:
        con.execute("ALTER TABLE alert_actions RENAME TO alert_actions_before_reopen")
        con.execute(_ALERT_ACTIONS)
        con.execute("INSERT INTO alert_actions SELECT * FROM alert_actions_before_reopen")
        con.execute("DROP TABLE alert_actions_before_reopen")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")


def open_workspace(data_dir: DataDir, *, check_same_thread: bool = True) -> sqlite3.Connection:
    """Open (creating if needed) the workspace database in WAL mode.

    ``check_same_thread=False`` is for the app, whose session reruns may run on different
    threads but never at the same time.
    """
    data_dir.ensure()
    # Autocommit: every transaction in the workspace is explicit.
    with owner_only():
        con = sqlite3.connect(
            data_dir.workspace,
            timeout=10,
            isolation_level=None,
            check_same_thread=check_same_thread,
        )
        con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA foreign_keys=ON")
    _allow_reopen(con)
    ensure_workspace_schema(con)
    return con


def ensure_workspace_schema(con: sqlite3.Connection) -> None:
    """Create whatever the workspace lacks (every statement is IF NOT EXISTS)."""
    with con:
        for ddl in _WORKSPACE_SCHEMA:
            con.execute(ddl)


def sync_clinician_status(data_dir: DataDir, rows: list[tuple[str, str | None]]) -> None:
    """Copy ``(clinician_id, active)`` from the warehouse into the workspace."""
    ws = open_workspace(data_dir)
    try:
        now = datetime.now(UTC).isoformat()
        with ws:
            ws.execute("BEGIN IMMEDIATE")
            ws.executemany(
                "INSERT INTO clinician_status (clinician_id, active, at) VALUES (?, ?, ?) "
                "ON CONFLICT (clinician_id) DO UPDATE SET active = excluded.active, at = excluded.at",
                [(cid, active or "true", now) for cid, active in rows],
            )
    finally:
        ws.close()
