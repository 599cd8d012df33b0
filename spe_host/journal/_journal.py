"""Journal: the facade a host records through; every ``record`` only enqueues.

Theory of operation
-------------------
A :class:`Journal` is the host's observer (``spe_host.engine._observe``): the engine
tells it when a session begins and goes, when a run starts and ends, when a stop
ticket is requested and finished, and the service tells it who logged in or was
refused. Each of those calls builds a record and puts it on the writer's queue
(``_writer``); none touches the disk, so the trio loop never waits on it. Output
reaches the journal without the trio thread: a session's output buffer hands every
batch it appends to the sink :meth:`Journal.session_opened` gave it, from whichever
thread moved the batch.

:meth:`Journal.open` does the blocking part once - lock the file (``_lock``), open
it in WAL mode, migrate it (``_schema``), record the host and mark what the last one
left running as interrupted (``_store``), apply the retention (``_retention``) - and
starts the writer; the engine calls it from a worker thread. A journal that cannot be
written at open (a read-only file, a full disk) stays off for the host's life and says
why in :attr:`Journal.error`; the host runs on. A file another host holds, or one
from a newer spe_host, is refused: those are mistakes to fix, not faults to ride out.

**Required mode** (``required=True``, ``--journal-required``) fails closed: a run is
refused with :class:`~spe_host.JournalUnavailable` while the journal cannot write,
and a run that may start waits until its ``run_started`` row is committed, so no code
runs that the journal has not recorded. The wait is the writer's immediate flush,
bounded by ``commit_timeout``.

**Code** is recorded unless ``record_code=False`` (sessions that handle secrets): the
run's sha256 is recorded either way, so the trail still says which code ran. Values
are never recorded.
"""

from __future__ import annotations

import hashlib
import logging
import os
import sqlite3
import stat
import time
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path

from .._errors import JournalUnavailable
from .._model import ExecutionStatus, StopTicket
from ._lock import JournalLock, default_journal_path, private_file
from ._retention import prune
from ._schema import migrate
from ._store import Store
from ._writer import WAL_LIMIT, Commit, Record, Writer

__all__ = ["Journal"]

logger = logging.getLogger("spe_host.journal")

#: How often the retention and the size bound are applied, in seconds.
HOUSEKEEPING_INTERVAL = 60.0


class Journal:
    """A host's journal in SQLite (see ``docs/journal.md``).

    Pass one (or a path) to :func:`~spe_host.open_host` as ``journal=``; the host
    opens it and closes it.

    Args:
        path: The journal's file (None: ``$XDG_STATE_HOME/spe-host/NAME.journal.sqlite``
            for the host's name).
        required: Refuse runs that the journal cannot record (fail closed).
        record_code: Record each run's code text (its sha256 is recorded always).
        retention: Prune what is older than this many seconds (None: keep all).
        max_size: Keep the file's pages in use under this many bytes (None: no bound).
        commit_timeout: In required mode, how long a run waits for its row's commit.
    """

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        required: bool = False,
        record_code: bool = True,
        retention: float | None = None,
        max_size: int | None = None,
        commit_timeout: float = 10.0,
    ) -> None:
        self._wanted = None if path is None else Path(path)
        self.path: Path | None = self._wanted
        self.required = required
        self.record_code = record_code
        self.retention = retention
        self.max_size = max_size
        self.commit_timeout = commit_timeout
        self._open_error: str | None = None
        self._writer: Writer | None = None
        self._lock: JournalLock | None = None
        self._db: sqlite3.Connection | None = None
        self._streams: dict[str, int] = {}
        self._next_stream = 1

    # -- life --------------------------------------------------------------------------

    @property
    def error(self) -> str | None:
        """Why the journal cannot write now, or None when it can."""
        if self._open_error is not None:
            return self._open_error
        return None if self._writer is None else self._writer.error

    def open(self, host_name: str) -> None:
        """Lock, open, migrate and recover the journal; start the writer (blocking I/O).

        Raises:
            JournalUnavailable: Another host holds the journal.
            SpeError: The file was written by a newer spe_host.
        """
        path = self._wanted or default_journal_path(host_name)
        self.path = path
        try:
            private_file(path)
            mode = path.stat().st_mode
        except OSError as exc:
            self._unavailable(f"the journal {path} cannot be created: {exc}")
            return
        if not mode & stat.S_IWUSR:
            # Read-only on purpose: honoured even where the permission would not stop
            # us (root), so a journal marked read-only is never written.
            self._unavailable(
                f"the journal {path} cannot be written: it is read-only (mode {mode & 0o777:o})"
            )
            return
        lock = JournalLock(path)
        lock.acquire()
        self._lock = lock
        db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db = db
        try:
            migrate(db, str(path))  # first: a new file's page size cannot change in WAL mode
            db.execute("PRAGMA journal_mode = WAL")
            db.execute("PRAGMA synchronous = NORMAL")
            db.execute("PRAGMA wal_autocheckpoint = 0")  # the writer checkpoints (_writer)
            db.execute(f"PRAGMA journal_size_limit = {WAL_LIMIT}")
            store = Store(db, str(path))
            with store.transaction():
                interrupted = store.begin_host(host_name, os.getpid(), time.time())
            self._next_stream = db.execute(
                "SELECT COALESCE(MAX(id), 0) + 1 FROM streams"
            ).fetchone()[0]
        except sqlite3.Error as exc:
            self._unavailable(f"the journal {path} cannot be written: {exc}")
            return
        except BaseException:
            self.close()
            raise
        if interrupted:
            logger.info(
                "journal %s: %d run(s) of the last host marked interrupted", path, interrupted
            )
        housekeeping = (
            None
            if self.retention is None and self.max_size is None
            else partial(prune, retention=self.retention, max_size=self.max_size)
        )
        writer = Writer(store, housekeeping=housekeeping, every=HOUSEKEEPING_INTERVAL)
        if housekeeping is not None:
            writer.housekeep()
        writer.start()
        self._writer = writer

    def _unavailable(self, why: str) -> None:
        self._open_error = why
        logger.warning(
            "%s; %s",
            why,
            "every run is refused (--journal-required)"
            if self.required
            else "the host runs without a journal",
        )

    def close(self, timeout: float = 5.0) -> None:
        """Record the host's end, flush, and close (blocking I/O)."""
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.put(Record(partial(Store.end_host, at=time.time())))
            if not writer.close(timeout):
                # Its thread still commits on the connection: closing it, or letting
                # another host take the lock, would lose or interleave its rows.
                return
        if self._db is not None:
            self._db.close()
            self._db = None
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    # -- what the host records (the engine's Observer; trio thread unless said) ------

    def check_writable(self) -> None:
        """In required mode, raise unless the journal can record a run now.

        Raises:
            JournalUnavailable: It cannot (the message says why).
        """
        if self.required and self.error is not None:
            raise JournalUnavailable(
                f"the run was refused: the host requires its journal (--journal-required) "
                f"and {self.error}; nothing ran. Make the journal writable, or run the host "
                "without --journal-required"
            )

    def session_opened(self, session: str) -> Callable[[int, bytes], None] | None:
        """A session (instance) begins; returns the sink its output batches go to."""
        writer = self._writer
        if writer is None:
            return None
        stream = self._next_stream
        self._next_stream += 1
        self._streams[session] = stream
        writer.put(
            Record(partial(Store.open_stream, stream_id=stream, session=session, at=time.time()))
        )
        return partial(writer.put_output, stream)

    def session_closed(self, session: str, why: str, by: str | None) -> None:
        """A session went: ``why`` is ``removed``, ``expired`` or ``disposed``."""
        stream = self._streams.pop(session, None)
        if self._writer is None or stream is None:
            return
        self._writer.put(
            Record(
                partial(
                    Store.close_stream,
                    stream_id=stream,
                    session=session,
                    at=time.time(),
                    why=why,
                    by=by,
                )
            )
        )

    def run_started(
        self,
        *,
        session: str,
        run: str,
        code: str,
        filename: str | None,
        name: str | None,
        loop: bool,
        interactive: bool,
        started_at: float,
        by: str,
        connection: str | None,
        output_offset: int,
    ) -> Callable[[], Awaitable[None]] | None:
        """A run begins; in required mode, returns what to await before its code runs."""
        writer = self._writer
        stream = self._streams.get(session)
        if writer is None or stream is None:
            return None
        fields = {
            "session": session,
            "run": run,
            "name": name,
            "code": code if self.record_code else None,
            "code_sha256": hashlib.sha256(code.encode("utf-8", "surrogatepass")).hexdigest(),
            "filename": filename,
            "mode": "loop" if loop else "worker",
            "interactive": int(interactive),
            "principal": by,
            "connection": connection,
            "started_at": started_at,
            "output_start": output_offset,
        }
        commit = Commit() if self.required else None
        writer.put(Record(partial(Store.run_started, stream_id=stream, fields=fields), commit))
        if commit is None:
            return None
        return partial(self._committed, commit, run)

    async def _committed(self, commit: Commit, run: str) -> None:
        error = await commit.wait(self.commit_timeout)
        if error is not None:
            raise JournalUnavailable(
                f"run {run} was refused: the host requires its journal (--journal-required) "
                f"and {error}; nothing of it ran"
            )

    def run_finished(
        self,
        *,
        session: str,
        run: str,
        status: ExecutionStatus,
        error: str | None,
        finished_at: float,
        output_end: int,
    ) -> None:
        """A run ended."""
        stream = self._streams.get(session)
        if self._writer is None or stream is None:
            return
        self._writer.put(
            Record(
                partial(
                    Store.run_finished,
                    stream_id=stream,
                    session=session,
                    run=run,
                    status=status.value,
                    error=error,
                    at=finished_at,
                    output_end=output_end,
                )
            )
        )

    def ticket_changed(self, ticket: StopTicket) -> None:
        """A stop was requested, or the run it stopped ended (the ticket as it is now).

        Only the frozen ticket is queued: its row is made in the writer's thread, off
        the path of the stop's answer.
        """
        stream = self._streams.get(ticket.session)
        if self._writer is None or stream is None:
            return
        self._writer.put(Record(partial(_store_ticket, stream_id=stream, ticket=ticket)))

    def auth(self, *, who: str, ok: bool, role: str | None, how: str, detail: str | None) -> None:
        """Someone logged in (``ok``) or was refused; ``how``: ``unix``, ``token``, ``http``."""
        if self._writer is None:
            return
        info = {"role": role, "how": how, "detail": detail}
        self._writer.put(Record(partial(Store.auth, at=time.time(), ok=ok, who=who, detail=info)))


def _store_ticket(store: Store, *, stream_id: int, ticket: StopTicket) -> None:
    row = {
        "id": ticket.id,
        "session": ticket.session,
        "run": ticket.run,
        "requested_at": ticket.requested_at,
        "requested_by": ticket.requested_by,
        "reason": ticket.reason,
        "phase": ticket.phase.value,
        "landed_at": ticket.landed_at,
        "landed_time": ticket.landed_time,
        "finished_at": ticket.finished_at,
        "status": None if ticket.status is None else ticket.status.value,
        "forced_at": ticket.forced_at,
        "note": ticket.note,
    }
    at = ticket.finished_at if ticket.finished_at is not None else ticket.requested_at
    store.ticket(stream_id, row, at)
