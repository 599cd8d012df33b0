"""The codec's checks and mappings: fields, versions, error codes."""

from __future__ import annotations

from typing import Any

import pytest
from support.wire import (
    INFO,
    SESSION,
    frame,
    handshaken,
    reject,
    server_after_hello,
)

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
        ({"type": "execute", "id": 1, "session": "s", "code": "1", "loop": "on"}, "true or"),
        ({"type": "start", "id": 1, "code": "1", "loop": None}, "true or"),
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
