"""Records and messages decode to exactly what was encoded, with their defaults, every time."""

from __future__ import annotations

import json

import pytest

from spe_host._errors import RemoteProtocolError
from spe_host._model import ExecutionResult, ExecutionStatus, SessionInfo, SessionState
from spe_host.wire import (
    Done,
    ListSessions,
    Result,
    Start,
    from_json,
    message_from_json,
    to_json,
)

INFO = SessionInfo(
    id="etl",
    name="nightly",
    state=SessionState.RUNNING,
    progress_percent=12.5,
    progress_message="loading",
    location="<spe>:3",
    last_status=ExecutionStatus.COMPLETED,
    created_at=1764620000.25,
    last_accessed=1764620001.5,
    autodispose=False,
    output_offset=42,
    run="etl#2",
    run_started_at=1764620001.0,
)
RESULT = ExecutionResult(
    session="etl",
    status=ExecutionStatus.FAILED,
    value=None,
    error="Traceback ...",
    output="héllo\n",
    started_at=1.0,
    finished_at=2.0,
    run="etl#2",
)


def through_json(value: object) -> object:
    return json.loads(json.dumps(value))


def test_a_record_encodes_enums_as_plain_strings_and_decodes_back_equal() -> None:
    encoded = to_json(INFO)
    assert type(encoded["state"]) is str
    assert encoded["state"] == "running"
    assert type(encoded["last_status"]) is str
    assert encoded["last_status"] == "completed"
    assert encoded["run_ended_at"] is None
    assert encoded["stop"] is None
    decoded = from_json(SessionInfo, through_json(encoded))
    assert decoded == INFO
    assert decoded.state is SessionState.RUNNING


def test_messages_with_nested_records_round_trip_equal() -> None:
    for message in (
        Done(id=3, result=RESULT),
        Result(id=4, value=[to_json(INFO)]),
        Start(id=5, code="x = 1", args={"n": [1, 2]}, name="job"),
    ):
        assert message_from_json(through_json(message.to_json())) == message


def test_absent_optional_fields_take_their_defaults_fresh_each_time() -> None:
    first = message_from_json({"type": "list", "id": 1})
    second = message_from_json({"type": "list", "id": 2})
    assert first == ListSessions(id=1)
    assert isinstance(first, ListSessions)
    assert isinstance(second, ListSessions)
    assert first.patterns == []
    assert first.patterns is not second.patterns


def test_a_decoded_message_still_gets_its_checks_across_fields() -> None:
    with pytest.raises(RemoteProtocolError, match="exactly one of 'code' and 'path'"):
        message_from_json({"type": "start", "id": 1, "code": "1", "path": "/x.py"})
    with pytest.raises(RemoteProtocolError, match=r"'cursor' \(9\) is past the end"):
        message_from_json({"type": "complete", "id": 1, "session": "s", "text": "ab", "cursor": 9})


def test_a_bad_field_in_a_record_is_still_named_in_the_sentence() -> None:
    bad = {**to_json(INFO), "output_offset": -1}
    with pytest.raises(RemoteProtocolError, match="'output_offset' field of the SessionInfo"):
        from_json(SessionInfo, bad)
    bad = {**to_json(INFO), "progress_percent": "half"}
    with pytest.raises(RemoteProtocolError, match="a finite number or null, not a string"):
        from_json(SessionInfo, bad)
    bad = {**to_json(INFO), "state": "asleep"}
    with pytest.raises(RemoteProtocolError, match="'state' must be one of"):
        from_json(SessionInfo, bad)
