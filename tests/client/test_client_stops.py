"""Stop reasons, forced stops and stop tickets through the client, against a served host.

``requested_by`` is checked on real sockets: the client's uid and pid on a unix
socket, its role and address on TCP; in memory, the test's peer name.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import trio
from support.server import MEMORY_PEER, served, wait_state, wait_until

from spe_host import Host, LocalProtocolError, SessionNotFound, StopOutcome
from spe_host._model import ExecutionStatus, SessionState, StopPhase

SLEEP_FOREVER = "import trio\nawait trio.sleep_forever()\n"


async def on_line(host: Host, session: str, line: int) -> None:
    """Wait until the session runs that line of its script (not just its state)."""
    await wait_until(lambda: (host.session(session).location or "").endswith(f":{line}"))


def spinning(tmp_path: Path) -> str:
    """A script stuck in a pure-Python loop of an (uninstrumented) imported module."""
    (tmp_path / "spinmod.py").write_text("def spin():\n    while True:\n        pass\n")
    return f"import sys\nsys.path.insert(0, {str(tmp_path)!r})\nimport spinmod\nspinmod.spin()\n"


async def test_a_stop_keeps_its_first_reason_and_a_force_ends_a_library_loop(
    tmp_path: Path,
) -> None:
    with trio.fail_after(10):
        async with served("memory") as srv, srv.connect("operator") as operator:
            srv.host.start("spin", spinning(tmp_path))
            await on_line(srv.host, "spin", 4)  # in the loop, which never returns
            assert await operator.stop("spin", reason="bad input file") == {
                "spin": StopOutcome.REQUESTED
            }
            again = await operator.stop("spin", reason="another reason")
            assert again == {"spin": StopOutcome.ALREADY_STOPPING}
            ticket = await operator.stop_ticket("spin")
            assert ticket is not None
            assert (ticket.session, ticket.run, ticket.phase) == (
                "spin",
                "spin#1",
                StopPhase.REQUESTED,
            )
            assert (ticket.reason, ticket.requested_by) == ("bad input file", MEMORY_PEER)
            assert ticket.forced_at is None
            # The library loop meets no check: only the forced stop ends it.
            await operator.stop("spin", force=True)
            [ended] = await operator.wait("spin", timeout=5)
            assert ended.last_status == ExecutionStatus.ABORTED
            finished = await operator.ticket(ticket.id)
            assert finished.id == ticket.id
            assert finished.reason == "bad input file"
            assert finished.phase == StopPhase.FINISHED
            assert finished.status == ExecutionStatus.ABORTED
            assert finished.forced_at is not None
            assert ticket.id in [t.id for t in await operator.tickets()]
            [listed] = await operator.sessions("spin")
            assert listed.stop == finished


async def test_a_watch_pushes_the_ticket_as_it_moves() -> None:
    with trio.fail_after(10):
        async with served("memory") as srv, srv.connect() as client:
            await client.start("s", SLEEP_FOREVER)
            await on_line(srv.host, "s", 2)
            phases = []
            async with client.watch("s") as changes:
                await client.stop("s", reason="enough")
                async for change in changes:
                    if change.session.stop is not None:
                        phases.append(change.session.stop.phase)
                    if change.session.state == SessionState.IDLE:
                        break
            assert phases[-1] == StopPhase.FINISHED
            assert change.session.stop is not None
            assert change.session.stop.landed_at is not None
            assert "cancelled while awaiting" in change.session.stop.landed_at


async def test_tickets_of_what_was_never_stopped() -> None:
    with trio.fail_after(10):
        async with served("memory") as srv, srv.connect() as client:
            await client.start("calm", "1")
            await client.wait("calm")
            assert await client.stop_ticket("calm") is None
            assert await client.tickets() == []
            with pytest.raises(SessionNotFound):
                await client.stop_ticket("nope")
            with pytest.raises(SessionNotFound):
                await client.ticket("no-such-ticket")
            with pytest.raises(LocalProtocolError, match="at most 1000 characters"):
                await client.stop("calm", reason="x" * 1001)


async def test_a_1_3_client_refuses_what_a_1_2_host_would_drop() -> None:
    with trio.fail_after(10):
        async with served("memory") as srv, srv.connect() as client:
            client.version = "1.2"
            with pytest.raises(
                LocalProtocolError, match=r"protocol 1\.2, which has no stop reasons"
            ):
                await client.stop("s", reason="why")
            with pytest.raises(LocalProtocolError, match="no forced stops; stop without force"):
                await client.stop("s", force=True)
            for call in (client.tickets(), client.stop_ticket("s"), client.ticket("t")):
                with pytest.raises(LocalProtocolError, match="no stop tickets"):
                    await call
            # A plain stop is what 1.2 had, and still works.
            assert await client.stop("s") == {"s": StopOutcome.NOT_FOUND}


@pytest.mark.parametrize("transport", ["unix", "tcp"])
async def test_requested_by_names_the_peer(transport: str) -> None:
    with trio.fail_after(10):
        async with served(transport) as srv, srv.connect("operator") as client:
            srv.host.start("s", SLEEP_FOREVER)
            await wait_state(srv.host, "s", "running")
            await client.stop("s")
            ticket = await client.stop_ticket("s")
            assert ticket is not None
            if transport == "unix":
                # This process is the client: its uid and pid, read from the socket.
                assert ticket.requested_by == f"uid {os.getuid()} (pid {os.getpid()})"
            else:
                assert ticket.requested_by.startswith("operator at 127.0.0.1:")
            await client.wait("s", timeout=5)
