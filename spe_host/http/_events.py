"""``GET /api/events``: every change of the matching sessions, as a live event stream.

Theory of operation
-------------------
The dashboard's table is a list of session resources kept current. This stream
leads with one ``session`` event per matching session (the same JSON as ``GET
/api/sessions/{id}``), then sends one on every change of state, progress, location
or stop ticket, and ``removed`` when a session is closed. It rides on the service's
watch (:meth:`Service.watch <spe_host.service.Service.watch>`, with locations),
which coalesces the changes of each session: a client that reads slowly gets each
session's newest resource, not a backlog, so what the host holds for it is bounded
by the number of sessions.

The watch is opened before the sessions are listed, so no change can fall between
the two; a session may then be sent twice, its newest form last. The stream has no
event ids: a client that reconnects gets the whole table again, which is what it
needs.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from functools import partial

from starlette.requests import Request
from starlette.responses import Response

from .._model import SessionState, StateChange
from ..service import Operation, Principal, Service
from ._auth import principal as authenticate
from ._context import context
from ._encode import to_json
from ._openapi import Events
from ._resources import session_resource
from ._routing import ApiRoute
from ._sse import Emitter, EventStream, streams_closing
from ._types import Session

__all__ = ["ROUTES", "SessionEvents", "SessionRemoved"]


@dataclass(frozen=True, kw_only=True)
class SessionRemoved:
    """A session was removed.

    Attributes:
        id: The session id.
    """

    id: str


class SessionEvents(Events):
    """The matching sessions as Server-Sent Events: each one first, then on every change."""

    events = {"session": Session, "removed": SessionRemoved}


async def events(request: Request) -> Response:
    """``GET /api/events[?pattern=...]``: the session table, kept current."""
    principal = await authenticate(request, Operation.WATCH)
    api = context(request)
    patterns = tuple(request.query_params.getlist("pattern"))
    # Asked for here, so bad patterns are refused before the stream begins.
    watching = api.service.watch(principal, *patterns, locations=True)
    return EventStream(
        partial(_stream, api.service, principal, patterns, watching),
        closing=streams_closing(request.app),
        slot=api.streams.take(),
    )


async def _stream(
    service: Service,
    principal: Principal,
    patterns: tuple[str, ...],
    watching: AbstractAsyncContextManager[AsyncIterator[StateChange]],
    emitter: Emitter,
) -> None:
    async with watching as changes:
        for info in service.sessions(principal, *patterns):
            await emitter.emit("session", to_json(session_resource(info)))
        async for change in changes:
            if change.session.state is SessionState.CLOSED:
                await emitter.emit("removed", to_json(SessionRemoved(id=change.session.id)))
            else:
                await emitter.emit("session", to_json(session_resource(change.session)))


ROUTES: tuple[ApiRoute, ...] = (
    ApiRoute(
        "GET",
        "/api/events",
        events,
        "Every matching session, then each change of one (state, progress, location, stop) "
        "and each removal, as an event stream: what the dashboard's table listens to.",
        Operation.WATCH,
        query={"pattern": list[str]},
        responses={200: SessionEvents},
    ),
)
