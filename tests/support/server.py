"""Helpers for the server, client and end-to-end tests.

Servers run on real sockets: a unix socket in a per-test runtime directory, or TCP on
127.0.0.1 with port 0. They are started with ``await nursery.start(serve_..., host)``
and cancelled at the end of the block. Helpers wait on real conditions (a session's
state, a frame arriving); they never sleep and hope.
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

import spe_host
from spe_host.client import Client, connect
from spe_host.server import Listening, serve_tcp, serve_unix
from spe_host.wire import PROTOCOL_VERSION, Connection, Hello, Welcome

TRANSPORTS = ["unix", "tcp"]
POLL = 0.002


def use_private_runtime_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point sockets and connection files at a fresh private directory; return it."""
    path = tmp_path / "rt"
    monkeypatch.setenv("SPE_HOST_RUNTIME_DIR", str(path))
    monkeypatch.delenv("SPE_HOST", raising=False)
    return path


@dataclass
class Served:
    """A host and one of its listeners."""

    host: spe_host.Host
    listening: Listening
    transport: str
    raw_streams: list[trio.SocketStream] = field(default_factory=list)

    def token(self, role: str = "admin") -> str | None:
        tokens = self.listening.tokens
        return None if tokens is None else tokens.token(role)

    def connect(self, role: str = "admin", **options: Any) -> AbstractAsyncContextManager[Client]:
        """Connect a client with the token of ``role`` (none on a unix socket)."""
        options.setdefault("token", self.token(role))
        return connect(self.listening.address, **options)

    async def open_raw(self) -> trio.SocketStream:
        """A bare socket to the server, for frames no well-behaved client sends."""
        address = self.listening.address
        if address.startswith("unix:"):
            stream = await trio.open_unix_socket(address.removeprefix("unix:"))
        else:
            host, _, port = address.removeprefix("tcp://").rpartition(":")
            stream = await trio.open_tcp_stream(host, int(port))
        self.raw_streams.append(stream)  # closed when the `served` block ends
        return stream

    async def raw_hello(self, role: str = "admin") -> tuple[trio.SocketStream, Connection]:
        """A bare socket that has completed the handshake."""
        stream = await self.open_raw()
        conn = Connection("client")
        await stream.send_all(
            conn.send(Hello(version=PROTOCOL_VERSION, token=self.token(role), client="raw"))
        )
        frames = await read_frames(stream, count=1)
        assert frames[0]["type"] == "welcome", frames
        conn.receive_data(encode(frames[0]))
        assert isinstance(conn.next_event(), Welcome)
        return stream, conn


@asynccontextmanager
async def served(
    transport: str,
    *,
    host_options: dict[str, Any] | None = None,
    **serve_options: Any,
) -> AsyncIterator[Served]:
    """Open a host and serve it on ``transport`` ("unix" or "tcp") for the block."""
    options = {"idle_timeout": None, "shutdown_timeout": 2.0, **(host_options or {})}
    async with spe_host.open_host(**options) as host, trio.open_nursery() as nursery:
        serve_fn = serve_unix if transport == "unix" else serve_tcp
        listening = await nursery.start(partial(serve_fn, host, **serve_options))
        result = Served(host, listening, transport)
        try:
            yield result
        finally:
            for stream in result.raw_streams:
                await trio.aclose_forcefully(stream)
            nursery.cancel_scope.cancel()


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
