"""watch and its state events: the stream, its JSON shape, its checks."""

from __future__ import annotations

import json

import pytest
from support.wire import SESSION, begin, frame, handshaken, reject, server_after_hello
from support.wire import state_changed as state

from spe_host import _model as m
from spe_host import wire as p
from spe_host._errors import LocalProtocolError

# --- watch and state ----------------------------------------------------------------------


def test_watch_streams_state_events_until_cancelled() -> None:
    client, server = handshaken()
    watch = p.Watch(id=3, patterns=["etl*"])
    data = client.send(watch)
    assert json.loads(data) == {
        "type": "watch",
        "id": 3,
        "patterns": ["etl*"],
        "locations": False,
    }
    server.receive_data(data)
    assert server.next_event() == watch
    changed = state(3)
    data = server.send(changed)
    assert json.loads(data) == {
        "type": "state",
        "id": 3,
        "session": p.to_json(SESSION),
        "previous": "idle",
    }
    client.receive_data(data + server.send(state(3)))
    event = client.next_event()
    assert event == changed
    assert isinstance(event, p.StateChanged)
    assert event.previous is m.SessionState.IDLE
    assert event.session.state is m.SessionState.RUNNING
    assert client.next_event() == changed
    begin(client, server, p.Cancel(id=4, target=3))
    client.receive_data(server.send(p.Result(id=4, value=True)))
    client.receive_data(server.send(p.Result(id=3, value=None)))
    assert [client.next_event(), client.next_event()] == [
        p.Result(id=4, value=True),
        p.Result(id=3, value=None),
    ]
    assert client.in_flight == set()


def test_watch_defaults_to_every_session() -> None:
    server = server_after_hello()
    server.receive_data(frame({"type": "watch", "id": 1}))
    assert server.next_event() == p.Watch(id=1, patterns=[])


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"previous": "exploded"}, "'previous' must be one of idle, running"),
        ({"session": dict(p.to_json(SESSION), state="gone")}, "'state' must be one of idle"),
        ({"session": "s"}, "the session info must be a JSON object, not a string"),
        ({"previous": None}, "'previous' must be one of"),
    ],
)
def test_state_events_are_checked(change: dict[str, object], words: str) -> None:
    client, server = handshaken()
    begin(client, server, p.Watch(id=3))
    exc = reject(client, frame({**state(3).to_json(), **change}))
    assert words in str(exc)


def test_a_state_event_must_hold_a_session_info() -> None:
    with pytest.raises(LocalProtocolError, match="must be a session info, not a string"):
        p.StateChanged(id=1, session="s", previous=m.SessionState.IDLE)  # type: ignore[arg-type]
    with pytest.raises(LocalProtocolError, match="'previous' must be one of"):
        p.StateChanged(id=1, session=SESSION, previous="gone")  # type: ignore[arg-type]
