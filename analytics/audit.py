"""The audit trail: who saw or did what, append-only and hash-chained, in the workspace.

Each entry's ``hash`` is an HMAC (keyed by ``audit.key`` in the data directory) over the
previous entry's hash and the entry's own fields, and ``audit_head`` holds the newest
sequence number and hash. ``verify`` recomputes the chain: an edited entry breaks its
own hash, a removed or reordered one breaks the link to its neighbour or the head.
SQLite triggers refuse UPDATE and DELETE so honest code cannot rewrite history by
mistake; the chain catches anyone who goes around them.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from analytics.keys import load_key

GENESIS = "0" * 64

_SCHEMA = (
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

FIELDS = ("seq", "at", "actor", "role", "action", "target", "patient_key", "outcome", "detail")


@dataclass(frozen=True)
class AuditEntry:
    """One audit record. ``patient_key`` is a pseudonym, never a patient id."""

    seq: int
    at: str
    actor: str
    role: str
    action: str
    target: str | None
    patient_key: str | None
    outcome: str  # allowed | denied
    detail: str | None
    prev_hash: str
    hash: str


@dataclass(frozen=True)
class Verification:
    """The result of checking the chain."""

    ok: bool
    entries: int
    problem: str | None = None
    seq: int | None = None  # the first entry at which the chain breaks


def ensure_schema(ws: sqlite3.Connection) -> None:
    with ws:
        for ddl in _SCHEMA:
            ws.execute(ddl)


def _digest(key: bytes, prev_hash: str, values: dict[str, object]) -> str:
    payload = json.dumps([prev_hash, *(values[f] for f in FIELDS)], separators=(",", ":"))
    return hmac.new(key, payload.encode("utf-8"), hashlib.sha256).hexdigest()


def audit_key(root: Path) -> bytes:
    """The data directory's audit-chain key (created on first use)."""
    return load_key(root / "audit.key")


def record(
    ws: sqlite3.Connection,
    key: bytes,
    *,
    actor: str,
    role: str,
    action: str,
    target: str | None = None,
    patient_key: str | None = None,
    outcome: str = "allowed",
    detail: str | None = None,
) -> AuditEntry:
    """Append one entry to the chain (serialised with BEGIN IMMEDIATE)."""
    ws.execute("BEGIN IMMEDIATE")
    try:
        head = ws.execute("SELECT seq, hash FROM audit_head WHERE id = 1").fetchone()
        seq, prev = (head[0] + 1, head[1]) if head else (1, GENESIS)
        values = {
            "seq": seq,
            "at": datetime.now(UTC).isoformat(timespec="microseconds"),
            "actor": actor,
            "role": role,
            "action": action,
            "target": target,
            "patient_key": patient_key,
            "outcome": outcome,
            "detail": detail,
        }
        digest = _digest(key, prev, values)
        ws.execute(
            f"INSERT INTO audit_log ({', '.join(FIELDS)}, prev_hash, hash) "
            f"VALUES ({', '.join('?' * len(FIELDS))}, ?, ?)",
            [*(values[f] for f in FIELDS), prev, digest],
        )
        ws.execute(
            "INSERT INTO audit_head (id, seq, hash) VALUES (1, ?, ?) "
            "ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash",
            [seq, digest],
        )
        ws.execute("COMMIT")
    except BaseException:
        ws.execute("ROLLBACK")
        raise
    return AuditEntry(**values, prev_hash=prev, hash=digest)


def entries(ws: sqlite3.Connection, *, since: str | None = None) -> Iterator[AuditEntry]:
    """Entries in chain order, optionally from a date (ISO 8601) on."""
    sql = f"SELECT {', '.join(FIELDS)}, prev_hash, hash FROM audit_log"
    params: list[object] = []
    if since:
        sql += " WHERE at >= ?"
        params.append(since)
    for row in ws.execute(sql + " ORDER BY rowid", params):
        yield AuditEntry(*row)


def verify(ws: sqlite3.Connection, key: bytes) -> Verification:
    """Recompute the chain; report the first entry where it breaks."""
    prev, expected_seq, count = GENESIS, 1, 0
    for entry in entries(ws):
        count += 1
        if entry.seq != expected_seq:
            return Verification(
                False, count, f"entry {expected_seq} is missing or out of order", entry.seq
            )
        if entry.prev_hash != prev:
            return Verification(False, count, "the link to the previous entry is broken", entry.seq)
        values = {f: getattr(entry, f) for f in FIELDS}
        if not hmac.compare_digest(_digest(key, prev, values), entry.hash):
            return Verification(False, count, "the entry was altered", entry.seq)
        prev, expected_seq = entry.hash, expected_seq + 1
    head = ws.execute("SELECT seq, hash FROM audit_head WHERE id = 1").fetchone()
    if head is None and count:
        return Verification(False, count, "the chain head is missing")
    if head is not None and (head[0] != count or head[1] != prev):
        return Verification(
            False, count, f"entries after {count} were removed (head is {head[0]})", count + 1
        )
    return Verification(True, count)
