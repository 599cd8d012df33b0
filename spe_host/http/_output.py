"""``GET /api/sessions/{id}/output``: a session's output, as a page of JSON or as a live stream.

Theory of operation
-------------------
A session's output is one stream of bytes, and a byte offset names a place in it
(:class:`~spe_host._model.OutputChunk`); the host keeps a bounded tail. Both forms
of this resource read it through the service's cursor (:meth:`Service.follow
<spe_host.service.Service.follow>`), which holds an offset and nothing else.

Without ``follow``, the answer is one page of JSON from ``?offset=`` (default 0):
at most :data:`PAGE_BYTES` of text, with ``end``, the offset to ask for next, and
``more`` when the page was cut at its bound - a client pages until ``more`` is
false. ``dropped`` counts the bytes from ``offset`` on that the buffer no longer
held.

With ``?follow=true`` (or ``Accept: text/event-stream``) the answer is an event
stream (:mod:`._sse`): ``state`` (the session resource) first and on every change
of state, run or stop ticket; ``progress`` when the script reports some; ``output``
for each chunk, whose ``id`` is the byte offset just *after* it; and ``end`` once
the session is removed. A client that loses the connection reconnects with
``Last-Event-ID`` (a browser's EventSource does so by itself), which takes
precedence over ``?offset=``, and gets exactly the bytes after the last chunk it
saw: nothing twice, nothing lost while the buffer still holds it. The stream takes
one chunk at a time and sends it before it takes the next, so a client that reads
slowly is sent to slowly, and one that never reads costs one chunk.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from functools import partial
from typing import Final

import trio
from starlette.requests import Request
from starlette.responses import Response

from .._model import OutputChunk, Progress, SessionInfo, SessionState, StateChange
from ..service import InvalidArgument, Operation, OutputCursor, Principal, Service
from ._auth import principal as authenticate
from ._context import context
from ._encode import json_response, to_json
from ._openapi import Events
from ._params import query_bool, whole_number
from ._resources import session_resource
from ._routing import ApiRoute
from ._sse import Emitter, EventStream, streams_closing
from ._types import Session

__all__ = ["CHUNK_BYTES", "PAGE_BYTES", "ROUTES", "OutputEvents", "OutputPage", "StreamEnd"]

#: The most bytes of output one ``output`` event carries.
CHUNK_BYTES: Final = 64 * 1024
#: The most bytes of output one page of JSON carries.
PAGE_BYTES: Final = 16 * CHUNK_BYTES


@dataclass(frozen=True, kw_only=True)
class OutputPage:
    """A page of a session's output, from an offset.

    Attributes:
        session: The session id.
        offset: The byte offset where ``text`` begins: the one asked for, or later
            if the buffer no longer held those bytes (see ``dropped``).
        end: The byte offset just past ``text``: where the next page begins.
        text: The output; bytes that were not UTF-8 appear as ``\\udcxx`` escapes.
        dropped: How many bytes from the offset asked for the buffer no longer held.
        more: Whether the session had more output past ``end`` (the page was full).
    """

    session: str
    offset: int
    end: int
    text: str
    dropped: int
    more: bool


@dataclass(frozen=True, kw_only=True)
class StreamEnd:
    """The session was removed: nothing more will come.

    Attributes:
        session: The session id.
        offset: The byte offset the stream ended at.
    """

    session: str
    offset: int


class OutputEvents(Events):
    """The session's output, progress and state as Server-Sent Events, resumable with
    ``Last-Event-ID`` (with ``follow=true`` or ``Accept: text/event-stream``); else one
    page of JSON."""

    events = {"state": Session, "progress": Progress, "output": OutputChunk, "end": StreamEnd}
    otherwise = OutputPage


def _offset(request: Request) -> int:
    # Last-Event-ID first: it is what a reconnecting EventSource sends.
    name, value = "Last-Event-ID", request.headers.get("last-event-id")
    if value is None:
        name, value = "offset", request.query_params.get("offset", "0")
    offset = whole_number(value)
    if offset is None:
        raise InvalidArgument(
            f"{name} is {value!r:.60}, which is not a byte offset; give a whole number of "
            "at least 0 (the id of the last output event received)"
        )
    return offset


async def output(request: Request) -> Response:
    """``GET /api/sessions/{id}/output``: a page of JSON, or the event stream."""
    principal = await authenticate(request, Operation.FOLLOW)
    api = context(request)
    session = request.path_params["id"]
    follow = query_bool(request, "follow") or "text/event-stream" in request.headers.get(
        "accept", ""
    )
    cursor = api.service.follow(principal, session, _offset(request), chunk_chars=CHUNK_BYTES)
    if not follow:
        return json_response(_page(api.service, principal, session, cursor))
    return EventStream(
        partial(_stream, api.service, principal, session, cursor),
        closing=streams_closing(request.app),
        slot=api.streams.take(),
    )


def _page(service: Service, principal: Principal, session: str, cursor: OutputCursor) -> OutputPage:
    begin = cursor.offset
    chunks = [
        item
        for item in cursor.pending(max_chunks=PAGE_BYTES // CHUNK_BYTES)
        if isinstance(item, OutputChunk)
    ]
    offset = chunks[0].offset if chunks else cursor.offset
    return OutputPage(
        session=session,
        offset=offset,
        end=cursor.offset,
        text="".join(chunk.text for chunk in chunks),
        dropped=offset - begin,
        more=service.session(principal, session).output_offset > cursor.offset,
    )


async def _stream(
    service: Service, principal: Principal, session: str, cursor: OutputCursor, emitter: Emitter
) -> None:
    shown: tuple[object, ...] | None = None
    # The end of the last chunk sent: every event's id, so a reconnect from any event's
    # id resumes after the bytes the client has (the cursor may be past a chunk that
    # pending() returned with a progress report but that is not sent yet).
    sent = cursor.offset

    async def state(info: SessionInfo) -> None:
        nonlocal shown
        # Progress has its own event, and the location changes too often to matter here.
        key = (info.state, info.run, info.stop)
        if key != shown:
            shown = key
            await emitter.emit("state", to_json(session_resource(info)), id=sent)

    async def drain() -> None:
        nonlocal sent
        # One chunk at a time, each sent before the next is taken.
        while items := cursor.pending(max_chunks=1):
            for item in items:
                if isinstance(item, OutputChunk):
                    await emitter.emit("output", to_json(item), id=item.end)
                    sent = item.end
                else:
                    await emitter.emit("progress", to_json(item), id=sent)

    async with service.watch(principal, session) as changes:
        if not cursor.closed:
            await state(service.session(principal, session))
        while True:
            await drain()
            if cursor.closed:
                break
            change = await _next_change(cursor, changes)
            if change is not None and change.session.state is not SessionState.CLOSED:
                await drain()
                await state(change.session)
    await emitter.emit("end", to_json(StreamEnd(session=session, offset=cursor.offset)))


async def _next_change(
    cursor: OutputCursor, changes: AsyncIterator[StateChange]
) -> StateChange | None:
    """Wait for news: new output or progress (None), or a change of the session."""
    change: StateChange | None = None

    async def on_output() -> None:
        await cursor.wait()
        nursery.cancel_scope.cancel()

    async def on_change() -> None:
        nonlocal change
        # Both waits lose nothing when cancelled: the cursor and the watcher take
        # only when they return.
        change = await anext(changes)
        nursery.cancel_scope.cancel()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(on_output)
        nursery.start_soon(on_change)
    return change


ROUTES: tuple[ApiRoute, ...] = (
    ApiRoute(
        "GET",
        "/api/sessions/{id}/output",
        output,
        "A session's output from a byte offset: a page of JSON, or with follow=true an event "
        "stream of output, progress and state, resumable with Last-Event-ID.",
        Operation.FOLLOW,
        query={"offset": int, "follow": bool},
        responses={200: OutputEvents},
    ),
)
