"""The stop part of the :class:`~spe_host.Client` facade: ``stop`` and its tickets.

A stop returns at once with an outcome per session, as :meth:`Host.stop` does; what
happens next - who asked and why, what the run is blocked in while the stop waits,
where it landed, how the run ended - is the stop's ticket, read here by session or by
ticket id, or pushed by :meth:`~spe_host.Client.watch` inside each session's
``SessionInfo.stop``. Reasons, forced stops and tickets came with protocol 1.3, and a
client refuses to ask an older host for them (:mod:`._versions`).
"""

from __future__ import annotations

from contextlib import suppress

from .._errors import RemoteProtocolError
from .._model import StopOutcome, StopTicket
from ..wire import Stop, Ticket, Tickets, from_json
from ._base import ClientBase, array_of
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
        if not targets:
            raise ValueError("name at least one session (or a wildcard such as '*') to stop")
        self._require(STOP_REASONS, needed=reason is not None)
        self._require(FORCED_STOPS, needed=force)
        value = await self._request(
            lambda request_id: Stop(
                id=request_id, targets=list(targets), reason=reason, force=force
            )
        )
        if isinstance(value, dict):
            with suppress(ValueError):  # an outcome this client does not know
                return {str(key): StopOutcome(outcome) for key, outcome in value.items()}
        raise RemoteProtocolError("the answer to stop is not an object of outcomes")

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
