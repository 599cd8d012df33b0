"""The engine's side of a stop ticket: one record per requested stop, changed in place.

Theory of operation
-------------------
A :class:`Ticket` holds the current :class:`~spe_host._model.StopTicket` of one run's
stop. The value is frozen; every change replaces it whole (one assignment, atomic
under the GIL), so a reader in any thread sees a consistent ticket, and then tells the
session (its :class:`~spe_host.engine._streams.Signal`, which reaches the trio thread
once per batch however many threads fire it), so every phase change reaches the
host's watchers. Changes come from the trio thread (the request, a force, the run's
end) and from the session's thread (the landing, deferral zones); ``_stopping``
orders the ones that race.

Ticket ids are ``stop-1``, ``stop-2``, ... counted over the process, so they are
unique within any host of it.
"""

from __future__ import annotations

import dataclasses
import itertools
import time
from collections.abc import Callable
from typing import Any

from .._model import ExecutionStatus, StopPhase, StopTicket

__all__ = ["Ticket"]

_ids = itertools.count(1)


class Ticket:
    """The live ticket of one run's stop.

    Args:
        session: The session id.
        run: The run's id.
        requested_by: Who asked, for people.
        reason: The reason they gave, or None.
        on_change: Called after every change (from any thread).
    """

    def __init__(
        self,
        *,
        session: str,
        run: str,
        requested_by: str,
        reason: str | None,
        on_change: Callable[[], None],
    ) -> None:
        self._value = StopTicket(
            id=f"stop-{next(_ids)}",
            session=session,
            run=run,
            requested_at=time.time(),
            requested_by=requested_by,
            reason=reason,
        )
        self._on_change = on_change

    @property
    def value(self) -> StopTicket:
        """The ticket as it is now."""
        return self._value

    @property
    def pending(self) -> bool:
        """True while the stop has been asked for and has not landed yet."""
        return self._value.phase is StopPhase.REQUESTED

    def change(self, **fields: Any) -> None:
        """Replace some fields and announce the change (only if something changed)."""
        value = dataclasses.replace(self._value, **fields)
        if value != self._value:
            self._value = value
            self._on_change()

    def land(self, where: str) -> None:
        """The script met the stop at ``where``; a ticket that landed already stays."""
        if self.pending:
            self.change(
                phase=StopPhase.LANDED,
                landed_at=where,
                landed_time=time.time(),
                blocked_in=None,
                deferred=None,
            )

    def finish(self, status: ExecutionStatus | None, at: float) -> None:
        """The run ended with ``status`` (None: it ended without a result)."""
        self.change(
            phase=StopPhase.FINISHED, finished_at=at, status=status, blocked_in=None, deferred=None
        )
