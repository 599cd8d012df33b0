"""Execution: one run of a script in a session - its control, its result, its streams.

Theory of operation
-------------------
An :class:`Execution` is one run of some source in a session's namespace. Its
:meth:`~Execution.run` waits for a slot (the host's ``max_running`` bounds runs in
either mode), then hands the statements to ``_modes``, which runs them in worker
mode (synchronous statements on the session's own thread) or in loop mode (all of
them in the trio thread), and records the :class:`ExecutionResult`.

The run as a whole is shielded from cancellation: only the host's exit gives up on
it (:meth:`~Execution.abandon`), after it has asked it to stop and waited for its
deadline; the stop stays requested, so an abandoned session thread still aborts at
its next check when its native call returns.

Stopping is cooperative. :meth:`~Execution.request_stop` makes the run's stop ticket
(``_stopping``: who asked and why, where it landed), raises the
``__spe_abort__`` fast-path flag and cancels the scopes of awaiting statements; the
next check calls :func:`checkpoint` (``_checkpoint``), which raises
:class:`ScriptAborted` only if the execution running in *this context* (a context
variable) is the stopped one, and not while a ``ScriptAborted`` is being handled, so
``finally:`` blocks and ``with`` exits run to completion. The flag stays set, so a
script that swallows the abort meets it again at its next check. In loop mode the
host's watchdog stops a statement that holds the event loop too long the same way
(:meth:`~Execution.stop_from_watchdog`), from its own thread. Inside a deferral zone
(``spe.critical``) the checks stay quiet and awaits are not cancelled until the zone
ends; :meth:`~Execution.force` escalates a stop that has not landed.

The execution is also its session's stream sink (``_streams``): stdout and stderr go
to the session's output buffer, and ``input()`` asks the client that submitted the
execution, or raises ``EOFError`` with a sentence where no answer can come.
"""

from __future__ import annotations

import dataclasses
import inspect
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from types import CoroutineType
from typing import Any

import trio

from .._errors import SpeError
from .._model import (
    ExecutionResult,
    ExecutionStatus,
    InputPrompt,
    StopPhase,
    StopTicket,
    defer_output,
)
from . import _instrument
from ._blocked import BlockedReader
from ._checkpoint import StopFlags, checkpoint
from ._input import InputHandler, input_refusal
from ._modes import Outcome, run_statements
from ._observe import Admission
from ._stopping import RunStop, abandoned, stopped_before_a_slot
from ._streams import OutputBuffer
from ._thread import SessionThread
from ._ticket import Ticket
from ._traceback import script_location
from ._watchdog import Watchdog

__all__ = [
    "Execution",
    "ExecutionResult",
    "ExecutionStatus",
    "InputHandler",
    "checkpoint",
]

# trio 0.30 and later take the reason a scope is cancelled for, and show it.
_CANCEL_TAKES_REASON = "reason" in inspect.signature(trio.CancelScope.cancel).parameters


class Execution:
    """One run of source code in a session's namespace.

    Created and driven by the session; embedding programs see its result as an
    :class:`ExecutionResult`.

    Args:
        session_id: The session's id (for messages).
        run: The run's id (``etl#7``), carried by the result.
        namespace: The session's namespace; the script's globals.
        source: The script's text.
        filename: The name tracebacks and ``location`` show.
        interactive: Show and bind to ``_`` the value of a final expression.
        output: The session's output buffer.
        script_files: The session's registered script filenames (for tracebacks and
            ``location``); this execution adds its own.
        thread: The session's own thread (worker mode runs synchronous code there).
        input_handler: Answers ``input()``, or None in a background job.
        limiter: Bounds how many executions run at once.
        flags: The fast-path flag of the host's namespaces (None: a group of just
            this namespace).
        loop: Run synchronous statements in the trio thread (loop mode).
        watchdog: Stops loop-mode statements that hold the loop too long.
        on_change: Announces a change of the run's stop ticket (from any thread).
        admission: Awaited before the run takes its slot (the journal's commit of
            the run's row, in required mode); an ``SpeError`` it raises refuses the
            run: it ends FAILED with nothing run, and :attr:`refused` holds the error.
    """

    def __init__(
        self,
        *,
        session_id: str,
        run: str,
        namespace: dict[str, Any],
        source: str,
        filename: str,
        interactive: bool,
        output: OutputBuffer,
        script_files: set[str],
        thread: SessionThread,
        input_handler: InputHandler | None = None,
        limiter: trio.CapacityLimiter | None = None,
        flags: StopFlags | None = None,
        loop: bool = False,
        watchdog: Watchdog | None = None,
        on_change: Callable[[], None] | None = None,
        admission: Admission | None = None,
    ) -> None:
        self.session_id = session_id
        self.run_id = run
        self.namespace = namespace
        self.source = source
        self.filename = filename
        self.interactive = interactive
        self.output = output
        self.script_files = script_files
        self.thread = thread
        self.input_handler = input_handler
        self.limiter = limiter
        if flags is None:
            flags = StopFlags()
            flags.add(namespace)
        self.flags = flags
        self.loop = loop
        self.watchdog = watchdog if watchdog is not None else Watchdog(None)
        self.stop_requested = False
        self.stop = RunStop(session_id, run, on_change or (lambda: None))
        self._blocked = BlockedReader()
        self.result: ExecutionResult | None = None
        self.admission = admission
        self.refused: SpeError | None = None
        self.finished = trio.Event()
        self._thread: int | None = None  # the thread running a statement now, if any
        self._trio_thread: int | None = None
        self._token: trio.lowlevel.TrioToken | None = None
        self._scopes: set[trio.CancelScope] = set()
        self._thread_scope: trio.CancelScope | None = None
        self._abandoned_at: str | None = None
        self._guard_note = ""
        self._coroutine: CoroutineType[Any, Any, Any] | None = None
        self._value: str | None = None

    # -- control -----------------------------------------------------------------

    def request_stop(
        self, requested_by: str = "embedding program", reason: str | None = None
    ) -> Ticket:
        """Ask the execution to stop at its next check; returns at once (trio thread).

        Args:
            requested_by: Who asks, for people (the ticket and the abort name them).
            reason: Why, or None.

        Returns:
            The run's stop ticket: made by the first request, the same one after.
        """
        ticket = self.stop.request(requested_by, reason)
        self.stop_requested = True
        self.flags.raise_for(self)
        if not self.stop.zones:
            self._cancel_scopes()
        if ticket.pending:
            self.blocked_in()  # the wait for the stop counts from the request on
        return ticket

    def force(self) -> None:
        """Escalate a requested stop that has not landed (``_stopping``; trio thread)."""
        self.stop.force(loop=self.loop, awaiting=self._coroutine is not None or bool(self._scopes))

    def blocked_in(self) -> str | None:
        """While the stop is pending: the call the session thread waits in, or None."""
        ticket = self.stop.ticket
        thread = self._thread
        if ticket is None or not ticket.pending or thread is None or thread == self._trio_thread:
            return None
        return self._blocked.read(thread, self.script_files)

    def ticket_value(self) -> StopTicket | None:
        """The run's stop ticket now (a pending one with ``blocked_in`` read now), or None."""
        value = self.stop.value
        if value is not None and value.phase is StopPhase.REQUESTED:
            value = dataclasses.replace(value, blocked_in=self.blocked_in())
        return value

    def zone_ended(self) -> None:
        """A deferral zone ended: in the trio thread, a pending stop ends awaits again."""
        in_trio_thread = threading.get_ident() == self._trio_thread
        if self.stop_requested and not self.stop.zones and in_trio_thread:
            self._cancel_scopes()

    def _cancel_scopes(self) -> None:
        reason = self.stop.message() if _CANCEL_TAKES_REASON else None
        for scope in self._scopes:
            if reason is None:
                scope.cancel()
            else:
                scope.cancel(reason=reason)

    def stop_from_watchdog(self, held: float, timeout: float) -> None:
        """Stop a loop-mode statement holding the loop (from the watchdog's thread).

        The statement meets the raised flag at its next check.
        """
        where = self.location or "an unknown line"
        self._guard_note = (
            f"spe_host: the loop-timeout guard stopped this run: a statement held the "
            f"app's event loop for more than {timeout:g} s (loop_timeout), at {where}. "
            "Run long synchronous work in worker mode (%loop off), or give the loop "
            "back now and then with `await trio.sleep(0)`.\n"
        )
        self.output.write(
            f"\nspe_host: this statement has held the app's event loop for {held:.1f} s, "
            f"longer than loop_timeout ({timeout:g} s); it stops at its next statement\n"
        )
        self.stop_requested = True
        self.flags.raise_for(self)

    def abandon(self) -> None:
        """Stop waiting for an execution stuck in a native call (at host exit).

        :meth:`run` returns at once with an ABORTED result. The thread is left to
        finish its call; the stop stays requested, so it aborts at its next check.
        """
        self._abandoned_at = self.location or "an unknown line"
        self.request_stop()
        if self._thread_scope is not None:
            self._thread_scope.cancel()

    @property
    def location(self) -> str | None:
        """``file:line`` of the script statement running now, or None."""
        return script_location(self._coroutine, self._thread, self.script_files)

    async def run(self) -> ExecutionResult:
        """Run to the end and return the result (also stored in ``result``)."""
        started_at = time.time()
        start_offset = self.output.begin_run()  # input()'s prompt is this run's own text
        self._token = trio.lowlevel.current_trio_token()
        self._trio_thread = threading.get_ident()
        self.namespace[_instrument.CHECK_NAME] = checkpoint
        self.script_files.add(self.filename)
        outcome: Outcome | None = None
        try:
            if self.admission is not None and not await self._admitted():
                assert self.refused is not None
                outcome = (
                    ExecutionStatus.FAILED,
                    f"spe_host.{type(self.refused).__name__}: {self.refused}\n",
                )
            elif await self._take_a_slot():
                try:
                    # Shielded: a cancelled caller, or a host cancelled from outside,
                    # must not abandon the run before the host's exit has asked it
                    # to stop and given it its deadline; only abandon() ends this early.
                    with trio.CancelScope(shield=True) as self._thread_scope:
                        outcome = await run_statements(self)
                finally:
                    if self.limiter is not None:
                        self.limiter.release()
            else:
                self.stop.landed("waiting for a free worker slot (max_running)")
                outcome = ExecutionStatus.ABORTED, stopped_before_a_slot(self.session_id)
        finally:
            self.output.end_run()
            self._thread_scope = None
            self._thread = None
            self._coroutine = None
            if outcome is not None:
                # An abandoned thread keeps the flag up: it must still abort at its
                # next check when its native call returns (it lowers it then).
                self.flags.lower_for(self)
        status, error = (
            outcome
            if outcome is not None
            else (ExecutionStatus.ABORTED, abandoned(self.session_id, self._abandoned_at))
        )
        result = ExecutionResult(
            session=self.session_id,
            status=status,
            value=self._value if status is ExecutionStatus.COMPLETED else None,
            error=error,
            output="",
            started_at=started_at,
            finished_at=time.time(),
            run=self.run_id,
        )
        # Decoded when read: here it would hold back the subscribers' last output.
        self.result = defer_output(result, self.output.output_since(start_offset))
        self.stop.finish(status, self.result.finished_at)
        self.finished.set()
        return self.result

    async def _admitted(self) -> bool:
        """Await the admission; False (and :attr:`refused` set) if it refused the run."""
        assert self.admission is not None
        try:
            await self.admission()
        except SpeError as exc:
            self.refused = exc
            return False
        return True

    async def _take_a_slot(self) -> bool:
        """Wait for a slot; False if a stop came first (no slot is held then)."""
        if self.limiter is None:
            return not self.stop_requested
        if not (self.stop_requested and not self.stop.zones):
            # A free slot is taken without a scheduling pass (the run's first wait comes
            # soon enough); the limiter is fair: this fails while others wait for one.
            try:
                self.limiter.acquire_nowait()
            except trio.WouldBlock:
                pass
            else:
                return True
        # Shielded from the caller like the run itself; a stop cancels it.
        with self._stoppable(shield=True) as scope:
            await self.limiter.acquire()
        return not scope.cancelled_caught

    @contextmanager
    def _stoppable(self, *, shield: bool = False) -> Iterator[trio.CancelScope]:
        """A cancel scope that :meth:`request_stop` cancels (at once if it came already)."""
        with trio.CancelScope(shield=shield) as scope:
            self._scopes.add(scope)
            if self.stop_requested and not self.stop.zones:
                scope.cancel()
            try:
                yield scope
            finally:
                self._scopes.discard(scope)

    async def run_stoppable(self, afn: Callable[..., Awaitable[Any]], args: tuple[Any, ...]) -> Any:
        """``await afn(*args)`` in the trio thread, ended by a stop (``spe.run``)."""
        with self._stoppable():
            return await afn(*args)
        name = getattr(afn, "__qualname__", None) or type(afn).__name__
        raise self.stop.abort(f"cancelled while awaiting spe.run({name})")

    # -- the stream sink (any thread) --------------------------------------------

    @property
    def write(self) -> Callable[[str], int]:
        """The execution's stdout/stderr: its output buffer's C-level writer."""
        return self.output.writer

    def flush(self) -> None:
        """``sys.stdout.flush()`` in the execution: its text goes to followers now."""
        self.output.flush()

    def readline(self, secret: bool = False) -> str:
        """Answer ``input()`` (``secret``: ``getpass()``): ask the client, or say why not."""
        here = threading.get_ident()
        refusal = input_refusal(
            self.session_id,
            answerable=self.input_handler is not None,
            in_loop_statement=here == self._trio_thread and self.loop and self._coroutine is None,
            on_session_thread=here == self.thread.ident and here != self._trio_thread,
        )
        if refusal is not None:
            raise EOFError(refusal)
        prompt = InputPrompt(self.output.take_line_tail(), secret=secret)
        with self.stop.hop():
            return trio.from_thread.run(self._ask, prompt, trio_token=self._token)

    async def _ask(self, prompt: InputPrompt) -> str:
        handler = self.input_handler
        assert handler is not None
        with self._stoppable():
            answer = await handler(prompt)
            if answer is None:
                return ""  # end-of-file: input() raises EOFError
            return answer if answer.endswith("\n") else answer + "\n"
        raise self.stop.abort("cancelled while awaiting input()")
