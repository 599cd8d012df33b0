"""The server's guard rails: authentication, roles, file modes, framing, listeners.

What sockets, tokens, TLS, peer credentials, connection files and listeners do runs
over real unix sockets and TCP. What a request does on the wire runs in memory
(``served("memory")``: :func:`spe_host.server.serve_stream` over a memory stream pair),
with one real TCP variant kept where it is the only end-to-end check of that path.
"""

from __future__ import annotations

import logging
import os
import socket
import ssl
import stat
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import trio
import trustme
from support.server import (
    encode,
    mode,
    read_frames,
    served,
)

import spe_host
from spe_host import auth as _auth
from spe_host import transport as _transport
from spe_host._errors import AuthenticationError, PermissionDenied, RemoteProtocolError, SpeError
from spe_host.auth import FailureThrottle, Role, TokenTable, read_connection_file
from spe_host.client import connect
from spe_host.server import serve, serve_tcp, serve_unix
from spe_host.wire import OPERATOR_REQUESTS

pytestmark = pytest.mark.usefixtures("runtime")


# --- authentication and roles -------------------------------------------------------------


async def test_tcp_refuses_a_wrong_or_missing_token() -> None:
    with trio.fail_after(10):
        async with served("tcp") as srv:
            with pytest.raises(AuthenticationError, match="not valid for this host"):
                async with srv.connect(token="not-the-token"):
                    pass
            with pytest.raises(AuthenticationError, match="no token was given"):
                async with srv.connect(token=None):
                    pass
            # A raw client sees the wire code, and the connection is closed after it.
            stream = await srv.open_raw()
            await stream.send_all(encode({"type": "hello", "version": "1.0", "token": "x"}))
            [frame] = await read_frames(stream)
            assert (frame["type"], frame["id"], frame["code"]) == ("error", None, "unauthorized")


@pytest.mark.parametrize("transport", ["memory", "tcp"])
async def test_an_operator_may_watch_and_stop_but_not_run_code(transport: str) -> None:
    # Over TCP the role comes from the operator token; in memory it is given.
    with trio.fail_after(10):
        async with served(transport) as srv, srv.connect() as admin:
            await admin.start("s", "x = 1\nprint('hi')")  # a job's result, to receive
            await admin.wait("s")
            async with srv.connect("operator") as operator:
                assert operator.role == "operator"
                with pytest.raises(PermissionDenied, match="needs the admin role") as info:
                    await operator.execute("s", "print(x)")
                assert info.value.code == "forbidden"
                assert "an operator token may list, receive" in str(info.value)
                assert "connect with the admin token to run code" in str(info.value)
                with pytest.raises(PermissionDenied, match="'start' needs the admin role"):
                    await operator.start("t", "1")
                with pytest.raises(PermissionDenied, match="'complete' needs the admin role"):
                    await operator.complete("s", "x")
                with pytest.raises(PermissionDenied, match="'remove' needs the admin role"):
                    await operator.remove("s")
                # What an operator may do, and the connection is still open.
                assert [s.id for s in await operator.sessions()] == ["s"]
                assert await operator.stop("s") == {"s": "not_running"}
                assert [s.id for s in await operator.wait("s", timeout=1)] == ["s"]
                assert (await operator.receive("s", keep=True)).status == "completed"
                async with operator.subscribe("s") as events:
                    first = await events.__anext__()
                    assert (first.offset, getattr(first, "text", None)) == (0, "hi\n")


def test_the_protocol_and_the_permission_check_agree_on_the_operator_role() -> None:
    # The server refuses an operator every request outside the protocol's one list.
    operator = {"list", "stop", "ticket", "tickets", "wait", "receive", "subscribe", "watch"}
    assert operator | {"cancel"} == OPERATOR_REQUESTS
    for request in ("execute", "start", "remove", "complete", "input_reply"):
        assert request not in OPERATOR_REQUESTS


async def test_connecting_by_name_reads_the_token_from_the_connection_file() -> None:
    with trio.fail_after(10):
        async with served("tcp") as srv:
            async with connect(srv.host.name) as client:
                assert client.role == "admin"
            operator_file = srv.listening.connection_files["operator"]
            async with connect(str(operator_file)) as client:
                assert client.role == "operator"


async def test_modes_of_the_socket_its_directory_and_the_connection_files(
    runtime: Path,
) -> None:
    old = os.umask(0)  # a careless umask must not loosen anything
    try:
        with trio.fail_after(10):
            async with served("unix") as srv:
                path = Path(srv.listening.address.removeprefix("unix:"))
                assert path.parent == runtime
                assert mode(runtime) == 0o700
                assert stat.S_ISSOCK(os.stat(path).st_mode)
                assert mode(path) == 0o600
                assert srv.listening.connection_files == {}
            assert not path.exists()

            async with served("tcp") as srv:
                files = srv.listening.connection_files
                assert set(files) == {"admin", "operator"}
                for role, file in files.items():
                    assert mode(file) == 0o600
                    info = read_connection_file(file)
                    assert (info.role, info.address, info.pid) == (
                        role,
                        srv.listening.address,
                        os.getpid(),
                    )
                    assert info.token == srv.token(role)
            assert not any(file.exists() for file in files.values())
    finally:
        os.umask(old)


async def test_a_unix_peer_of_another_uid_is_refused(caplog: pytest.LogCaptureFixture) -> None:
    with trio.fail_after(10):
        async with served("unix", peer_uid=lambda sock: os.getuid() + 1) as srv:
            with pytest.raises(AuthenticationError, match="only accepts its own user"):
                async with srv.connect():
                    pass
        assert "refused a unix-socket peer" in caplog.text
        async with served("unix", peer_uid=lambda sock: None) as srv:
            with pytest.raises(AuthenticationError, match="could not be determined"):
                async with srv.connect():
                    pass


async def test_the_real_peer_credentials_are_ours() -> None:
    seen: list[int | None] = []

    def record(sock: Any) -> int | None:
        seen.append(_auth.peer_uid(sock))
        return seen[-1]

    with trio.fail_after(10):
        async with served("unix", peer_uid=record) as srv, srv.connect() as client:
            assert client.role == "admin"
    assert seen == [os.getuid()]


async def test_failed_handshakes_are_logged_and_throttled(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="spe_host.auth")
    # A clock that never moves: no failure ages out during the test.
    throttle = FailureThrottle(limit=5, window=10.0, penalty=0.05, clock=lambda: 0.0)
    with trio.fail_after(15):
        async with served("tcp", throttle=throttle) as srv:
            for attempt in range(5):
                assert throttle.delay_for("127.0.0.1") == 0.0
                with pytest.raises(AuthenticationError):
                    async with srv.connect(token=f"guess-{attempt}"):
                        pass
            assert throttle.delay_for("127.0.0.1") == pytest.approx(0.05)
            began = trio.current_time()
            with pytest.raises(AuthenticationError):
                async with srv.connect(token="guess-6"):
                    pass
            assert trio.current_time() - began >= 0.05
            # The right token still gets in (after the delay) and clears the record.
            async with srv.connect() as client:
                assert client.role == "admin"
            assert throttle.delay_for("127.0.0.1") == 0.0
    assert "authentication failed for 127.0.0.1" in caplog.text
    assert "connection from 127.0.0.1:" in caplog.text
    assert "guess-" not in caplog.text  # never the token itself


# --- TLS ----------------------------------------------------------------------------------


@pytest.fixture
def certificate() -> tuple[trustme.CA, trustme.LeafCert]:
    ca = trustme.CA()
    return ca, ca.issue_cert("127.0.0.1", "localhost")


async def test_tls_pins_the_certificate_named_in_the_connection_file(
    certificate: tuple[trustme.CA, trustme.LeafCert], tmp_path: Path
) -> None:
    ca, leaf = certificate
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    leaf.configure_cert(context)
    fingerprint = _transport.fingerprint_of_der(
        ssl.PEM_cert_to_DER_cert(leaf.cert_chain_pems[0].bytes().decode())
    )
    with trio.fail_after(15):
        async with served("tcp", ssl_context=context, tls_fingerprint=fingerprint) as srv:
            info = read_connection_file(srv.listening.connection_files["admin"])
            assert (info.tls, info.tls_fingerprint) == (True, fingerprint)
            async with connect(srv.host.name) as client:  # pinned, no CA needed
                assert (await client.execute("s", "40 + 2")).value == "42"

            ca_file = tmp_path / "ca.pem"
            ca.cert_pem.write_to_path(str(ca_file))
            async with srv.connect(cafile=str(ca_file)) as client:  # verified by the CA
                assert client.role == "admin"

            with pytest.raises(SpeError, match="during the handshake"):
                async with srv.connect(tls=False, timeout=3):
                    pass

            forged = tmp_path / "forged.json"
            _auth.write_connection_file(
                forged,
                _auth.ConnectionInfo(
                    name="forged",
                    address=srv.listening.address,
                    token=srv.token(),
                    role="admin",
                    pid=os.getpid(),
                    tls_fingerprint="00" * 32,
                    tls=True,
                ),
            )
            with pytest.raises(AuthenticationError, match="fingerprint"):
                async with connect(str(forged)):
                    pass


async def test_serve_with_certificate_files(
    certificate: tuple[trustme.CA, trustme.LeafCert], tmp_path: Path
) -> None:
    _, leaf = certificate
    pem = tmp_path / "server.pem"
    leaf.private_key_and_cert_chain_pem.write_to_path(str(pem))
    with trio.fail_after(15):
        async with spe_host.open_host(name="tls-host") as host, trio.open_nursery() as nursery:
            listening = await nursery.start(
                partial(serve, host, "tcp://127.0.0.1:0", tls_cert=str(pem))
            )
            assert listening.address.startswith("tcp://127.0.0.1:")
            info = read_connection_file(listening.connection_files["admin"])
            assert info.tls_fingerprint == _transport.cert_fingerprint(pem)
            async with connect("tls-host") as client:
                assert (await client.execute("s", "'tls'")).value == "'tls'"
            nursery.cancel_scope.cancel()


# --- framing ------------------------------------------------------------------------------


@pytest.mark.parametrize("transport", ["memory", "tcp"])
async def test_a_malformed_frame_closes_only_that_connection(transport: str) -> None:
    # Over TCP, closing after an error must not reset the connection and lose the frame.
    with trio.fail_after(10):
        async with served(transport, max_frame=4096) as srv, srv.connect(max_frame=4096) as good:
            await good.execute("keep", "x = 1")

            bad, _ = await srv.raw_hello()
            await bad.send_all(b'{"type":"wait","id":3,"sessions":"etl"}\n')
            [frame] = await read_frames(bad)  # and then the server closes
            assert (frame["id"], frame["code"]) == (3, "bad_request")
            assert "array of strings" in frame["message"]

            for garbage in (b"not json\n", b"\xff\xfe\n", b"x" * 5000):
                bad, _ = await srv.raw_hello()
                await bad.send_all(garbage)
                [frame] = await read_frames(bad)
                assert frame["type"] == "error"
                assert frame["id"] is None
                assert frame["code"] == ("too_large" if len(garbage) > 4096 else "bad_request")

            assert (await good.execute("keep", "x + 1")).value == "2"


async def test_the_first_message_must_be_hello_of_a_compatible_version() -> None:
    with trio.fail_after(10):
        async with served("memory") as srv:
            stream = await srv.open_raw()
            await stream.send_all(encode({"type": "hello", "version": "2.0"}))
            [frame] = await read_frames(stream)
            assert frame["code"] == "bad_request"
            assert "incompatible" in frame["message"]

            stream = await srv.open_raw()
            await stream.send_all(encode({"type": "list", "id": 7}))
            [frame] = await read_frames(stream)
            assert (frame["id"], frame["code"]) == (7, "bad_request")
            assert "first message must be hello" in frame["message"]


async def test_before_authentication_frames_are_small() -> None:
    with trio.fail_after(10):
        async with served("tcp") as srv:
            stream = await srv.open_raw()
            await stream.send_all(b'{"type":"hello","version":"1.0","token":"' + b"t" * 70000)
            [frame] = await read_frames(stream)
            assert (frame["id"], frame["code"]) == (None, "too_large")
            # After the handshake the full limit applies.
            good, _ = await srv.raw_hello()
            code = "x = 1  # " + "p" * 100000
            await good.send_all(encode({"type": "execute", "id": 1, "session": "s", "code": code}))
            [frame] = await read_frames(good, count=1)
            assert (frame["type"], frame["id"], frame["result"]["status"]) == (
                "done",
                1,
                "completed",
            )


async def test_a_silent_client_is_dropped_after_the_handshake_deadline() -> None:
    with trio.fail_after(10):
        async with served("tcp", handshake_timeout=0.05) as srv:
            stream = await srv.open_raw()
            [frame] = await read_frames(stream)
            assert (frame["id"], frame["code"]) == (None, "unauthorized")
            assert "no hello arrived within 0.05 seconds" in frame["message"]


async def test_request_ids_cancel_and_late_input_replies_on_the_wire() -> None:
    # Frames no well-behaved client sends, over serve_stream: the client-side
    # Connection would refuse to send the duplicate id itself.
    with trio.fail_after(10):
        async with served("memory") as srv:
            srv.host.start("s", "x = 1")
            await srv.host.wait("s")
            stream, _ = await srv.raw_hello()
            await stream.send_all(
                encode({"type": "subscribe", "id": 5, "session": "s"})
                + encode({"type": "subscribe", "id": 5, "session": "s"})
                + encode({"type": "input_reply", "id": 99, "text": "ignored"})
                + encode({"type": "cancel", "id": 6, "target": 42})
                + encode({"type": "cancel", "id": 7, "target": 5})
            )
            # One read: the four answers may well arrive in one segment.
            *frames, ended = await read_frames(stream, count=4)
            by_id = {frame["id"]: frame for frame in frames}
            assert by_id[5]["type"] == "error"  # the duplicate; the first keeps running
            assert "already in flight" in by_id[5]["message"]
            assert by_id[6] == {"type": "result", "id": 6, "value": False}
            assert by_id[7] == {"type": "result", "id": 7, "value": True}
            assert ended == {"type": "result", "id": 5, "value": None}


async def test_a_stream_that_failed_to_start_cannot_be_cancelled_afterwards() -> None:
    with trio.fail_after(10):
        async with served("memory") as srv:
            stream, _ = await srv.raw_hello()
            await stream.send_all(
                encode({"type": "subscribe", "id": 1, "session": "nope"})
                + encode({"type": "watch", "id": 2, "patterns": ["*"]})
            )
            [refused] = await read_frames(stream, count=1)
            assert (refused["id"], refused["code"]) == (1, "not_found")
            # The failed subscribe left nothing behind: its id is free, the watch is not.
            await stream.send_all(
                encode({"type": "cancel", "id": 3, "target": 1})
                + encode({"type": "cancel", "id": 4, "target": 2})
            )
            frames = await read_frames(stream, count=3)
            by_id = {frame["id"]: frame for frame in frames}
            assert by_id[3] == {"type": "result", "id": 3, "value": False}
            assert by_id[4] == {"type": "result", "id": 4, "value": True}
            assert by_id[2] == {"type": "result", "id": 2, "value": None}


# --- listeners ----------------------------------------------------------------------------


async def test_a_stale_socket_is_replaced_but_a_live_one_is_not(runtime: Path) -> None:
    runtime.mkdir(mode=0o700)
    path = runtime / "default.sock"
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(str(path))
    stale.close()  # the file stays; nobody answers on it
    with trio.fail_after(10):
        async with served("unix") as srv:
            assert srv.listening.address == f"unix:{path}"
            async with trio.open_nursery() as nursery:
                with pytest.raises(SpeError, match="another server is listening"):
                    await nursery.start(serve_unix, srv.host)
            async with srv.connect() as client:  # the first server is untouched
                assert client.role == "admin"

        other = runtime / "not-a-socket"
        other.write_text("data")
        async with spe_host.open_host() as host, trio.open_nursery() as nursery:
            with pytest.raises(SpeError, match="is not a socket"):
                await nursery.start(partial(serve_unix, host, other))
        assert other.read_text() == "data"


async def test_listener_refusals() -> None:
    with trio.fail_after(10):
        async with spe_host.open_host() as host, trio.open_nursery() as nursery:
            with pytest.raises(SpeError, match="without TLS"):
                await nursery.start(partial(serve_tcp, host, bind="0.0.0.0"))
            with pytest.raises(SpeError, match="without TLS"):
                await nursery.start(serve, host, "tcp://0.0.0.0:0")
            with pytest.raises(SpeError, match="is not an address"):
                await nursery.start(serve, host, "http://example.com")
            with pytest.raises(SpeError, match="TLS applies to tcp"):
                await nursery.start(partial(serve, host, "unix:/tmp/x.sock", tls_cert="c.pem"))
            listening = await nursery.start(serve_tcp, host)
            with pytest.raises(SpeError, match="already serving"):
                await nursery.start(serve_tcp, host)
            assert all(path.exists() for path in listening.connection_files.values())
            nursery.cancel_scope.cancel()


async def test_serve_takes_addresses_as_text(runtime: Path, tmp_path: Path) -> None:
    with trio.fail_after(10):
        async with spe_host.open_host(name="texty") as host, trio.open_nursery() as nursery:
            default = await nursery.start(serve, host)
            assert default.address == f"unix:{runtime / 'texty.sock'}"
            explicit = tmp_path / "explicit.sock"
            listening = await nursery.start(serve, host, f"unix:{explicit}")
            assert listening.address == f"unix:{explicit}"
            assert mode(explicit) == 0o600
            tcp = await nursery.start(serve, host, "tcp://127.0.0.1:0")
            assert tcp.tokens is not None
            for address, token in (
                (listening.address, None),
                (tcp.address, tcp.tokens.token("admin")),
            ):
                async with connect(address, token=token) as client:
                    assert client.server == "texty"
            nursery.cancel_scope.cancel()


async def test_explicit_tokens_are_used_and_written() -> None:
    tokens = TokenTable({Role.ADMIN: "a" * 43})
    with trio.fail_after(10):
        async with served("tcp", tokens=tokens, name="custom") as srv:
            assert set(srv.listening.connection_files) == {"admin"}
            async with connect("custom") as client:
                assert client.role == "admin"
            with pytest.raises(RemoteProtocolError, match="not a valid session id"):
                async with connect("custom") as client:
                    await client.execute("not a valid id!", "1")
