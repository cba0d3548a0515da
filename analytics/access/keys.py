"""Secret keys kept in the data directory: made once, owner-only, never exported.

- ``pseudonym.key`` keys the hash that turns patient and clinician ids into pseudonyms.
- ``audit.key`` keys the audit trail's hash chain, so the chain cannot be recomputed by
  someone who can edit the workspace but cannot read the key.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from pathlib import Path

from analytics.files import refuse_symlink, write_private

__all__ = [
    "KEY_BYTES",
    "clinician_pseudonym",
    "keyed_hash",
    "load_key",
    "patient_pseudonym",
    "pseudonym_key",
]

KEY_BYTES = 32


def load_key(path: Path) -> bytes:
    """Read a key file, creating it (mode 0600) on first use.

    A symbolic link at ``path`` is refused (:class:`SymlinkRefused`): a key read through
    one is whatever file it names, and one written through it lands where the link
    points. A key kept elsewhere is named in the settings instead.
    """
    try:
        return bytes.fromhex(refuse_symlink(path).read_text(encoding="ascii").strip())
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = secrets.token_bytes(KEY_BYTES)
    # Exclusive: if two processes race to create it, one wins and the other reads that one.
    try:
        write_private(path, key.hex(), exclusive=True, encoding="ascii")
    except FileExistsError:
        return bytes.fromhex(refuse_symlink(path).read_text(encoding="ascii").strip())
    return key


def keyed_hash(key: bytes, value: str, *, prefix: str = "", length: int = 16) -> str:
    """A stable pseudonym for ``value``: HMAC-SHA256, hex, truncated, with a prefix."""
    digest = hmac.new(key, value.encode("utf-8"), hashlib.sha256).hexdigest()
    return prefix + digest[:length]


def patient_pseudonym(key: bytes, patient_id: str) -> str:
    """The pseudonymous key a patient is known by outside their care team."""
    return keyed_hash(key, f"patient:{patient_id}", prefix="P-")


def clinician_pseudonym(key: bytes, clinician_id: str) -> str:
    """The pseudonymous key a clinician is known by in aggregates and exports."""
    return keyed_hash(key, f"clinician:{clinician_id}", prefix="C-", length=10)


def pseudonym_key(root: Path) -> bytes:
    """The data directory's pseudonym key (created on first use, never exported)."""
    return load_key(root / "pseudonym.key")
