"""Where an execution's statements run: the session's thread, or the trio thread.

Theory of operation
-------------------
:func:`run_statements` compiles the source (off the trio thread when it is long)
and runs its top-level statements in order, in one of two modes:

* **Worker mode** (the default). Synchronous statements run on the session's own
  thread (``_thread``), the same thread for every statement of the session, so
  ``time.sleep(60)`` blocks nobody and a ``sqlite3`` connection made in one
  statement works in the next. The whole execution is *one* hop to that thread - a
  hop costs as much as thousands of simple statements. A short source compiles in the
  trio thread (a REPL's statements come from the compile cache); a long one compiles
  on the session's thread if it exists, or in trio's worker pool, so a big script
  never stalls the event loop. A statement that awaits at top level
  (``await trio.sleep(1)``, ``async with``, ``async for``) goes back to the trio
  thread with ``trio.from_thread.run`` and runs entirely there, so a blocking call
  inside the same compound statement blocks the event loop. An execution without a
  synchronous statement never leaves the trio thread: a session that never ran
  synchronous code owns no thread. trio's synchronous API does not work on the
  session's thread; a statement that fails for that reason gets a note naming the
  remedies (``_bridge``).
* **Loop mode**. Every statement runs in the trio thread, in the execution's own
  task, as in ``python -m trio``, so the app's trio objects can be used directly. A
  synchronous statement holds the event loop while it runs: one that holds it
  :data:`HOLD_REPORT` s or more is reported in the session's output, and the host's
  :class:`~spe_host.engine._watchdog.Watchdog` stops one that holds it longer than
  ``loop_timeout``. Between two statements the loop runs other tasks, so a stop
  requested while a statement held the loop is read then, and lands at the next
  statement.

Awaiting statements, in either mode, run inside a cancel scope that a stop cancels,
so a stop ends the await at once.
"""

from __future__ import annotations

import contextlib
import functools
import threading
import time
import traceback
from types import CodeType, TracebackType
from typing import TYPE_CHECKING, Any

import trio

from .._errors import ScriptAborted
from .._model import ExecutionStatus
from . import _instrument
from ._blocked import awaited_in
from ._bridge import explain_trio_misuse
from ._checkpoint import checkpoint, running_as
from ._traceback import format_error

if TYPE_CHECKING:
    from ._execution import Execution

__all__ = ["HOLD_REPORT", "Outcome", "run_statements"]

#: Seconds a loop-mode statement may hold the event loop before it is reported.
HOLD_REPORT = 0.1

# Scheduling rounds the loop gets after a statement that held it HOLD_REPORT s.
_CATCH_UP_ROUNDS = 4

# Sources up to this long compile in the trio thread (well under a millisecond);
# longer ones off it, so a big script never stalls the event loop.
_COMPILE_INLINE = 2000

Outcome = tuple[ExecutionStatus, str | None]


async def run_statements(ex: Execution) -> Outcome:
    """Compile and run the execution's statements; how it ended, and its error text."""
    inline = len(ex.source) <= _COMPILE_INLINE
    if not (inline or ex.loop) and ex.thread.alive:
        return await _hand_over(ex, None)
    compile_it = functools.partial(
        _instrument.compile_script, ex.source, ex.filename, interactive=ex.interactive
    )
    try:
        if inline:
            statements = compile_it()
        else:
            statements = await trio.to_thread.run_sync(compile_it)
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        return _syntax_error(exc)
    if ex.loop or all(statement.is_async for statement in statements):
        return await _run_here(ex, statements)
    return await _hand_over(ex, statements)


async def _hand_over(ex: Execution, statements: list[_instrument.Statement] | None) -> Outcome:
    # To the session's thread; the share's runs give way while the loop waits for it.
    share = ex.flags.share
    if share is not None:
        share.expect()
    try:
        return await ex.thread.run_sync(functools.partial(_run_in_thread, ex, statements))
    except RuntimeError:
        if share is not None:
            share.not_expected()  # the session had closed: it never went
        raise


# -- the session's thread (worker mode) ----------------------------------------------


def _run_in_thread(ex: Execution, statements: list[_instrument.Statement] | None) -> Outcome:
    try:
        ex._thread = threading.get_ident()
        with running_as(ex):
            if statements is None:
                try:
                    statements = _instrument.compile_script(
                        ex.source, ex.filename, interactive=ex.interactive
                    )
                except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
                    return _syntax_error(exc)
            try:
                # A forced stop (``_stopping``) may land only in here, and never
                # while the thread waits for the trio thread (a hop).
                with ex.stop.forceable(threading.get_ident()):
                    if ex.stop_requested:
                        checkpoint()
                    for statement in statements:
                        if statement.is_async:
                            checkpoint()
                            with ex.stop.hop():
                                value = trio.from_thread.run(
                                    run_async, ex, statement.code, trio_token=ex._token
                                )
                        else:
                            value = _run_sync(ex, statement)
                        _show(ex, statement, value)
            except BaseException as exc:
                return _ended_by(ex, exc)
        return ExecutionStatus.COMPLETED, None
    finally:
        if ex._abandoned_at is not None:
            # Nobody waits for this thread any more; the flag it kept up for its
            # last check can fall now (if the host's trio run still exists).
            with contextlib.suppress(trio.RunFinishedError, RuntimeError):
                trio.from_thread.run_sync(ex.flags.lower_for, ex, trio_token=ex._token)


# -- the trio thread (loop mode, and executions that only await) -------------------


async def _run_here(ex: Execution, statements: list[_instrument.Statement]) -> Outcome:
    guard = ex.watchdog.watching() if ex.loop else contextlib.nullcontext()
    try:
        with running_as(ex), guard:
            if ex.stop_requested:
                checkpoint()
            for statement in statements:
                if statement.is_async:
                    checkpoint()
                    value = await run_async(ex, statement.code)
                    rounds = 1
                else:
                    value, rounds = _hold_loop(ex, statement)
                _show(ex, statement, value)
                # The loop is free between statements: other tasks run, and a
                # stop requested while this statement held the loop is read.
                for _ in range(rounds):
                    await trio.lowlevel.cancel_shielded_checkpoint()
    except BaseException as exc:
        if isinstance(exc, trio.Cancelled) and ex._abandoned_at is not None:
            raise  # abandoned at the host's exit: the execution reports it
        return _ended_by(ex, exc)
    return ExecutionStatus.COMPLETED, None


def _hold_loop(ex: Execution, statement: _instrument.Statement) -> tuple[Any, int]:
    """Run a synchronous statement in the trio thread; its value, and rounds to yield."""
    ex._thread = threading.get_ident()  # where the watchdog reads the line from
    ex.watchdog.hold(ex)
    started = time.perf_counter()
    try:
        value = _run_sync(ex, statement)
    finally:
        held = time.perf_counter() - started
        ex.watchdog.release()
        ex._thread = None
        if held >= HOLD_REPORT:
            ex.output.write(
                f"{chr(10) if ex.output.take_line_tail() else ''}spe_host: this statement held "
                f"the app's event loop for {held:.2f} s (loop mode)\n"
            )
    # After a long hold the loop gets a few scheduling rounds to catch up: a stop
    # that arrived meanwhile passes through several tasks (its socket's reader,
    # its request's task) before it reaches the host, and trio runs the tasks of
    # one round in random order.
    return value, _CATCH_UP_ROUNDS if held >= HOLD_REPORT else 1


async def run_async(ex: Execution, code: CodeType) -> Any:
    """Run an awaiting statement in the trio thread, in a scope a stop cancels."""
    where: TracebackType | None = None
    with ex._stoppable():
        coroutine = eval(code, ex.namespace)
        ex._coroutine = coroutine
        try:
            return await coroutine
        except trio.Cancelled as cancelled:
            where = cancelled.__traceback__  # the script's frames, for the abort
            raise
        finally:
            ex._coroutine = None
    awaited = awaited_in(where, ex.script_files)
    raise ex.stop.abort(f"cancelled while awaiting {awaited}").with_traceback(where)


# -- shared by both --------------------------------------------------------------------


def _run_sync(ex: Execution, statement: _instrument.Statement) -> Any:
    if statement.display:
        checkpoint()  # an expression carries no check of its own
        return eval(statement.code, ex.namespace)
    exec(statement.code, ex.namespace)
    return None


def _show(ex: Execution, statement: _instrument.Statement, value: Any) -> None:
    if statement.display and value is not None:
        ex.namespace["_"] = value
        ex._value = repr(value)


def _ended_by(ex: Execution, exc: BaseException) -> Outcome:
    if isinstance(exc, ScriptAborted):
        ticket = ex.stop.ticket
        if ticket is not None and ticket.pending:
            # Raised outside a check (a forced abort, or the script's own): it
            # landed where the traceback ends.
            ex.stop.landed(_innermost(exc.__traceback__))
        return ExecutionStatus.ABORTED, format_error(exc, ex.script_files) + ex._guard_note
    # Anything else - SystemExit included - fails the script, not the host.
    note = None if ex.loop else explain_trio_misuse(exc)
    return ExecutionStatus.FAILED, format_error(exc, ex.script_files) + (note or "")


def _innermost(tb: TracebackType | None) -> str:
    where = "an unknown line"
    while tb is not None:
        where = f"{tb.tb_frame.f_code.co_filename}:{tb.tb_lineno}"
        tb = tb.tb_next
    return where


def _syntax_error(exc: SyntaxError | ValueError | RecursionError | MemoryError) -> Outcome:
    # The script's own syntax (or a source compile() cannot take: a lone surrogate,
    # a null byte on 3.11): no traceback to show. (A SyntaxError the script
    # raises as it runs gets its traceback.)
    return ExecutionStatus.FAILED, "".join(traceback.format_exception_only(type(exc), exc))
