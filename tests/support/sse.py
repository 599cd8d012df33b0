"""The HTTP API's event streams in tests: a live server, and streams parsed as a browser would.

``live_http()`` serves a fresh host on a loopback port (``threaded_http()`` in a
thread of its own, for synchronous clients); ``open_events(url, target)``
opens a stream and yields one :class:`Event` per blank-line-ended block, skipping
comments (``: keepalive``). Every wait is bounded by the caller's ``trio.fail_after``.
"""

from __future__ import annotations

import fcntl
import json
import queue
import struct
import termios
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from functools import partial
from typing import Any

import h11
import trio

import spe_host
from spe_host import Role
from spe_host.http import DEFAULT_HTTP_LIMITS, HttpLimits, HttpListening, serve_http
from support.http import bearer


@dataclass(frozen=True)
class Event:
    """One event: its name, its id (None if it had none) and its decoded JSON data."""

    event: str
    id: str | None
    data: Any


def parse(block: str) -> Event | None:
    """The event of one block (its lines without the blank line), or None for a comment."""
    name, event_id, data = "message", None, []
    for line in block.split("\n"):
        if line.startswith(":") or not line:
            continue
        field, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if field == "event":
            name = value
        elif field == "id":
            event_id = value
        elif field == "data":
            data.append(value)
    if not data:
        return None
    return Event(name, event_id, json.loads("\n".join(data)))


class EventStream:
    """An event stream read over its own connection: the response's status and headers, then
    its events (``async for``), until the server ends it or the block that opened it ends.

    Plain h11 over a trio socket, not httpx: leaving an httpx stream midway leaves
    its async generators unfinished, which trio reports (and pytest fails on).
    """

    def __init__(self, stream: trio.SocketStream, conn: h11.Connection) -> None:
        self._stream = stream
        self._conn = conn
        self._buffer = b""
        self.status = 0
        self.headers: dict[str, str] = {}

    async def _next_h11(self) -> object:
        while True:
            event = self._conn.next_event()
            if event is not h11.NEED_DATA:
                return event
            self._conn.receive_data(await self._stream.receive_some(65536))

    async def _start(self) -> None:
        event = await self._next_h11()
        assert isinstance(event, h11.Response), event
        self.status = event.status_code
        self.headers = {k.decode(): v.decode() for k, v in event.headers}

    def queued(self) -> int:
        """Bytes that reached this end of the connection and wait to be read."""
        raw = self._stream.socket.fileno()
        return struct.unpack("i", fcntl.ioctl(raw, termios.FIONREAD, b"\0" * 4))[0]

    def __aiter__(self) -> EventStream:
        return self

    async def __anext__(self) -> Event:
        while True:
            while b"\n\n" in self._buffer:
                block, self._buffer = self._buffer.split(b"\n\n", 1)
                event = parse(block.decode("utf-8"))
                if event is not None:
                    return event
            data = await self._next_h11()
            if isinstance(data, h11.Data):
                self._buffer += bytes(data.data)
            else:
                assert isinstance(data, h11.EndOfMessage | h11.ConnectionClosed), data
                raise StopAsyncIteration


@asynccontextmanager
async def open_events(
    url: str, target: str, headers: dict[str, str] | None = None
) -> AsyncIterator[EventStream]:
    """``GET target`` from the server at ``url``; the connection closes with the block."""
    host, port = url.removeprefix("http://").rsplit(":", 1)
    stream = await trio.open_tcp_stream(host, int(port))
    async with stream:
        conn = h11.Connection(h11.CLIENT)
        fields = [("Host", host), *(headers or {}).items()]
        request = h11.Request(method="GET", target=target, headers=fields)
        await stream.send_all(conn.send(request) + conn.send(h11.EndOfMessage()))
        reader = EventStream(stream, conn)
        await reader._start()
        yield reader


@dataclass(frozen=True)
class Live:
    """A host served over HTTP on loopback: the host, the base URL, and headers per role."""

    host: spe_host.Host
    url: str
    admin: dict[str, str]
    operator: dict[str, str]
    server: trio.CancelScope

    def shutdown(self) -> None:
        """Stop the HTTP server (as its embedding program would); the host stays."""
        self.server.cancel()


@asynccontextmanager
async def live_http(
    *, http_limits: HttpLimits = DEFAULT_HTTP_LIMITS, **host_options: Any
) -> AsyncIterator[Live]:
    """A host and ``serve_http`` on an ephemeral loopback port; both end with the block."""
    async with spe_host.open_host(**host_options) as host, trio.open_nursery() as nursery:
        server = trio.CancelScope()

        async def serve(task_status: trio.TaskStatus[HttpListening]) -> None:
            with server:
                await serve_http(
                    host, "tcp://127.0.0.1:0", limits=http_limits, task_status=task_status
                )

        listening = await nursery.start(serve)
        tokens = listening.tokens
        yield Live(
            host,
            listening.url,
            bearer(tokens, Role.ADMIN),
            bearer(tokens, Role.OPERATOR),
            server,
        )
        nursery.cancel_scope.cancel()


@contextmanager
def threaded_http(**options: Any) -> Iterator[HttpListening]:
    """A host and ``serve_http`` in a thread and trio loop of their own, for synchronous
    clients (schemathesis, a browser); ``options`` go to ``serve_http``."""
    ready: queue.Queue[HttpListening | BaseException] = queue.Queue()
    stop = threading.Event()

    async def main() -> None:
        async with spe_host.open_host(shutdown_timeout=1, max_running=8) as host:
            async with trio.open_nursery() as nursery:
                listening = await nursery.start(
                    partial(serve_http, host, "tcp://127.0.0.1:0", **options)
                )
                ready.put(listening)
                await trio.to_thread.run_sync(stop.wait)
                nursery.cancel_scope.cancel()
            # Whatever the client started does not outlive the block.
            await host.remove("*", force=True)

    def run() -> None:
        try:
            trio.run(main)
        except BaseException as exc:
            ready.put(exc)

    thread = threading.Thread(target=run, name="spe_host http for a synchronous client")
    thread.start()
    try:
        started = ready.get(timeout=20)
        if isinstance(started, BaseException):
            raise started
        yield started
    finally:
        stop.set()
        thread.join(timeout=20)
        assert not thread.is_alive()
