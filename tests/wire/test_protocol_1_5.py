"""Protocol 1.5 on the wire: binary output frames, asked for in ``hello``.

A client whose hello says ``binary_output`` gets, from a 1.5 server, ``output``
events as a JSON header with ``"bytes": N`` and exactly N raw bytes of output after
it; everybody else gets the JSON frames of 1.4, byte for byte. The receiving
connection builds the very ``Output`` a JSON frame would have given.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st
from support.wire import WELCOME, begin, reject

from spe_host import wire as p
from spe_host._errors import LocalProtocolError, RemoteProtocolError
from spe_host._model import decode_output, encode_output
from spe_host.wire import _codec


def _pair(
    *,
    asks: bool = True,
    client_version: str = p.PROTOCOL_VERSION,
    server_version: str = p.PROTOCOL_VERSION,
    max_frame: int = p.DEFAULT_MAX_FRAME,
) -> tuple[p.Connection, p.Connection]:
    # A client and a server past the handshake, with a subscribe (id 1) in flight.
    client = p.Connection("client", max_frame=max_frame)
    server = p.Connection("server", max_frame=max_frame)
    hello = p.Hello(version=client_version, binary_output=asks)
    server.receive_data(client.send(hello))
    assert server.next_event() == hello
    welcome = p.Welcome(version=server_version, server="h", role="admin", pid=1)
    client.receive_data(server.send(welcome))
    assert client.next_event() == welcome
    begin(client, server, p.Subscribe(id=1, session="s"))
    return client, server


def _events(client: p.Connection, data: bytes, *, step: int | None = None) -> list[object]:
    # Everything the client reads from ``data``, fed whole or ``step`` bytes at a time.
    # (b"" would be the end of the stream: it is never fed.)
    size = step or len(data) or 1
    seen: list[object] = []
    for start in range(0, len(data), size):
        client.receive_data(data[start : start + size])
        while (event := client.next_event()) is not p.NEED_DATA:
            assert event is not p.CLOSED
            seen.append(event)
    return seen


def _output(text: str, offset: int = 0, dropped: int = 0) -> p.Output:
    return p.Output(id=1, session="s", offset=offset, text=text, dropped=dropped)


def test_the_protocol_is_1_5() -> None:
    assert p.PROTOCOL_VERSION == "1.5"


# -- negotiation -----------------------------------------------------------------------


def test_a_client_that_asks_a_1_5_server_gets_binary_output() -> None:
    client, server = _pair()
    assert client.binary_output
    assert server.binary_output
    frame = server.send(_output("héllo\n", offset=7))
    header, _, payload = frame.partition(b"\n")
    assert json.loads(header) == {
        "type": "output",
        "id": 1,
        "session": "s",
        "offset": 7,
        "dropped": 0,
        "bytes": 7,
    }
    assert payload == "héllo\n".encode()
    assert _events(client, frame) == [_output("héllo\n", offset=7)]


def test_a_hello_says_binary_output_false_unless_asked() -> None:
    assert json.loads(p.Connection("client").send(p.Hello(version="1.5")))["binary_output"] is False


def test_a_client_that_does_not_ask_gets_the_json_frames_of_1_4_byte_for_byte() -> None:
    client, server = _pair(asks=False)
    assert not client.binary_output
    assert not server.binary_output
    message = _output("x" * 5000 + "é\n", offset=3, dropped=2)
    frame = server.send(message)
    assert frame == _codec.encode_message(message) + b"\n"
    assert frame.startswith(b'{"type":"output","id":1,"session":"s","offset":3,"text":"xxx')
    # send_output from bytes makes the same frame.
    data = encode_output(message.text)
    assert server.send_output(id=1, session="s", offset=3, data=data, dropped=2) == [frame]
    assert _events(client, frame) == [message]


def test_a_1_4_clients_hello_gets_json_output() -> None:
    # What a 1.4 client sends: no binary_output at all.
    server = p.Connection("server")
    server.receive_data(b'{"type":"hello","version":"1.4","token":null,"client":"old"}\n')
    assert isinstance(server.next_event(), p.Hello)
    assert not server.binary_output


def test_a_hello_of_an_older_version_asking_for_binary_output_is_not_taken_at_its_word() -> None:
    _client, server = _pair(client_version="1.4")
    assert not server.binary_output
    assert b'"text":' in server.send(_output("a"))


def test_a_client_that_asks_a_1_4_server_reads_its_json_output() -> None:
    # A 1.4 server ignores binary_output: its welcome says 1.4, its frames are JSON.
    client, _server = _pair(server_version="1.4")
    assert not client.binary_output
    line = b'{"type":"output","id":1,"session":"s","offset":0,"text":"a\\u00e9"}\n'
    assert _events(client, line) == [_output("aé")]


def test_a_client_that_asks_a_1_4_server_refuses_a_payload_it_did_not_agree_to() -> None:
    client, _server = _pair(server_version="1.4")
    error = reject(client, b'{"type":"output","id":1,"session":"s","offset":0,"bytes":1}\nx')
    assert "did not ask for" in str(error)
    assert error.error_code == "bad_request"


def test_a_binary_server_may_still_send_json_output() -> None:
    client, _server = _pair()
    line = b'{"type":"output","id":1,"session":"s","offset":0,"text":"json"}\n'
    assert _events(client, line) == [_output("json")]


# -- round trips -----------------------------------------------------------------------


def test_send_output_hands_the_bytes_over_as_they_are() -> None:
    _client, server = _pair()
    view = memoryview(b"abc\xe2\x82")[1:]
    pieces = server.send_output(id=1, session="s", offset=0, data=[b"\xe2\x82\xac", view])
    assert pieces[1] == b"\xe2\x82\xac"
    assert pieces[2] is view
    assert json.loads(pieces[0])["bytes"] == 7


@pytest.mark.parametrize("step", [None, 1, 2, 3, 5])
def test_multi_byte_characters_at_the_edges_of_frames_and_reads(step: int | None) -> None:
    client, server = _pair()
    texts = ["€" * 3, "😀", "é\n", "a€", "😀😀b"]
    messages, offset, data = [], 0, b""
    for text in texts:
        raw = text.encode()
        data += b"".join(server.send_output(id=1, session="s", offset=offset, data=raw))
        messages.append(_output(text, offset=offset))
        offset += len(raw)
    data += server.send(p.Result(id=1, value=None))
    assert _events(client, data, step=step) == [*messages, p.Result(id=1, value=None)]


def test_a_payload_that_looks_like_frames_is_text() -> None:
    client, server = _pair()
    text = '{"type":"result","id":1,"value":null}\n\n{"type":"output"}\n'
    data = server.send(_output(text)) + b"\n" + server.send(_output("next"))  # a keep-alive too
    assert _events(client, data, step=4) == [_output(text), _output("next")]


def test_an_empty_payload() -> None:
    client, server = _pair()
    frame = server.send(_output("", dropped=9))
    assert frame.endswith(b'"bytes":0}\n')
    assert _events(client, frame) == [_output("", dropped=9)]


def test_bytes_that_are_not_utf_8_read_as_the_json_frames_lone_surrogates() -> None:
    # Output bytes that are not UTF-8 travel in JSON frames as lone surrogates
    # (U+DC80-U+DCFF); a payload carries them as themselves, and they read the same.
    raw = b"ok \xff\xfe \xc3 cut \xed\xa0\x80 \x80\n"
    client, server = _pair()
    json_client, json_server = _pair(asks=False)
    binary = b"".join(server.send_output(id=1, session="s", offset=0, data=raw))
    plain = b"".join(json_server.send_output(id=1, session="s", offset=0, data=raw))
    assert binary.endswith(raw)
    assert _events(client, binary) == _events(json_client, plain) == [_output(decode_output(raw))]
    assert encode_output(decode_output(raw)) == raw


@given(
    chunks=st.lists(st.binary(max_size=40) | st.text(max_size=12).map(encode_output), max_size=6),
    step=st.integers(1, 64),
)
def test_binary_frames_read_as_the_json_frames_of_the_same_bytes(
    chunks: list[bytes], step: int
) -> None:
    client, server = _pair()
    json_client, json_server = _pair(asks=False)
    binary = plain = b""
    offset = 0
    for raw in chunks:
        binary += b"".join(server.send_output(id=1, session="s", offset=offset, data=raw))
        plain += b"".join(json_server.send_output(id=1, session="s", offset=offset, data=raw))
        offset += len(raw)
    got = _events(client, binary, step=step)
    assert got == _events(json_client, plain)
    assert [encode_output(event.text) for event in got] == chunks  # type: ignore[attr-defined]


# -- what a receiver refuses -------------------------------------------------------------


def test_a_header_announcing_more_than_the_frame_limit_is_too_large_at_once() -> None:
    client, _server = _pair(max_frame=1000)
    header = b'{"type":"output","id":1,"session":"s","offset":0,"dropped":0,"bytes":%d}\n'
    fits = header % (1000 - (len(header % 100) - 1))  # header and payload: exactly the limit
    assert _events(client, fits + b"x" * (1000 - len(fits) + 1)) == [
        _output("x" * (1000 - len(fits) + 1))
    ]
    # One byte more is refused on the header alone, before any of the payload came.
    error = reject(client, header % (1001 - (len(header % 100) - 1)))
    assert error.error_code == "too_large"
    assert "longer than the limit of 1000 bytes" in str(error)
    with pytest.raises(RemoteProtocolError, match="broken"):
        client.next_event()


def test_a_header_announcing_a_huge_payload_is_too_large() -> None:
    client, _server = _pair()
    error = reject(
        client, b'{"type":"output","id":1,"session":"s","offset":0,"bytes":%d}\n' % 10**30
    )
    assert error.error_code == "too_large"


def test_the_connection_closing_in_the_middle_of_a_payload_is_a_protocol_error() -> None:
    client, server = _pair()
    frame = server.send(_output("0123456789"))
    client.receive_data(frame[:-3])
    assert client.next_event() is p.NEED_DATA
    client.receive_data(b"")
    with pytest.raises(RemoteProtocolError, match=r"middle of an output payload \(7 of its 10"):
        client.next_event()


def test_the_connection_closing_right_after_a_header_is_a_protocol_error() -> None:
    client, server = _pair()
    header = server.send(_output("abc")).partition(b"\n")[0] + b"\n"
    client.receive_data(header + b"")
    client.receive_data(b"")
    with pytest.raises(RemoteProtocolError, match="middle of an output payload"):
        client.next_event()


@pytest.mark.parametrize(
    ("fields", "says"),
    [
        ('"bytes":-1', "non-negative integer"),
        ('"bytes":true', "non-negative integer"),
        ('"bytes":"3"', "non-negative integer"),
        ('"bytes":1.0', "non-negative integer"),
        ('"bytes":1,"text":"a"', "must not carry 'text'"),
    ],
)
def test_a_bad_output_header_is_a_protocol_error(fields: str, says: str) -> None:
    client, _server = _pair()
    line = b'{"type":"output","id":1,"session":"s","offset":0,%s}\nabc' % fields.encode()
    error = reject(client, line)
    assert says in str(error)
    assert error.error_code == "bad_request"
    assert p.request_id_of(error) == 1


def test_a_payload_for_a_request_not_in_flight_is_refused_once_it_is_read() -> None:
    client, server = _pair()
    frame = server.send(_output("abc")).replace(b'"id":1', b'"id":9')
    error = reject(client, frame)
    assert "not in flight" in str(error)


def test_a_bytes_key_in_another_message_is_an_unknown_key() -> None:
    client, _server = _pair()
    assert _events(client, b'{"type":"result","id":1,"value":null,"bytes":3}\n') == [
        p.Result(id=1, value=None)
    ]


def test_a_server_reads_no_payload_from_a_client() -> None:
    _client, server = _pair()
    # A client may not send output; a 'bytes' in what it sends announces nothing.
    error = reject(server, b'{"type":"output","id":1,"session":"s","offset":0,"bytes":3}\n')
    assert "missing the 'text' field" in str(error)  # not waiting for a payload


# -- what a sender refuses ---------------------------------------------------------------


def test_send_output_keeps_the_frame_limit() -> None:
    _client, server = _pair(max_frame=200)
    with pytest.raises(LocalProtocolError) as info:
        server.send_output(id=1, session="s", offset=0, data=b"x" * 200)
    assert info.value.error_code == "too_large"
    with pytest.raises(LocalProtocolError, match="longer than the frame limit"):
        server.send(_output("x" * 200))


def test_send_output_keeps_the_request_lifecycle() -> None:
    _client, server = _pair()
    with pytest.raises(LocalProtocolError, match="not in flight"):
        server.send_output(id=2, session="s", offset=0, data=b"x")


def test_a_client_cannot_send_output() -> None:
    client, _server = _pair()
    with pytest.raises(LocalProtocolError, match="may not send 'output'"):
        client.send_output(id=1, session="s", offset=0, data=b"x")


def test_the_handshake_fixture_welcome_is_still_1_5() -> None:
    assert WELCOME.version == p.PROTOCOL_VERSION
