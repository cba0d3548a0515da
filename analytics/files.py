"""Writing files the way the product promises: owner-only from the moment they exist, never
through a symbolic link, and CSV cells a spreadsheet cannot run.

Every file Caseload Insight writes goes through :func:`write_private` or
:func:`open_private`; every directory through :func:`private_dir`. Files opened by DuckDB
and SQLite themselves are covered by :func:`private_umask`, which the CLI and the app set
once at start, so those are created 0600 too rather than chmod-ed afterwards.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

__all__ = [
    "FILE_MODE",
    "DIR_MODE",
    "SymlinkRefused",
    "csv_safe",
    "csv_safe_row",
    "open_private",
    "owner_only",
    "private_dir",
    "private_umask",
    "refuse_symlink",
    "write_private",
]

FILE_MODE = 0o600
DIR_MODE = 0o700

# A spreadsheet treats a cell starting with one of these as a formula (tab and CR too,
# which some strip before looking).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# A plain signed number is shown as a number, not evaluated: leave it as it is so a
# quarantined "-3" round-trips unchanged.
_PLAIN_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


class SymlinkRefused(OSError):
    """The path (or the last component of it) is a symbolic link; nothing was written."""


def refuse_symlink(path: str | os.PathLike[str]) -> Path:
    """Raise :class:`SymlinkRefused` if ``path`` is a symbolic link; return it as a Path."""
    p = Path(path)
    if p.is_symlink():
        raise SymlinkRefused(f"{p} is a symbolic link; refusing to write through it")
    return p


def private_umask() -> int:
    """Make files and directories this process creates owner-only; returns the old mask."""
    return os.umask(0o077)


@contextlib.contextmanager
def owner_only() -> Iterator[None]:
    """Files created inside (by DuckDB, SQLite) are owner-only from the start.

    The mask is process-wide; it only ever narrows, so another thread creating a file
    meanwhile gets a stricter mode, never a wider one.
    """
    old = os.umask(0o077)
    try:
        yield
    finally:
        os.umask(old)


def private_dir(path: str | os.PathLike[str]) -> Path:
    """Create a directory (and parents) 0700, refusing a symbolic link at ``path``."""
    p = refuse_symlink(path)
    old = os.umask(0o077)
    try:
        p.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
    finally:
        os.umask(old)
    return p


@contextlib.contextmanager
def open_private(
    path: str | os.PathLike[str],
    mode: str = "w",
    *,
    exclusive: bool = False,
    encoding: str | None = "utf-8",
    newline: str | None = None,
) -> Iterator[IO[Any]]:
    """Open a file for writing, created 0600 (``mode`` is ``w``, ``a``, ``wb`` or ``ab``).

    ``O_NOFOLLOW`` refuses a symbolic link at the path; ``exclusive`` refuses any existing
    file. An existing file of ours that is wider than 0600 is narrowed through the open
    descriptor, so there is no window in which a new file is readable by others.
    """
    p = Path(path)
    flags = os.O_WRONLY | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    flags |= os.O_APPEND if mode.startswith("a") else os.O_TRUNC
    if exclusive:
        flags |= os.O_EXCL
    try:
        fd = os.open(p, flags, FILE_MODE)
    except OSError as exc:
        if p.is_symlink():
            raise SymlinkRefused(f"{p} is a symbolic link; refusing to write through it") from None
        raise exc
    try:
        if os.fstat(fd).st_mode & 0o077:
            os.fchmod(fd, FILE_MODE)
        binary = "b" in mode
        fh = os.fdopen(
            fd,
            "ab" if binary and mode.startswith("a") else "wb" if binary else mode.replace("b", ""),
            encoding=None if binary else encoding,
            newline=None if binary else newline,
        )
    except BaseException:
        os.close(fd)
        raise
    with fh:
        yield fh


def write_private(
    path: str | os.PathLike[str],
    data: str | bytes,
    *,
    exclusive: bool = False,
    encoding: str = "utf-8",
) -> Path:
    """Write ``data`` to a file created 0600 (see :func:`open_private`)."""
    p = Path(path)
    with open_private(p, "wb" if isinstance(data, bytes) else "w", exclusive=exclusive,
                      encoding=encoding, newline="") as fh:  # fmt: skip
        fh.write(data)
    return p


def csv_safe(value: object) -> object:
    """A cell a spreadsheet shows as text: a leading ``= + - @``, tab or CR gets a ``'``.

    Only text is changed; numbers, and text that is just a signed number, are left alone.
    """
    if (
        isinstance(value, str)
        and value.startswith(_FORMULA_START)
        and not _PLAIN_NUMBER.fullmatch(value)
    ):
        return "'" + value
    return value


def csv_safe_row(row: dict[str, object]) -> dict[str, object]:
    """:func:`csv_safe` applied to every value of a CSV row."""
    return {k: csv_safe(v) for k, v in row.items()}
