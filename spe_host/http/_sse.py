"""Server-Sent Events: the framing, and a response that streams at the pace its client reads.

Theory of operation
-------------------
An event stream (``text/event-stream``) is a sequence of events, each a few
``field: value`` lines ended by a blank line; a line that starts with ``:`` is a
comment, which clients ignore. :func:`frame` writes one event: its name, its ``id``
(which a browser sends back as ``Last-Event-ID`` when it reconnects) and its data,
one line of JSON (ASCII-escaped, so no line break or lone surrogate can split it).

:class:`EventStream` is an ASGI response around a *producer*, a coroutine that
calls :meth:`Emitter.emit` for each event. ``emit`` returns once the ASGI server has
taken the bytes, and hypercorn's send awaits the socket, so a producer that reads
a cursor between emits reads no faster than its client: a peer that never reads
holds one event in the host, never the session's output.

Beside the producer run two tasks. One sends a comment (``: keepalive``) whenever
the stream has been silent for ``heartbeat`` seconds, so proxies and idle timeouts
keep it open. The other listens for the client's ``http.disconnect`` and for the
server's shutdown (:func:`end_streams`, which ``serve_http`` calls first when it
stops), and cancels the producer: a stream ends
when its client goes, and ends cleanly - the response is finished, not cut - when
the server shuts down, so a graceful shutdown does not wait out its deadline.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Final

import trio
from starlette.applications import Starlette
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from ._capacity import Slot

__all__ = ["HEARTBEAT", "Emitter", "EventStream", "end_streams", "frame", "streams_closing"]

#: Seconds of silence after which a stream sends a keepalive comment.
HEARTBEAT: Final = 15.0
KEEPALIVE: Final = b": keepalive\n\n"


def streams_closing(app: Starlette) -> trio.Event:
    """The event that ends every event stream of ``app`` (see :func:`end_streams`)."""
    event = getattr(app.state, "spe_streams_closing", None)
    if event is None:
        event = app.state.spe_streams_closing = trio.Event()
    assert isinstance(event, trio.Event)
    return event


def end_streams(app: Starlette) -> None:
    """End the app's event streams cleanly: the server is shutting down."""
    streams_closing(app).set()


def frame(event: str, data: object, *, id: int | str | None = None) -> bytes:
    """One event of an event stream: ``event:``, ``id:`` if given, and ``data:`` as JSON."""
    lines = [f"event: {event}"]
    if id is not None:
        lines.append(f"id: {id}")
    lines.append("data: " + json.dumps(data, separators=(",", ":")))
    return ("\n".join(lines) + "\n\n").encode("ascii")


class Emitter:
    """What a producer sends its events through (see :class:`EventStream`)."""

    def __init__(self, send: Send) -> None:
        self._send = send
        self._lock = trio.Lock()
        self.last_sent = trio.current_time()

    async def emit(self, event: str, data: object, *, id: int | str | None = None) -> None:
        """Send one event; returns once the server has taken it."""
        await self.write(frame(event, data, id=id))

    async def write(self, chunk: bytes) -> None:
        """Send raw bytes of the stream (an event, or a comment)."""
        # One send at a time: the heartbeat and the producer share the stream.
        async with self._lock:
            await self._send({"type": "http.response.body", "body": chunk, "more_body": True})
            self.last_sent = trio.current_time()


class EventStream(Response):
    """A ``text/event-stream`` response whose events ``produce`` sends.

    Args:
        produce: Sends the stream's events through the emitter it is given; the
            stream ends when it returns.
        closing: Set when the server shuts down; the stream then ends.
        heartbeat: Seconds of silence before a keepalive comment.
        slot: The stream's slot (:mod:`._capacity`), given back when the stream ends.
    """

    media_type = "text/event-stream"

    def __init__(
        self,
        produce: Callable[[Emitter], Awaitable[None]],
        *,
        closing: trio.Event,
        heartbeat: float = HEARTBEAT,
        slot: Slot | None = None,
    ) -> None:
        # As starlette's StreamingResponse: no body, so no Content-Length.
        self.status_code = 200
        self.background = None
        self.init_headers(
            {
                "Cache-Control": "no-store",
                # nginx buffers a response unless told not to; a stream must not wait.
                "X-Accel-Buffering": "no",
            }
        )
        self._produce = produce
        self._closing = closing
        self._heartbeat = heartbeat
        self._slot = slot

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self._respond(receive, send)
        finally:
            if self._slot is not None:
                self._slot.release()

    async def _respond(self, receive: Receive, send: Send) -> None:
        await send(
            {"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers}
        )
        emitter = Emitter(send)
        gone = False

        async def listen() -> None:
            nonlocal gone
            while (await receive())["type"] != "http.disconnect":
                pass
            gone = True
            nursery.cancel_scope.cancel()

        async def until_closing() -> None:
            await self._closing.wait()
            nursery.cancel_scope.cancel()

        async def produce() -> None:
            await self._produce(emitter)
            nursery.cancel_scope.cancel()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(listen)
            nursery.start_soon(until_closing)
            nursery.start_soon(self._keepalive, emitter)
            nursery.start_soon(produce)
        if not gone:
            await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def _keepalive(self, emitter: Emitter) -> None:
        while True:
            await trio.sleep_until(emitter.last_sent + self._heartbeat)
            if trio.current_time() >= emitter.last_sent + self._heartbeat:
                await emitter.write(KEEPALIVE)
