"""Who may see what. Every read in :mod:`analytics.views` takes an :class:`Actor` and goes
through these checks, so no page, CLI verb or future API can skip them.

- therapist: their own active patients, with names and message text;
- manager: aggregates for their sites, small cells suppressed, no names or free text;
- researcher: pseudonymous ids, no free text, dates as days since enrolment;
- admin: data operations (ingest history, quarantine, counts), no patient views.

A denied read raises :class:`AccessDenied` and is recorded in the audit trail.

Deactivation (``clinicians.active = false``) takes effect at the next request, not the
next refresh: ingest copies each clinician's active flag into the workspace
(``clinician_status``), and every check here reads it there. The workspace is the store
that is live and safe to read while a pipeline run holds the warehouse; the snapshot
would lag until the next refresh.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

import duckdb

from analytics.access import audit_trail
from analytics.access.keys import clinician_pseudonym, load_key, patient_pseudonym, pseudonym_key
from analytics.data.store import DataDir, open_snapshot, open_workspace
from analytics.settings import Settings, audit_anchor_path, audit_key_path

__all__ = [
    "EMAIL_FOLD_SQL",
    "AccessDenied",
    "Actor",
    "Context",
    "Role",
    "UnknownUser",
    "actor_for_clinician",
    "actor_for_email",
    "deactivated",
    "fold_email",
    "lookup_email",
    "require_own_patient",
    "require_role",
]

# Emails are compared with case and every space removed, the same fold ingest uses to
# keep them unique.
EMAIL_FOLD_SQL = "lower(regexp_replace({}, '\\s', '', 'g'))"


def fold_email(email: str) -> str:
    return "".join(email.split()).lower()


class Role(StrEnum):
    THERAPIST = "therapist"
    MANAGER = "manager"
    RESEARCHER = "researcher"
    ADMIN = "admin"


@dataclass(frozen=True)
class Actor:
    """A signed-in person: who they are, their role and their scope."""

    user: str  # email or clinician id; recorded in the audit trail
    role: Role
    clinician_id: str | None = None
    sites: frozenset[str] = field(default_factory=frozenset)


class AccessDenied(PermissionError):
    """The actor may not read this; the attempt has been recorded."""


class UnknownUser(LookupError):
    """A signed-in email that matches no clinician."""


@dataclass
class Context:
    """The open stores and keys that every read needs; one per app session or CLI run."""

    settings: Settings
    snapshot: duckdb.DuckDBPyConnection
    workspace: sqlite3.Connection
    pseudonym_key: bytes
    audit_key: bytes
    snapshot_id: str
    # Signed checkpoints of the audit chain are appended here (see analytics.access.audit_trail).
    audit_anchor: Path | None = None
    # Set by the CLI: the operating-system account that ran the command, recorded on every
    # audit entry next to the identity it claimed with --as.
    os_user: str | None = None

    @classmethod
    def open(
        cls, settings: Settings, *, check_same_thread: bool = True, os_user: str | None = None
    ) -> Context:
        """Open the serving snapshot (read-only) and the workspace.

        ``check_same_thread=False`` lets a caller that runs its steps on different threads
        (but never at once, like a Streamlit session) use the workspace connection.
        """
        data_dir = DataDir(settings.data_dir)
        info, snapshot = open_snapshot(data_dir, settings=settings)
        return cls(
            settings=settings,
            snapshot=snapshot,
            workspace=open_workspace(data_dir, check_same_thread=check_same_thread),
            pseudonym_key=pseudonym_key(data_dir.root),
            audit_key=load_key(audit_key_path(settings)),
            snapshot_id=info.snapshot_id,
            audit_anchor=audit_anchor_path(settings),
            os_user=os_user,
        )

    def close(self) -> None:
        self.snapshot.close()
        self.workspace.close()

    def pseudonym(self, patient_id: str) -> str:
        """The patient's pseudonymous key (stable for this data directory)."""
        return patient_pseudonym(self.pseudonym_key, patient_id)

    def clinician_pseudonym(self, clinician_id: str) -> str:
        return clinician_pseudonym(self.pseudonym_key, clinician_id)

    def record(
        self,
        actor: Actor,
        action: str,
        *,
        target: str | None = None,
        patient_id: str | None = None,
        outcome: str = "allowed",
        detail: str | None = None,
    ) -> None:
        """Append to the audit trail; a patient appears only as their pseudonym."""
        audit_trail.record(
            self.workspace,
            self.audit_key,
            actor=actor.user if self.os_user is None else f"{actor.user} via cli:{self.os_user}",
            role=actor.role.value,
            action=action,
            target=target,
            patient_key=self.pseudonym(patient_id) if patient_id else None,
            outcome=outcome,
            detail=detail,
            anchor=self.audit_anchor,
        )


def deactivated(ctx: Context, clinician_id: str | None) -> bool:
    """Whether the clinician is deactivated now (the workspace copy ingest keeps live)."""
    if clinician_id is None:
        return False
    row = ctx.workspace.execute(
        "SELECT active FROM clinician_status WHERE clinician_id = ?", [clinician_id]
    ).fetchone()
    return row is not None and row[0] == "false"


def actor_for_email(ctx: Context, email: str) -> Actor:
    """Map a signed-in email to a clinician and role via the clinicians table.

    Emails match ignoring case and spaces. Two clinicians matching one email (possible
    only in data ingested before emails were kept unique) match nobody, rather than
    whichever row comes first; a deactivated clinician matches nobody either.
    """
    actor = lookup_email(ctx.snapshot, email)
    if deactivated(ctx, actor.clinician_id):
        raise UnknownUser("this account has been deactivated; ask an administrator")
    return actor


def lookup_email(con: duckdb.DuckDBPyConnection, email: str) -> Actor:
    """The one clinician whose email folds to ``email`` in ``con``'s clinicians table."""
    try:
        rows = con.execute(
            "SELECT clinician_id, role, site_id, "
            "coalesce(CAST(active AS VARCHAR), 'true') FROM clinicians WHERE "
            f"{EMAIL_FOLD_SQL.format('email')} = ?",
            [fold_email(email)],
        ).fetchall()
    except duckdb.BinderException:  # a store made before clinicians.active existed
        rows = con.execute(
            "SELECT clinician_id, role, site_id, 'true' FROM clinicians WHERE "
            f"{EMAIL_FOLD_SQL.format('email')} = ?",
            [fold_email(email)],
        ).fetchall()
    if len(rows) != 1:
        raise UnknownUser(
            "this sign-in is not linked to anyone in this clinic; ask an administrator to "
            "add your email to the clinicians list"
            + (" (it matches more than one clinician)" if rows else "")
        )
    clinician_id, role, site, active = rows[0]
    if active == "false":
        raise UnknownUser("this account has been deactivated; ask an administrator")
    return Actor(user=email, role=Role(role), clinician_id=clinician_id, sites=frozenset([site]))


def actor_for_clinician(ctx: Context, clinician_id: str) -> Actor:
    """The actor for a clinician id (demo mode and the CLI)."""
    row = ctx.snapshot.execute(
        "SELECT clinician_id, role, site_id, coalesce(email, clinician_id) FROM clinicians WHERE clinician_id = ?",
        [clinician_id],
    ).fetchone()
    if row is None:
        raise UnknownUser(f"no clinician {clinician_id!r} in this clinic")
    return Actor(user=row[3], role=Role(row[1]), clinician_id=row[0], sites=frozenset([row[2]]))


def require_role(ctx: Context, actor: Actor, *roles: Role, action: str) -> None:
    """Refuse (and record) unless the actor has one of ``roles`` and is still active."""
    if deactivated(ctx, actor.clinician_id):
        ctx.record(actor, action, outcome="denied", detail="deactivated")
        raise AccessDenied("this account has been deactivated; ask an administrator")
    if actor.role not in roles:
        ctx.record(actor, action, outcome="denied", detail=f"role {actor.role.value} not allowed")
        allowed = ", ".join(r.value for r in roles)
        raise AccessDenied(
            f"{action} is for {allowed} only; you are signed in as {actor.role.value}"
        )


def require_own_patient(ctx: Context, actor: Actor, patient_id: str, *, action: str) -> None:
    """Refuse (and record) unless the patient is one of the therapist's active patients.

    The same message is given whether the patient exists or not, so probing ids reveals
    nothing.
    """
    require_role(ctx, actor, Role.THERAPIST, action=action)
    row = ctx.snapshot.execute(
        "SELECT 1 FROM patient_summary WHERE patient_id = ? AND clinician_id = ? AND active",
        [str(patient_id), actor.clinician_id],
    ).fetchone()
    if row is None:
        ctx.record(
            actor, action, patient_id=str(patient_id), outcome="denied", detail="not on caseload"
        )
        raise AccessDenied("this patient is not on your active caseload")
