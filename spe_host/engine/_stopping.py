"""A run's stop: its ticket, its stop-deferral zones, and its escalation (``force``).

Theory of operation
-------------------
A :class:`RunStop` belongs to one execution. It holds the run's stop ticket (made
on the first request; a repeated request gets the same one), the messages of the
abort ("session 'etl' run #7 was stopped by uid 1000 (pid 4242): bad input file"),
and the two things that bend where a stop lands:

* **Deferral zones** (``with spe.critical("committing batch 12"):``). While a zone
  is open the abort check stays quiet and a stop does not cancel the run's awaits;
  the ticket shows the *outermost* zone's reason in ``deferred`` (the one that
  explains the whole wait). The stop lands at the first check after the outermost
  zone closes: the next statement.
* **Escalation** (``force``). The cooperative stop lands only where the
  instrumented script runs; a loop inside an uninstrumented Python library never
  meets a check. ``force`` raises ``ScriptAborted`` asynchronously in the session's
  thread (``PyThreadState_SetAsyncExc``): CPython delivers it at the thread's next
  bytecode boundary, so a pure-Python loop stops at once, while a C call (a
  ``time.sleep``, a blocking ``recv``) still finishes first. It lands wherever the
  thread is, possibly inside a library's own cleanup, which is why it is opt-in.

An injected exception must never land where it cannot be handled. It is injected
only while the session's thread runs the script's synchronous statements (not in
loop mode, where that thread is the trio thread; not while a statement awaits in
the trio thread, or the thread waits in ``spe.run``/``input()``), never inside a
zone and never once the stop has landed. One lock orders the injection against
the thread's own moves (landing, entering a zone or a hop to the trio thread,
finishing); each of those first withdraws an injected exception that has not
fired yet (``SetAsyncExc`` with NULL) - the thread raises the abort itself
instead, at a place where it is handled.
"""

from __future__ import annotations

import ctypes
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from .._errors import ScriptAborted
from .._model import ExecutionStatus, StopTicket
from ._ticket import Ticket

__all__ = ["RunStop", "abandoned", "stopped_before_a_slot"]

_LOOP_MODE_NOTE = (
    "not forced: the run is in loop mode, where its statements run in the app's trio "
    "thread and a forced abort would land in the event loop itself; it lands at its next "
    "statement, or the loop-timeout guard stops it"
)
_ZONE_NOTE = "force waits for the deferral zone: the stop lands when the zone ends"


def _set_async_exc(thread: int, exc: type[BaseException] | None) -> None:
    ctypes.pythonapi.PyThreadState_SetAsyncExc(
        ctypes.c_ulong(thread), ctypes.py_object(exc) if exc is not None else None
    )


class RunStop:
    """The stop of one run (see the module's docstring).

    Args:
        session_id: The session's id.
        run: The run's id (``etl#7``).
        on_change: Announces a change of the ticket (from any thread).
    """

    def __init__(self, session_id: str, run: str, on_change: Callable[[], None]) -> None:
        self.session_id = session_id
        self.run = run
        self.ticket: Ticket | None = None
        self.zones: list[str] = []
        self._on_change = on_change
        self._lock = threading.Lock()
        self._hops = 0  # the thread is in the trio thread's hands (a hop or an await)
        self._thread: int | None = None  # the session thread, while a force may land
        self._injected: int | None = None  # the thread a forced abort waits to fire in

    # -- the ticket and the abort ----------------------------------------------

    def request(self, requested_by: str, reason: str | None) -> Ticket:
        """The run's ticket, made by the first request (trio thread)."""
        with self._lock:
            if self.ticket is None:
                self.ticket = Ticket(
                    session=self.session_id,
                    run=self.run,
                    requested_by=requested_by,
                    reason=reason,
                    on_change=self._on_change,
                )
                if self.zones:
                    self.ticket.change(deferred=self.zones[0])
            return self.ticket

    def message(self) -> str:
        """The abort's message: which run, who stopped it, and why."""
        number = self.run.rpartition("#")[2]
        text = f"session {self.session_id!r} run #{number} was stopped"
        ticket = self.ticket
        if ticket is not None:
            text += f" by {ticket.value.requested_by}"
            if ticket.value.reason:
                text += f": {ticket.value.reason}"
        return text

    def abort(self, where: str) -> ScriptAborted:
        """Record that the stop lands at ``where``; the exception to raise there."""
        self.landed(where)
        return ScriptAborted(self.message())

    def landed(self, where: str) -> None:
        """The stop lands at ``where`` (any thread); a forced abort not yet fired is withdrawn."""
        with self._lock:
            self._withdraw()
            if self.ticket is not None:
                self.ticket.land(where)

    def finish(self, status: ExecutionStatus | None, at: float) -> None:
        """The run is over (trio thread)."""
        if self.ticket is not None:
            self.ticket.finish(status, at)

    @property
    def value(self) -> StopTicket | None:
        """The ticket as it is now, or None if no stop was asked for."""
        return None if self.ticket is None else self.ticket.value

    # -- deferral zones and hops (the thread that runs the script) ----------------

    @contextmanager
    def zone(self, reason: str) -> Iterator[None]:
        """A stop-deferral zone: checks inside are quiet; the outermost reason shows."""
        with self._lock:
            self._raise_if_forced()
            self.zones.append(reason)
            ticket = self.ticket
            if ticket is not None and ticket.pending:
                ticket.change(deferred=self.zones[0])
        try:
            yield
        finally:
            with self._lock:
                self.zones.pop()
                if not self.zones and self.ticket is not None:
                    self.ticket.change(deferred=None)

    @contextmanager
    def hop(self) -> Iterator[None]:
        """The session thread hands itself to the trio thread: no force may land meanwhile."""
        with self._lock:
            self._raise_if_forced()
            self._hops += 1
        try:
            yield
        finally:
            with self._lock:
                self._hops -= 1

    @contextmanager
    def forceable(self, thread: int) -> Iterator[None]:
        """Around the script's statements on the session thread: a force may land there."""
        with self._lock:
            self._thread = thread
        try:
            yield
        finally:
            with self._lock:
                self._thread = None
                self._withdraw()

    def _raise_if_forced(self) -> None:
        # Under the lock: a forced abort that has not fired yet is raised here
        # instead, before the zone or hop begins, where it is handled.
        if self._injected is not None:
            self._withdraw()
            if self.ticket is not None:
                self.ticket.land("the start of a deferral zone or a call to the trio thread")
            raise ScriptAborted(self.message())

    def _withdraw(self) -> None:
        if self._injected is not None:
            _set_async_exc(self._injected, None)
            self._injected = None

    # -- escalation (trio thread) -------------------------------------------------

    def force(self, *, loop: bool, awaiting: bool) -> None:
        """Escalate a pending stop: raise the abort in the session's thread.

        Args:
            loop: The run is in loop mode (never forced; a note says so).
            awaiting: A statement awaits, or the thread waits for the trio thread;
                the stop ends that await anyway, so nothing is injected.
        """
        with self._lock:
            ticket = self.ticket
            if ticket is None or not ticket.pending or ticket.value.forced_at is not None:
                return
            if loop:
                ticket.change(note=_LOOP_MODE_NOTE)
                return
            if self.zones:
                ticket.change(note=_ZONE_NOTE)
                return
            thread = self._thread
            if thread is None or awaiting or self._hops:
                return
            message = self.message()
            stop = self

            class ForcedAbort(ScriptAborted):
                def __init__(self) -> None:
                    # Made in the session's thread as the abort fires (no lock: the
                    # thread may hold it right now); from here on it is handled.
                    stop._injected = None
                    super().__init__(message)

            ForcedAbort.__name__ = ForcedAbort.__qualname__ = "ScriptAborted"
            _set_async_exc(thread, ForcedAbort)
            self._injected = thread
            ticket.change(forced_at=time.time(), note=None)


def stopped_before_a_slot(session_id: str) -> str:
    """The error of a run stopped before it got a worker slot."""
    return (
        f"spe_host.ScriptAborted: session {session_id!r} was stopped while it waited "
        "for a free worker slot (max_running); nothing of it ran\n"
    )


def abandoned(session_id: str, where: str | None) -> str:
    """The error of a run whose thread the host gave up on, stuck at ``where``."""
    return (
        f"spe_host.ScriptAborted: session {session_id!r} was stopped, but it did not "
        f"reach its next statement within the deadline: it was stuck at {where}, most "
        "likely in a native call. Its thread was abandoned; it stops at its next "
        "statement.\n"
    )
