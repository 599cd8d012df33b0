"""What Ctrl-C means while something runs: stop the session, force it, stop waiting.

At the prompt the terminal is in raw mode, so Ctrl-C is a key: prompt_toolkit raises
``KeyboardInterrupt`` from ``prompt()`` and the line is cleared; that never gets here.
While a statement runs the terminal is in cooked mode, so Ctrl-C is a SIGINT, which
trio delivers to a signal receiver (:meth:`Interrupts.watch`) instead of raising
``KeyboardInterrupt`` in some random task.

The first one asks the host to stop the session; the REPL shows the abort when
``done`` arrives. While that stop is pending, the stop's ticket, which the host pushes
to the REPL's watch (:meth:`Interrupts.changed`), says what it waits for, and a live
line under the output shows it: ``stop pending: blocked in time.sleep() called at
<session main #4>:1 for 12.0 s; press Ctrl-C again to force``. The second Ctrl-C
forces the stop (it is raised in the session's thread, so a loop in library code
stops too; a call into C still finishes first). The third stops waiting, and the
statement goes on in the session. While ``%wait`` waits, the first Ctrl-C ends it.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import trio

from .._errors import LocalProtocolError
from .._format import format_pending
from .._model import SessionInfo

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
        self._note: str | None = None

    @contextmanager
    def running(self) -> Iterator[trio.CancelScope]:
        """Run a statement in a scope that the third Ctrl-C cancels."""
        self._count = 0
        self._note = None
        try:
            with trio.CancelScope() as scope:
                self.exec_scope = scope
                yield scope
        finally:
            self.exec_scope = None
            self._repl.screen.status(None)

    def changed(self, info: SessionInfo | None) -> None:
        """The host pushed the session's state: show what our pending stop waits for."""
        if self.exec_scope is None:
            return
        screen = self._repl.screen
        ticket = None if self._count == 0 or info is None else info.stop
        if ticket is not None and ticket.note is not None and ticket.note != self._note:
            self._note = ticket.note  # what the stop could not do, said once
            screen.show(f"{ticket.note}\n", "warning")
        pending = format_pending(ticket)
        if pending is None:
            screen.status(None)
            return
        then = "force" if self._count == 1 else "stop waiting"
        screen.status(f"stop pending: {pending}; press Ctrl-C again to {then}")

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
                # A terminal that echoes keys echoed ^C where the cursor was; what we
                # say goes below it. (The REPL's own terminal echoes nothing while a
                # statement runs: keys typed then wait for the prompt.)
                if self.exec_scope is not None and self._count == 0 and self._repl.echoes:
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
            if self.exec_scope is None:
                # The abort arrived before the stop's answer and has been shown: saying
                # "stop requested" under it would be stale.
                return
            if outcome in ("requested", "already_stopping"):
                screen.show(
                    f"stop requested: session {session!r} stops at its next statement "
                    "(a blocking call finishes first)\n",
                    "warning",
                )
            else:
                screen.show(f"stop: {outcome.replace('_', ' ')}\n", "warning")
        elif self._count == 2:
            try:
                await repl.client.stop(repl.session, force=True)
            except LocalProtocolError as exc:  # a host older than protocol 1.3
                screen.show(f"cannot force the stop: {exc}\n", "warning")
            else:
                screen.show(
                    "forced: the stop is raised in the session's thread (a call into C "
                    "still finishes first); press Ctrl-C again to stop waiting\n",
                    "warning",
                )
            self.changed(repl.info)
        else:
            self.exec_scope.cancel()
