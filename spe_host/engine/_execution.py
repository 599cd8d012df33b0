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
meets calls :func:`checkpoint`, which raises :class:`ScriptAborted` only if the
execution running in *this context* (a context variable) is the stopped one, and not
while a ``ScriptAborted`` (or, in a statement that awaits, the ``trio.Cancelled`` the
stop caused) is being handled, so ``finally:`` blocks and ``with`` exits run to
completion. The flag stays set, so a script that swallows the abort meets it
again at its next check.

The execution is also its session's stream sink (``_streams``): stdout and stderr go
to the session's output buffer, and ``input()`` asks the client that submitted the
execution, or raises ``EOFError`` in a background job with nobody to answer.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import linecache
import os
import sys
import threading
import time
import traceback
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from types import CodeType, CoroutineType, FrameType, TracebackType
from typing import Any

import trio

from .._errors import ScriptAborted
from .._model import ExecutionResult, ExecutionStatus
from . import _instrument
from ._streams import OutputBuffer, use_sink

__all__ = [
    "Execution",
    "ExecutionResult",
    "ExecutionStatus",
    "InputHandler",
    "checkpoint",
    "current_execution",
]

#: Answers ``input()``: takes the prompt, returns the line (None for end-of-file).
InputHandler = Callable[[str], Awaitable[str | None]]

# Frames of any spe_host module (the whole package, not just the engine) are internal.
_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


_running: contextvars.ContextVar[Execution | None] = contextvars.ContextVar(
    "spe_host_execution", default=None
)


def current_execution() -> Execution | None:
    """The execution running in this context, or None outside any execution."""
    return _running.get()


def _aborted_is_being_handled() -> bool:
    # In a statement that awaits, a stop cancels the statement's cancel scope, so
    # the abort propagates through the script's finally blocks as trio.Cancelled.
    # Cleanup code may handle exceptions of its own while the abort propagates
    # (``finally: try: ... except KeyError: ...``): the abort is then the handled
    # exception's context, so the whole chain is searched.
    exc = sys.exc_info()[1]
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, ScriptAborted | trio.Cancelled):
            return True
        seen.add(id(exc))
        exc = exc.__context__
    return False


def checkpoint() -> bool:
    """The slow path of the abort check (bound as ``__spe_checkpoint__`` in sessions).

    Returns:
        True, so that it can stand in a comprehension's filter.

    Raises:
        ScriptAborted: The execution running in this context has been asked to stop
            and is not already handling the abort.
    """
    execution = _running.get()
    if execution is None or not execution.stop_requested:
        return True
    if _aborted_is_being_handled():
        return True  # let finally blocks, except handlers and __exit__ finish
    raise ScriptAborted(f"session {execution.session_id!r} was stopped")


@contextmanager
def _running_as(execution: Execution) -> Iterator[None]:
    token = _running.set(execution)
    try:
        with use_sink(execution):
            yield
    finally:
        _running.reset(token)


@functools.lru_cache(maxsize=1024)
def _is_internal(filename: str) -> bool:
    return os.path.dirname(os.path.abspath(filename)) == _PACKAGE_DIR


def _trim(te: traceback.TracebackException, seen: set[int]) -> None:
    if id(te) in seen:
        return
    seen.add(id(te))
    kept = [frame for frame in te.stack if not _is_internal(frame.filename)]
    te.stack = traceback.StackSummary.from_list(kept)
    for linked in (te.__cause__, te.__context__):
        if linked is not None:
            _trim(linked, seen)


def format_error(exc: BaseException, script_files: set[str]) -> str:
    """Format ``exc`` with the script's frames and none of spe_host's.

    Frames before the first script frame are the runner's and trio's plumbing; they
    are cut, and spe_host's own frames (the abort check) are dropped everywhere.
    """
    tb: TracebackType | None = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename not in script_files:
        tb = tb.tb_next
    if type(exc) is ScriptAborted:
        return _format_abort(exc, tb, script_files)
    te = traceback.TracebackException(type(exc), exc, tb, compact=True)
    _trim(te, set())
    return "".join(te.format())


def _format_abort(exc: ScriptAborted, tb: TracebackType | None, script_files: set[str]) -> str:
    # An abort is on the stop's critical path and says only where the script was:
    # one line per script frame, without the caret analysis that a full traceback
    # spends most of its time on (about a fifth of the stop latency).
    lines = ["Traceback (most recent call last):\n"]
    while tb is not None:
        code = tb.tb_frame.f_code
        if code.co_filename in script_files:
            lines.append(f'  File "{code.co_filename}", line {tb.tb_lineno}, in {code.co_name}\n')
            source = linecache.getline(code.co_filename, tb.tb_lineno).strip()
            if source:
                lines.append(f"    {source}\n")
        tb = tb.tb_next
    lines.append(f"spe_host.ScriptAborted: {exc}\n")
    return "".join(lines)


class StopFlags:
    """The fast-path abort flag of a group of namespaces: a host's sessions.

    A function defined in session A and called by session B runs with A's
    namespace as its globals, so a stop of B must raise the flag in A's namespace
    too, or B would never meet its abort inside A's function. The flag is therefore
    up in *every* namespace of the group while *any* execution of the group is
    stopping; the slow path then checks the execution of the current context, so
    the others just pass. Used from the trio thread only.
    """

    def __init__(self) -> None:
        self._namespaces: dict[int, dict[str, Any]] = {}
        self._stopping: set[int] = set()

    def add(self, namespace: dict[str, Any]) -> None:
        """Put a namespace under this flag."""
        self._namespaces[id(namespace)] = namespace
        namespace[_instrument.FLAG_NAME] = bool(self._stopping)

    def discard(self, namespace: dict[str, Any]) -> None:
        """Take a namespace out (its session is gone)."""
        self._namespaces.pop(id(namespace), None)

    def raise_for(self, execution: Execution) -> None:
        """An execution is stopping: raise the flag everywhere."""
        self._stopping.add(id(execution))
        self._write(True)

    def lower_for(self, execution: Execution) -> None:
        """An execution is over; the flag falls when no other is stopping."""
        self._stopping.discard(id(execution))
        if not self._stopping:
            self._write(False)

    def _write(self, value: bool) -> None:
        for namespace in self._namespaces.values():
            namespace[_instrument.FLAG_NAME] = value


# What to_thread.run_sync is given once the execution holds the host's limiter
# itself (so that a stop can cancel the wait for a slot).
_NO_LIMIT = trio.CapacityLimiter(1_000_000)


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
        frame: FrameType | None = None
        coroutine = self._coroutine
        if coroutine is not None:
            # An awaiting statement: follow the await chain down to the innermost
            # script coroutine.
            awaited: Any = coroutine
            while isinstance(awaited, CoroutineType):
                inner = awaited.cr_frame
                if inner is not None and inner.f_code.co_filename in self.script_files:
                    frame = inner
                awaited = awaited.cr_await
        elif self._thread is not None:
            current: FrameType | None = sys._current_frames().get(self._thread)
            while current is not None:
                if current.f_code.co_filename in self.script_files:
                    frame = current
                    break
                current = current.f_back
        if frame is None:
            return None
        return f"{frame.f_code.co_filename}:{frame.f_lineno}"

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
                            self._run_in_thread, limiter=_NO_LIMIT, abandon_on_cancel=True
                        )
                finally:
                    if self.limiter is not None:
                        self.limiter.release()
            else:
                outcome = (
                    ExecutionStatus.ABORTED,
                    f"spe_host.ScriptAborted: session {self.session_id!r} was stopped while "
                    "it waited for a free worker slot (max_running); nothing of it ran\n",
                )
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
            error = (
                f"spe_host.ScriptAborted: session {self.session_id!r} was stopped, but it "
                "did not reach its next statement within the deadline: it was stuck at "
                f"{self._abandoned_at}, most likely in a native call. Its worker thread "
                "was abandoned; it stops at its next statement.\n"
            )
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
        with trio.CancelScope() as scope:
            # Shielded from the caller like the thread itself; request_stop()
            # cancels this scope directly.
            scope.shield = True
            self._scope = scope
            if self.stop_requested:
                scope.cancel()
            try:
                await self.limiter.acquire()
            finally:
                self._scope = None
        return not scope.cancelled_caught

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
        with _running_as(self):
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
        with trio.CancelScope() as scope:
            self._scope = scope
            if self.stop_requested:
                scope.cancel()
            coroutine = eval(code, self.namespace)
            self._coroutine = coroutine
            where: TracebackType | None = None
            try:
                return await coroutine
            except trio.Cancelled as cancelled:
                where = cancelled.__traceback__  # the script's frames, for the abort
                raise
            finally:
                self._coroutine = None
                self._scope = None
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
        with trio.CancelScope() as scope:
            self._scope = scope
            if self.stop_requested:
                scope.cancel()
            try:
                answer = await handler(prompt)
            finally:
                self._scope = None
            if answer is None:
                return ""  # end-of-file: input() raises EOFError
            return answer if answer.endswith("\n") else answer + "\n"
        raise ScriptAborted(f"session {self.session_id!r} was stopped")
