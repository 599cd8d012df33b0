"""Helpers for the server, client and end-to-end tests.

:func:`served` opens a host and serves it for the block on one of three transports:

* ``"unix"``: a real unix socket in the test's private runtime directory;
* ``"tcp"``: real TCP on 127.0.0.1, port 0, with tokens and connection files;
* ``"memory"``: no listener at all; every connection is a
  :func:`trio.testing.memory_stream_pair` served by :func:`spe_host.server.serve_stream`
  (clients come from :func:`spe_host.testing.open_test_client`). Tests of what a
  request does, rather than of sockets, run here.

Real listeners are started with ``await nursery.start(serve_..., host)`` and cancelled
at the end of the block. Helpers wait on real conditions (a session's state, a frame
arriving); they never sleep and hope.
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing

import spe_host
from spe_host._model import Role
from spe_host.client import Client, connect
from spe_host.server import Listening, serve_stream, serve_tcp, serve_unix
from spe_host.service import Principal
from spe_host.testing import open_test_client
from spe_host.wire import (
    DEFAULT_MAX_FRAME,
    NEED_DATA,
    PROTOCOL_VERSION,
    Connection,
    Hello,
    Message,
    Welcome,
)

#: The real sockets, for tests of the path end to end.
TRANSPORTS = ["unix", "tcp"]
#: The peer name of the in-memory connections ``served("memory")`` makes.
MEMORY_PEER = "memory peer"
POLL = 0.002


def use_private_runtime_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point sockets and connection files at a fresh private directory; return it."""
    path = tmp_path / "rt"
    monkeypatch.setenv("SPE_HOST_RUNTIME_DIR", str(path))
    monkeypatch.delenv("SPE_HOST", raising=False)
    return path


@dataclass
class Served:
    """A host and one of its listeners (or, for ``"memory"``, its in-memory server)."""

    host: spe_host.Host
    listening: Listening
    transport: str
    raw_streams: list[trio.abc.Stream] = field(default_factory=list)
    # Only for "memory": where serve_stream runs, and its options (max_frame).
    nursery: trio.Nursery | None = None
    serve_options: dict[str, Any] = field(default_factory=dict)

    def token(self, role: str = "admin") -> str | None:
        tokens = self.listening.tokens
        return None if tokens is None else tokens.token(role)

    def connect(self, role: str = "admin", **options: Any) -> AbstractAsyncContextManager[Client]:
        """Connect a client with the token of ``role`` (none on a unix socket).

        In memory the role is given to the connection directly, and only the
        ``max_frame`` option applies (to both ends; default: the server's).
        """
        if self.transport == "memory":
            max_frame = options.get("max_frame", self.serve_options.get("max_frame"))
            return open_test_client(
                self.host,
                role=Role(role),
                peer=MEMORY_PEER,
                max_frame=DEFAULT_MAX_FRAME if max_frame is None else max_frame,
            )
        options.setdefault("token", self.token(role))
        return connect(self.listening.address, **options)

    async def open_raw(self) -> trio.abc.Stream:
        """A bare connection to the server, for frames no well-behaved client sends."""
        address = self.listening.address
        stream: trio.abc.Stream
        if self.transport == "memory":
            assert self.nursery is not None
            stream = await open_memory_peer(self.nursery, self.host, **self.serve_options)
        elif address.startswith("unix:"):
            stream = await trio.open_unix_socket(address.removeprefix("unix:"))
        else:
            host, _, port = address.removeprefix("tcp://").rpartition(":")
            stream = await trio.open_tcp_stream(host, int(port))
        self.raw_streams.append(stream)  # closed when the `served` block ends
        return stream

    async def raw_hello(
        self, role: str = "admin", *, binary_output: bool = False
    ) -> tuple[trio.abc.Stream, Connection]:
        """A bare connection that has completed the handshake (asking for binary
        output frames if told to)."""
        stream = await self.open_raw()
        return stream, await greet(stream, self.token(role), binary_output=binary_output)


@asynccontextmanager
async def served(
    transport: str,
    *,
    host_options: dict[str, Any] | None = None,
    **serve_options: Any,
) -> AsyncIterator[Served]:
    """Open a host and serve it on ``transport`` ("unix", "tcp" or "memory") for the block.

    ``serve_options`` go to ``serve_unix``/``serve_tcp``; in memory only ``max_frame``
    and ``handshake_timeout`` apply (to ``serve_stream``).
    """
    options = {"idle_timeout": None, "shutdown_timeout": 2.0, **(host_options or {})}
    async with spe_host.open_host(**options) as host, trio.open_nursery() as nursery:
        if transport == "memory":
            listening = Listening(address=f"memory:{host.name}")
            result = Served(host, listening, transport, nursery=nursery)
            result.serve_options = serve_options
        else:
            serve_fn = serve_unix if transport == "unix" else serve_tcp
            listening = await nursery.start(partial(serve_fn, host, **serve_options))
            result = Served(host, listening, transport)
        try:
            yield result
        finally:
            for stream in result.raw_streams:
                await trio.aclose_forcefully(stream)
            nursery.cancel_scope.cancel()


async def open_memory_peer(
    nursery: trio.Nursery,
    host: spe_host.Host,
    *,
    role: Role = Role.ADMIN,
    peer: str = MEMORY_PEER,
    **options: Any,
) -> trio.abc.Stream:
    """Serve one in-memory stream in ``nursery``; return the peer's end, not yet greeted.

    ``options`` go to :func:`spe_host.server.serve_stream` (``max_frame``,
    ``handshake_timeout``). The server ends when the returned stream is closed.
    """
    peer_end, server_end = trio.testing.memory_stream_pair()
    nursery.start_soon(
        partial(serve_stream, host, server_end, principal=Principal(role, peer), **options)
    )
    return peer_end


async def greet(
    stream: trio.abc.Stream, token: str | None = None, *, binary_output: bool = False
) -> Connection:
    """Say ``hello`` over a bare stream and read the ``welcome``; return the protocol state.

    The returned client-side :class:`~spe_host.wire.Connection` has seen the welcome, so
    a test can go on with frames it builds itself. The hello asks for binary output
    frames only when told to: by default the host sends the JSON frames of 1.4.
    """
    conn = Connection("client")
    hello = Hello(version=PROTOCOL_VERSION, token=token, client="raw", binary_output=binary_output)
    await stream.send_all(conn.send(hello))
    frames = await read_frames(stream, count=1)
    assert frames[0]["type"] == "welcome", frames
    conn.receive_data(encode(frames[0]))
    assert isinstance(conn.next_event(), Welcome)
    return conn


def encode(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj).encode() + b"\n"


async def read_frames(stream: trio.abc.ReceiveStream, count: int | None = None) -> list[Any]:
    """Read ``count`` frames, or every frame until the server closes (count=None)."""
    buffer = b""
    frames: list[Any] = []
    while count is None or len(frames) < count:
        try:
            data = await stream.receive_some(65536)
        except trio.BrokenResourceError:
            data = b""
        if not data:
            assert count is None, f"closed after {frames}"
            break
        buffer += data
        while b"\n" in buffer and (count is None or len(frames) < count):
            line, buffer = buffer.split(b"\n", 1)
            frames.append(json.loads(line))
    return frames


async def wait_until(predicate: Callable[[], object]) -> None:
    """Poll a real condition until it holds (the test's fail_after bounds it)."""
    while not predicate():
        await trio.sleep(POLL)


async def wait_state(host: spe_host.Host, session: str, state: str) -> None:
    """Wait until ``session`` exists and is in ``state``."""

    def reached() -> bool:
        found = host.sessions(session)
        return bool(found) and found[0].state == state

    await wait_until(reached)


def mode(path: Path | str) -> int:
    return os.stat(path).st_mode & 0o777


async def next_message(stream: trio.abc.ReceiveStream, conn: Connection) -> Message:
    """The next message ``conn`` reads from ``stream`` (a test's hand-driven client)."""
    while True:
        event = conn.next_event()
        if event is NEED_DATA:
            conn.receive_data(bytes(await stream.receive_some(65536)))
            continue
        assert isinstance(event, Message), f"expected a message, got {event!r}"
        return event
