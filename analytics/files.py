"""Writing files the way the product promises: owner-only from the moment they exist, never
through a symbolic link, and CSV cells a spreadsheet cannot run.

Every file Caseload Insight writes goes through :func:`write_private` (a whole file at
once, optionally replacing the old one atomically) or :func:`open_private` (a stream, an
append, the lock file); every directory through :func:`private_dir`. Both create the file
with mode 0600 in the ``open`` call itself (``O_CREAT`` with the mode, never a chmod
afterwards, which would leave a window in which the file has the default mode) and with
``O_NOFOLLOW``. Files opened by DuckDB and SQLite themselves, which take no mode, are
covered by :func:`owner_only` (and :func:`private_umask`, which the CLI and the app set
once at start).
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
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

# open_private's modes: the open(2) flags beyond O_WRONLY/O_RDWR | O_CREAT. "r+" is read
# and write without truncating, created if missing (the pipeline lock keeps a note in it).
_MODES = {
    "w": os.O_WRONLY | os.O_TRUNC,
    "wb": os.O_WRONLY | os.O_TRUNC,
    "a": os.O_WRONLY | os.O_APPEND,
    "ab": os.O_WRONLY | os.O_APPEND,
    "r+": os.O_RDWR,
    "r+b": os.O_RDWR,
}

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
    """Open a file for writing, created 0600.

    ``mode`` is ``w``/``wb`` (truncate), ``a``/``ab`` (append) or ``r+``/``r+b`` (read and
    write, not truncated). ``O_NOFOLLOW`` refuses a symbolic link at the path;
    ``exclusive`` refuses any existing file. An existing file of ours that is wider than
    0600 (made by an earlier release) is narrowed through the open descriptor before
    anything is written to it.
    """
    if mode not in _MODES:
        raise ValueError(f"mode {mode!r}; expected one of {', '.join(_MODES)}")
    p = Path(path)
    flags = _MODES[mode] | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
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
            mode,
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
    replace: bool = False,
    encoding: str = "utf-8",
) -> Path:
    """Write ``data`` (text is written as is, no newline translation) to a file created
    0600, refusing a symbolic link at ``path`` (see :func:`open_private`).

    ``exclusive`` refuses an existing file. ``replace`` writes a new file beside ``path``,
    syncs it and renames it over ``path``, so a reader sees the old content or the new,
    never a part (``rename`` replaces a link itself, never its target, but a link at
    ``path`` is refused all the same: nothing of ours is a link).
    """
    if exclusive and replace:
        raise ValueError("a write is either exclusive or a replacement, not both")
    p = Path(path)
    mode = "wb" if isinstance(data, bytes) else "w"
    if not replace:
        with open_private(p, mode, exclusive=exclusive, encoding=encoding, newline="") as fh:
            fh.write(data)
        return p
    refuse_symlink(p)
    # A fresh random name, created exclusively: never another writer's file, never a link.
    tmp = p.with_name(f".{p.name}.{secrets.token_hex(4)}.tmp")
    try:
        with open_private(tmp, mode, exclusive=True, encoding=encoding, newline="") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, p)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
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
