"""Fuzzing: whatever the peer sends, a connection raises only RemoteProtocolError."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.wire import (
    CLIENT_MESSAGES,
    SERVER_MESSAGES,
    frame,
    handshaken,
    prepare,
)

from spe_host import wire as p
from spe_host._errors import (
    RemoteProtocolError,
)
from spe_host.wire._codec import MESSAGE_TYPES

# --- fuzzing ------------------------------------------------------------------------------

_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)
_field_names = st.sampled_from(
    sorted({name for cls in MESSAGE_TYPES.values() for name in cls.__dataclass_fields__})
)
_near_messages = st.builds(
    lambda kind, extra: {"type": kind, **extra},
    st.sampled_from(sorted(MESSAGE_TYPES)),
    st.dictionaries(_field_names, _json_values, max_size=8),
)


def _check_feed(conn: p.Connection, chunks: list[bytes]) -> None:
    """Feed chunks, draining events; anything but RemoteProtocolError escapes."""
    try:
        for chunk in chunks:
            conn.receive_data(chunk)
            while True:
                event = conn.next_event()
                if event is p.NEED_DATA or event is p.CLOSED:
                    break
                assert isinstance(event, p.Message | p.Refused)
    except RemoteProtocolError as exc:
        error: RemoteProtocolError | None = exc
    else:
        error = None
    assert error is None or error.error_code in ("bad_request", "too_large")


def _chunked(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    pieces = [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]
    return [piece for piece in pieces if piece]  # b"" would mean end of file


@given(data=st.binary(max_size=2000), cuts=st.lists(st.integers(0, 2000)), eof=st.booleans())
def test_arbitrary_bytes_raise_only_remote_protocol_errors(
    data: bytes, cuts: list[int], eof: bool
) -> None:
    chunks = _chunked(data, cuts)
    _check_feed(p.Connection("server", max_frame=256), [*chunks, b""] if eof else chunks)


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(
    messages=st.lists(_near_messages, max_size=6),
    cuts=st.lists(st.integers(0, 5000)),
    role=st.sampled_from(["client", "server"]),
)
def test_near_valid_messages_raise_only_remote_protocol_errors(
    messages: list[dict[str, Any]], cuts: list[int], role: str
) -> None:
    greeting: dict[str, Any] = {"type": "hello", "version": "1.0"}
    if role == "client":
        greeting = {"type": "welcome", "version": "1.0", "server": "h", "role": "admin", "pid": 1}
    data = b"".join(frame(m) for m in [greeting, *messages])
    _check_feed(p.Connection(role), _chunked(data, cuts))  # type: ignore[arg-type]


@given(message=st.sampled_from(CLIENT_MESSAGES[1:] + SERVER_MESSAGES[1:]), text=st.text())
def test_any_text_round_trips(message: p.Message, text: str) -> None:
    client, server = handshaken()
    prepare(client, server, message)
    receiver, sender = (server, client) if message.SENDER == "client" else (client, server)
    if isinstance(message, p.Output):
        message = p.Output(id=1, session=text, offset=0, text=text)
    elif isinstance(message, p.Execute):
        message = p.Execute(id=1, session="s", code=text)
    receiver.receive_data(sender.send(message))
    assert receiver.next_event() == message
