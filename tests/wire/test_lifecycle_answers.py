"""The answers decided at once (an event or final answer of its request's kind) and the
ones that still take the full check: the table agrees with itself either way."""

from __future__ import annotations

import pytest
from support.wire import INFO, begin, handshaken, reject

from spe_host import wire as p
from spe_host._errors import LocalProtocolError


def test_a_done_ends_its_execute_and_nothing_more_may_be_said_about_it() -> None:
    client, server = handshaken()
    begin(client, server, p.Execute(id=1, session="s", code="1"))
    output = p.Output(id=1, session="s", offset=0, text="a")
    client.receive_data(server.send(output))
    assert client.next_event() == output
    client.receive_data(server.send(p.Done(id=1, result=INFO)))
    assert client.next_event() == p.Done(id=1, result=INFO)
    assert client.in_flight == set() == server.in_flight
    with pytest.raises(LocalProtocolError, match="not in flight"):
        server.send(output)
    frame = p.encode_message(output, end=b"\n")
    assert "not in flight" in str(reject(client, frame))


def test_an_answer_of_the_wrong_kind_still_breaks_the_protocol() -> None:
    client, server = handshaken()
    begin(client, server, p.ListSessions(id=2))
    done = p.encode_message(p.Done(id=2, result=INFO), end=b"\n")
    assert "gets no such message" in str(reject(client, done))


def test_a_refused_duplicate_is_owed_its_error_while_the_first_stays_in_flight() -> None:
    client, server = handshaken()
    begin(client, server, p.Execute(id=3, session="s", code="1"))
    # A second execute with the same id, as a buggy client would send it.
    server.receive_data(p.encode_message(p.Execute(id=3, session="t", code="2"), end=b"\n"))
    assert isinstance(server.next_event(), p.Refused)
    server.send(p.Error(id=3, code="bad_request", message="id 3 is in flight"))
    # The first execute is still in flight and gets its events and its done.
    server.send(p.Output(id=3, session="s", offset=0, text="x"))
    server.send(p.Done(id=3, result=INFO))
    assert server.in_flight == set()


def test_a_cancel_gets_its_result_and_its_target_its_own() -> None:
    client, server = handshaken()
    begin(client, server, p.Subscribe(id=4, session="s", from_offset=0))
    begin(client, server, p.Cancel(id=5, target=4))
    for answer in (p.Result(id=5, value=True), p.Result(id=4, value=None)):
        client.receive_data(server.send(answer))
        assert client.next_event() == answer
    assert client.in_flight == set() == server.in_flight
