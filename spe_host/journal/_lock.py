"""One journal, one host: an exclusive ``flock`` on ``PATH.lock``, and where journals live.

Theory of operation
-------------------
Two hosts writing one journal would interleave their chains and mark each other's
running runs "interrupted". So a host takes ``fcntl.flock(LOCK_EX | LOCK_NB)`` on
``PATH.lock`` when it opens the journal and holds it for its life; the kernel drops
the lock when the process dies, however it dies, so a ``kill -9`` never leaves a
stale lock behind. The holder writes its pid into the file, so the second host's
error names it. Readers (``spe-host runs``, ``audit``) take no lock: they open the
database read-only, and SQLite's WAL lets them read while the host writes.

The default journal is ``$XDG_STATE_HOME/spe-host/NAME.journal.sqlite`` (else
``~/.local/state/...``): the state directory survives a reboot, unlike the runtime
directory, and is the one the REPL keeps its history in. The directory is made
0700 and the files 0600: code and output can hold secrets.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
from pathlib import Path

from .._errors import JournalUnavailable

__all__ = ["JournalLock", "default_journal_path", "private_file"]

_UNSAFE = re.compile(r"[^A-Za-z0-9_.@+-]")


def default_journal_path(name: str) -> Path:
    """Where the journal of the host called ``name`` lives by default."""
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(
        os.path.expanduser("~"), ".local", "state"
    )
    # One path component, short enough for any filesystem (as the REPL's history files).
    safe = (_UNSAFE.sub("_", name).strip(".") or "_")[:120]
    return Path(base) / "spe-host" / f"{safe}.journal.sqlite"


def private_file(path: Path) -> None:
    """Make ``path``'s directory (0700, if missing) and the file itself 0600.

    A journal holds code and output: an existing file that others may read is made
    private (its ``-wal`` and ``-shm`` files take its mode), if it is ours.
    """
    if not path.parent.exists():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    if not path.exists():
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
    info = path.stat()
    if info.st_mode & 0o077 and info.st_uid == os.getuid():
        os.chmod(path, info.st_mode & 0o700)


class JournalLock:
    """The exclusive lock of one journal, held from :meth:`acquire` to :meth:`release`."""

    def __init__(self, journal: Path) -> None:
        self.path = journal.with_name(journal.name + ".lock")
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock, or say which process holds it.

        Raises:
            JournalUnavailable: Another process holds it.
        """
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            journal = self.path.with_name(self.path.name.removesuffix(".lock"))
            raise JournalUnavailable(
                f"the journal {journal} is in use by another host (pid {holder}); two hosts "
                "cannot share one journal: give this one its own with --journal PATH (or "
                "another --name), or stop the other host"
            ) from None
        except BaseException:
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        """Let the lock go (closing the file does)."""
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, 0)
            os.close(self._fd)
            self._fd = None
