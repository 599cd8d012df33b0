"""The timed flush: output that a running script leaves in its stream reaches the buffer.

Theory of operation
-------------------
A script's ``print`` runs no Python code of spe_host (``_batch``): its text waits in
the session's C-level stream until 8 KiB have gathered, and the move into the output
buffer, where readers and the wake-up of followers are, happens there. A job that
prints one short line and then sleeps in a C call, or spins, would keep that line
forever; the writer cannot hand it over itself, blocked or not, without paying for
a Python call on every write. So someone else flushes its stream on a clock.

That someone is a thread, not a trio task: the trio thread may be the one held (a
loop-mode statement), and a trio timer would tick on the run's clock, which tests
move by hand. The thread is one per process, like the stream proxies it serves (the
standard streams are process-wide already), and it only runs while it has work:
each run marks its session's buffer *live* for its duration (:meth:`Flusher.add`),
and while any buffer is live the thread flushes them all every
:data:`FLUSH_INTERVAL` seconds. When the last run ends it keeps its clock for a
short grace, so a steady stream of short runs does not wake it once per run, and
then sleeps on a condition until the next run begins - an idle host costs nothing.

A flush from this thread and a write from the script's thread meet only inside the
C stream, under the interpreter lock; the chunk it yields joins the buffer under the
buffer's lock, in order (``_batch`` says why the order holds). The delay a follower
sees is at most the interval, plus however long this thread waits for the
interpreter: the interpreter's switch interval when one other thread spins.

A buffer whose flush fails does not stop the thread: the failure is logged (once
for each buffer while it stays live) and the thread goes on with the others, so
one session cannot stop the output of every other. (A script that detaches its
stream does not make the flush fail at all: ``_batch`` opens a fresh one.)
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Protocol

__all__ = ["FLUSH_INTERVAL", "Flushable", "Flusher", "flusher"]

logger = logging.getLogger("spe_host")

#: Seconds between two flushes of a running script's output stream.
FLUSH_INTERVAL = 0.01
# Seconds the thread keeps its clock after the last run ended, before it sleeps.
_GRACE = 1.0


class Flushable(Protocol):
    """What the flusher flushes: an output buffer whose stream may hold text."""

    def flush(self) -> None:
        """Move what the stream holds into the buffer (any thread)."""


class Flusher:
    """Flushes the buffers of running scripts on a clock, from a thread of its own.

    Args:
        interval: Seconds between two flushes.
        grace: Seconds it keeps ticking once nothing is live, before it sleeps.
    """

    def __init__(self, interval: float = FLUSH_INTERVAL, grace: float = _GRACE) -> None:
        self.interval = interval
        self.grace = grace
        self.ticks = 0  # how many rounds it has flushed (tests read it)
        self._wake = threading.Condition()
        self._live: dict[Flushable, int] = {}
        self._failed: set[Flushable] = set()  # logged already, while live
        self._asleep = True
        self._thread: threading.Thread | None = None

    def add(self, buffer: Flushable) -> None:
        """Flush ``buffer`` on the clock until a matching :meth:`discard` (counted)."""
        with self._wake:
            self._live[buffer] = self._live.get(buffer, 0) + 1
            if self._thread is None or not self._thread.is_alive():
                # Started on first use (and again in a forked child, where the
                # parent's thread does not exist).
                self._asleep = False
                self._thread = threading.Thread(
                    target=self._run, name="spe output flusher", daemon=True
                )
                self._thread.start()
            elif self._asleep:
                self._asleep = False
                self._wake.notify()

    def discard(self, buffer: Flushable) -> None:
        """Undo one :meth:`add` of ``buffer``."""
        with self._wake:
            left = self._live.get(buffer, 0) - 1
            if left > 0:
                self._live[buffer] = left
            else:
                self._live.pop(buffer, None)
                self._failed.discard(buffer)

    def _run(self) -> None:
        idle_since: float | None = None
        while True:
            with self._wake:
                if self._live:
                    idle_since = None
                elif idle_since is None:
                    idle_since = time.monotonic()
                elif time.monotonic() - idle_since > self.grace:
                    self._asleep = True
                    while self._asleep:
                        self._wake.wait()
                    idle_since = None
            time.sleep(self.interval)
            with self._wake:
                buffers = list(self._live)
            for buffer in buffers:
                try:
                    buffer.flush()
                except Exception:
                    self._failing(buffer)
            self.ticks += 1

    def _failing(self, buffer: Flushable) -> None:
        with self._wake:
            if buffer in self._failed or buffer not in self._live:
                return
            self._failed.add(buffer)
        logger.exception(
            "flushing a running script's output failed; its output waits for the next "
            "read, the other sessions' output goes on"
        )


_flusher = Flusher()


def flusher() -> Flusher:
    """The process's flusher."""
    return _flusher
