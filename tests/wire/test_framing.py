"""Framing: lines, the frame limit, end of stream, malformed frames, the broken state."""

from __future__ import annotations

import json

import pytest
from support.wire import (
    CLIENT_MESSAGES,
    frame,
    handshaken,
    reject,
    server_after_hello,
)

from spe_host import wire as p
from spe_host._errors import (
    LocalProtocolError,
    RemoteProtocolError,
)

# --- framing ------------------------------------------------------------------------------


def test_frames_fed_one_byte_at_a_time() -> None:
    client, server = handshaken()
    # An input_reply needs an input_request first (test_lifecycle pairs them).
    messages = [m for m in CLIENT_MESSAGES[1:] if not isinstance(m, p.InputReply)]
    data = b"".join(client.send(m) for m in messages)
    received = []
    for byte in data:
        server.receive_data(bytes([byte]))
        while (event := server.next_event()) is not p.NEED_DATA:
            received.append(event)
    assert received == messages


def test_several_frames_in_one_chunk() -> None:
    client, server = handshaken()
    server.receive_data(b"".join(client.send(m) for m in CLIENT_MESSAGES[1:4]))
    assert [server.next_event() for _ in range(3)] == CLIENT_MESSAGES[1:4]
    assert server.next_event() is p.NEED_DATA


def test_blank_lines_are_keep_alives() -> None:
    server = server_after_hello()
    server.receive_data(b"\n\r\n  \n" + frame({"type": "receive", "id": 1, "session": "s"}))
    assert server.next_event() == p.Receive(id=1, session="s")
    assert server.next_event() is p.NEED_DATA


def test_crlf_line_endings_are_accepted() -> None:
    server = server_after_hello()
    server.receive_data(b'{"type":"receive","id":1,"session":"s"}\r\n')
    assert server.next_event() == p.Receive(id=1, session="s")


def test_oversized_frame_is_rejected_before_its_newline() -> None:
    server = server_after_hello(max_frame=64)
    server.receive_data(b'{"type":"execute","id":1,"session":"s","code":"')
    assert server.next_event() is p.NEED_DATA
    server.receive_data(b"x" * 30)  # 77 bytes buffered, still no newline
    with pytest.raises(RemoteProtocolError) as info:
        server.next_event()
    assert info.value.error_code == "too_large"
    assert info.value.code == "too_large"


def test_oversized_complete_frame_is_rejected() -> None:
    server = server_after_hello(max_frame=64)
    exc = reject(server, frame({"type": "receive", "id": 1, "session": "s" * 80}))
    assert exc.error_code == "too_large"


def test_frame_exactly_at_the_limit_is_accepted() -> None:
    line = b'{"type":"receive","id":1,"session":"%s"}' % (b"s" * 60)
    server = server_after_hello(max_frame=len(line))
    server.receive_data(line + b"\n")
    assert server.next_event() == p.Receive(id=1, session="s" * 60)


def test_sending_an_oversized_frame_is_a_local_error() -> None:
    client = p.Connection("client", max_frame=100)
    client.send(p.Hello(version="1.0"))
    with pytest.raises(LocalProtocolError) as info:
        client.send(p.Execute(id=1, session="s", code="x" * 100))
    assert info.value.error_code == "too_large"


def test_clean_eof_gives_closed() -> None:
    server = server_after_hello()
    server.receive_data(b"")
    assert server.next_event() is p.CLOSED
    assert server.next_event() is p.CLOSED


def test_eof_after_buffered_frames_delivers_them_first() -> None:
    server = server_after_hello()
    server.receive_data(frame({"type": "receive", "id": 1, "session": "s"}))
    server.receive_data(b"")
    assert isinstance(server.next_event(), p.Receive)
    assert server.next_event() is p.CLOSED


def test_eof_in_the_middle_of_a_frame() -> None:
    server = server_after_hello()
    server.receive_data(b'{"type":"receive",')
    assert server.next_event() is p.NEED_DATA
    exc = reject(server, b"")
    assert "closed in the middle of a frame" in str(exc)


def test_data_after_eof_is_a_bug_in_the_caller() -> None:
    server = p.Connection("server")
    server.receive_data(b"")
    with pytest.raises(RuntimeError):
        server.receive_data(b"x")


# --- malformed frames ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b'{"type": "hello",\n', "not valid JSON"),
        (b"hello\n", "not valid JSON"),
        (b'{"type":"hello","version":"1.0"}{}\n', "not valid JSON"),
        (b'\xff\xfe{"type":"hello"}\n', "not valid UTF-8"),
        (b'{"type":"hello","version":"1.\xc3"}\n', "not valid UTF-8"),
        (b"[1, 2]\n", "JSON object"),
        (b'"hello"\n', "JSON object"),
        (b"null\n", "JSON object"),
        (b'{"type":"launch_missiles","id":3}\n', "not a message type"),
        (b'{"id":3}\n', "'type'"),
        (b'{"type":7}\n', "'type'"),
        (b'{"type":"hello","version":NaN}\n', "acceptable JSON"),
        (b"[" * 100_000 + b"]" * 100_000 + b"\n", "JSON"),
    ],
)
def test_malformed_frames_are_bad_requests(data: bytes, words: str) -> None:
    # The deepest frame is 200 kB: over the handshake limit, which is tested elsewhere.
    exc = reject(p.Connection("server", handshake_max_frame=p.DEFAULT_MAX_FRAME), data)
    assert exc.error_code == "bad_request"
    assert words in str(exc)


def test_request_id_is_carried_when_it_could_be_parsed() -> None:
    server = server_after_hello()
    exc = reject(server, frame({"type": "execute", "id": 17, "session": "s", "code": 5}))
    assert p.request_id_of(exc) == 17
    assert exc.request_id == 17  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "data",
    [b"{oops\n", b'{"type":"nope","id":true}\n', b'{"type":"nope","id":-1}\n', b"[]\n"],
)
def test_request_id_is_none_when_the_frame_has_none(data: bytes) -> None:
    exc = reject(server_after_hello(), data)
    assert p.request_id_of(exc) is None


def test_unknown_type_keeps_the_request_id() -> None:
    exc = reject(server_after_hello(), frame({"type": "frobnicate", "id": 4}))
    assert "'frobnicate'" in str(exc)
    assert p.request_id_of(exc) == 4


# --- error state --------------------------------------------------------------------------


def test_errors_are_sticky() -> None:
    server = server_after_hello()
    reject(server, b"not json\n")
    server.receive_data(frame({"type": "receive", "id": 1, "session": "s"}))
    with pytest.raises(RemoteProtocolError, match="earlier protocol error"):
        server.next_event()
    with pytest.raises(RemoteProtocolError):
        server.next_event()


def test_a_sticky_too_large_keeps_its_code() -> None:
    server = server_after_hello(max_frame=64)
    reject(server, b"x" * 65)
    with pytest.raises(RemoteProtocolError) as info:
        server.next_event()
    assert info.value.error_code == "too_large"


def test_the_server_can_still_send_after_a_remote_error() -> None:
    server = p.Connection("server")
    exc = reject(server, b"garbage\n")
    code, message = p.error_for(exc)
    data = server.send(p.Error(id=p.request_id_of(exc), code=code, message=message))
    assert json.loads(data) == {
        "type": "error",
        "id": None,
        "code": "bad_request",
        "message": str(exc),
    }
