"""SessionThread: the one thread a session's synchronous statements run on.

Theory of operation
-------------------
Objects with thread affinity - a ``sqlite3`` connection, many GUI and C-extension
handles, ``threading.local`` state - work across a session's statements only if
every statement runs on the same thread, as a Jupyter kernel's cells do. So each
session owns one plain thread fed by a queue, instead of borrowing whichever
worker of trio's pool is free.

The thread is made lazily, when the session first runs a synchronous statement in
worker mode: a session that never did owns no thread (and no queue), which keeps
thousands of idle sessions cheap. It ends when the session closes or the host
exits (:meth:`SessionThread.close` queues an end marker). A thread stuck in a
native call at that moment is left behind to finish it; it is a daemon thread, so
it never keeps the process alive, and the session it served is gone anyway.

:meth:`SessionThread.run_sync` is this thread's ``trio.to_thread.run_sync``: the
callable runs there in a copy of the caller's context (so the execution's context
variables - its abort check, its output - follow it), and the trio task waits for
it without blocking the event loop. Cancelling the wait abandons the call, as
``abandon_on_cancel=True`` does: the call runs on and its result is dropped. The
thread hands the result straight to the waiting task (``reschedule``), as trio's own
``to_thread`` does, so the hop back costs no event and no extra scheduling pass.

Stack size: the thread gets :data:`STACK_SIZE` (4 MiB) of stack. That is half a
Linux main thread's usual 8 MiB and ample for Python's default recursion limit,
also through C-level recursion (``repr``, ``json``, ``pickle`` of deeply nested
data). Only the pages a statement touches count in RSS; the size bounds address
space, which 10,000 session threads reserve 40 GiB of at 4 MiB.
"""

from __future__ import annotations

import contextlib
import contextvars
import queue
import threading
from collections.abc import Callable
from typing import Any, TypeVar

import trio

from . import _futex

__all__ = ["STACK_SIZE", "SessionThread"]

T = TypeVar("T")

#: The stack size of a session's thread, in bytes.
STACK_SIZE = 4 * 1024 * 1024

# threading.stack_size() is process-wide: set it only for the moment our own
# thread starts, one start at a time.
_stack_size_lock = threading.Lock()

_Job = Callable[[], None]


class SessionThread:
    """A session's own thread, started on first use.

    Args:
        name: The thread's name (shown in debuggers and thread dumps).
    """

    __slots__ = ("_closed", "_jobs", "_name", "_thread")

    def __init__(self, name: str) -> None:
        self._name = name
        self._jobs: queue.SimpleQueue[_Job | None] | None = None
        self._thread: threading.Thread | None = None
        self._closed = False

    @property
    def ident(self) -> int | None:
        """The thread's identifier, or None before it has started."""
        return None if self._thread is None else self._thread.ident

    @property
    def alive(self) -> bool:
        """True from the first use until the thread has ended."""
        return self._thread is not None and self._thread.is_alive()

    async def run_sync(self, fn: Callable[[], T]) -> T:
        """Run ``fn()`` on the thread and wait for it; return or raise what it does.

        Raises:
            RuntimeError: The thread has been closed.
            trio.Cancelled: The wait was cancelled; ``fn`` runs on, abandoned.
        """
        token = trio.lowlevel.current_trio_token()
        task = trio.lowlevel.current_task()
        context = contextvars.copy_context()
        box: list[Any] = []
        abandoned = False

        def report() -> None:
            # In the trio thread: wake the waiting task itself, unless it gave up.
            if not abandoned:
                trio.lowlevel.reschedule(task)

        def job() -> None:
            try:
                box.append((True, context.run(fn)))
            except BaseException as exc:
                box.append((False, exc))
            # The host's trio run may be over: nobody waits any more then.
            with contextlib.suppress(trio.RunFinishedError):
                token.run_sync_soon(report)

        def abort(_: object) -> trio.lowlevel.Abort:
            nonlocal abandoned
            abandoned = True
            return trio.lowlevel.Abort.SUCCEEDED

        self._submit(job)
        await trio.lowlevel.wait_task_rescheduled(abort)
        ok, value = box[0]
        if ok:
            return value  # type: ignore[no-any-return]
        raise value

    def close(self) -> None:
        """End the thread once its current call (if any) returns; idempotent."""
        if self._closed:
            return
        self._closed = True
        if self._jobs is not None:
            self._jobs.put(None)

    def _submit(self, job: _Job) -> None:
        if self._closed:
            raise RuntimeError(
                f"{self._name} has ended with its session; the session takes no more work"
            )
        if self._jobs is None:
            self._jobs = queue.SimpleQueue()
            thread = threading.Thread(
                target=_serve, args=(self._jobs,), name=self._name, daemon=True
            )
            with _stack_size_lock:
                previous = threading.stack_size(STACK_SIZE)
                try:
                    thread.start()
                finally:
                    threading.stack_size(previous)
            self._thread = thread
            # Thousands of waiting threads need a bigger futex table (see _futex).
            _futex.fit(threading.active_count())
        self._jobs.put(job)


def _serve(jobs: queue.SimpleQueue[_Job | None]) -> None:
    # The thread's whole life: run jobs in order until the end marker. A job never
    # raises (run_sync's wrapper catches everything), so the loop never dies early.
    while (job := jobs.get()) is not None:
        job()
        del job  # drop the finished job's frame and result before waiting again
