"""Stop tickets: who asked and why, where the stop landed, how the run ended (#10)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing
from support.engine import NativeCall, wait_location, wait_until

import spe_host
from spe_host import ExecutionStatus, Role, SessionState, StopOutcome
from spe_host._model import StopPhase, StopTicket
from spe_host.engine._blocked import BlockedReader
from spe_host.engine._ticket import Ticket
from spe_host.service import Principal, Service


def ticket_of(host: spe_host.Host, session: str) -> StopTicket:
    ticket = host.stop_ticket(session)
    assert ticket is not None
    return ticket


async def test_a_pure_python_loop_lands_at_the_loops_line(
    host: spe_host.Host, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The ticket as the request made it: read after stop() returns, the spinning
    # thread may already have landed it (the GIL can pass to it between two lines).
    made: list[StopTicket] = []
    make = Ticket.__init__

    def recording(self: Ticket, *args: Any, **kwargs: Any) -> None:
        make(self, *args, **kwargs)
        made.append(self.value)

    monkeypatch.setattr(Ticket, "__init__", recording)
    with trio.fail_after(5):
        session = host.start("etl", "n = 0\nwhile True: n += 1\n", filename="job.py")
        await wait_location(session, 2)
        assert host.stop_ticket("etl") is None
        assert host.stop("etl", reason="bad input file") == {"etl": StopOutcome.REQUESTED}
        [requested] = made
        assert requested.phase is StopPhase.REQUESTED
        assert requested.session == "etl"
        assert requested.run == "etl#1"
        assert requested.requested_by == "embedding program"
        assert requested.reason == "bad input file"
        assert requested.id.startswith("stop-")
        await host.wait("etl")
        ticket = ticket_of(host, "etl")
        assert ticket.id == requested.id
        assert ticket.phase is StopPhase.FINISHED
        assert ticket.landed_at == "job.py:2"
        assert ticket.landed_time is not None
        assert ticket.finished_at is not None
        assert requested.requested_at <= ticket.landed_time <= ticket.finished_at
        assert ticket.status is ExecutionStatus.ABORTED
        assert ticket.blocked_in is None
        assert ticket.forced_at is None
        assert session.info().stop == ticket
        result = host.receive("etl", keep=True)
        # The abort names the run, the requester and the reason.
        assert result.error is not None
        assert result.error.endswith(
            "spe_host.ScriptAborted: session 'etl' run #1 was stopped by embedding "
            "program: bad input file\n"
        )


async def test_time_sleep_is_what_a_pending_stop_waits_for(host: spe_host.Host) -> None:
    with trio.fail_after(5):
        session = host.start("s", "import time\ntime.sleep(0.5)\nx = 1\n", filename="job.py")
        await wait_location(session, 2)
        host.stop("s")
        pending = ticket_of(host, "s")
        assert pending.phase is StopPhase.REQUESTED
        assert pending.blocked_in is not None
        assert pending.blocked_in.startswith("time.sleep() called at job.py:2 for ")
        assert session.info().stop is not None
        assert session.info().stop.blocked_in.startswith("time.sleep()")  # type: ignore[union-attr]
        await host.wait("s")
        ticket = ticket_of(host, "s")
        assert (ticket.phase, ticket.landed_at) == (StopPhase.FINISHED, "job.py:3")
        assert ticket.blocked_in is None
        assert "x" not in session.namespace
        # Without a reason the message ends with who stopped it.
        assert host.receive("s").error.endswith(  # type: ignore[union-attr]
            "session 's' run #1 was stopped by embedding program\n"
        )


async def test_an_await_is_cancelled_and_the_ticket_says_what_it_awaited(
    host: spe_host.Host,
) -> None:
    with trio.fail_after(5):
        session = host.start("a", "import trio\nawait trio.sleep(100)\n", filename="job.py")
        await wait_location(session, 2)
        host.stop("a", reason="enough")
        await host.wait("a")
        ticket = ticket_of(host, "a")
        assert ticket.landed_at == "cancelled while awaiting trio.sleep()"
        assert ticket.status is ExecutionStatus.ABORTED
        assert "run #1 was stopped by embedding program: enough" in (host.receive("a").error or "")


async def test_a_run_that_ends_first_finishes_without_landing(
    host: spe_host.Host, native_call: NativeCall
) -> None:
    with trio.fail_after(5):
        host.start("e", "native_call()\n", args={"native_call": native_call})
        await native_call.wait_entered()
        host.stop("e")
        native_call.release.set()
        await host.wait("e")
        ticket = ticket_of(host, "e")
        assert ticket.phase is StopPhase.FINISHED
        assert ticket.status is ExecutionStatus.COMPLETED
        assert ticket.landed_at is None
        assert ticket.landed_time is None


async def test_a_repeated_stop_keeps_the_ticket_and_the_first_reason(
    host: spe_host.Host, native_call: NativeCall
) -> None:
    with trio.fail_after(5):
        host.start("r", "native_call()\nx = 1\n", args={"native_call": native_call})
        await native_call.wait_entered()
        assert host.stop("r", reason="first") == {"r": StopOutcome.REQUESTED}
        first = ticket_of(host, "r")
        assert host.stop("r", reason="second") == {"r": StopOutcome.ALREADY_STOPPING}
        again = ticket_of(host, "r")
        assert (again.id, again.reason) == (first.id, "first")
        native_call.release.set()
        await host.wait("r")
        assert "stopped by embedding program: first" in (host.receive("r").error or "")


async def test_tickets_are_listed_newest_first_and_go_with_their_results(
    host: spe_host.Host,
) -> None:
    with trio.fail_after(5):
        ids = []
        for name in ("one", "two"):
            session = host.start(name, "while True: pass\n")
            await wait_location(session)
            host.stop(name)
            ids.append(ticket_of(host, name).id)
        await host.wait()
        assert [t.id for t in host.tickets()] == ids[::-1]
        assert host.ticket(ids[0]).session == "one"
        with pytest.raises(spe_host.NoResult, match="keeps no stop ticket 'stop-0'"):
            host.ticket("stop-0")
        # The result is received and a newer run starts: the ticket goes with it.
        host.receive("one")
        await host.execute("one", "x = 1")
        assert host.stop_ticket("one") is None
        assert [t.id for t in host.tickets()] == [ids[1]]


async def test_every_phase_change_is_pushed_to_watchers(
    host: spe_host.Host, native_call: NativeCall
) -> None:
    cleanup = threading.Event()
    script = "try:\n    native_call()\n    x = 1\nfinally:\n    cleanup.wait()\n"
    try:
        with trio.fail_after(5):
            async with host.watch("w") as changes:
                args = {"native_call": native_call, "cleanup": cleanup}
                host.start("w", script, args=args)
                await native_call.wait_entered()
                host.stop("w")
                seen: list[tuple[SessionState, StopPhase | None]] = []
                async for change in changes:
                    stop = change.session.stop
                    seen.append((change.session.state, None if stop is None else stop.phase))
                    if seen[-1] == (SessionState.STOPPING, StopPhase.REQUESTED):
                        native_call.release.set()  # let it land...
                    if seen[-1] == (SessionState.STOPPING, StopPhase.LANDED):
                        cleanup.set()  # ...and finish its finally block
                    if change.session.state is SessionState.IDLE:
                        break
    finally:
        cleanup.set()
    assert seen == [
        (SessionState.STOPPING, StopPhase.REQUESTED),
        (SessionState.STOPPING, StopPhase.LANDED),
        (SessionState.IDLE, StopPhase.FINISHED),
    ]


@pytest.mark.parametrize(
    ("principal", "requested_by"),
    [
        (Principal(Role.ADMIN, "uid 1000 (pid 4242)"), "uid 1000 (pid 4242)"),
        (
            Principal(Role.OPERATOR, "127.0.0.1:5555", requester="operator at 127.0.0.1:5555"),
            "operator at 127.0.0.1:5555",
        ),
    ],
)
async def test_the_service_names_the_principal(
    host: spe_host.Host, principal: Principal, requested_by: str
) -> None:
    with trio.fail_after(5):
        service = Service(host)
        session = host.start("p", "while True: pass\n")
        await wait_location(session)
        service.stop(principal, "p", reason="bad input file")
        await host.wait("p")
        ticket = service.stop_ticket(principal, "p")
        assert ticket is not None
        assert ticket.requested_by == requested_by
        assert service.ticket(principal, ticket.id) == ticket
        assert service.tickets(principal) == [ticket]
        error = host.receive("p").error or ""
        assert f"run #1 was stopped by {requested_by}: bad input file" in error


async def test_a_stop_before_a_worker_slot_finishes_with_a_ticket(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with spe_host.open_host(max_running=1, idle_timeout=None) as host:
        with trio.fail_after(5):
            host.start("busy", "import trio\nawait trio.sleep(10)\n")
            host.start("queued", "x = 1\n")
            await wait_until(lambda: host.stop_ticket("busy") is None)
            host.stop("queued")
            await host.wait("queued")
            ticket = ticket_of(host, "queued")
            assert ticket.landed_at == "waiting for a free worker slot (max_running)"
            host.stop("busy")


async def test_the_location_sampler_pushes_what_a_pending_stop_waits_for(
    host: spe_host.Host, gate: threading.Event
) -> None:
    with trio.fail_after(5):
        async with host.watch("b", locations=True) as changes:
            host.start("b", "import time\ngate.wait()\n", args={"gate": gate}, filename="job.py")
            await wait_until(lambda: host.session("b").location is not None)
            host.stop("b")
            waits: list[str] = []
            async for change in changes:
                stop = change.session.stop
                if stop is not None and stop.blocked_in is not None:
                    waits.append(stop.blocked_in)
                if len(set(waits)) == 2:
                    break
            gate.set()
    assert all(w.startswith("threading.Event.wait() called at job.py:2 for ") for w in waits)


def test_a_call_into_spe_hosts_own_code_is_not_what_a_stop_waits_for() -> None:
    # print() and input() in a session run the engine's stream proxies (in
    # spe_host/engine/): a sample that meets the thread there must not name the proxy
    # as a call the stop waits for; a library's function is named.
    source = "def wait(entered, gate):\n    entered.set()\n    gate.wait(10)\n"
    engine: dict[str, object] = {"__name__": "spe_host.engine._x"}
    exec(compile(source, str(Path(spe_host.__file__).parent / "engine" / "_x.py"), "exec"), engine)
    library: dict[str, object] = {"__name__": "spinlib"}
    exec(compile(source, "/tmp/spinlib.py", "exec"), library)
    script = compile(
        "engine(entered[0], gates[0])\nlibrary(entered[1], gates[1])\n", "job.py", "exec"
    )
    entered, gates = [threading.Event(), threading.Event()], [threading.Event(), threading.Event()]
    namespace = {"engine": engine["wait"], "library": library["wait"], "entered": entered}
    namespace["gates"] = gates
    thread = threading.Thread(target=exec, args=(script, namespace), daemon=True)
    reader = BlockedReader()
    try:
        thread.start()
        assert entered[0].wait(5)
        assert thread.ident is not None
        assert reader.read(thread.ident, {"job.py"}) is None
        gates[0].set()
        assert entered[1].wait(5)
        blocked = reader.read(thread.ident, {"job.py"})
        assert blocked is not None
        assert blocked.startswith("spinlib.wait() called at job.py:2 for ")
    finally:
        for gate in gates:
            gate.set()
        thread.join(5)
