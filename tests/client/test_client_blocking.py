"""The Client over a blocking socket (``connect_blocking``), against real servers.

The blocking path must reach a host exactly as the trio path does: over a unix socket,
over TCP with TLS pinned by the connection file's fingerprint or verified by a CA,
with the same errors and sentences for a wrong token, a plain client at a TLS
listener, a forged pin, a host that never answers. The servers here run in the test's
trio loop, so the blocking client runs in a worker thread.
"""

from __future__ import annotations

import json
import os
import socket
import ssl
import threading
from collections.abc import Awaitable, Callable, Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any, TypeVar

import pytest
import trio
import trustme
from support.server import served, use_private_runtime_dir

from spe_host import (
    AuthenticationError,
    ConnectError,
    ConnectionLost,
    HandshakeTimeout,
    LocalProtocolError,
)
from spe_host import auth as _auth
from spe_host import transport as _transport
from spe_host.client import Client, connect, connect_blocking, run_blocking
from spe_host.wire import PROTOCOL_VERSION, Connection, Welcome

_T = TypeVar("_T")

pytestmark = pytest.mark.usefixtures("private_runtime")


@pytest.fixture
def private_runtime(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return use_private_runtime_dir(tmp_path, monkeypatch)


async def in_thread(use: Callable[[Client], Awaitable[_T]], *args: Any, **options: Any) -> _T:
    """``use`` a blocking client (``connect_blocking(*args, **options)``) in a worker thread."""

    async def session() -> _T:
        async with connect_blocking(*args, **options) as client:
            return await use(client)

    return await trio.to_thread.run_sync(lambda: run_blocking(session()))


async def failure(*args: Any, **options: Any) -> tuple[str, str]:
    """What connecting raises, on the trio path and on the blocking path."""

    async def nothing(client: Client) -> None:
        pass

    found: list[str] = []
    for path in ("trio", "blocking"):
        try:
            if path == "trio":
                async with connect(*args, **options):
                    pass
            else:
                await in_thread(nothing, *args, **options)
        except Exception as exc:
            found.append(f"{type(exc).__name__}: {exc}")
        else:
            found.append("connected")
    return found[0], found[1]


async def test_a_blocking_client_makes_the_one_shot_requests_over_a_unix_socket() -> None:
    async def one_shot(client: Client) -> tuple[Any, ...]:
        started = await client.start("job", "x = 6 * 7")
        await client.wait("job")
        listed = await client.sessions("j*")
        result = await client.receive("job")
        removed = await client.remove("job")
        return started.id, [info.id for info in listed], result.status, removed, client.closed

    with trio.fail_after(20):
        async with served("unix") as srv:
            address = srv.listening.address
            assert await in_thread(one_shot, address) == (
                "job",
                ["job"],
                "completed",
                ["job"],
                False,
            )
            async with srv.connect() as client:  # the trio client sees what it did
                assert await client.sessions() == []


async def test_a_blocking_client_refuses_to_stream_with_a_sentence() -> None:
    async def execute(client: Client) -> object:
        return await client.execute("s", "1 + 1")

    with trio.fail_after(20):
        async with served("unix") as srv:
            with pytest.raises(LocalProtocolError, match="cannot stream; connect with"):
                await in_thread(execute, srv.listening.address)


async def test_tls_pinned_and_verified_and_refused_as_on_the_trio_path(tmp_path: Path) -> None:
    ca = trustme.CA()
    leaf = ca.issue_cert("127.0.0.1", "localhost")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    leaf.configure_cert(context)
    fingerprint = _transport.fingerprint_of_der(
        ssl.PEM_cert_to_DER_cert(leaf.cert_chain_pems[0].bytes().decode())
    )
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))

    async def role(client: Client) -> str:
        return f"{client.role} {len(await client.sessions())}"

    with trio.fail_after(30):
        async with served("tcp", ssl_context=context, tls_fingerprint=fingerprint) as srv:
            # Pinned by the connection file, no CA; then verified by a CA.
            assert await in_thread(role, srv.host.name) == "admin 0"
            address, token = srv.listening.address, srv.token()
            assert await in_thread(role, address, token=token, cafile=str(ca_file)) == "admin 0"

            trio_says, blocking_says = await failure(address, token=token, tls=False, timeout=3)
            assert trio_says == blocking_says
            assert "during the handshake" in blocking_says

            forged = tmp_path / "forged.json"
            _auth.write_connection_file(
                forged,
                _auth.ConnectionInfo(
                    name="forged",
                    address=address,
                    token=token,
                    role="admin",
                    pid=os.getpid(),
                    tls_fingerprint="00" * 32,
                    tls=True,
                ),
            )
            trio_says, blocking_says = await failure(str(forged))
            assert trio_says == blocking_says
            assert blocking_says.startswith(f"{AuthenticationError.__name__}: ")
            assert "fingerprint" in blocking_says


async def test_a_wrong_token_is_refused_with_the_same_error_on_both_paths() -> None:
    with trio.fail_after(20):
        async with served("tcp") as srv:
            trio_says, blocking_says = await failure(srv.listening.address, token="wrong")
            assert trio_says == blocking_says
            assert blocking_says.startswith(f"{AuthenticationError.__name__}: ")


async def test_an_unreachable_host_gives_the_same_sentence_on_both_paths(
    tmp_path: Path,
) -> None:
    with trio.fail_after(20):
        with closing(socket.socket()) as unused:
            unused.bind(("127.0.0.1", 0))  # bound, never listening: refused
            port = unused.getsockname()[1]
            trio_says, blocking_says = await failure(f"tcp://127.0.0.1:{port}")
        assert trio_says == blocking_says
        assert blocking_says.startswith(f"{ConnectError.__name__}: cannot connect to tcp://")
        trio_says, blocking_says = await failure(f"unix:{tmp_path / 'none.sock'}")
        assert trio_says == blocking_says
        assert "No such file or directory" in blocking_says


@contextmanager
def silent_listener() -> Iterator[str]:
    """A TCP listener that accepts (in its backlog) and never answers; its address."""
    with closing(socket.socket()) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(4)
        yield f"tcp://127.0.0.1:{listener.getsockname()[1]}"


async def test_a_host_that_never_answers_hits_the_handshake_deadline() -> None:
    with trio.fail_after(20), silent_listener() as address:
        trio_says, blocking_says = await failure(address, timeout=0.3)
    assert trio_says == blocking_says
    assert blocking_says == (
        f"{HandshakeTimeout.__name__}: the host at {address} did not complete the "
        "handshake within 0.3 s; is it an spe-host server, and does it expect TLS?"
    )


@contextmanager
def greeting_then_silent() -> Iterator[str]:
    """A host that welcomes one client and then never answers a request; its address."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    done = threading.Event()

    def host() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.settimeout(10)
            conn.recv(65536)  # the hello
            server = Connection("server")
            server.receive_data(
                json.dumps({"type": "hello", "version": PROTOCOL_VERSION, "client": "t"}).encode()
                + b"\n"
            )
            server.next_event()
            welcome = Welcome(version=PROTOCOL_VERSION, server="mute", pid=1, role="admin")
            conn.sendall(server.send(welcome))
            done.wait(10)  # reads the request, never answers it

    thread = threading.Thread(target=host, daemon=True)
    thread.start()
    try:
        yield f"tcp://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        done.set()
        thread.join(10)
        listener.close()


async def test_a_request_the_host_never_answers_hits_its_deadline() -> None:
    async def two_lists(client: Client) -> tuple[str, bool, str]:
        with pytest.raises(ConnectionLost) as first:
            await client.sessions()
        with pytest.raises(ConnectionLost) as second:
            await client.sessions()
        return str(first.value), client.closed, str(second.value)

    with trio.fail_after(20), greeting_then_silent() as address:
        said, closed, later = await in_thread(two_lists, address, request_timeout=0.3)
    assert said == (
        f"the host at {address} did not answer the list request within 0.3 s; is it "
        "stuck (a session holding its trio thread)? Try again, or restart the host"
    )
    assert (closed, later) == (True, said)


def test_run_blocking_refuses_a_coroutine_that_would_suspend() -> None:
    with pytest.raises(RuntimeError, match="awaited something that suspends"):
        run_blocking(trio.sleep(0))
