"""The handshake and which side may send what, on both sides."""

from __future__ import annotations

import pytest
from support.wire import (
    INFO,
    WELCOME,
    frame,
    handshaken,
    prepare,
    reject,
    server_after_hello,
)

from spe_host import wire as p
from spe_host._errors import (
    LocalProtocolError,
)

# --- handshake and roles ------------------------------------------------------------------


def test_first_message_must_be_hello() -> None:
    server = p.Connection("server")
    exc = reject(server, frame({"type": "execute", "id": 2, "session": "s", "code": "1"}))
    assert "the first message must be hello" in str(exc)
    assert p.request_id_of(exc) == 2


def test_hello_only_once() -> None:
    server = server_after_hello()
    exc = reject(server, frame({"type": "hello", "version": "1.0"}))
    assert "only once" in str(exc)


def test_hello_with_an_incompatible_major_version_is_rejected() -> None:
    exc = reject(p.Connection("server"), frame({"type": "hello", "version": "2.0"}))
    assert "incompatible" in str(exc)


def test_client_sending_a_server_message_is_a_bad_request() -> None:
    server = server_after_hello()
    exc = reject(server, frame({"type": "done", "id": 8, "result": p.to_json(INFO)}))
    assert "a client may not send 'done' messages" in str(exc)
    assert p.request_id_of(exc) == 8


def test_server_sending_a_client_message_is_rejected_by_the_client() -> None:
    client, _ = handshaken()
    exc = reject(client, frame({"type": "execute", "id": 1, "session": "s", "code": "1"}))
    assert "a server may not send 'execute' messages" in str(exc)


def test_client_accepts_an_error_before_welcome() -> None:
    client = p.Connection("client")
    client.send(p.Hello(version="1.0", token="wrong"))
    client.receive_data(
        frame({"type": "error", "id": None, "code": "unauthorized", "message": "no"})
    )
    assert client.next_event() == p.Error(id=None, code="unauthorized", message="no")


def test_client_rejects_anything_else_before_welcome() -> None:
    client = p.Connection("client")
    exc = reject(client, frame({"type": "result", "id": 1, "value": None}))
    assert "welcome or error" in str(exc)


def test_local_role_and_order_violations() -> None:
    client, server = p.Connection("client"), p.Connection("server")
    with pytest.raises(LocalProtocolError, match="first message must be hello"):
        client.send(p.Execute(id=1, session="s", code="1"))
    with pytest.raises(LocalProtocolError, match="may not send 'done'"):
        client.send(p.Done(id=1, result=INFO))
    with pytest.raises(LocalProtocolError, match="may not send 'hello'"):
        server.send(p.Hello(version="1.0"))
    with pytest.raises(LocalProtocolError, match="welcome or error"):
        server.send(p.Result(id=1, value=None))
    server.send(p.Error(id=None, code="unauthorized", message="no"))  # allowed before welcome
    client.send(p.Hello(version="1.0"))
    with pytest.raises(LocalProtocolError, match="only once"):
        client.send(p.Hello(version="1.0"))


def test_local_invalid_values_are_local_errors() -> None:
    client, server = handshaken()
    prepare(client, server, p.Result(id=1, value=None))
    with pytest.raises(LocalProtocolError, match="exactly one"):
        client.send(p.Start(id=1))
    with pytest.raises(LocalProtocolError, match="not JSON"):
        server.send(p.Result(id=1, value=float("nan")))
    with pytest.raises(LocalProtocolError, match="not JSON"):
        server.send(p.Result(id=1, value={"s": {1, 2}}))  # type: ignore[dict-item]
    with pytest.raises(LocalProtocolError, match="non-negative"):
        server.send(p.Output(id=-1, session="s", offset=0, text=""))
    # A failed send changes nothing: the connection still works.
    server.send(p.Result(id=1, value=None))


# --- the handshake frame limit --------------------------------------------------------------


def test_the_server_limits_frames_to_the_handshake_limit_until_welcome() -> None:
    big = frame({"type": "list", "id": 1, "patterns": ["p" * 200]})
    server = server_after_hello(handshake_max_frame=100)
    exc = reject(server, big)
    assert exc.error_code == "too_large"
    assert "limit of 100 bytes" in str(exc)
    server = server_after_hello(handshake_max_frame=100)
    server.receive_data(big)  # a request pipelined after hello waits for the welcome
    server.send(WELCOME)
    assert server.next_event() == p.ListSessions(id=1, patterns=["p" * 200])
    too_big = frame({"type": "list", "id": 2, "patterns": ["p" * 2000]})
    server = server_after_hello(max_frame=1000, handshake_max_frame=5000)
    server.send(WELCOME)
    assert reject(server, too_big).error_code == "too_large"  # never above max_frame


def test_the_client_limits_frames_to_the_handshake_limit_until_welcome() -> None:
    long_name = p.Welcome(version="1.0", server="h" * 200, role="admin", pid=1)
    client = p.Connection("client", handshake_max_frame=100)
    client.send(p.Hello(version="1.0"))
    assert reject(client, frame(long_name.to_json())).error_code == "too_large"
    client = p.Connection("client", handshake_max_frame=100)
    client.send(p.Hello(version="1.0"))
    client.receive_data(frame(WELCOME.to_json()))
    assert client.next_event() == WELCOME
    client.send(p.ListSessions(id=1))
    answer = p.Result(id=1, value=["x" * 500])
    client.receive_data(frame(answer.to_json()))
    assert client.next_event() == answer


def test_connection_arguments_must_be_positive() -> None:
    for name in ("max_frame", "handshake_max_frame", "max_in_flight"):
        with pytest.raises(ValueError, match=f"{name} must be positive"):
            p.Connection("server", **{name: 0})
