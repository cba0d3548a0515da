"""The audit trail: who saw or did what, append-only and hash-chained, in the workspace.

Each entry's ``hash`` is an HMAC (keyed by ``audit.key`` in the data directory) over the
previous entry's hash and the entry's own fields, and ``audit_head`` holds the newest
sequence number and hash. ``verify`` recomputes the chain: an edited entry breaks its
own hash, a removed or reordered one breaks the link to its neighbour or the head.
SQLite triggers refuse UPDATE and DELETE so honest code cannot rewrite history by
mistake; the chain catches anyone who goes around them.

The chain alone cannot notice its own end being cut off together with the head, nor a
whole workspace deleted. So every entry also appends a signed checkpoint (sequence number
and hash, HMAC-ed with the key) to an *anchor* file outside the workspace
(``audit_anchor_file``; a clinic points it at append-only storage). ``verify`` then
also requires the chain to reach, and agree with, the newest checkpoint; a key replaced
to rewrite the chain no longer signs the old checkpoints.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from analytics.access.keys import load_key
from analytics.files import open_private

__all__ = [
    "AuditEntry",
    "Verification",
    "append_anchor",
    "audit_key",
    "entries",
    "read_anchor",
    "record",
    "verify",
    "verify_data_dir",
]

GENESIS = "0" * 64


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


def _digest(key: bytes, prev_hash: str, values: dict[str, object]) -> str:
    payload = json.dumps([prev_hash, *(values[f] for f in FIELDS)], separators=(",", ":"))
    return hmac.new(key, payload.encode("utf-8"), hashlib.sha256).hexdigest()


def audit_key(root: Path) -> bytes:
    """The data directory's audit-chain key (created on first use)."""
    return load_key(root / "audit.key")


def _anchor_mac(key: bytes, seq: int, digest: str) -> str:
    payload = f"anchor:{seq}:{digest}".encode()
    return hmac.new(key, payload, hashlib.sha256).hexdigest()


def append_anchor(anchor: Path, key: bytes, seq: int, digest: str) -> None:
    """Append one signed checkpoint of the chain head (O_APPEND, owner-only)."""
    line = json.dumps(
        {
            "seq": seq,
            "hash": digest,
            "at": datetime.now(UTC).isoformat(timespec="seconds"),
            "mac": _anchor_mac(key, seq, digest),
        },
        separators=(",", ":"),
    )
    anchor.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    with open_private(anchor, "a") as fh:
        fh.write(line + "\n")
        fh.flush()
        os.fsync(fh.fileno())


def read_anchor(anchor: Path, key: bytes) -> tuple[tuple[int, str] | None, str | None]:
    """The newest checkpoint ``(seq, hash)`` and a problem, if any line is not ours.

    A missing file gives ``(None, None)``; a line that does not parse or whose MAC does
    not verify under ``key`` (edited, or the key was replaced) is a problem.
    """
    try:
        text = anchor.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None, None
    newest: tuple[int, str] | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            point = json.loads(line)
            seq, digest, mac = int(point["seq"]), str(point["hash"]), str(point["mac"])
        except (ValueError, KeyError, TypeError):
            return newest, f"anchor line {number} is not a checkpoint"
        if not hmac.compare_digest(_anchor_mac(key, seq, digest), mac):
            return newest, (
                f"anchor line {number} is not signed by this audit key "
                "(the key was replaced or the anchor edited)"
            )
        if newest is not None and seq <= newest[0]:
            return newest, f"anchor line {number} goes backwards (entry {seq})"
        newest = (seq, digest)
    return newest, None


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
    anchor: Path | None = None,
) -> AuditEntry:
    """Append one entry to the chain (serialised with BEGIN IMMEDIATE).

    With ``anchor``, a signed checkpoint is appended there before the entry commits, so
    the anchor is never behind the chain (a failed commit leaves a checkpoint ahead of
    it, which ``verify`` reports rather than hides).
    """
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
        if anchor is not None:
            append_anchor(anchor, key, seq, digest)
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


def verify(ws: sqlite3.Connection, key: bytes, *, anchor: Path | None = None) -> Verification:
    """Recompute the chain; report the first entry where it breaks.

    With ``anchor``, the chain must also reach the newest signed checkpoint and hold the
    same hash at that entry; an anchor whose lines this key did not sign fails, and so
    does a missing anchor once the chain has entries.
    """
    try:
        result, hashes = _walk(ws, key)
    except sqlite3.DatabaseError as exc:
        return Verification(False, 0, f"the audit tables cannot be read ({exc})")
    if anchor is None or not result.ok:
        return result
    newest, problem = read_anchor(anchor, key)
    if problem:
        return Verification(False, result.entries, problem)
    if newest is None:
        if result.entries:
            return Verification(
                False, result.entries, f"the anchor {anchor} is missing but the chain has entries"
            )
        return result
    seq, digest = newest
    if seq > result.entries:
        return Verification(
            False,
            result.entries,
            f"the anchor records {seq} entries but the chain holds {result.entries}: "
            "entries were removed",
            result.entries + 1,
        )
    if not hmac.compare_digest(hashes[seq - 1], digest):
        return Verification(
            False, result.entries, f"entry {seq} differs from its anchored checkpoint", seq
        )
    return result


def _walk(ws: sqlite3.Connection, key: bytes) -> tuple[Verification, list[str]]:
    prev, expected_seq, count = GENESIS, 1, 0
    hashes: list[str] = []
    for entry in entries(ws):
        count += 1
        if entry.seq != expected_seq:
            return Verification(
                False, count, f"entry {expected_seq} is missing or out of order", entry.seq
            ), hashes
        if entry.prev_hash != prev:
            return Verification(
                False, count, "the link to the previous entry is broken", entry.seq
            ), hashes
        values = {f: getattr(entry, f) for f in FIELDS}
        if not hmac.compare_digest(_digest(key, prev, values), entry.hash):
            return Verification(False, count, "the entry was altered", entry.seq), hashes
        hashes.append(entry.hash)
        prev, expected_seq = entry.hash, expected_seq + 1
    head = ws.execute("SELECT seq, hash FROM audit_head WHERE id = 1").fetchone()
    if head is None and count:
        return Verification(False, count, "the chain head is missing"), hashes
    if head is not None and (head[0] != count or head[1] != prev):
        return Verification(
            False, count, f"entries after {count} were removed (head is {head[0]})", count + 1
        ), hashes
    return Verification(True, count), hashes


WORKSPACE_FILE = "workspace.sqlite"


def verify_data_dir(data_dir: Path, *, key_file: Path, anchor: Path) -> Verification:
    """``caseload audit-log verify``: check a data directory's trail without creating it.

    A data directory, workspace or key that does not exist fails rather than reading as
    an empty, intact trail; so do dropped tables (via :func:`verify`).
    """
    if not data_dir.is_dir():
        return Verification(False, 0, f"the data directory {data_dir} does not exist")
    path = data_dir / WORKSPACE_FILE
    if not path.is_file():
        return Verification(False, 0, f"the workspace {path} is missing")
    if not key_file.is_file():
        return Verification(False, 0, f"the audit key {key_file} is missing")
    key = load_key(key_file)
    ws = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        try:
            ws.execute("SELECT 1 FROM audit_log LIMIT 1").fetchall()
            ws.execute("SELECT 1 FROM audit_head LIMIT 1").fetchall()
        except sqlite3.DatabaseError:
            return Verification(False, 0, "the audit tables are missing from the workspace")
        return verify(ws, key, anchor=anchor)
    finally:
        ws.close()
