"""Messages and records through the wire: round trips, JSON shape, defaults, hygiene."""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Any

import pytest
from support.wire import (
    CLIENT_MESSAGES,
    COMPLETION,
    INFO,
    SERVER_MESSAGES,
    SESSION,
    frame,
    handshaken,
    prepare,
    server_after_hello,
)

from spe_host import wire as p

# --- round trips --------------------------------------------------------------------------


@pytest.mark.parametrize("message", CLIENT_MESSAGES[1:], ids=lambda m: m.TYPE)
def test_client_message_round_trips(message: p.Message) -> None:
    client, server = handshaken()
    prepare(client, server, message)
    server.receive_data(client.send(message))
    assert server.next_event() == message
    assert server.next_event() is p.NEED_DATA


@pytest.mark.parametrize("message", SERVER_MESSAGES[1:], ids=lambda m: m.TYPE)
def test_server_message_round_trips(message: p.Message) -> None:
    client, server = handshaken()
    prepare(client, server, message)
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
        "loop": False,
    }


def test_lone_surrogate_survives_the_trip() -> None:
    client, server = handshaken()
    message = p.Output(id=1, session="s", offset=0, text="bad \ud800 byte")
    prepare(client, server, message)
    data = server.send(message)
    data.decode("utf-8")  # still valid UTF-8 on the wire
    client.receive_data(data)
    assert client.next_event() == message


def test_defaults_apply_to_missing_optional_fields() -> None:
    server = server_after_hello()
    server.receive_data(frame({"type": "execute", "id": 1, "session": "s", "code": "1"}))
    server.receive_data(frame({"type": "list", "id": 2}))
    # A 1.1 client sends no `loop`: its statements run in worker mode, as before.
    assert server.next_event() == p.Execute(
        id=1, session="s", code="1", interactive=True, loop=False
    )
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


# --- module hygiene -----------------------------------------------------------------------


def test_protocol_module_imports_no_trio() -> None:
    imported: set[str] = set()
    for path in Path(p.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                imported.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                imported.add(node.module or "")
    assert imported <= {
        "__future__",
        "abc",
        "json",
        "math",
        # The long-frame JSON decoder (wire/_decoding.py): sans-IO like json.
        "msgspec",
        "operator",
        "re",
        "reprlib",
        "collections",
        "collections.abc",
        "dataclasses",
        "enum",
        "types",
        "typing",
        "weakref",
        "spe_host._errors",
        "spe_host._model",
        "spe_host._records",
        "spe_host._rules",
    }


def test_hello_repr_hides_the_token() -> None:
    assert "s3cret" not in repr(p.Hello(version="1.0", token="s3cret"))
