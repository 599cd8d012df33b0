"""Protocol 1.4 on the wire: ``secret`` in ``input_request``, the ``signature``
request and its ``Signature``; a 1.3 peer's frames still read the same."""

from __future__ import annotations

import json

from support.wire import begin, handshaken, reject, server_after_hello

from spe_host import _model as m
from spe_host import wire as p


def test_the_protocol_is_1_4_or_later() -> None:
    major, minor = p.PROTOCOL_VERSION.split(".")
    assert (major, int(minor) >= 4) == ("1", True)


def test_a_secret_input_request_round_trips() -> None:
    client, server = handshaken()
    begin(client, server, p.Execute(id=1, session="s", code="getpass.getpass()"))
    asked = p.InputRequest(id=1, session="s", prompt="pw? ", secret=True)
    data = server.send(asked)
    assert json.loads(data)["secret"] is True
    client.receive_data(data)
    assert client.next_event() == asked


def test_a_1_3_input_request_is_not_secret() -> None:
    client, server = handshaken()
    begin(client, server, p.Execute(id=1, session="s", code="input()"))
    client.receive_data(b'{"type":"input_request","id":1,"session":"s","prompt":"? "}\n')
    assert client.next_event() == p.InputRequest(id=1, session="s", prompt="? ", secret=False)


def test_a_secret_that_is_not_a_boolean_is_refused() -> None:
    client, server = handshaken()
    begin(client, server, p.Execute(id=1, session="s", code="input()"))
    error = reject(
        client, b'{"type":"input_request","id":1,"session":"s","prompt":"? ","secret":1}\n'
    )
    assert "secret" in str(error)


def test_a_signature_request_round_trips_and_its_answer_decodes() -> None:
    client, server = handshaken()
    asked = p.SignatureAt(id=3, session="s", text="f(1, ", cursor=5)
    data = client.send(asked)
    assert json.loads(data)["type"] == "signature"
    server.receive_data(data)
    assert server.next_event() == asked
    value = p.to_json(m.Signature(name="f", params=["a", "b=2"], index=1, doc="doc"))
    assert value == {"name": "f", "params": ["a", "b=2"], "index": 1, "doc": "doc"}
    assert p.from_json(m.Signature, {"name": "g", "params": []}) == m.Signature(name="g", params=[])


def test_a_signature_request_with_its_cursor_past_the_text_is_refused() -> None:
    error = reject(
        server_after_hello(),
        b'{"type":"signature","id":1,"session":"s","text":"f(","cursor":3}\n',
    )
    assert "past the end" in str(error)
