"""The stop part of the :class:`~spe_host.Client` facade: ``stop`` and its tickets.

A stop returns at once with an outcome per session, as :meth:`Host.stop` does; what
happens next - who asked and why, what the run is blocked in while the stop waits,
where it landed, how the run ended - is the stop's ticket, read here by session or by
ticket id, or pushed by :meth:`~spe_host.Client.watch` inside each session's
``SessionInfo.stop``. Reasons, forced stops and tickets came with protocol 1.3, and a
client refuses to ask an older host for them (:mod:`._versions`).

``stop_and_wait`` sends the ``stop`` and the ``wait`` in one write, before either
answer: the connection carries both at once, so the client sees the abort one round
trip sooner than a ``stop`` followed by a ``wait``. Their order on the host does not
matter - the wait ends when the sessions no longer run, whichever of the two the host
reads first (a host of this version answers a stop in its reader, before it reads on).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import suppress

from .._errors import RemoteProtocolError, SessionNotFound
from .._model import SessionInfo, StopOutcome, StopTicket
from ..wire import JSON, Request, Stop, Ticket, Tickets, Wait, from_json
from ._base import ClientBase, array_of, result_of
from ._versions import FORCED_STOPS, STOP_REASONS, STOP_TICKETS

__all__ = ["StopRequests"]


class StopRequests(ClientBase):
    """``stop``, ``stop_ticket``, ``ticket`` and ``tickets`` of the Client facade."""

    async def stop(
        self, *targets: str, reason: str | None = None, force: bool = False
    ) -> dict[str, StopOutcome]:
        """Ask sessions to stop at their next statement; returns at once.

        Each run asked to stop gets a ticket (:meth:`stop_ticket`); stopping a run
        again returns the same ticket, and its first reason stays.

        Args:
            *targets: Session ids or wildcards (at least one).
            reason: Why, for the ticket and for the ``ScriptAborted`` the script
                sees (at most 1,000 characters).
            force: If the run has not met the stop yet, raise it asynchronously in
                the session's thread, so a loop in uninstrumented Python code stops
                too (a call into C still finishes first). Not the default: it can
                land inside a library's own cleanup.

        Returns:
            The outcome per session: ``REQUESTED``, ``ALREADY_STOPPING``,
            ``NOT_RUNNING``, or ``NOT_FOUND`` for a target that matched nothing.

        Raises:
            ValueError: No target was given.
            LocalProtocolError: The reason is too long, or the host speaks a
                protocol older than 1.3 and a reason or force was given.
        """
        return _outcomes(await self._request(self._stop_request(targets, reason, force)))

    async def stop_and_wait(
        self,
        *targets: str,
        reason: str | None = None,
        force: bool = False,
        timeout: float | None = None,
    ) -> tuple[dict[str, StopOutcome], list[SessionInfo]]:
        """Ask sessions to stop, and wait until they no longer run: one round trip.

        The same as :meth:`stop` then :meth:`wait` on the same targets, but both
        requests go out before either answer comes back, so the abort is seen as
        soon as the host has it. A target that names no session is ``NOT_FOUND`` in
        the outcomes and absent from the sessions.

        Args:
            *targets: Session ids or wildcards (at least one).
            reason: Why, as for :meth:`stop`.
            force: Escalate, as for :meth:`stop`.
            timeout: Seconds to wait at most for the runs to end (None: as long as
                it takes); on timeout, the sessions that have finished.

        Returns:
            The outcome per session, as :meth:`stop` returns it, and the sessions
            (of those named) that are not running or stopping, with the last run's
            status (``aborted`` for a run the stop ended).

        Raises:
            ValueError: No target was given.
            LocalProtocolError: As for :meth:`stop`.
        """
        stop = self._stop_request(targets, reason, force)
        names = list(targets)
        Wait(id=0, sessions=names, timeout=timeout)  # a bad timeout fails before the stop
        if not self._channel.concurrent:  # one request at a time: one, then the other
            outcomes = _outcomes(await self._request(stop))
            return outcomes, await self._wait_found(outcomes, timeout)
        async with self._mux.requests(
            stop, lambda request_id: Wait(id=request_id, sessions=names, timeout=timeout)
        ) as (stop_answer, wait_answer):
            outcomes = _outcomes(await result_of(stop_answer))
            try:
                return outcomes, _sessions(await result_of(wait_answer))
            except SessionNotFound:
                pass
        # An id among the targets names no session (stop said NOT_FOUND): wait for
        # the sessions that were found.
        return outcomes, await self._wait_found(outcomes, timeout)

    async def _wait_found(
        self, outcomes: dict[str, StopOutcome], timeout: float | None
    ) -> list[SessionInfo]:
        found = [key for key, o in outcomes.items() if o is not StopOutcome.NOT_FOUND]
        if not found:
            return []
        return _sessions(
            await self._request(
                lambda request_id: Wait(id=request_id, sessions=found, timeout=timeout)
            )
        )

    def _stop_request(
        self, targets: tuple[str, ...], reason: str | None, force: bool
    ) -> Callable[[int], Request]:
        if not targets:
            raise ValueError("name at least one session (or a wildcard such as '*') to stop")
        self._require(STOP_REASONS, needed=reason is not None)
        self._require(FORCED_STOPS, needed=force)
        return lambda request_id: Stop(
            id=request_id, targets=list(targets), reason=reason, force=force
        )

    async def stop_ticket(self, session: str) -> StopTicket | None:
        """The stop ticket of a session's current or last run.

        Args:
            session: The session id.

        Returns:
            The ticket, or None if that run was not asked to stop.

        Raises:
            SessionNotFound: No such session.
            LocalProtocolError: The host speaks a protocol older than 1.3.
        """
        self._require(STOP_TICKETS)
        value = await self._request(lambda request_id: Ticket(id=request_id, session=session))
        return None if value is None else from_json(StopTicket, value)

    async def ticket(self, id: str) -> StopTicket:
        """A stop ticket by its id.

        Args:
            id: The ticket's id (:attr:`StopTicket.id`).

        Returns:
            The ticket as it stands now.

        Raises:
            SessionNotFound: The host keeps no ticket with that id (its run's result
                is gone, or it never existed).
            LocalProtocolError: The host speaks a protocol older than 1.3.
        """
        self._require(STOP_TICKETS)
        return from_json(
            StopTicket, await self._request(lambda request_id: Ticket(id=request_id, ticket=id))
        )

    async def tickets(self) -> list[StopTicket]:
        """Every stop ticket the host keeps, newest first: those of the runs it keeps.

        Raises:
            LocalProtocolError: The host speaks a protocol older than 1.3.
        """
        self._require(STOP_TICKETS)
        value = await self._request(lambda request_id: Tickets(id=request_id))
        return [from_json(StopTicket, item) for item in array_of(value, "tickets")]


def _outcomes(value: JSON) -> dict[str, StopOutcome]:
    if isinstance(value, dict):
        with suppress(ValueError):  # an outcome this client does not know
            return {str(key): StopOutcome(outcome) for key, outcome in value.items()}
    raise RemoteProtocolError("the answer to stop is not an object of outcomes")


def _sessions(value: JSON) -> list[SessionInfo]:
    return [from_json(SessionInfo, item) for item in array_of(value, "wait")]
