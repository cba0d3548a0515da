"""Who may see what. Every read in :mod:`analytics.views` takes an :class:`Actor` and goes
through these checks, so no page, CLI verb or future API can skip them.

- therapist: their own active patients, with names and message text;
- manager: aggregates for their sites, small cells suppressed, no names or free text;
- researcher: pseudonymous ids, no free text, dates as days since enrolment;
- admin: data operations (ingest history, quarantine, counts), no patient views.

A denied read raises :class:`AccessDenied` and is recorded in the audit trail.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from enum import StrEnum

import duckdb

from analytics import audit
from analytics.keys import clinician_pseudonym, patient_pseudonym, pseudonym_key
from analytics.settings import Settings
from analytics.store import DataDir, open_snapshot, open_workspace


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

    @classmethod
    def open(cls, settings: Settings, *, check_same_thread: bool = True) -> Context:
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
            audit_key=audit.audit_key(data_dir.root),
            snapshot_id=info.snapshot_id,
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
        audit.record(
            self.workspace,
            self.audit_key,
            actor=actor.user,
            role=actor.role.value,
            action=action,
            target=target,
            patient_key=self.pseudonym(patient_id) if patient_id else None,
            outcome=outcome,
            detail=detail,
        )


def actor_for_email(ctx: Context, email: str) -> Actor:
    """Map a signed-in email to a clinician and role via the clinicians table."""
    row = ctx.snapshot.execute(
        "SELECT clinician_id, role, site_id FROM clinicians WHERE lower(trim(email)) = lower(trim(?))",
        [email],
    ).fetchone()
    if row is None:
        raise UnknownUser(
            "this sign-in is not linked to anyone in this clinic; ask an administrator to "
            "add your email to the clinicians list"
        )
    clinician_id, role, site = row
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
    """Refuse (and record) unless the actor has one of ``roles``."""
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
