"""Helpers for the sans-IO wire tests: connections past the handshake, and the steps
that put a request in the state a message needs (in flight, waiting for input)."""

from __future__ import annotations

import json

import pytest

from spe_host import _model as m
from spe_host import wire as p
from spe_host._errors import RemoteProtocolError

INFO = m.ExecutionResult(
    session="etl",
    status="failed",
    value=None,
    error="Traceback ...\nValueError: x\n",
    output="héllo ✓\n",
    started_at=1700000000.25,
    finished_at=1700000001.5,
    run="etl#3",
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
    run="etl#3",
    run_started_at=1700000004.5,
    run_ended_at=None,
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
    p.Stop(id=17, targets=["etl"], reason="bad input file ✓", force=True),
    p.Ticket(id=18, ticket="t-7f3a"),
    p.Ticket(id=19, session="etl"),
    p.Tickets(id=20),
    p.Wait(id=7, sessions=["a", "b"], timeout=2.5, any=True),
    p.Wait(id=8, sessions=["a"]),
    p.Receive(id=9, session="etl", keep=True),
    p.Receive(id=16, session="etl", run="etl#2"),
    p.Remove(id=10, sessions=["etl"], force=True),
    p.Complete(id=11, session="etl", text="lst.app", cursor=7),
    p.Subscribe(id=12, session="etl", from_offset=100),
    p.Watch(id=14, patterns=["etl*"]),
    p.Watch(id=15),
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
    p.StateChanged(id=14, session=SESSION, previous=m.SessionState.IDLE),
    p.Done(id=1, result=INFO),
    p.Result(id=4, value=[p.to_json(SESSION)]),
    p.Result(id=6, value={"etl": "requested", "nope": "not_found"}),
    p.Result(id=12, value=None),
    p.Error(id=9, code="busy", message="session 'etl' is running; wait for it first"),
    p.Error(id=None, code="unauthorized", message="the token is wrong"),
]

WELCOME = p.Welcome(version=p.PROTOCOL_VERSION, server="h", role="admin", pid=1)


def handshaken(
    client_options: dict[str, int] | None = None, server_options: dict[str, int] | None = None
) -> tuple[p.Connection, p.Connection]:
    """A client and a server connection that have exchanged hello and welcome."""
    client = p.Connection("client", **(client_options or {}))
    server = p.Connection("server", **(server_options or {}))
    server.receive_data(client.send(p.Hello(version=p.PROTOCOL_VERSION, token="t")))
    assert isinstance(server.next_event(), p.Hello)
    client.receive_data(server.send(WELCOME))
    assert isinstance(client.next_event(), p.Welcome)
    return client, server


def server_after_hello(**kwargs: int) -> p.Connection:
    """A server connection that has received hello and not answered it yet."""
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


def begin(client: p.Connection, server: p.Connection, request: p.Request) -> None:
    """Send a request from the client and take it on the server: it is in flight."""
    server.receive_data(client.send(request))
    assert server.next_event() == request


def ask_input(client: p.Connection, server: p.Connection, request_id: int) -> None:
    """The server asks the client for input on behalf of execute ``request_id``."""
    asked = p.InputRequest(id=request_id, session="s", prompt="? ")
    client.receive_data(server.send(asked))
    assert client.next_event() == asked


def prepare(client: p.Connection, server: p.Connection, message: p.Message) -> None:
    """Bring both connections to where ``message`` may be sent and received."""
    if isinstance(message, p.InputReply):
        begin(client, server, p.Execute(id=message.id, session="s", code="input()"))
        ask_input(client, server, message.id)
    elif isinstance(message, p.Output | p.Progress | p.InputRequest | p.Done):
        begin(client, server, p.Execute(id=message.id, session="s", code="1"))
    elif isinstance(message, p.StateChanged):
        begin(client, server, p.Watch(id=message.id))
    elif isinstance(message, p.Result | p.Error) and message.id is not None:
        begin(client, server, p.ListSessions(id=message.id))


def state_changed(request_id: int) -> p.StateChanged:
    """A state event for watch ``request_id``: SESSION started running."""
    return p.StateChanged(id=request_id, session=SESSION, previous=m.SessionState.IDLE)
