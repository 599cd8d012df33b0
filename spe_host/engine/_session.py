"""ScriptSession: one named, persistent namespace and its state machine.

Theory of operation
-------------------
A session is IDLE until something runs in it, RUNNING while an execution runs,
STOPPING from the moment a stop is requested until the execution reaches its next
check, and CLOSED once removed. Only one execution runs in a session at a time;
asking for another while it runs raises :class:`SessionBusy`.

Every change of state happens in the trio thread, so the state needs no lock. The
worker thread touches only the execution (its flag, its output, the progress the
script reports through the ``spe`` handle).

Changes are announced, never polled for. A change of state or progress fires the
session's :class:`~spe_host.engine._streams.Signal`, which reaches the trio thread
once per batch however many threads fire it; there it wakes ``wait_changed``, tells
the host's watchers (the ``on_change`` callback), and, like every batch of output,
wakes the session's followers. A change of the run's stop ticket (``_ticket``: its
phase, a deferral zone, a force) fires the same signal, from whichever thread made it.
"""

from __future__ import annotations

import builtins
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import trio

from .._errors import SessionBusy
from .._model import (
    ExecutionResult,
    ExecutionStatus,
    Progress,
    SessionInfo,
    SessionState,
    StopOutcome,
    StopTicket,
)
from . import _instrument
from ._changes import changed
from ._checkpoint import StopFlags, checkpoint
from ._events import Broadcast
from ._execution import Execution, InputHandler
from ._handle import SpeHandle
from ._observe import Observer, report_end
from ._runs import DEFAULT_KEEP_RESULTS, Runs
from ._shown import Shown
from ._snapshot import Snapshot
from ._streams import OutputBuffer, Signal
from ._thread import SessionThread
from ._watchdog import Watchdog

__all__ = ["ScriptSession", "SpeHandle"]

# A session keeps the sources of its last executions for tracebacks of functions it
# defined; older ones are forgotten so a long-lived session does not grow forever.
_KEPT_SOURCES = 200


class ScriptSession(Shown):
    """A named, persistent script session.

    Sessions are made by the :class:`~spe_host.Host`; do not construct them yourself.

    Attributes:
        id: The session's id.
        namespace: The live namespace scripts run in.
        created_at: When the session was made (UTC).
        last_accessed: When it was last used (UTC); idle expiry slides from here. It
            is read on the trio clock that expiry uses, from ``created_at`` on.
        output: The session's output stream, with offsets for replay.
        runs: The session's runs: their count, and the results kept until received.
    """

    def __init__(
        self,
        session_id: str,
        *,
        namespace: dict[str, Any],
        name: str | None = None,
        autodispose: bool = False,
        output_limit: int,
        keep_results: int = DEFAULT_KEEP_RESULTS,
        flags: StopFlags | None = None,
        script_files: set[str] | None = None,
        on_change: Callable[[ScriptSession], None] | None = None,
        observer: Observer | None = None,
    ) -> None:
        self.id = session_id
        Shown.__init__(self, name=name, autodispose=autodispose)
        self.created_at = datetime.now(UTC)
        # The one record of use is on the trio clock (idle expiry's, which tests can
        # mock); last_accessed is read from it.
        self._created_clock = self._touched_at = trio.current_time()
        self._created_unix = self.created_at.timestamp()
        # info() is read for every session of a listing: it is made again only
        # after a change (see _snapshot).
        self._snapshot = Snapshot()
        # Followers wait for output or a change, whichever comes first.
        self._activity = Broadcast()
        self._observer = observer
        self.output = OutputBuffer(
            output_limit,
            on_wake=self._activity.fire,
            on_data=None if observer is None else observer.session_opened(session_id),
        )
        self.runs = Runs(session_id, keep=keep_results, output=self.output)
        self.namespace: dict[str, Any] = {
            "__name__": "__main__",
            "__builtins__": builtins,
            **namespace,
            "spe": SpeHandle(self),
            _instrument.FLAG_NAME: False,
            _instrument.CHECK_NAME: checkpoint,
        }
        if flags is None:
            flags = StopFlags()
        self._flags = flags
        flags.add(self.namespace)
        self._holds = 0
        self._state = SessionState.IDLE
        self._execution: Execution | None = None
        # The session's own thread for synchronous statements; it starts only when
        # the first one runs. The token and thread id lead spe.run_sync back here.
        self._thread = SessionThread(f"spe session {session_id}")
        self._token = trio.lowlevel.current_trio_token()
        self._trio_thread = threading.get_ident()
        self._sources: list[str] = []
        # Shared by the host's sessions: a traceback or location that passes through
        # a function another session defined still shows that function's lines.
        self._script_files: set[str] = set() if script_files is None else script_files
        self._on_change = on_change
        self._changed = Signal(self._announce)

    def __repr__(self) -> str:
        return f"<ScriptSession {self.id!r} {self._state.value}>"

    @property
    def state(self) -> SessionState:
        """IDLE, RUNNING, STOPPING or CLOSED."""
        return self._state

    @property
    def location(self) -> str | None:
        """``file:line`` of the statement running now, or None when not running."""
        execution = self._execution
        return None if execution is None else execution.location

    @property
    def last(self) -> ExecutionResult | None:
        """The newest result not yet received, or None."""
        kept = self.runs.kept
        return kept[-1] if kept else None

    @property
    def last_status(self) -> ExecutionStatus | None:
        """How the last execution ended (kept after ``receive``), or None."""
        return self._last_status

    _last_status: ExecutionStatus | None = None

    @property
    def held(self) -> bool:
        """True while a client holds the session (it does not expire then)."""
        return self._holds > 0

    @contextmanager
    def hold(self) -> Iterator[None]:
        """Keep the session from expiring while the block runs (a client attached).

        Idle expiry counts from the end of the last hold.
        """
        self._holds += 1
        self.touch()
        try:
            yield
        finally:
            self._holds -= 1
            self.touch()

    @property
    def last_accessed(self) -> datetime:
        """When the session was last used (UTC); idle expiry slides from here."""
        return self.created_at + timedelta(seconds=self._touched_at - self._created_clock)

    def touch(self) -> None:
        """Mark the session used now; idle expiry slides from here."""
        self._touched_at = trio.current_time()
        changed()

    def idle_since(self) -> float:
        """The trio clock time the session was last used."""
        return self._touched_at

    async def wait_changed(self) -> None:
        """Wait until the state or the progress changes next."""
        await self._changed.wait()

    # -- driven by the host (trio thread) ------------------------------------------

    def _busy_error(self, doing: str) -> SessionBusy:
        return SessionBusy(
            f"session {self.id!r} is {self._state.value}; wait for it or stop it before you {doing}"
        )

    def _begin(
        self,
        source: str,
        *,
        interactive: bool,
        filename: str | None,
        input_handler: InputHandler | None,
        limiter: trio.CapacityLimiter,
        name: str | None = None,
        loop: bool = False,
        watchdog: Watchdog | None = None,
        by: str = "embedding program",
        connection: str | None = None,
    ) -> Execution:
        if self._state is not SessionState.IDLE:
            raise self._busy_error("run more code in it")
        # The job name, like the progress, is the new run's: none unless it names one.
        self.name = name
        run = self.runs.begin()
        if filename is None:
            filename = f"<session {self.id} #{self.runs.count}>"
        self._remember(filename)
        admission = None
        if self._observer is not None:
            assert self.runs.started_at is not None
            admission = self._observer.run_started(
                session=self.id,
                run=run,
                code=source,
                filename=filename,
                name=name,
                loop=loop,
                interactive=interactive,
                started_at=self.runs.started_at,
                by=by,
                connection=connection,
                output_offset=self.output.end_offset,
            )
        execution = Execution(
            session_id=self.id,
            run=run,
            namespace=self.namespace,
            source=source,
            filename=filename,
            interactive=interactive,
            output=self.output,
            script_files=self._script_files,
            input_handler=input_handler,
            limiter=limiter,
            flags=self._flags,
            thread=self._thread,
            loop=loop,
            watchdog=watchdog,
            on_change=self._ticket_changed,
            admission=admission,
        )
        self._execution = execution
        self.progress = Progress()
        self.touch()
        self._set_state(SessionState.RUNNING)
        return execution

    async def _run(self, execution: Execution) -> ExecutionResult:
        result: ExecutionResult | None = None
        try:
            result = await execution.run()
        finally:
            self._execution = None
            if result is not None and self._observer is not None:
                report_end(self._observer, execution.stop.value, result, self.output.end_offset)
            # The result first: whoever the change of state wakes sees it.
            self.runs.end(result)
            if result is not None:
                self._last_status = result.status
            self.touch()  # moves the listing stamp after the result and the status
            if self._state is not SessionState.CLOSED:
                self._set_state(SessionState.IDLE)
        assert result is not None  # run() returns a result or raises
        return result

    def _request_stop(
        self,
        requested_by: str = "embedding program",
        reason: str | None = None,
        force: bool = False,
    ) -> StopOutcome:
        execution = self._execution
        if self._state is SessionState.STOPPING:
            if force and execution is not None:
                execution.force()
            return StopOutcome.ALREADY_STOPPING
        if self._state is not SessionState.RUNNING or execution is None:
            return StopOutcome.NOT_RUNNING
        ticket = execution.request_stop(requested_by, reason)
        self.runs.add_ticket(ticket)
        if self._observer is not None:
            self._observer.ticket_changed(ticket.value)
        self._set_state(SessionState.STOPPING)
        if force:
            execution.force()
        return StopOutcome.REQUESTED

    def stop_ticket(self) -> StopTicket | None:
        """The stop ticket of the current or last run, or None if it had no stop."""
        execution = self._execution
        if execution is not None:
            return execution.ticket_value()
        ticket = self.runs.ticket(self.runs.current)
        return None if ticket is None else ticket.value

    def _abandon(self) -> None:
        execution = self._execution
        if execution is not None:
            execution.abandon()

    def _close(self) -> None:
        self._flags.discard(self.namespace)
        self._end_thread()
        self._set_state(SessionState.CLOSED)
        for filename in self._sources:
            _instrument.forget_source(filename)
        self._sources.clear()

    def _end_thread(self) -> None:
        # A thread still in a call (abandoned at the host's exit) ends after it.
        self._thread.close()

    def _remember(self, filename: str) -> None:
        self._sources.append(filename)
        if len(self._sources) > _KEPT_SOURCES:
            forgotten = self._sources.pop(0)
            _instrument.forget_source(forgotten)
            self._script_files.discard(forgotten)

    def _set_state(self, state: SessionState) -> None:
        self._state = state
        changed()
        self._changed.fire()

    def _ticket_changed(self) -> None:
        # From any thread: the run's stop ticket, which listings show, has changed.
        changed()
        self._changed.fire()

    def _announce(self) -> None:
        # In the trio thread, once per batch of changes (the Signal's wake-up).
        self._activity.fire()
        if self._on_change is not None:
            self._on_change(self)

    def is_active(self) -> bool:
        """True while RUNNING or STOPPING."""
        return self._state in (SessionState.RUNNING, SessionState.STOPPING)

    def info(self) -> SessionInfo:
        """A snapshot of the session, for listings and for every layer above the engine.

        Returns:
            The snapshot; times are Unix seconds and ``output_offset`` is the end of
            the session's output stream. An idle session gives the same object until
            something it shows changes.
        """
        return self._snapshot.of(self)
