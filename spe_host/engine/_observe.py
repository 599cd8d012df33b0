"""Observer: what a host tells an onlooker (the journal) about its sessions and runs.

Theory of operation
-------------------
The engine records nothing itself. A host may have one :class:`Observer`
(``open_host(journal=...)`` gives it a :class:`~spe_host.journal.Journal`), and tells
it, in the trio thread:

* a session instance begins (``session_opened``; the observer may hand back a sink
  that the session's output buffer gives every batch it appends, from whichever
  thread moved it) and goes (``session_closed``: removed, expired or disposed);
* a run starts (``run_started``; an observer that must record it before any code runs
  returns an awaitable, which the run awaits before it takes its slot; what that
  raises refuses the run) and ends (``run_finished``);
* a stop ticket is requested, and its run ended (``ticket_changed``);
* an authentication succeeded or was refused (``auth``, passed on by the service).

``check_writable`` comes before a run is begun at all, so a run the observer cannot
record is refused before its session changes state. Every call must be quick and must
not block: the journal only puts records on its writer's queue.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol

from .._model import ExecutionResult, ExecutionStatus, StopTicket

__all__ = ["Admission", "Observer", "OutputSink", "report_end"]

#: Takes ``(offset, bytes)`` of each batch a session's output buffer appends.
OutputSink = Callable[[int, bytes], None]
#: Awaited by a run before its code runs; raising refuses the run.
Admission = Callable[[], Awaitable[None]]


class Observer(Protocol):
    """What the host reports (see the module docstring)."""

    def check_writable(self) -> None:
        """Raise (a :class:`~spe_host.SpeError`) if a run must be refused now."""
        ...

    def session_opened(self, session: str) -> OutputSink | None:
        """A session instance begins; return the sink for its output, or None."""
        ...

    def session_closed(self, session: str, why: str, by: str | None) -> None:
        """A session went (``why``: ``removed``, ``expired``, ``disposed``; ``by``: who)."""
        ...

    def run_started(
        self,
        *,
        session: str,
        run: str,
        code: str,
        filename: str | None,
        name: str | None,
        loop: bool,
        interactive: bool,
        started_at: float,
        by: str,
        connection: str | None,
        output_offset: int,
    ) -> Admission | None:
        """A run begins at ``output_offset`` of its session's stream."""
        ...

    def run_finished(
        self,
        *,
        session: str,
        run: str,
        status: ExecutionStatus,
        error: str | None,
        finished_at: float,
        output_end: int,
    ) -> None:
        """A run ended; its output ends at ``output_end``."""
        ...

    def ticket_changed(self, ticket: StopTicket) -> None:
        """A stop was requested, or the run it concerns ended."""
        ...

    def auth(self, *, who: str, ok: bool, role: str | None, how: str, detail: str | None) -> None:
        """An authentication succeeded (``ok``) or was refused."""
        ...


def report_end(
    observer: Observer, ticket: StopTicket | None, result: ExecutionResult, output_end: int
) -> None:
    """Tell ``observer`` that a run ended with ``result`` (and how its stop went, if any)."""
    observer.run_finished(
        session=result.session,
        run=result.run,
        status=result.status,
        error=result.error,
        finished_at=result.finished_at,
        output_end=output_end,
    )
    if ticket is not None:
        observer.ticket_changed(ticket)
