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
wakes the session's followers.
"""

from __future__ import annotations

import builtins
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
)
from . import _instrument
from ._checkpoint import StopFlags, checkpoint
from ._events import Broadcast
from ._execution import Execution, InputHandler
from ._streams import OutputBuffer, Signal

__all__ = ["ScriptSession", "SpeHandle"]

# A session keeps the sources of its last executions for tracebacks of functions it
# defined; older ones are forgotten so a long-lived session does not grow forever.
_KEPT_SOURCES = 200


class SpeHandle:
    """The ``spe`` name inside a script: the script's view of its own session."""

    def __init__(self, session: ScriptSession) -> None:
        self._session = session

    @property
    def id(self) -> str:
        """The session's id."""
        return self._session.id

    @property
    def stopping(self) -> bool:
        """True once this session's running execution has been asked to stop.

        Library loops that the abort check cannot reach can poll it.
        """
        execution = self._session._execution
        return execution is not None and execution.stop_requested

    def progress(self, percent: float | None = None, message: str | None = None) -> None:
        """Report progress; ``percent`` is clamped to 0-100.

        Args:
            percent: How far along, 0 to 100 (None to leave it unknown).
            message: What is happening now.
        """
        if percent is not None:
            percent = min(100.0, max(0.0, float(percent)))
        self._session.progress = Progress(percent, None if message is None else str(message))
        self._session._changed.fire()

    def checkpoint(self) -> None:
        """Stop here if this execution has been asked to stop."""
        checkpoint()

    def __repr__(self) -> str:
        return f"<spe handle of session {self.id!r}>"


class ScriptSession:
    """A named, persistent script session.

    Sessions are made by the :class:`~spe_host.Host`; do not construct them yourself.

    Attributes:
        id: The session's id.
        name: An optional job name.
        namespace: The live namespace scripts run in.
        created_at: When the session was made (UTC).
        last_accessed: When it was last used (UTC); idle expiry slides from here. It
            is read on the trio clock that expiry uses, from ``created_at`` on.
        autodispose: Remove the session once its result has been received.
        progress: The last progress the script reported.
        last: The result of the last execution, until it is received.
        output: The session's output stream, with offsets for replay.
    """

    def __init__(
        self,
        session_id: str,
        *,
        namespace: dict[str, Any],
        name: str | None = None,
        autodispose: bool = False,
        output_limit: int,
        flags: StopFlags | None = None,
        script_files: set[str] | None = None,
        on_change: Callable[[ScriptSession], None] | None = None,
    ) -> None:
        self.id = session_id
        self.name = name
        self.autodispose = autodispose
        self.created_at = datetime.now(UTC)
        # The one record of use is on the trio clock (idle expiry's, which tests can
        # mock); last_accessed is read from it.
        self._created_clock = self._touched_at = trio.current_time()
        self.progress = Progress()
        self.last: ExecutionResult | None = None
        # Followers wait for output or a change, whichever comes first.
        self._activity = Broadcast()
        self.output = OutputBuffer(output_limit, on_wake=self._activity.fire)
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
        self._runs = 0
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
    ) -> Execution:
        if self._state is not SessionState.IDLE:
            raise self._busy_error("run more code in it")
        self._runs += 1
        if filename is None:
            filename = f"<session {self.id} #{self._runs}>"
        self._remember(filename)
        execution = Execution(
            session_id=self.id,
            namespace=self.namespace,
            source=source,
            filename=filename,
            interactive=interactive,
            output=self.output,
            script_files=self._script_files,
            input_handler=input_handler,
            limiter=limiter,
            flags=self._flags,
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
            # The result first: whoever the change of state wakes sees it.
            if result is not None:
                self.last = result
                self._last_status = result.status
            self.touch()
            if self._state is not SessionState.CLOSED:
                self._set_state(SessionState.IDLE)
        assert result is not None  # run() returns a result or raises
        return result

    def _request_stop(self) -> StopOutcome:
        if self._state is SessionState.STOPPING:
            return StopOutcome.ALREADY_STOPPING
        execution = self._execution
        if self._state is not SessionState.RUNNING or execution is None:
            return StopOutcome.NOT_RUNNING
        execution.request_stop()
        self._set_state(SessionState.STOPPING)
        return StopOutcome.REQUESTED

    def _abandon(self) -> None:
        execution = self._execution
        if execution is not None:
            execution.abandon()

    def _close(self) -> None:
        self._flags.discard(self.namespace)
        self._set_state(SessionState.CLOSED)
        for filename in self._sources:
            _instrument.forget_source(filename)
        self._sources.clear()

    def _remember(self, filename: str) -> None:
        self._sources.append(filename)
        if len(self._sources) > _KEPT_SOURCES:
            forgotten = self._sources.pop(0)
            _instrument.forget_source(forgotten)
            self._script_files.discard(forgotten)

    def _set_state(self, state: SessionState) -> None:
        self._state = state
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
            the session's output stream.
        """
        progress = self.progress
        return SessionInfo(
            id=self.id,
            name=self.name,
            state=self._state,
            progress_percent=progress.percent,
            progress_message=progress.message,
            location=self.location,
            last_status=self._last_status,
            created_at=self.created_at.timestamp(),
            last_accessed=self.last_accessed.timestamp(),
            autodispose=self.autodispose,
            output_offset=self.output.end_offset,
        )
