"""The way between a session's worker thread and the trio thread.

Theory of operation
-------------------
trio's synchronous API (``Event.set``, ``nursery.start_soon``,
``send_channel.send_nowait``, ``trio.current_time``) works only in the trio thread.
Called from a session's worker thread it fails half-way: ``ev.set()`` sets the
flag, then raises ``RuntimeError: must be called from async context`` while waking
the waiters, so they never wake and a second ``set()`` does nothing. Two things
help the script:

* :func:`run_sync` and :func:`run` (``spe.run_sync`` and ``spe.run`` in a script)
  carry a call to the trio thread and back, with ``trio.from_thread`` and the
  host's trio token, since a session's thread is not one trio made. Already in the
  trio thread (loop mode, or a statement that awaits), ``run_sync`` just calls.
  ``run`` keeps the stop semantics of a statement that awaits: a stop cancels it.
* :func:`explain_trio_misuse` recognises the two ways such a call fails and returns
  a note for the error that names both remedies and warns about what is broken.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

import trio

if TYPE_CHECKING:
    from ._execution import Execution

__all__ = ["TRIO_MISUSE_NOTE", "explain_trio_misuse", "run", "run_sync"]

T = TypeVar("T")

_TRIO_DIR = os.path.dirname(os.path.abspath(trio.__file__))

TRIO_MISUSE_NOTE = (
    "spe_host: this statement called trio's synchronous API (such as Event.set, "
    "nursery.start_soon, send_nowait or trio.current_time) from the session's worker "
    "thread, where it does not work. The trio objects it touched may be half-updated "
    "(an Event can be set while its waiters never wake). Call it in the trio thread "
    "with spe.run_sync(fn, *args) (spe.run(async_fn, *args) for an async function), "
    "or run the session in loop mode (%loop on in the REPL, --loop on the command "
    "line, loop=True in the API).\n"
)


def explain_trio_misuse(exc: BaseException) -> str | None:
    """The note for an error that a trio call from the wrong thread caused, or None."""
    if not isinstance(exc, RuntimeError | AttributeError):
        return None
    message = str(exc)
    if "must be called from async context" not in message and "'RunContext'" not in message:
        return None
    tb = exc.__traceback__
    while tb is not None:
        if os.path.abspath(tb.tb_frame.f_code.co_filename).startswith(_TRIO_DIR):
            return TRIO_MISUSE_NOTE
        tb = tb.tb_next
    return None


def run_sync(
    token: trio.lowlevel.TrioToken, trio_thread: int, fn: Callable[..., T], *args: Any
) -> T:
    """Call ``fn(*args)`` in the trio thread; return its value or raise its exception."""
    if threading.get_ident() == trio_thread:
        return fn(*args)
    return trio.from_thread.run_sync(fn, *args, trio_token=token)


def run(
    token: trio.lowlevel.TrioToken,
    trio_thread: int,
    execution: Execution | None,
    afn: Callable[..., Awaitable[T]],
    *args: Any,
) -> T:
    """Run ``await afn(*args)`` in the trio thread and wait for it, from another thread.

    Raises:
        RuntimeError: Called in the trio thread, where waiting would block the
            event loop that has to run ``afn``.
        ScriptAborted: ``execution`` was asked to stop while it waited.
    """
    if threading.get_ident() == trio_thread:
        raise RuntimeError(
            "spe.run() was called in the trio thread (loop mode, or a statement that "
            "awaits), where waiting would block the event loop the call needs; write "
            "`await async_fn(...)` instead"
        )
    if execution is None:
        return trio.from_thread.run(afn, *args, trio_token=token)
    value: T = trio.from_thread.run(execution.run_stoppable, afn, args, trio_token=token)
    return value
