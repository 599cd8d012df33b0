"""Pushed state changes end to end: ``Client.watch`` over a real unix socket and TCP.

A watcher is told of each step of a session - created, its progress, idle, closed -
as it happens, without asking: the tests count every ``list`` and ``wait`` the host
answers while the changes arrive, and there are none. A watcher that stops reading
costs the other clients nothing, and leaving a watch block ends that stream only.

Synchronising with the server without polling: the server runs each request as a
task of its own, in the order it reads them, and a ``watch`` registers with the host
before its first checkpoint. So once the answer to a later request on the *same*
connection is back, the watch is in place (:func:`_registered`).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
import trio
from support.server import TRANSPORTS, Served, next_message, served

from spe_host import Client, Progress
from spe_host._model import ExecutionStatus, SessionState, StateChange
from spe_host.client import StateWatch
from spe_host.service import Service
from spe_host.wire import Cancel, ListSessions, Result, StateChanged, Watch

pytestmark = pytest.mark.usefixtures("runtime")

#: Seconds a pushed change may take to arrive: far more than it needs, far less than
#: any polling interval a client would choose.
PUSH_DEADLINE = 2.0

STEPS = """\
gates[0].wait()
spe.progress(25, 'a quarter')
gates[1].wait()
spe.progress(75, 'three quarters')
gates[2].wait()
"""


def step(change: StateChange) -> tuple[str, SessionState, SessionState]:
    return change.session.id, change.previous, change.session.state


async def _registered(client: Client) -> None:
    """Return once the watch ``client`` just sent is registered (see the module notes)."""
    await client.sessions("no such session")


async def _pushed(changes: StateWatch) -> StateChange:
    with trio.fail_after(PUSH_DEADLINE):
        return await changes.__anext__()


@pytest.fixture
def gates() -> Iterator[list[threading.Event]]:
    events = [threading.Event() for _ in range(3)]
    yield events
    for event in events:  # release a worker thread a failed test left waiting
        event.set()


@pytest.fixture
def asked(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The ``list`` and ``wait`` operations the host's service performs, as they happen."""
    calls: list[str] = []
    for name in ("sessions", "wait"):
        original = getattr(Service, name)

        def counted(
            self: Service, *args: Any, _original: Any = original, _name: str = name, **kwargs: Any
        ) -> Any:
            calls.append(_name)
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(Service, name, counted)
    return calls


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_a_watcher_is_pushed_every_step_of_a_session(
    transport: str, gates: list[threading.Event], asked: list[str]
) -> None:
    with trio.fail_after(20):
        async with (
            served(transport, host_options={"namespace": {"gates": gates}}) as srv,
            srv.connect() as watcher,
            srv.connect() as client,
            watcher.watch("job*") as changes,
        ):
            await _registered(watcher)
            asked.clear()
            await client.execute("other", "pass")  # not watched: never seen

            await client.start("job1", STEPS, name="the job")
            created = await _pushed(changes)
            # Made and started in one step: seen running, having not existed.
            assert step(created) == ("job1", SessionState.CLOSED, SessionState.RUNNING)
            assert (created.session.name, created.session.progress_percent) == (
                "the job",
                None,
            )

            for gate, percent, message in (
                (gates[0], 25.0, "a quarter"),
                (gates[1], 75.0, "three quarters"),
            ):
                gate.set()
                progressed = await _pushed(changes)
                assert step(progressed) == ("job1", SessionState.RUNNING, SessionState.RUNNING)
                assert progressed.session.progress == Progress(percent, message)

            gates[2].set()
            finished = await _pushed(changes)
            assert step(finished) == ("job1", SessionState.RUNNING, SessionState.IDLE)
            # The snapshot already knows how the run ended.
            assert finished.session.last_status is ExecutionStatus.COMPLETED

            assert await client.remove("job1") == ["job1"]
            closed = await _pushed(changes)
            assert step(closed) == ("job1", SessionState.IDLE, SessionState.CLOSED)
            # Every change came by itself: nobody asked the host for its sessions.
            assert asked == []


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_a_watcher_that_does_not_read_stalls_no_other_client(transport: str) -> None:
    sessions, rounds = 10, 150
    with trio.fail_after(60):
        async with (
            served(transport) as srv,
            srv.connect() as idle_watcher,
            srv.connect() as worker,
        ):
            # A bare connection that asks for every change and never reads a byte again,
            # so its socket fills (about a quarter of the changes' bytes reach it; the
            # server folds the rest per session); and a client whose watch block does
            # not iterate.
            raw, conn = await srv.raw_hello()
            await raw.send_all(conn.send(Watch(id=1, patterns=[])))
            async with idle_watcher.watch("job*") as changes:
                await _registered(idle_watcher)
                # Long names make every change a big frame, to fill the bare socket.
                for n in range(sessions):
                    await worker.start(f"job{n}", "pass", name=f"{n}" + "n" * 4000)
                await worker.wait("job*")
                for i in range(rounds):
                    with trio.fail_after(PUSH_DEADLINE):
                        info = await worker.execute(
                            f"job{i % sessions}", f"spe.progress(50, 'round {i}')"
                        )
                    assert info.status is ExecutionStatus.COMPLETED
                # The watcher's own connection answers too, its watch still unread.
                with trio.fail_after(PUSH_DEADLINE):
                    assert len(await idle_watcher.sessions("job*")) == sessions

                # Read now: each session's latest state arrives, however much was folded.
                final = {f"job{n}": f"round {rounds - sessions + n}" for n in range(sessions)}
                latest: dict[str, str | None] = {}
                while latest != final:
                    change = await _pushed(changes)
                    if change.session.state is SessionState.IDLE:
                        latest[change.session.id] = change.session.progress_message


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_leaving_a_watch_ends_the_stream_and_the_connection_goes_on(
    transport: str,
) -> None:
    with trio.fail_after(20):
        async with served(transport) as srv, srv.connect() as client:
            async with client.watch("job*") as changes:
                await _registered(client)
                await client.execute("job1", "pass")
                assert step(await _pushed(changes)) == (
                    "job1",
                    SessionState.CLOSED,
                    SessionState.RUNNING,
                )
            # The block sent a cancel; the same connection serves on, a new watch too.
            assert [s.id for s in await client.sessions()] == ["job1"]
            async with client.watch("job*") as changes:
                await _registered(client)
                await client.execute("job2", "pass")
                assert step(await _pushed(changes)) == (
                    "job2",
                    SessionState.CLOSED,
                    SessionState.RUNNING,
                )
            await _frames_of_a_cancelled_watch(srv)


async def _frames_of_a_cancelled_watch(srv: Served) -> None:
    """On the wire: cancel answers true, the watch ends with ``null``, the rest goes on."""
    raw, conn = await srv.raw_hello()
    await raw.send_all(
        conn.send(Watch(id=1, patterns=["job*"])) + conn.send(ListSessions(id=2, patterns=[]))
    )
    listed = await next_message(raw, conn)
    assert isinstance(listed, Result)
    assert listed.id == 2
    await srv.host.execute("job3", "pass")
    change = await next_message(raw, conn)
    assert isinstance(change, StateChanged)
    assert change.id == 1
    assert change.session.id == "job3"
    await raw.send_all(conn.send(Cancel(id=3, target=1)))
    answers: dict[int, Result] = {}
    while len(answers) < 2:
        message = await next_message(raw, conn)
        if isinstance(message, StateChanged):
            continue  # job3 going idle, sent before the cancel took effect
        assert isinstance(message, Result), message
        answers[message.id] = message
    assert answers[3].value is True  # the cancel found its target
    assert answers[1].value is None  # the watch's final answer
    await raw.send_all(conn.send(ListSessions(id=4, patterns=["job3"])))
    listed = await next_message(raw, conn)
    assert isinstance(listed, Result)
    assert listed.id == 4
    assert [item["id"] for item in listed.value] == ["job3"]  # type: ignore[index,union-attr]
