"""Protocol 1.3 on the wire: ``stop`` with a reason and force, ``ticket``, ``tickets``,
and the stop ticket inside ``SessionInfo``; a 1.2 peer's frames still read the same."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest
from support.wire import SESSION, frame, reject, server_after_hello

from spe_host import _model as m
from spe_host import wire as p
from spe_host._errors import LocalProtocolError, RemoteProtocolError

TICKET = m.StopTicket(
    id="t-7f3a",
    session="etl",
    run="etl#3",
    requested_at=1700000006.0,
    requested_by="uid 1000 (pid 4242)",
    reason="bad input file",
    phase=m.StopPhase.LANDED,
    landed_at="job.py:13",
    landed_time=1700000006.5,
    forced_at=1700000006.25,
)


def test_the_protocol_is_1_3_or_later() -> None:
    major, minor = map(int, p.PROTOCOL_VERSION.split("."))
    assert (major, minor) >= (1, 3)


def test_a_1_2_stop_reads_as_a_plain_stop() -> None:
    server = server_after_hello()
    server.receive_data(frame({"type": "stop", "id": 1, "targets": ["etl"]}))
    assert server.next_event() == p.Stop(id=1, targets=["etl"], reason=None, force=False)


def test_a_reason_of_the_longest_length_passes() -> None:
    server = server_after_hello()
    reason = "x" * p.MAX_STOP_REASON
    server.receive_data(frame({"type": "stop", "id": 1, "targets": ["etl"], "reason": reason}))
    event = server.next_event()
    assert isinstance(event, p.Stop)
    assert event.reason == reason


@pytest.mark.parametrize(
    ("obj", "words"),
    [
        (
            {"type": "stop", "id": 1, "targets": ["etl"], "reason": "x" * 1001},
            "at most 1000 characters, not 1001",
        ),
        ({"type": "stop", "id": 1, "targets": ["etl"], "reason": 7}, "'reason' field"),
        ({"type": "stop", "id": 1, "targets": ["etl"], "force": "yes"}, "true or"),
        ({"type": "ticket", "id": 1}, "exactly one of 'ticket' and 'session'"),
        ({"type": "ticket", "id": 1, "ticket": "t", "session": "s"}, "exactly one"),
        ({"type": "ticket", "id": 1, "ticket": ""}, "1 to 128 characters"),
        ({"type": "ticket", "id": 1, "ticket": "t" * 129}, "1 to 128 characters"),
    ],
)
def test_bad_stop_and_ticket_requests_are_bad_requests(obj: dict[str, Any], words: str) -> None:
    exc = reject(server_after_hello(), frame(obj))
    assert exc.error_code == "bad_request"
    assert exc.request_id == 1
    assert words in str(exc)


def test_a_client_cannot_build_a_stop_with_a_reason_too_long() -> None:
    with pytest.raises(LocalProtocolError, match="at most 1000 characters"):
        p.Stop(id=1, targets=["etl"], reason="x" * 1001)


def test_a_ticket_round_trips_through_json() -> None:
    text = json.dumps(p.to_json(TICKET))
    back = p.from_json(m.StopTicket, json.loads(text))
    assert back == TICKET
    assert back.phase is m.StopPhase.LANDED
    assert json.loads(text)["phase"] == "landed"


def test_a_session_carries_its_ticket() -> None:
    info = dataclasses.replace(SESSION, state=m.SessionState.STOPPING, stop=TICKET)
    obj = json.loads(json.dumps(p.to_json(info)))
    assert obj["stop"]["requested_by"] == "uid 1000 (pid 4242)"
    assert p.from_json(m.SessionInfo, obj) == info


def test_a_1_2_session_has_no_ticket() -> None:
    obj = p.to_json(SESSION)
    del obj["stop"]
    assert p.from_json(m.SessionInfo, obj).stop is None


def test_a_bad_phase_is_refused() -> None:
    obj = dict(p.to_json(TICKET), phase="lost")
    with pytest.raises(RemoteProtocolError, match="one of requested, landed, finished"):
        p.from_json(m.StopTicket, obj)


def test_an_operator_may_read_tickets() -> None:
    assert {"stop", "ticket", "tickets"} <= p.OPERATOR_REQUESTS
