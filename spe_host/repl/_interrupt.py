"""What Ctrl-C means while something runs: stop the session, then stop waiting.

At the prompt the terminal is in raw mode, so Ctrl-C is a key: prompt_toolkit raises
``KeyboardInterrupt`` from ``prompt()`` and the line is cleared; that never gets here.
While a statement runs the terminal is in cooked mode, so Ctrl-C is a SIGINT, which
trio delivers to a signal receiver (:meth:`Interrupts.watch`) instead of raising
``KeyboardInterrupt`` in some random task. The first one asks the host to stop the
session (the REPL says the stop is pending, and shows the abort when ``done``
arrives); the second says why it is taking long; the third stops waiting, and the
statement goes on in the session. While ``%wait`` waits, the first Ctrl-C ends it.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import trio

if TYPE_CHECKING:
    from ._repl import Repl

__all__ = ["Interrupts"]


class Interrupts:
    """The cancel scopes that Ctrl-C ends, and the count of Ctrl-C per statement.

    Args:
        repl: The REPL whose session a Ctrl-C stops.
    """

    def __init__(self, repl: Repl) -> None:
        self._repl = repl
        #: The scope of the statement running now, if any.
        self.exec_scope: trio.CancelScope | None = None
        #: The scope of the ``%wait`` waiting now, if any.
        self.wait_scope: trio.CancelScope | None = None
        self._count = 0

    @contextmanager
    def running(self) -> Iterator[trio.CancelScope]:
        """Run a statement in a scope that the third Ctrl-C cancels."""
        self._count = 0
        try:
            with trio.CancelScope() as scope:
                self.exec_scope = scope
                yield scope
        finally:
            self.exec_scope = None

    @contextmanager
    def waiting(self) -> Iterator[trio.CancelScope]:
        """Wait in a scope that the first Ctrl-C cancels."""
        with trio.CancelScope() as scope:
            self.wait_scope = scope
            try:
                yield scope
            finally:
                self.wait_scope = None

    async def watch(self, task_status: trio.TaskStatus[None]) -> None:
        """Turn every SIGINT into :meth:`interrupt` (needs the main thread)."""
        with trio.open_signal_receiver(signal.SIGINT) as signals:
            task_status.started()
            async for _ in signals:
                # The terminal echoed ^C where the cursor was; what we say goes below it.
                if self.exec_scope is not None and self._count == 0:
                    self._repl.screen.show("\n")
                await self.interrupt()

    async def interrupt(self) -> None:
        """Ctrl-C while something runs: stop the session; the third time, stop waiting."""
        if self.wait_scope is not None:
            self.wait_scope.cancel()
            return
        if self.exec_scope is None:
            return
        self._count += 1
        repl = self._repl
        screen = repl.screen
        screen.start_line()
        if self._count == 1:
            session = repl.session
            outcome = (await repl.client.stop(session)).get(session, "not_found")
            if outcome in ("requested", "already_stopping"):
                screen.show(
                    f"stop requested: session {session!r} stops at its next statement "
                    "(a blocking call finishes first)\n",
                    "warning",
                )
            else:
                screen.show(f"stop: {outcome.replace('_', ' ')}\n", "warning")
        elif self._count == 2:
            screen.show(
                "still stopping: the session is inside a call that has not returned yet; "
                "press Ctrl-C again to stop waiting for it\n",
                "warning",
            )
        else:
            self.exec_scope.cancel()
