"""What an ingest run reports: a refused file, one file's summary, the whole run."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

__all__ = ["FileRejected", "FileSummary", "IngestResult", "reason_counts", "rejected"]


class FileRejected(Exception):
    """A file-level problem: the whole file is refused and nothing from it is written."""


@dataclass
class FileSummary:
    """What happened to one file."""

    file: str
    table: str | None
    status: str  # stored | rejected | skipped | not written
    rows_read: int = 0
    stored: int = 0
    updated: int = 0
    duplicates: int = 0
    quarantined: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    extra_columns: tuple[str, ...] = ()
    message: str | None = None
    sha256: str | None = None
    seconds: float = 0.0


@dataclass
class IngestResult:
    """A whole ``caseload ingest`` run."""

    run_id: int | None
    strict: bool
    files: list[FileSummary]

    @property
    def exit_code(self) -> int:
        """2 if a file was rejected, 1 if ``--strict`` stopped the batch, else 0."""
        if any(f.status == "rejected" for f in self.files):
            return 2
        if self.strict and any(f.quarantined for f in self.files):
            return 1
        return 0


def rejected(file: str, table: str | None, message: str) -> FileSummary:
    """The summary of a file refused before anything was read from it."""
    return FileSummary(file=file, table=table, status="rejected", message=message)


def reason_counts(summaries: Iterable[FileSummary]) -> Counter[str]:
    """Quarantine reasons across files, for a run's closing line."""
    total: Counter[str] = Counter()
    for s in summaries:
        total.update(s.reasons)
    return total
