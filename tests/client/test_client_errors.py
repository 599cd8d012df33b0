"""The client raises the connection family by class: ConnectError, HandshakeTimeout,
ConnectionLost, so callers (the CLI's exit codes) never read the message to tell them
apart. The sentences are the ones the other client tests check."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing

from spe_host._errors import (
    AuthenticationError,
    ConnectError,
    ConnectionLost,
    HandshakeTimeout,
    TransportError,
)
from spe_host.client import Client, _connect, connect
from spe_host.wire import PROTOCOL_VERSION, Connection, Hello, Welcome


async def test_no_host_by_that_name_is_a_connect_error(runtime: Path) -> None:
    with trio.fail_after(5), pytest.raises(ConnectError, match="no host named 'nowhere'"):
        async with connect("nowhere"):
            pass


async def test_no_such_socket_is_a_connect_error(tmp_path: Path) -> None:
    with trio.fail_after(5), pytest.raises(ConnectError, match="cannot connect to unix:"):
        async with connect(f"unix:{tmp_path / 'absent.sock'}"):
            pass


async def test_a_refused_tcp_connection_is_a_connect_error() -> None:
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    port = listeners[0].socket.getsockname()[1]
    for listener in listeners:
        await listener.aclose()
    with trio.fail_after(5), pytest.raises(ConnectError, match="cannot connect to tcp://"):
        async with connect(f"tcp://127.0.0.1:{port}", token="t"):
            pass


async def test_a_token_refused_in_clear_text_is_a_connect_error() -> None:
    with trio.fail_after(5), pytest.raises(ConnectError, match="in clear text"):
        async with connect("tcp://192.0.2.1:9", token="secret"):
            pass


async def test_a_silent_host_is_a_handshake_timeout() -> None:
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    port = listeners[0].socket.getsockname()[1]
    try:
        with trio.fail_after(5), pytest.raises(HandshakeTimeout) as raised:
            async with connect(f"tcp://127.0.0.1:{port}", token="t", timeout=0.2):
                pass
    finally:
        for listener in listeners:
            await listener.aclose()
    assert "did not complete the handshake within 0.2 s" in str(raised.value)
    assert isinstance(raised.value, ConnectError)  # a kind of "could not connect"


async def _answer_once(listeners: list[trio.SocketListener], reply: bytes) -> None:
    stream = await listeners[0].accept()
    async with stream:
        await stream.receive_some(65536)
        await stream.send_all(reply)


@pytest.mark.parametrize(
    ("reply", "words"),
    [
        (b"", "closed the connection during the handshake"),
        (b"HTTP/1.1 400 Bad\r\n\r\n", "not valid JSON"),
    ],
)
async def test_a_host_that_does_not_finish_the_handshake_is_a_connect_error(
    reply: bytes, words: str
) -> None:
    # A peer that hangs up, or one that answers something other than the protocol.
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    port = listeners[0].socket.getsockname()[1]
    try:
        with trio.fail_after(5):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(_answer_once, listeners, reply)
                with pytest.raises(ConnectError, match=words):
                    async with connect(f"tcp://127.0.0.1:{port}", token="t"):
                        pass
    finally:
        for listener in listeners:
            await listener.aclose()


def _fake_open(client_stream: trio.abc.Stream) -> Any:
    """An ``_open`` that hands the client a greeted connection over ``client_stream``."""

    async def fake_open(*args: object, **kwargs: object) -> Any:
        proto = Connection("client")
        proto.send(Hello(version=PROTOCOL_VERSION, token=None, client="test"))
        welcome = Welcome(version=PROTOCOL_VERSION, server="fake", role="admin", pid=1)
        proto.receive_data(Connection("server").send(welcome))
        assert proto.next_event() == welcome
        return client_stream, proto, welcome

    return fake_open


async def test_a_host_that_hangs_up_loses_pending_and_later_requests(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    client_stream, host_stream = trio.testing.memory_stream_pair()
    monkeypatch.setattr(_connect, "_open", _fake_open(client_stream))
    lost: list[BaseException] = []

    async def pending(client: Client) -> None:
        try:
            await client.sessions()
        except ConnectionLost as exc:
            lost.append(exc)

    with trio.fail_after(5):
        async with connect("unix:/nonexistent/fake.sock") as client:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(pending, client)
                # The request reached the host; the host hangs up without answering.
                assert await host_stream.receive_some(65536)
                await host_stream.aclose()
            assert client.closed
            with pytest.raises(ConnectionLost, match="closed the connection"):
                await client.sessions()
    assert len(lost) == 1
    assert "the host at unix:/nonexistent/fake.sock closed the connection" in str(lost[0])


async def test_a_host_that_breaks_the_protocol_loses_the_connection(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    client_stream, host_stream = trio.testing.memory_stream_pair()
    monkeypatch.setattr(_connect, "_open", _fake_open(client_stream))
    with trio.fail_after(5):
        async with connect("unix:/nonexistent/fake.sock") as client:
            await host_stream.send_all(b"this is not json\n")
            with pytest.raises(ConnectionLost):
                await client.sessions()
            assert client.closed


async def test_requests_after_the_client_closed_are_connection_lost(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    client_stream, _host_stream = trio.testing.memory_stream_pair()
    monkeypatch.setattr(_connect, "_open", _fake_open(client_stream))
    with trio.fail_after(5):
        async with connect("unix:/nonexistent/fake.sock") as client:
            pass
        assert client.closed
        with pytest.raises(ConnectionLost, match="closed by this client"):
            await client.sessions()


def test_refused_credentials_are_not_a_transport_error() -> None:
    # The CLI maps both to "unreachable", but a caller can tell a refusal apart.
    assert not issubclass(AuthenticationError, TransportError)
    assert issubclass(HandshakeTimeout, ConnectError)
    assert issubclass(ConnectionLost, TransportError)
