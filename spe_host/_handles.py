"""What the service hands a front end to hold on to something live: typed views.

A front end follows a session's output through an :class:`OutputCursor` and awaits a
run it began through a :class:`PendingRun`. Behind each is an engine object; through
these protocols a front end sees offsets and values (the :mod:`spe_host._model`
snapshots), never the live session, and the layers stay one-way.
"""

from __future__ import annotations

from typing import Protocol

from ._model import ExecutionResult, OutputChunk, Progress

__all__ = ["OutputCursor", "PendingRun"]


class OutputCursor(Protocol):
    """What a front end gets to follow a session's output and progress (see :meth:`Service.follow`).

    The engine's follower, seen only through this: offsets and values, never the
    live session behind it.
    """

    @property
    def offset(self) -> int:
        """The next byte offset this cursor will deliver."""
        ...

    @property
    def closed(self) -> bool:
        """True once the session is removed: nothing new will come."""
        ...

    def pending(self, max_chunks: int | None = None) -> list[OutputChunk | Progress]:
        """What can be delivered now: new progress, then output chunks from :attr:`offset`
        (at most ``max_chunks`` of them; call again for the rest)."""
        ...

    async def wait(self) -> None:
        """Wait until :meth:`pending` has something, or the session is closed."""
        ...


class PendingRun(Protocol):
    """An ``execute`` whose run has begun (see :meth:`Service.begin_execute`).

    The run belongs to the host: a front end that stops waiting leaves it going,
    and its result is kept for ``receive``.
    """

    @property
    def done(self) -> bool:
        """True once the run has ended; :meth:`take` then has its result."""
        ...

    async def wait_changed(self) -> None:
        """Wait for the session's next change: output, progress, or its state."""
        ...

    async def result(self) -> ExecutionResult:
        """Wait for the run to end and return its result (see :meth:`take`)."""
        ...

    def take(self) -> ExecutionResult:
        """The result of a run that is :attr:`done`; it is not kept for ``receive``.

        Raises:
            JournalUnavailable: The host requires its journal, which could not
                record the run (nothing of it ran).
        """
        ...
