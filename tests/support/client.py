"""Helpers for the client tests: a host scripted message by message over a memory stream.

No real host runs: a test plays the server's side with a
``spe_host.wire.Connection("server")``, so it can interleave answers, hang up at a
chosen moment, or never answer at all.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import trio
import trio.testing

from spe_host._model import ExecutionResult, ExecutionStatus, SessionInfo, SessionState
from spe_host.client import Client, open_client
from spe_host.wire import CLOSED, NEED_DATA, PROTOCOL_VERSION, Connection, Hello, Message, Welcome


class ScriptedHost:
    """The server's end of a memory stream, driven one message at a time by a test."""

    def __init__(self, stream: trio.abc.Stream, version: str = PROTOCOL_VERSION) -> None:
        self.stream = stream
        self.conn = Connection("server")
        self.version = version  # what the welcome announces
        self.hello: Hello | None = None

    async def next(self) -> Message:
        """The next message the client sent."""
        while True:
            event = self.conn.next_event()
            if event is NEED_DATA:
                self.conn.receive_data(bytes(await self.stream.receive_some(65536)))
                continue
            assert event is not CLOSED, "the client hung up"
            assert isinstance(event, Message), event
            return event

    async def send(self, *messages: Message) -> None:
        await self.stream.send_all(b"".join(self.conn.send(m) for m in messages))

    async def greet(self) -> None:
        hello = await self.next()
        assert isinstance(hello, Hello)
        self.hello = hello
        if self.version != PROTOCOL_VERSION:
            # An older host: it ignores what it does not know, binary_output included.
            self.conn = Connection("server")
            self.conn.receive_data(b'{"type":"hello","version":"%s"}\n' % self.version.encode())
            assert isinstance(self.conn.next_event(), Hello)
        await self.send(Welcome(version=self.version, server="scripted", role="admin", pid=7))


@asynccontextmanager
async def scripted(version: str = PROTOCOL_VERSION) -> AsyncIterator[tuple[Client, ScriptedHost]]:
    """A client over a memory stream to a scripted host announcing ``version``."""
    client_end, host_end = trio.testing.memory_stream_pair()
    host = ScriptedHost(host_end, version)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(host.greet)
        async with open_client(client_end, address="memory") as client:
            yield client, host


def session_info(session: str, state: SessionState) -> SessionInfo:
    return SessionInfo(
        id=session,
        name=None,
        state=state,
        progress_percent=None,
        progress_message=None,
        location=None,
        last_status=None,
        created_at=1.0,
        last_accessed=2.0,
        autodispose=False,
        output_offset=0,
    )


def execution_result(session: str, output: str) -> ExecutionResult:
    return ExecutionResult(
        session=session,
        status=ExecutionStatus.COMPLETED,
        value=None,
        error=None,
        output=output,
        started_at=1.0,
        finished_at=2.0,
    )
