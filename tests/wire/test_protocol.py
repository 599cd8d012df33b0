"""Tests for the sans-IO wire protocol (spe_host._protocol)."""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spe_host import _model as m
from spe_host import wire as p
from spe_host._errors import (
    AuthenticationError,
    LocalProtocolError,
    PermissionDenied,
    RemoteProtocolError,
    ScriptAborted,
    SessionBusy,
    SessionExists,
    SessionNotFound,
    SpeError,
)
from spe_host.wire import _protocol

INFO = m.ExecutionResult(
    session="etl",
    status="failed",
    value=None,
    error="Traceback ...\nValueError: x\n",
    output="héllo ✓\n",
    started_at=1700000000.25,
    finished_at=1700000001.5,
)
SESSION = m.SessionInfo(
    id="etl",
    name="nightly ETL",
    state="running",
    progress_percent=42.5,
    progress_message="loading",
    location="<session etl #3>:7",
    last_status=None,
    created_at=1700000000.0,
    last_accessed=1700000005.0,
    autodispose=False,
    output_offset=1234,
)
COMPLETION = m.Completion(text="append", start=4, display="append()", kind="function")

CLIENT_MESSAGES: list[p.Message] = [
    p.Hello(version="1.0", token="s3cret", client="test"),
    p.Execute(id=1, session="etl", code="print('hi')\n", interactive=False),
    p.Start(
        id=2,
        session="etl",
        code="x = 1",
        args={"n": 3, "names": ["a", "b"], "opts": {"deep": None}, "f": 1.5, "ok": True},
        name="nightly",
        autodispose=True,
    ),
    p.Start(id=3, path="/srv/jobs/etl.py"),
    p.ListSessions(id=4, patterns=["etl*", "job?"], state="idle"),
    p.ListSessions(id=5),
    p.Stop(id=6, targets=["etl", "job*"]),
    p.Wait(id=7, sessions=["a", "b"], timeout=2.5, any=True),
    p.Wait(id=8, sessions=["a"]),
    p.Receive(id=9, session="etl", keep=True),
    p.Remove(id=10, sessions=["etl"], force=True),
    p.Complete(id=11, session="etl", text="lst.app", cursor=7),
    p.Subscribe(id=12, session="etl", from_offset=100),
    p.Cancel(id=13, target=12),
    p.InputReply(id=1, text="yes"),
    p.InputReply(id=1, text=None),
]
SERVER_MESSAGES: list[p.Message] = [
    p.Welcome(version="1.3", server="build-box", role="operator", pid=4242),
    p.Output(id=1, session="etl", offset=10, text="naïve ✓\n", dropped=5),
    p.Progress(id=1, session="etl", percent=50.0, message="half way"),
    p.Progress(id=1, session="etl"),
    p.InputRequest(id=1, session="etl", prompt="continue? "),
    p.Done(id=1, result=INFO),
    p.Result(id=4, value=[p.to_json(SESSION)]),
    p.Result(id=6, value={"etl": "requested", "nope": "not_found"}),
    p.Result(id=12, value=None),
    p.Error(id=9, code="busy", message="session 'etl' is running; wait for it first"),
    p.Error(id=None, code="unauthorized", message="the token is wrong"),
]


def handshaken() -> tuple[p.Connection, p.Connection]:
    """A client and a server connection that have exchanged hello and welcome."""
    client, server = p.Connection("client"), p.Connection("server")
    server.receive_data(client.send(p.Hello(version=p.PROTOCOL_VERSION, token="t")))
    assert isinstance(server.next_event(), p.Hello)
    client.receive_data(
        server.send(p.Welcome(version=p.PROTOCOL_VERSION, server="h", role="admin", pid=1))
    )
    assert isinstance(client.next_event(), p.Welcome)
    return client, server


def server_after_hello(**kwargs: Any) -> p.Connection:
    server = p.Connection("server", **kwargs)
    server.receive_data(b'{"type":"hello","version":"1.0","token":null}\n')
    assert isinstance(server.next_event(), p.Hello)
    return server


def frame(obj: object) -> bytes:
    return json.dumps(obj).encode() + b"\n"


def reject(conn: p.Connection, data: bytes) -> RemoteProtocolError:
    """Feed data and return the RemoteProtocolError that next_event raises."""
    conn.receive_data(data)
    with pytest.raises(RemoteProtocolError) as info:
        conn.next_event()
    return info.value


# --- round trips --------------------------------------------------------------------------


@pytest.mark.parametrize("message", CLIENT_MESSAGES[1:], ids=lambda m: m.TYPE)
def test_client_message_round_trips(message: p.Message) -> None:
    client, server = handshaken()
    server.receive_data(client.send(message))
    assert server.next_event() == message
    assert server.next_event() is p.NEED_DATA


@pytest.mark.parametrize("message", SERVER_MESSAGES[1:], ids=lambda m: m.TYPE)
def test_server_message_round_trips(message: p.Message) -> None:
    client, server = handshaken()
    client.receive_data(server.send(message))
    assert client.next_event() == message
    assert client.next_event() is p.NEED_DATA


def test_greetings_round_trip() -> None:
    hello, welcome = CLIENT_MESSAGES[0], SERVER_MESSAGES[0]
    client, server = p.Connection("client"), p.Connection("server")
    server.receive_data(client.send(hello))
    assert server.next_event() == hello
    client.receive_data(server.send(welcome))
    assert client.next_event() == welcome


@pytest.mark.parametrize("record", [INFO, SESSION, COMPLETION], ids=lambda r: type(r).__name__)
def test_records_round_trip_through_json(record: Any) -> None:
    text = json.dumps(p.to_json(record))
    assert p.from_json(type(record), json.loads(text)) == record


def test_message_from_json_inverts_to_json() -> None:
    for message in CLIENT_MESSAGES + SERVER_MESSAGES:
        assert p.message_from_json(json.loads(json.dumps(message.to_json()))) == message


def test_send_writes_compact_utf8_json_lines() -> None:
    client, _ = handshaken()
    data = client.send(p.Execute(id=1, session="s", code="print('é')"))
    assert data.endswith(b"\n")
    assert data.count(b"\n") == 1
    assert b", " not in data
    assert "é".encode() in data  # not \u00e9: ensure_ascii=False
    assert json.loads(data) == {
        "type": "execute",
        "id": 1,
        "session": "s",
        "code": "print('é')",
        "interactive": True,
    }


def test_lone_surrogate_survives_the_trip() -> None:
    client, server = handshaken()
    message = p.Output(id=1, session="s", offset=0, text="bad \ud800 byte")
    data = server.send(message)
    data.decode("utf-8")  # still valid UTF-8 on the wire
    client.receive_data(data)
    assert client.next_event() == message


def test_defaults_apply_to_missing_optional_fields() -> None:
    server = server_after_hello()
    server.receive_data(frame({"type": "execute", "id": 1, "session": "s", "code": "1"}))
    server.receive_data(frame({"type": "list", "id": 2}))
    assert server.next_event() == p.Execute(id=1, session="s", code="1", interactive=True)
    assert server.next_event() == p.ListSessions(id=2, patterns=[], state=None)


def test_unknown_fields_are_ignored_for_minor_version_compatibility() -> None:
    server = server_after_hello()
    server.receive_data(frame({"type": "receive", "id": 1, "session": "s", "colour": "red"}))
    assert server.next_event() == p.Receive(id=1, session="s")


def test_integers_are_accepted_for_float_fields() -> None:
    server = server_after_hello()
    server.receive_data(frame({"type": "wait", "id": 1, "sessions": ["a"], "timeout": 3}))
    event = server.next_event()
    assert isinstance(event, p.Wait)
    assert event.timeout == 3.0
    assert type(event.timeout) is float


# --- framing ------------------------------------------------------------------------------


def test_frames_fed_one_byte_at_a_time() -> None:
    client, server = handshaken()
    messages = CLIENT_MESSAGES[1:]
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
    client = p.Connection("client", max_frame=80)
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
    exc = reject(p.Connection("server"), data)
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


@pytest.mark.parametrize(
    ("obj", "words"),
    [
        ({"type": "execute", "id": 1, "session": "s"}, "missing the 'code' field"),
        ({"type": "execute", "session": "s", "code": "1"}, "missing the 'id' field"),
        ({"type": "execute", "id": True, "session": "s", "code": "1"}, "'id' field"),
        ({"type": "execute", "id": 1.0, "session": "s", "code": "1"}, "'id' field"),
        ({"type": "execute", "id": -1, "session": "s", "code": "1"}, "non-negative"),
        ({"type": "execute", "id": "1", "session": "s", "code": "1"}, "not a string"),
        ({"type": "execute", "id": 1, "session": None, "code": "1"}, "not null"),
        ({"type": "execute", "id": 1, "session": "s", "code": "1", "interactive": 1}, "true or"),
        ({"type": "receive", "id": 1, "session": "s", "keep": "yes"}, "'keep' field"),
        ({"type": "stop", "id": 1, "targets": "etl"}, "array of strings"),
        ({"type": "stop", "id": 1, "targets": ["etl", 3]}, "array of strings"),
        ({"type": "stop", "id": 1, "targets": []}, "must not be empty"),
        ({"type": "wait", "id": 1, "sessions": []}, "must not be empty"),
        ({"type": "wait", "id": 1, "sessions": ["a"], "timeout": -1}, "negative"),
        ({"type": "wait", "id": 1, "sessions": ["a"], "timeout": True}, "finite number"),
        ({"type": "wait", "id": 1, "sessions": ["a"], "timeout": 10**400}, "finite number"),
        ({"type": "remove", "id": 1, "sessions": []}, "must not be empty"),
        ({"type": "start", "id": 1}, "exactly one of 'code' and 'path'"),
        ({"type": "start", "id": 1, "code": "1", "path": "/x.py"}, "exactly one"),
        ({"type": "start", "id": 1, "code": "1", "args": [1]}, "an object or null"),
        ({"type": "list", "id": 1, "state": "sleeping"}, "one of idle"),
        ({"type": "complete", "id": 1, "session": "s", "text": "ab", "cursor": 3}, "past the end"),
        ({"type": "subscribe", "id": 1, "session": "s", "from_offset": -5}, "non-negative"),
        ({"type": "cancel", "id": 1, "target": "12"}, "'target' field"),
        ({"type": "input_reply", "id": 1}, "missing the 'text' field"),
    ],
)
def test_missing_and_mistyped_fields_are_bad_requests(obj: dict[str, Any], words: str) -> None:
    exc = reject(server_after_hello(), frame(obj))
    assert exc.error_code == "bad_request"
    assert words in str(exc)


@pytest.mark.parametrize(
    ("obj", "words"),
    [
        ({"type": "welcome", "version": "1.0", "server": "h", "role": "root", "pid": 1}, "role"),
        ({"type": "welcome", "version": "1.0", "server": "h", "role": "admin"}, "'pid'"),
        ({"type": "error", "id": None, "code": "oops", "message": "m"}, "'code' must be one"),
        ({"type": "error", "code": "busy", "message": "m"}, "missing the 'id' field"),
    ],
)
def test_bad_server_messages_are_rejected_by_the_client(obj: dict[str, Any], words: str) -> None:
    exc = reject(p.Connection("client"), frame(obj))
    assert words in str(exc)


def test_nested_execution_info_is_checked() -> None:
    client, _ = handshaken()
    result = dict(p.to_json(INFO), status="exploded")
    exc = reject(client, frame({"type": "done", "id": 3, "result": result}))
    assert "'status' must be one of" in str(exc)
    assert p.request_id_of(exc) == 3


def test_record_from_json_rejects_bad_fields() -> None:
    bad = dict(p.to_json(SESSION), autodispose=0)
    with pytest.raises(RemoteProtocolError, match="'autodispose' field"):
        p.from_json(m.SessionInfo, bad)
    with pytest.raises(RemoteProtocolError, match="JSON object"):
        p.from_json(m.Completion, [])


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


# --- versions -----------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["1.0", "1.7", "1.123"])
def test_compatible_versions_pass(version: str) -> None:
    p.check_version(version)


@pytest.mark.parametrize("version", ["2.0", "0.9", "10.0"])
def test_other_major_versions_are_incompatible(version: str) -> None:
    with pytest.raises(RemoteProtocolError, match="incompatible"):
        p.check_version(version)


@pytest.mark.parametrize("version", ["", "1", "1.0.0", "v1.0", "01.0", "1.0 ", "١.٠", "1." * 3000])
def test_malformed_versions_are_rejected(version: str) -> None:
    with pytest.raises(RemoteProtocolError, match=r"MAJOR\.MINOR"):
        p.check_version(version)


# --- error mapping ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "cls"),
    [
        ("not_found", SessionNotFound),
        ("busy", SessionBusy),
        ("unauthorized", AuthenticationError),
        ("forbidden", PermissionDenied),
        ("bad_request", RemoteProtocolError),
        ("too_large", RemoteProtocolError),
        ("internal", SpeError),
    ],
)
def test_error_codes_round_trip(code: str, cls: type[SpeError]) -> None:
    exc = p.exception_for(code, "a sentence.")
    assert type(exc) is cls
    assert p.error_for(exc) == (code, "a sentence.")


def test_every_error_code_is_covered() -> None:
    assert {p.error_for(p.exception_for(c, "m"))[0] for c in p.ERROR_CODES} == p.ERROR_CODES


def test_error_for_uses_the_wire_code_of_spe_errors() -> None:
    assert p.error_for(SessionExists("taken")) == ("busy", "taken")
    assert p.error_for(LocalProtocolError("big", error_code="too_large")) == ("too_large", "big")


def test_error_for_hides_unexpected_exceptions() -> None:
    code, message = p.error_for(ValueError("secret path /etc/shadow"))
    assert code == "internal"
    assert "secret" not in message
    assert p.error_for(ScriptAborted()) == ("internal", message)


def test_exception_for_an_unknown_code_is_an_spe_error() -> None:
    exc = p.exception_for("teapot", "short and stout")
    assert type(exc) is SpeError
    assert str(exc) == "short and stout"


# --- module hygiene -----------------------------------------------------------------------


def test_protocol_module_imports_no_trio() -> None:
    tree = ast.parse(Path(_protocol.__file__).read_text())
    imported: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            imported.add(node.module or "")
    assert imported <= {
        "__future__",
        "json",
        "math",
        "re",
        "reprlib",
        "collections.abc",
        "dataclasses",
        "typing",
        "spe_host._errors",
        "spe_host._model",
    }


# --- fuzzing ------------------------------------------------------------------------------

_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)
_field_names = st.sampled_from(
    sorted({name for cls in _protocol._MESSAGE_TYPES.values() for name in cls.__dataclass_fields__})
)
_near_messages = st.builds(
    lambda kind, extra: {"type": kind, **extra},
    st.sampled_from(sorted(_protocol._MESSAGE_TYPES)),
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
                assert isinstance(event, p.Message)
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
    receiver, sender = (server, client) if message.SENDER == "client" else (client, server)
    if isinstance(message, p.Output):
        message = p.Output(id=1, session=text, offset=0, text=text)
    elif isinstance(message, p.Execute):
        message = p.Execute(id=1, session="s", code=text)
    receiver.receive_data(sender.send(message))
    assert receiver.next_event() == message


def test_hello_repr_hides_the_token() -> None:
    assert "s3cret" not in repr(p.Hello(version="1.0", token="s3cret"))
