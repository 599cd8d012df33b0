"""The journal's one writer thread: a queue of records, one transaction per flush.

Theory of operation
-------------------
Recording never waits on disk: the :class:`~spe_host.journal.Journal` only appends
records to a deque (from the trio thread, or from whichever thread moved a batch of
output), and does not wake this thread for it: a wake-up per record would cost the
recording thread a thread switch each time, more than the record itself. This thread
wakes once per :data:`FLUSH_INTERVAL`, or when woken for a reason below, and writes
what has come in one transaction, so a commit is paid once per batch, not per run or
per ``print``.

**The flush bound.** What has come in is committed at most :data:`FLUSH_INTERVAL`
(1 s) after it came, or as soon as :data:`FLUSH_BYTES` (64 KiB) of output wait,
whichever is first - and at once when someone waits for the commit (a run under
``--journal-required``) or the journal closes. So a host killed at any moment loses
at most the last second, or the last 64 KiB, of output and records (plus what one
flush in progress holds).

**Checkpoints.** SQLite's WAL holds every commit until a checkpoint copies it into
the database file; by default every commit past 4 MiB of WAL does one, so a job
printing fast would pay for its output twice while it prints. The journal turns that
off and checkpoints itself, in this thread, when a second has passed with nothing to
write, or once the WAL passes :data:`WAL_LIMIT`, and at close.

Adjacent chunks of one stream are merged (up to :data:`FLUSH_BYTES` a row) before
they are written, so a job printing short lines makes few rows.

**Failure.** A flush that fails (disk full, a read-only file) rolls back; its records
are lost, the journal's ``error`` says why (logged once, and again when it recovers),
and a waiter is told, so a required run is refused. Later flushes try again.

**Memory.** Output waiting for the writer is bounded (:data:`MAX_QUEUED`): past it,
chunks are dropped and counted rather than letting a disk that cannot keep up grow
the host's memory; the log says how many bytes the journal missed.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable

import trio

from ._store import Store

__all__ = [
    "FLUSH_BYTES",
    "FLUSH_INTERVAL",
    "MAX_QUEUED",
    "WAL_LIMIT",
    "Commit",
    "Record",
    "Writer",
]

#: The longest a record waits before it is committed, in seconds.
FLUSH_INTERVAL = 1.0
#: Output that makes a flush at once, in bytes (also the largest merged row).
FLUSH_BYTES = 64 * 1024
#: The most output bytes that may wait for the writer; more is dropped (and logged).
MAX_QUEUED = 64 * 1024 * 1024
#: The WAL size past which the writer checkpoints even while busy.
WAL_LIMIT = 64 * 1024 * 1024

logger = logging.getLogger("spe_host.journal")

#: One chunk of output: ``(stream id, offset, time, bytes)``.
Chunk = tuple[int, int, float, bytes]


class Commit:
    """A trio task's wait for the flush that writes one record (``--journal-required``).

    Made in the trio thread; the writer thread reports through the trio token.
    """

    def __init__(self) -> None:
        self._token = trio.lowlevel.current_trio_token()
        self._event = trio.Event()
        self.error: str | None = None

    def done(self, error: str | None) -> None:
        """The flush committed (``error`` None) or failed; from the writer thread."""
        self.error = error
        with contextlib.suppress(trio.RunFinishedError):
            self._token.run_sync_soon(self._event.set)

    async def wait(self, timeout: float) -> str | None:
        """Wait for the flush; its error, or a sentence if it took longer than ``timeout``."""
        with trio.move_on_after(timeout):
            await self._event.wait()
            return self.error
        return f"the journal did not commit within {timeout:g} s"


class Record:
    """One write for the store, and who waits for its commit (if anyone)."""

    __slots__ = ("apply", "commit")

    def __init__(self, apply: Callable[[Store], None], commit: Commit | None = None) -> None:
        self.apply = apply
        self.commit = commit


class Writer:
    """The writer thread (see the module docstring).

    Args:
        store: The write side; used by this thread only once it starts.
        housekeeping: Run in this thread after a flush, every ``every`` seconds
            (retention); None for none.
        every: Seconds between two housekeeping runs.
    """

    def __init__(
        self,
        store: Store,
        *,
        housekeeping: Callable[[Store], None] | None = None,
        every: float = 3600.0,
    ) -> None:
        self.store = store
        self.error: str | None = None
        self.dropped = 0
        # deque.append and popleft are atomic: no lock between recorders and this thread.
        self._items: deque[Record | Chunk] = deque()
        self._wake = threading.Event()
        self._closing = False
        self._queued = 0  # output bytes waiting, and those since the last flush
        self._unflushed = 0
        self._queued_lock = threading.Lock()
        self._wal = f"{store.path}-wal"
        self._dirty = False  # commits since the last checkpoint
        self._housekeeping = housekeeping
        self._every = every
        self._next_housekeeping = time.monotonic() + every
        self._thread = threading.Thread(target=self._main, name="spe journal writer", daemon=True)

    def start(self) -> None:
        """Start the thread."""
        self._thread.start()

    def put(self, record: Record) -> None:
        """Queue a record (any thread; never blocks); a waited-for one is flushed at once."""
        self._items.append(record)
        if record.commit is not None:
            self._wake.set()

    def put_output(self, stream: int, offset: int, data: bytes) -> None:
        """Queue a chunk of output (any thread; never blocks; dropped past the bound)."""
        with self._queued_lock:
            if self._queued + len(data) > MAX_QUEUED:
                self.dropped += len(data)
                return
            self._queued += len(data)
            self._unflushed += len(data)
            full = self._unflushed >= FLUSH_BYTES
        self._items.append((stream, offset, time.time(), data))
        if full:
            self._wake.set()

    def close(self, timeout: float) -> bool:
        """Flush what is queued and end the thread (waits up to ``timeout``).

        Returns:
            True if the thread ended; False if it is still writing (then its
            connection must stay open: it is using it).
        """
        self._closing = True
        self._wake.set()
        self._thread.join(timeout)
        if self._thread.is_alive():
            logger.warning(
                "the journal writer did not finish within %g s; the journal stays open "
                "(and locked) until it does or the process ends",
                timeout,
            )
            return False
        return True

    # -- the thread ---------------------------------------------------------------------

    def _main(self) -> None:
        while True:
            self._wake.wait(FLUSH_INTERVAL)
            self._wake.clear()
            closing = self._closing  # read first: what came before the close is taken
            records: list[Record] = []
            chunks: list[Chunk] = []
            items = self._items
            while items:
                item = items.popleft()
                if isinstance(item, Record):
                    records.append(item)
                else:
                    chunks.append(item)
            if records or chunks:
                size = sum(len(chunk[3]) for chunk in chunks)
                with self._queued_lock:
                    self._unflushed -= size
                self._flush(records, chunks)
                with self._queued_lock:
                    self._queued -= size
                if self._wal_size() > WAL_LIMIT:
                    self._checkpoint("PASSIVE")
            elif self._dirty:
                self._checkpoint("PASSIVE")  # a quiet second
            if closing:
                self._checkpoint("TRUNCATE")
                return
            if self._housekeeping is not None and time.monotonic() >= self._next_housekeeping:
                self.housekeep()

    def _wal_size(self) -> int:
        try:
            return os.stat(self._wal).st_size
        except OSError:
            return 0

    def _checkpoint(self, mode: str) -> None:
        try:
            self.store.db.execute(f"PRAGMA wal_checkpoint({mode})")
        except sqlite3.Error as exc:
            logger.warning("the journal could not checkpoint %s: %s", self.store.path, exc)
        self._dirty = False

    def housekeep(self) -> None:
        """Run the housekeeping now (the writer's thread, or before it starts)."""
        assert self._housekeeping is not None
        self._next_housekeeping = time.monotonic() + self._every
        try:
            self._housekeeping(self.store)
        except sqlite3.Error as exc:
            logger.warning("the journal's retention could not prune: %s", exc)

    def _flush(self, records: list[Record], chunks: list[Chunk]) -> None:
        store = self.store
        error: str | None = None
        try:
            with store.transaction():
                for record in records:
                    record.apply(store)
                if chunks:
                    store.output(_merged(chunks))
                store.seen(time.time())
        except Exception as exc:
            # sqlite3.Error (disk full, a read-only file) or a bug: either way the
            # records are lost and the journal says so, but the thread lives on.
            error = f"the journal could not write to {store.path}: {exc}"
            if not isinstance(exc, sqlite3.Error):
                logger.exception("the journal's writer failed")
        else:
            self._dirty = True
        if error != self.error:
            if error is not None:
                logger.warning("%s; records are lost until it can write again", error)
            else:
                logger.warning("the journal writes again")
        self.error = error
        for record in records:
            if record.commit is not None:
                record.commit.done(error)
        if self.dropped:
            logger.warning("the journal fell behind and missed %d bytes of output", self.dropped)
            self.dropped = 0


def _merged(chunks: list[Chunk]) -> list[Chunk]:
    # Chunks of one stream come in offset order; adjacent ones join, up to FLUSH_BYTES.
    out: list[Chunk] = []
    parts: dict[int, tuple[int, float, list[bytes], int]] = {}
    for stream, offset, at, data in chunks:
        open_ = parts.get(stream)
        if open_ is not None:
            start, first_at, pieces, length = open_
            if start + length == offset and length + len(data) <= FLUSH_BYTES:
                pieces.append(data)
                parts[stream] = (start, first_at, pieces, length + len(data))
                continue
            out.append((stream, start, first_at, b"".join(pieces)))
        parts[stream] = (offset, at, [data], len(data))
    out.extend((stream, start, at, b"".join(p)) for stream, (start, at, p, _) in parts.items())
    return out
