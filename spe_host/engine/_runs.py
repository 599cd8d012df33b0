"""Runs: a session's run ids, and the results it keeps until they are received.

Theory of operation
-------------------
Every execution in a session is a *run*, numbered from 1 in the order the session
started them; its id is the session id, ``#`` and that number (``etl#7``,
:func:`~spe_host._model.run_id`). A :class:`Runs` counts them and remembers the times
of the current or last one, for listings.

A finished run's result is kept until someone receives it: up to ``keep`` results,
oldest first. A foreground run's result that its caller waited for and got
(``Host.execute`` returned it) counts as received; if the caller went away first, it
is kept like a background run's. ``receive`` without a run id takes the oldest
unreceived one, so a caller that receives in a loop reads every run once, in order,
as from a queue; with a run id it takes that one. When a run finishes while ``keep`` results are
waiting already, the oldest goes; the session's output stream and the host's log
say so, naming the run, so the loss is never silent.

A run's stop ticket (``_ticket``) is kept with its result, and the current or last
run's ticket always: it goes when the result goes (received, or dropped) and a
newer run has started.

Everything here runs in the trio thread, like the session's state changes.
"""

from __future__ import annotations

import logging
import time

from .._errors import NoResult, SessionBusy
from .._model import ExecutionResult, SessionState, parse_run_id, run_id
from ._changes import changed
from ._streams import OutputBuffer
from ._ticket import Ticket

__all__ = ["DEFAULT_KEEP_RESULTS", "Runs", "check_keep_results", "dropped_result_line"]

#: How many unreceived results a session keeps by default.
DEFAULT_KEEP_RESULTS = 10

logger = logging.getLogger("spe_host")


def check_keep_results(keep: int) -> int:
    """Return ``keep`` if it is a valid number of results to keep (at least 1).

    Raises:
        ValueError: It is less than 1.
    """
    if keep < 1:
        raise ValueError(f"keep_results must be at least 1, not {keep}")
    return keep


def dropped_result_line(run: str, keep: int) -> str:
    """The line a session's output stream shows when it drops ``run``'s unreceived result."""
    return f"spe_host: dropped the unreceived result of {run} (the session keeps {keep})\n"


class Runs:
    """The runs of one session: their count, the current one's times, the kept results.

    Args:
        session_id: The session's id.
        keep: How many unreceived results to keep (at least 1).
        output: The session's output stream, told when a result is dropped.
    """

    def __init__(self, session_id: str, *, keep: int, output: OutputBuffer) -> None:
        self.session_id = session_id
        self.keep = keep
        self.count = 0
        self.started_at: float | None = None
        self.ended_at: float | None = None
        self._output = output
        # Insertion order is run order: the first key is the oldest unreceived result.
        self._kept: dict[str, ExecutionResult] = {}
        self._tickets: dict[str, Ticket] = {}

    @property
    def current(self) -> str | None:
        """The id of the current or last run, or None before the first."""
        return run_id(self.session_id, self.count) if self.count else None

    @property
    def kept(self) -> list[ExecutionResult]:
        """The unreceived results, oldest first."""
        return list(self._kept.values())

    @property
    def tickets(self) -> list[Ticket]:
        """The stop tickets kept, oldest run first."""
        return list(self._tickets.values())

    def ticket(self, run: str | None) -> Ticket | None:
        """The stop ticket of ``run`` if one is kept."""
        return None if run is None else self._tickets.get(run)

    def add_ticket(self, ticket: Ticket) -> None:
        """Keep the current run's stop ticket (with its result, later)."""
        self._tickets[ticket.value.run] = ticket

    def _forget_tickets(self) -> None:
        current = self.current
        for run in [r for r in self._tickets if r != current and r not in self._kept]:
            del self._tickets[run]

    def begin(self) -> str:
        """Number a new run; return its id."""
        self.count += 1
        self.started_at = time.time()
        self.ended_at = None
        self._forget_tickets()
        changed()  # the count and the times show in listings
        return run_id(self.session_id, self.count)

    def end(self, result: ExecutionResult | None) -> None:
        """The current run has ended with ``result`` (None: it ended without one)."""
        self.ended_at = time.time() if result is None else result.finished_at
        changed()
        if result is None:
            return
        self._kept[result.run] = result
        while len(self._kept) > self.keep:
            dropped = next(iter(self._kept))
            del self._kept[dropped]
            self._output.write(dropped_result_line(dropped, self.keep))
            logger.warning(
                "session %r dropped the unreceived result of %s: it keeps %d",
                self.session_id,
                dropped,
                self.keep,
            )
        self._forget_tickets()

    def delivered(self, run: str) -> None:
        """``run``'s result reached whoever waited for it: it is not kept for a receive."""
        self._kept.pop(run, None)
        self._forget_tickets()

    def take(self, run: str | None, *, keep: bool, state: SessionState) -> ExecutionResult:
        """The result of ``run`` (None: the oldest unreceived), forgotten unless ``keep``.

        Args:
            run: A run id of this session, or None for the oldest unreceived result.
            keep: Keep the result for a later receive.
            state: The session's state (a result still being made is busy, not gone).

        Raises:
            ValueError: ``run`` is not a run id of this session.
            SessionBusy: The run asked for is still going, or (``run`` None) nothing
                is kept and a run is going.
            NoResult: There is no such result to receive.
        """
        if run is None:
            if not self._kept:
                if state.active:
                    raise SessionBusy(
                        f"session {self.session_id!r} is {state.value} ({self.current}) and "
                        "keeps no finished result; wait for it or stop it before you "
                        "receive its result"
                    )
                raise NoResult(
                    f"session {self.session_id!r} has no result to receive: nothing has "
                    "finished in it since its results were last received"
                )
            run = next(iter(self._kept))
        else:
            session, _ = parse_run_id(run)
            if session != self.session_id:
                raise ValueError(
                    f"the run {run!r} belongs to session {session!r}, not "
                    f"{self.session_id!r}; name a run of {self.session_id!r}"
                )
            if run not in self._kept:
                if state.active and run == self.current:
                    raise SessionBusy(
                        f"run {run} is still {state.value}; wait for it or stop it before "
                        "you receive its result"
                    )
                raise NoResult(self._unknown(run))
        if keep:
            return self._kept[run]
        result = self._kept.pop(run)
        self._forget_tickets()
        return result

    def _unknown(self, run: str) -> str:
        kept = ", ".join(self._kept) or "none"
        return (
            f"session {self.session_id!r} keeps no result of run {run}: it was received "
            f"already, dropped, or never ran; the unreceived runs are: {kept}"
        )
