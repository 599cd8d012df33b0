"""The request lifecycle that Connection keeps, on both sides, synchronously (h11 style)."""

from __future__ import annotations

import dataclasses

import pytest
from support.wire import (
    ask_input,
    begin,
    frame,
    handshaken,
    reject,
    server_after_hello,
)
from support.wire import (
    state_changed as state,
)

from spe_host import _model as m
from spe_host import wire as p
from spe_host._errors import LocalProtocolError, RemoteProtocolError

RESULT = m.ExecutionResult(
    session="s",
    status=m.ExecutionStatus.COMPLETED,
    value=None,
    error=None,
    output="",
    started_at=1.0,
    finished_at=2.0,
)


def execute(request_id: int) -> p.Execute:
    return p.Execute(id=request_id, session="s", code="1")


def done(request_id: int) -> p.Done:
    return p.Done(id=request_id, result=RESULT)


def output(request_id: int) -> p.Output:
    return p.Output(id=request_id, session="s", offset=0, text="x")


# --- ids in flight (server) ---------------------------------------------------------------


def test_a_duplicate_id_is_refused_and_the_connection_still_works() -> None:
    client, server = handshaken()
    begin(client, server, execute(1))
    server.receive_data(frame({"type": "list", "id": 1}))
    refused = server.next_event()
    assert refused == p.Refused(
        id=1,
        code="bad_request",
        message="request id 1 is already in flight on this connection; give every request a new id",
    )
    assert not isinstance(refused, p.Message)
    with pytest.raises(dataclasses.FrozenInstanceError):
        refused.id = 2  # type: ignore[misc]
    # (The duplicate came from a raw peer, not from `client`, which would refuse to
    # send it: so the refusal's error is for the server's side alone.)
    server.send(p.Error(id=1, code=refused.code, message=refused.message))
    # The refusal's error does not end the first request with that id.
    assert server.in_flight == {1}
    client.receive_data(server.send(output(1)) + server.send(done(1)))
    assert [client.next_event(), client.next_event()] == [output(1), done(1)]
    assert server.in_flight == set() == client.in_flight
    begin(client, server, execute(1))  # an id is free again once its request ended


def test_the_in_flight_limit_refuses_with_busy_and_recovers() -> None:
    client, server = handshaken(server_options={"max_in_flight": 2})
    begin(client, server, execute(1))
    begin(client, server, p.Subscribe(id=2, session="s"))
    server.receive_data(client.send(p.ListSessions(id=3)))  # the client does not count
    refused = server.next_event()
    assert refused == p.Refused(
        id=3,
        code="busy",
        message="this connection already has 2 requests in flight; wait for some to "
        "finish, or open another connection",
    )
    assert isinstance(refused, p.Refused)
    client.receive_data(server.send(p.Error(id=3, code="busy", message=refused.message)))
    assert isinstance(client.next_event(), p.Error)
    # A cancel still gets through at the limit: it is not a request in flight.
    begin(client, server, p.Cancel(id=4, target=2))
    assert server.in_flight == {1, 2}
    server.send(p.Result(id=4, value=True))
    server.send(p.Result(id=2, value=None))
    begin(client, server, p.ListSessions(id=3))


def test_in_flight_is_a_read_only_view() -> None:
    client, server = handshaken()
    view = server.in_flight
    begin(client, server, execute(7))
    assert view == {7} == client.in_flight
    assert not hasattr(view, "add")
    assert not hasattr(view, "discard")


def test_the_client_refuses_a_duplicate_id_and_enforces_no_limit() -> None:
    client, _ = handshaken(client_options={"max_in_flight": 1})
    client.send(execute(1))
    with pytest.raises(LocalProtocolError, match="request id 1 is already in flight"):
        client.send(p.ListSessions(id=1))
    with pytest.raises(LocalProtocolError, match="already in flight"):
        client.send(p.Cancel(id=1, target=1))
    for request_id in range(2, 300):
        client.send(p.ListSessions(id=request_id))
    assert len(client.in_flight) == 299


# --- one final answer ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("request_", "final"),
    [
        (execute(1), done(1)),
        (p.ListSessions(id=1), p.Result(id=1, value=[])),
        (execute(1), p.Error(id=1, code="busy", message="busy")),
        (p.Receive(id=1, session="s"), p.Error(id=1, code="not_found", message="none")),
    ],
    ids=["done", "result", "error-of-execute", "error-of-receive"],
)
def test_a_request_gets_one_final_answer(request_: p.Request, final: p.Message) -> None:
    client, server = handshaken()
    begin(client, server, request_)
    client.receive_data(server.send(final))
    assert client.next_event() == final
    assert server.in_flight == set() == client.in_flight
    for again in (final, p.Result(id=1, value=None), p.Error(id=1, code="busy", message="b")):
        with pytest.raises(LocalProtocolError, match="request id 1, which is not in flight"):
            server.send(again)
    # A refused send changes nothing: the connection goes on.
    begin(client, server, p.ListSessions(id=2))


@pytest.mark.parametrize(
    "event",
    [
        output(1),
        p.Progress(id=1, session="s", percent=5.0),
        p.InputRequest(id=1, session="s", prompt="? "),
        state(1),
    ],
    ids=lambda e: e.TYPE,
)
def test_no_event_after_the_final_answer(event: p.Message) -> None:
    client, server = handshaken()
    with pytest.raises(LocalProtocolError, match="never began"):
        server.send(event)  # never in flight at all
    begin(client, server, execute(1))
    server.send(done(1))
    with pytest.raises(LocalProtocolError, match=f"cannot send '{event.TYPE}' for request id 1"):
        server.send(event)


@pytest.mark.parametrize(
    ("request_", "event"),
    [
        (p.ListSessions(id=1), done(1)),
        (p.ListSessions(id=1), output(1)),
        (execute(1), p.Result(id=1, value=None)),
        (execute(1), state(1)),
        (p.Subscribe(id=1, session="s"), state(1)),
        (p.Subscribe(id=1, session="s"), p.InputRequest(id=1, session="s", prompt="")),
        (p.Watch(id=1), output(1)),
        (p.Watch(id=1), done(1)),
    ],
    ids=lambda value: value.TYPE,
)
def test_only_the_events_of_its_kind_belong_to_a_request(
    request_: p.Request, event: p.Message
) -> None:
    client, server = handshaken()
    begin(client, server, request_)
    with pytest.raises(LocalProtocolError, match=f"a '{request_.TYPE}' request"):
        server.send(event)
    # The client holds a server to the same rule.
    exc = reject(client, frame(event.to_json()))
    assert f"the server sent '{event.TYPE}' for request id 1, a '{request_.TYPE}'" in str(exc)


def test_an_error_is_owed_for_a_broken_frame_with_an_id() -> None:
    server = server_after_hello()
    exc = reject(server, frame({"type": "execute", "id": 17, "session": "s", "code": 5}))
    code, message = p.error_for(exc)
    server.send(p.Error(id=17, code=code, message=message))
    with pytest.raises(LocalProtocolError, match="request id 17, which is not in flight"):
        server.send(p.Error(id=17, code=code, message=message))


# --- input pairing ------------------------------------------------------------------------


def test_an_input_request_is_pending_until_its_reply() -> None:
    client, server = handshaken()
    begin(client, server, execute(1))
    assert not server.input_pending(1)
    ask_input(client, server, 1)
    assert server.input_pending(1)
    assert client.input_pending(1)
    with pytest.raises(LocalProtocolError, match="last input_request has not been answered"):
        server.send(p.InputRequest(id=1, session="s", prompt="again? "))
    reply = p.InputReply(id=1, text="yes")
    server.receive_data(client.send(reply))
    assert not client.input_pending(1)
    assert server.next_event() == reply
    assert not server.input_pending(1)
    ask_input(client, server, 1)  # one at a time: the next one may come now
    assert server.in_flight == {1}  # a reply is no request of its own


def test_the_final_answer_clears_a_pending_input() -> None:
    client, server = handshaken()
    begin(client, server, execute(1))
    ask_input(client, server, 1)
    client.receive_data(server.send(done(1)))
    assert not server.input_pending(1)
    assert client.next_event() == done(1)
    assert not client.input_pending(1)
    with pytest.raises(LocalProtocolError, match="no input_request waiting"):
        client.send(p.InputReply(id=1, text="too late"))


def test_a_late_input_reply_is_swallowed_by_the_server() -> None:
    client, server = handshaken()
    begin(client, server, execute(1))
    ask_input(client, server, 1)
    server.send(done(1))  # a stop ended the execute while the prompt was up
    server.receive_data(
        frame({"type": "input_reply", "id": 1, "text": "late"})
        + frame({"type": "input_reply", "id": 99, "text": "never asked"})
        + frame({"type": "list", "id": 2})
    )
    assert server.next_event() == p.ListSessions(id=2)
    assert server.next_event() is p.NEED_DATA


def test_a_client_may_not_send_an_input_reply_nobody_asked_for() -> None:
    client, server = handshaken()
    with pytest.raises(LocalProtocolError, match="request id 1, which has no input_request"):
        client.send(p.InputReply(id=1, text="x"))
    begin(client, server, execute(1))
    with pytest.raises(LocalProtocolError, match="no input_request waiting"):
        client.send(p.InputReply(id=1, text="x"))
    assert client.in_flight == {1}  # nothing changed


def test_the_client_rejects_a_second_input_request_while_one_is_pending() -> None:
    client, server = handshaken()
    begin(client, server, execute(1))
    ask_input(client, server, 1)
    exc = reject(client, frame({"type": "input_request", "id": 1, "session": "s", "prompt": ""}))
    assert "whose last input_request has not been answered yet" in str(exc)


# --- cancel -------------------------------------------------------------------------------


@pytest.mark.parametrize("stream", [p.Subscribe(id=5, session="s"), p.Watch(id=5)])
def test_cancel_ends_a_subscribe_or_a_watch(stream: p.Request) -> None:
    client, server = handshaken()
    begin(client, server, stream)
    assert server.cancellable(5)
    cancel = p.Cancel(id=6, target=5)
    begin(client, server, cancel)
    assert not server.cancellable(6)  # a cancel is not a stream
    assert server.in_flight == {5} == client.in_flight
    client.receive_data(server.send(p.Result(id=6, value=True)))
    with pytest.raises(LocalProtocolError, match="request id 6, which is not in flight"):
        server.send(p.Result(id=6, value=True))
    client.receive_data(server.send(p.Result(id=5, value=None)))
    assert client.next_event() == p.Result(id=6, value=True)
    assert client.next_event() == p.Result(id=5, value=None)
    assert not server.cancellable(5)
    assert server.in_flight == set() == client.in_flight


def test_only_streams_in_flight_are_cancellable() -> None:
    client, server = handshaken()
    begin(client, server, execute(1))
    begin(client, server, p.Wait(id=2, sessions=["s"]))
    assert not server.cancellable(1)
    assert not server.cancellable(2)
    assert not server.cancellable(42)
    begin(client, server, p.Cancel(id=3, target=42))
    with pytest.raises(LocalProtocolError, match="a cancel, which gets a result"):
        server.send(output(3))
    server.send(p.Result(id=3, value=False))


def test_a_cancel_with_an_id_in_flight_is_refused() -> None:
    client, server = handshaken()
    begin(client, server, p.Subscribe(id=5, session="s"))
    server.receive_data(frame({"type": "cancel", "id": 5, "target": 5}))
    refused = server.next_event()
    assert isinstance(refused, p.Refused)
    assert refused.code == "bad_request"
    assert server.cancellable(5)  # the stream goes on


# --- the client's side --------------------------------------------------------------------


@pytest.mark.parametrize(
    "event",
    [p.Result(id=99, value=None), output(99), done(99), state(99)],
    ids=lambda e: e.TYPE,
)
def test_the_client_rejects_answers_for_ids_not_in_flight(event: p.Message) -> None:
    client, _ = handshaken()
    exc = reject(client, frame(event.to_json()))
    assert f"the server sent '{event.TYPE}' for request id 99, which is not in flight" in str(exc)
    assert p.request_id_of(exc) == 99
    # Broken, as for any protocol error.
    with pytest.raises(RemoteProtocolError, match="earlier protocol error"):
        client.next_event()


def test_the_client_ends_a_request_on_its_final_answer() -> None:
    client, server = handshaken()
    begin(client, server, execute(1))
    client.receive_data(server.send(done(1)))
    assert client.next_event() == done(1)
    assert client.in_flight == set()
    client.receive_data(frame(output(1).to_json()))
    with pytest.raises(RemoteProtocolError, match="has had its final answer"):
        client.next_event()


def test_a_connection_error_is_accepted_any_time() -> None:
    client, server = handshaken()
    begin(client, server, execute(1))
    error = p.Error(id=None, code="internal", message="the host is going away")
    client.receive_data(server.send(error))
    assert client.next_event() == error
    assert client.in_flight == {1}
