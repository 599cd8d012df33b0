"""Run one execution of a script: statement by statement, in a worker thread.

Theory of operation
-------------------
An :class:`Execution` is one run of some source in a session's namespace. Its
:meth:`~Execution.run` compiles the source (see ``_instrument``) and makes *one* hop
into a worker thread with ``trio.to_thread.run_sync`` - a hop costs about as much as
thousands of simple statements, so it is paid once per execution, not per statement.
In the thread the statements run in order:

* A synchronous statement is ``exec``-ed right there, so ``time.sleep(60)`` blocks
  only this worker and never the host.
* A statement that awaits at top level (``await trio.sleep(1)``, ``async with``,
  ``async for``) goes back to the trio thread with ``trio.from_thread.run`` and runs
  inside a cancel scope that :meth:`~Execution.request_stop` cancels, so a stop ends
  the await at once. Such a statement runs *entirely* in the trio thread: a blocking
  call inside the same compound statement (``for`` ... ``time.sleep(1)``;
  ``await ...``) blocks the event loop for its duration. Put blocking work in its own
  statement, or wrap it in ``await trio.to_thread.run_sync(...)``.

The wait for the worker thread is shielded from cancellation: only the host's exit
gives up on a thread (:meth:`~Execution.abandon`), after it has asked it to stop and
waited for its deadline; the stop stays requested, so an abandoned thread still
aborts at its next check when its native call returns.

Stopping is cooperative. :meth:`~Execution.request_stop` sets a flag on the execution
and the ``__spe_abort__`` fast-path flag in the namespace; the next check the script
meets calls :func:`checkpoint` (``_checkpoint``), which raises :class:`ScriptAborted`
only if the execution running in *this context* (a context variable) is the stopped
one, and not while a ``ScriptAborted`` (or, in a statement that awaits, the
``trio.Cancelled`` the stop caused) is being handled, so ``finally:`` blocks and
``with`` exits run to completion. The flag stays set, so a script that swallows the abort meets it
again at its next check.

The execution is also its session's stream sink (``_streams``): stdout and stderr go
to the session's output buffer, and ``input()`` asks the client that submitted the
execution, or raises ``EOFError`` in a background job with nobody to answer.
"""

from __future__ import annotations

import contextlib
import math
import threading
import time
import traceback
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from types import CodeType, CoroutineType, TracebackType
from typing import Any

import trio

from .._errors import ScriptAborted
from .._model import ExecutionResult, ExecutionStatus
from . import _instrument
from ._checkpoint import StopFlags, checkpoint, running_as
from ._streams import OutputBuffer
from ._traceback import format_error, script_location

__all__ = [
    "Execution",
    "ExecutionResult",
    "ExecutionStatus",
    "InputHandler",
    "checkpoint",
]

#: Answers ``input()``: takes the prompt, returns the line (None for end-of-file).
InputHandler = Callable[[str], Awaitable[str | None]]


def _stopped_before_a_slot(session_id: str) -> str:
    return (
        f"spe_host.ScriptAborted: session {session_id!r} was stopped while it waited "
        "for a free worker slot (max_running); nothing of it ran\n"
    )


def _abandoned(session_id: str, where: str | None) -> str:
    return (
        f"spe_host.ScriptAborted: session {session_id!r} was stopped, but it did not "
        f"reach its next statement within the deadline: it was stuck at {where}, most "
        "likely in a native call. Its worker thread was abandoned; it stops at its next "
        "statement.\n"
    )


class Execution:
    """One run of source code in a session's namespace.

    Created and driven by the session; embedding programs see its result as an
    :class:`ExecutionResult`.

    Args:
        session_id: The session's id (for messages).
        namespace: The session's namespace; the script's globals.
        source: The script's text.
        filename: The name tracebacks and ``location`` show.
        interactive: Show and bind to ``_`` the value of a final expression.
        output: The session's output buffer.
        script_files: The session's registered script filenames (for tracebacks and
            ``location``); this execution adds its own.
        input_handler: Answers ``input()``, or None in a background job.
        limiter: Bounds how many executions run in worker threads at once.
        flags: The fast-path flag of the host's namespaces (None: a group of just
            this namespace).
    """

    def __init__(
        self,
        *,
        session_id: str,
        namespace: dict[str, Any],
        source: str,
        filename: str,
        interactive: bool,
        output: OutputBuffer,
        script_files: set[str],
        input_handler: InputHandler | None = None,
        limiter: trio.CapacityLimiter | None = None,
        flags: StopFlags | None = None,
    ) -> None:
        self.session_id = session_id
        self.namespace = namespace
        self.source = source
        self.filename = filename
        self.interactive = interactive
        self.output = output
        self.script_files = script_files
        self.input_handler = input_handler
        self.limiter = limiter
        if flags is None:
            flags = StopFlags()
            flags.add(namespace)
        self.flags = flags
        self.stop_requested = False
        self.result: ExecutionResult | None = None
        self.finished = trio.Event()
        self._thread: int | None = None
        self._scope: trio.CancelScope | None = None
        self._thread_scope: trio.CancelScope | None = None
        self._abandoned_at: str | None = None
        self._coroutine: CoroutineType[Any, Any, Any] | None = None
        self._partial_line = ""
        self._value: str | None = None

    # -- control (trio thread) ---------------------------------------------------

    def request_stop(self) -> None:
        """Ask the execution to stop at its next check; returns at once."""
        self.stop_requested = True
        self.flags.raise_for(self)
        if self._scope is not None:
            self._scope.cancel()

    def abandon(self) -> None:
        """Stop waiting for a worker thread stuck in a native call (at host exit).

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
        start_offset = self.output.end_offset
        self.namespace[_instrument.CHECK_NAME] = checkpoint
        self.script_files.add(self.filename)
        outcome: tuple[ExecutionStatus, str | None] | None = None
        try:
            if await self._take_a_slot():
                try:
                    # Shielded: a cancelled caller, or a host cancelled from outside,
                    # must not abandon the thread before the host's exit has asked it
                    # to stop and given it its deadline; only abandon() ends this early.
                    with trio.CancelScope(shield=True) as self._thread_scope:
                        outcome = await trio.to_thread.run_sync(
                            self._run_in_thread,
                            # The slot is held already (or there is no bound): the
                            # thread itself waits for nothing.
                            limiter=trio.CapacityLimiter(math.inf),
                            abandon_on_cancel=True,
                        )
                finally:
                    if self.limiter is not None:
                        self.limiter.release()
            else:
                outcome = ExecutionStatus.ABORTED, _stopped_before_a_slot(self.session_id)
        finally:
            self._thread_scope = None
            self._thread = None
            self._coroutine = None
            if outcome is not None:
                # An abandoned thread keeps the flag up: it must still abort at its
                # next check when its native call returns (it lowers it then).
                self.flags.lower_for(self)
        status: ExecutionStatus
        error: str | None
        if outcome is None:
            status = ExecutionStatus.ABORTED
            error = _abandoned(self.session_id, self._abandoned_at)
        else:
            status, error = outcome
        self.result = ExecutionResult(
            session=self.session_id,
            status=status,
            value=self._value if status is ExecutionStatus.COMPLETED else None,
            error=error,
            output=self.output.text_since(start_offset),
            started_at=started_at,
            finished_at=time.time(),
        )
        self.finished.set()
        return self.result

    async def _take_a_slot(self) -> bool:
        """Wait for a worker slot; False if a stop came first (no slot is held then)."""
        if self.limiter is None:
            return not self.stop_requested
        # Shielded from the caller like the thread itself; a stop cancels it.
        with self._stoppable(shield=True) as scope:
            await self.limiter.acquire()
        return not scope.cancelled_caught

    @contextmanager
    def _stoppable(self, *, shield: bool = False) -> Iterator[trio.CancelScope]:
        """A cancel scope that :meth:`request_stop` cancels (at once if it came already)."""
        with trio.CancelScope(shield=shield) as scope:
            self._scope = scope
            if self.stop_requested:
                scope.cancel()
            try:
                yield scope
            finally:
                self._scope = None

    # -- the worker thread -------------------------------------------------------

    def _run_in_thread(self) -> tuple[ExecutionStatus, str | None]:
        try:
            return self._run_statements()
        finally:
            if self._abandoned_at is not None:
                # Nobody waits for this thread any more; the flag it kept up for its
                # last check can fall now (if the host's trio run still exists).
                with contextlib.suppress(trio.RunFinishedError, RuntimeError):
                    trio.from_thread.run_sync(self.flags.lower_for, self)

    def _run_statements(self) -> tuple[ExecutionStatus, str | None]:
        self._thread = threading.get_ident()
        with running_as(self):
            try:
                if self.stop_requested:
                    checkpoint()
                try:
                    statements = _instrument.compile_script(
                        self.source, self.filename, interactive=self.interactive
                    )
                except SyntaxError as exc:
                    # The script's own syntax: no traceback to show. (A SyntaxError
                    # the script raises as it runs gets its traceback below.)
                    lines = traceback.format_exception_only(type(exc), exc)
                    return ExecutionStatus.FAILED, "".join(lines)
                for statement in statements:
                    self._run_statement(statement)
            except ScriptAborted as exc:
                return ExecutionStatus.ABORTED, format_error(exc, self.script_files)
            except BaseException as exc:
                # Anything else - SystemExit included - fails the script, not the host.
                return ExecutionStatus.FAILED, format_error(exc, self.script_files)
        return ExecutionStatus.COMPLETED, None

    def _run_statement(self, statement: _instrument.Statement) -> None:
        if statement.is_async:
            checkpoint()
            value = trio.from_thread.run(self._run_async, statement.code)
        elif statement.display:
            checkpoint()
            value = eval(statement.code, self.namespace)
        else:
            exec(statement.code, self.namespace)
            return
        if statement.display and value is not None:
            self.namespace["_"] = value
            self._value = repr(value)

    async def _run_async(self, code: CodeType) -> Any:
        where: TracebackType | None = None
        with self._stoppable():
            coroutine = eval(code, self.namespace)
            self._coroutine = coroutine
            try:
                return await coroutine
            except trio.Cancelled as cancelled:
                where = cancelled.__traceback__  # the script's frames, for the abort
                raise
            finally:
                self._coroutine = None
        raise ScriptAborted(f"session {self.session_id!r} was stopped").with_traceback(where)

    # -- the stream sink (any thread) --------------------------------------------

    def write(self, text: str) -> None:
        """Take the execution's stdout/stderr text."""
        newline = text.rfind("\n")
        self._partial_line = (text[newline + 1 :] if newline >= 0 else self._partial_line + text)[
            -200:
        ]
        self.output.write(text)

    def readline(self) -> str:
        """Answer ``input()``: ask the client, or fail with a sentence saying why."""
        if self.input_handler is None:
            raise EOFError(
                f"session {self.session_id!r} runs in the background with no client "
                "attached to answer input(); pass values with args= instead"
            )
        if threading.get_ident() != self._thread:
            raise EOFError(
                "input() cannot wait for an answer inside a statement that awaits; "
                "read input in a statement of its own"
            )
        prompt, self._partial_line = self._partial_line, ""
        return trio.from_thread.run(self._ask, prompt)

    async def _ask(self, prompt: str) -> str:
        handler = self.input_handler
        assert handler is not None
        with self._stoppable():
            answer = await handler(prompt)
            if answer is None:
                return ""  # end-of-file: input() raises EOFError
            return answer if answer.endswith("\n") else answer + "\n"
        raise ScriptAborted(f"session {self.session_id!r} was stopped")
