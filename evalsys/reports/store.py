"""Report files on disk that always agree with their ``report`` rows.

The problem: a PDF is a file, its record a database row, and no operation writes both at
once. Renamed first, a kill before the commit leaves a file whose hash no row knows (the
web would serve it, the audit log would name another hash); committed first, a kill before
the rename leaves a row naming a file that is not there yet. So the row is the log and the
file follows it:

1. The PDF is written to a *part* beside its target, ``.UNIT.LANG.pdf.<sha16>.<random>.part``
   (the first 16 hex digits of the SHA-256 of the bytes written), flushed and fsynced, the
   directory too. The writer holds an exclusive ``flock`` on the part until it is done
   with it, so anyone can tell a live writer's part from a dead one's: the kernel drops the
   lock when the process dies, however it dies.
2. Under the directory's lock (``TERM/.lock``, ``flock``), the row (with that SHA-256) is
   committed, then the part renamed over the target and the directory fsynced.
3. :func:`settle` — at the start of every ``render_units`` run, and by the download
   route when a file does not match its row — takes the same lock and looks at each dead
   part: when the newest row naming its target has the part's hash and the target does
   not, the writer died between commit and rename, and the part is renamed into place
   (rolled forward); any other dead part is deleted.

Why that is enough: the lock makes "commit, rename" one step for every other writer and
for :func:`settle`, so renames happen in the order of the rows (ids are assigned inside
the lock). A kill before the commit leaves the old row and the old file (and a dead part,
deleted later); a kill after it leaves the new row and its part, fsynced before the commit,
which the next :func:`settle` installs. Either way the next run, or the next download, sees
a pair that agrees; a reader of the file in between sees the old file — whole, and the hash
of an earlier row. Should a commit's outcome be unknown (the connection lost during
COMMIT), the part is left for :func:`settle`, which decides by what the database says.

A part is claimed by a cleaner with a non-blocking ``flock``: it succeeds only when its
writer is gone. A writer locks its part right after creating it and checks that the part
still has a name (``st_nlink``), so a cleaner that took the part in that instant for a
dead one's costs the writer a retry, never a lost file.

``flock`` works across processes on one machine, and across hosts on NFS only with NFS
locking (NFSv4, or lockd for v3); see docs/reports.md.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import os
import re
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from logging import Logger
from pathlib import Path
from typing import Any, Protocol, TypeVar

from sqlmodel import Session, col, select

from evalsys.reports.models import Report

#: The directory lock's file name (kept: deleting a lock file others may hold is a race).
LOCK_NAME = ".lock"
Row = TypeVar("Row", bound="FileRow")
_PART = re.compile(r"^\.(?P<name>.+)\.(?P<sha>[0-9a-f]{16})\.[a-z0-9_]+\.part$")


def sha256_of(path: Path) -> str | None:
    """The file's SHA-256, or None when it is not there."""
    try:
        with path.open("rb") as handle:
            return hashlib.file_digest(handle, "sha256").hexdigest()
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return None


def read_verified(path: Path, sha256: str) -> bytes | None:
    """The file's bytes if their SHA-256 is ``sha256``, else None (missing or different).

    One read: the bytes returned are the bytes hashed, even if the file is replaced a
    moment later — what a caller serves is what the hash it records describes.
    """
    try:
        data = path.read_bytes()
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return None
    return data if hashlib.sha256(data).hexdigest() == sha256 else None


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def directory_lock(directory: Path) -> Iterator[None]:
    """Hold the directory's lock: commit-and-rename of one file, or :func:`settle`."""
    directory.mkdir(parents=True, exist_ok=True)
    fd = os.open(directory / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


@dataclass
class Part:
    """A complete, fsynced temporary copy of a file's next version, locked by its writer."""

    path: Path
    target: Path
    sha256: str
    size: int
    _fd: int | None = field(default=None, repr=False)

    def install(self) -> None:
        """Rename over the target (atomic), make the rename durable, let go of the part."""
        os.replace(self.path, self.target)
        _fsync_dir(self.target.parent)
        self.release()

    def discard(self) -> None:
        """Delete the part: it is not to become the file."""
        with suppress(FileNotFoundError):
            self.path.unlink()
        self.release()

    def release(self) -> None:
        """Let go of the part as it stands (a dead writer's, for :func:`settle` to decide)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def write_part(target: Path, data: bytes) -> Part:
    """Write ``data`` to a locked part beside ``target``, fsynced, its name durable."""
    directory = target.parent
    directory.mkdir(parents=True, exist_ok=True)
    sha = hashlib.sha256(data).hexdigest()
    while True:
        fd, name = tempfile.mkstemp(
            prefix=f".{target.name}.{sha[:16]}.", suffix=".part", dir=directory
        )
        fcntl.flock(fd, fcntl.LOCK_EX)  # blocks only while a cleaner holds it to delete it
        if os.fstat(fd).st_nlink:
            break
        os.close(fd)  # taken for a dead writer's part before we locked it: again
    part = Part(Path(name), target, sha, len(data), fd)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
        _fsync_dir(directory)
    except BaseException:
        part.discard()
        raise
    return part


def write_atomically(target: Path, data: bytes) -> None:
    """Replace ``target`` by ``data`` at once, for a file without a row: no reader ever
    sees half of it, and a writer killed half-way leaves the previous file."""
    part = write_part(target, data)
    try:
        part.install()
    except BaseException:
        part.discard()
        raise


def _claim(part: Path) -> int | None:
    """An open, locked descriptor of a dead writer's part; None while its writer lives (or
    when it is gone already)."""
    try:
        fd = os.open(part, os.O_RDWR)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as err:
        os.close(fd)
        if err.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            return None
        raise
    if not os.fstat(fd).st_nlink:  # renamed or deleted while we waited for nothing
        os.close(fd)
        return None
    return fd


@dataclass(frozen=True)
class Settled:
    installed: tuple[str, ...] = ()
    removed: int = 0


#: A table whose rows describe files as the ``report`` rows do: ``path``, ``sha256``, and
#: an ``id`` that grows with each rendering (reports, weekly bulletins).
FileRows = type[Any]


class FileRow(Protocol):
    """A row of such a table."""

    path: str
    sha256: str


def settle(session: Session, directory: Path, rows: FileRows = Report) -> Settled:
    """Finish what dead writers left in ``directory``: install a part whose row (in
    ``rows``' table) was committed, delete every other dead part. Parts of live writers are
    left alone.

    Ends the session's transaction first: the rows are read after the lock is taken.
    """
    directory = directory.resolve()
    if not directory.is_dir():
        return Settled()
    session.rollback()
    installed: list[str] = []
    removed = 0
    with directory_lock(directory):
        for part in sorted(directory.glob(".*.part")):
            fd = _claim(part)
            if fd is None:
                continue
            try:
                if _belongs(session, directory, part, rows):
                    # Ignored below: _belongs() matched the name.
                    target = directory / _PART.match(part.name)["name"]  # type: ignore[index]
                    os.replace(part, target)
                    _fsync_dir(directory)
                    installed.append(target.name)
                else:
                    part.unlink()
                    removed += 1
            finally:
                os.close(fd)
        session.rollback()
    return Settled(tuple(installed), removed)


def _belongs(session: Session, directory: Path, part: Path, rows: FileRows) -> bool:
    """Whether ``part`` is the file its target's newest row describes, and the target not."""
    found = _PART.match(part.name)
    if found is None:
        return False
    target = directory / found["name"]
    row = session.exec(
        select(rows).where(rows.path == str(target)).order_by(col(rows.id).desc()).limit(1)
    ).first()
    if row is None or not row.sha256.startswith(found["sha"]):
        return False
    return sha256_of(target) != row.sha256 and sha256_of(part) == row.sha256


def read_current(
    session: Session, newest: Callable[[], Row | None], rows: FileRows, log: Logger
) -> tuple[Row | None, bytes | None]:
    """The newest row (``newest()``) and its file's bytes — None unless they are the bytes
    the row describes. When they are not, perhaps a renderer was killed between recording
    and renaming: its directory is settled (:func:`settle`, which ends the session's read
    transaction; nothing was written yet) and the newest row read again. A folder this
    process may only read is logged and left as it is."""
    row = newest()
    if row is None:
        return None, None
    pdf = read_verified(Path(row.path), row.sha256)
    if pdf is None and Path(row.path).parent.is_dir():
        try:
            settle(session, Path(row.path).parent, rows)
        except OSError:
            log.exception("cannot settle %s", Path(row.path).parent)
        row = newest()
        pdf = read_verified(Path(row.path), row.sha256) if row is not None else None
    return row, pdf
