"""spe_host.testing: a real Client on a real Host over a memory stream, as a chosen peer.

``open_test_client`` runs the whole stack but the socket - client, wire protocol,
server connection, service, engine - so what these tests see is what a remote
client sees: the role decides what the service authorizes, operation by operation,
and the peer name is the one the server logs.
"""

from __future__ import annotations

import logging

import pytest
import trio
import trio.testing

import spe_host
from spe_host import PermissionDenied, SessionNotFound
from spe_host._model import ExecutionStatus, OutputChunk, Role, SessionState
from spe_host.testing import open_test_client


def _tasks() -> set[trio.lowlevel.Task]:
    """Every task of this trio run, from the root down."""
    found: set[trio.lowlevel.Task] = set()
    todo = [trio.lowlevel.current_root_task()]
    while todo:
        task = todo.pop()
        found.add(task)
        for nursery in task.child_nurseries:
            todo.extend(nursery.child_tasks)
    return found


async def test_an_admin_test_client_runs_code_on_the_real_host(host: spe_host.Host) -> None:
    with trio.fail_after(10):
        async with open_test_client(host) as client:
            assert (client.role, client.server) == ("admin", host.name)
            assert client.address == f"memory:{host.name}"
            shown: list[OutputChunk] = []
            info = await client.execute("s", "x = 40\nprint('hi')\nx + 2", on_output=shown.append)
            assert (info.status, info.value, info.output) == ("completed", "42", "hi\n")
            assert "".join(chunk.text for chunk in shown) == "hi\n"
            # The same host, not a fake: the embedding program sees what the client did.
            assert host.session("s").namespace["x"] == 40
            started = await client.start("bg", "y = 1")
            assert started.state is SessionState.RUNNING
            await client.wait("bg")
            assert (await client.receive("bg")).status is ExecutionStatus.COMPLETED
            assert await client.complete("s", "x") != []
            assert await client.remove("bg") == ["bg"]


async def test_an_operator_is_authorized_by_operation_through_the_real_service(
    host: spe_host.Host,
) -> None:
    with trio.fail_after(10):
        host.start("s", "x = 1\nprint('hi')")  # a job's result, for the operator to receive
        await host.wait("s")
        async with open_test_client(host, role=Role.OPERATOR) as operator:
            assert operator.role == "operator"
            refused = {
                "execute": lambda: operator.execute("s", "print(x)"),
                "start": lambda: operator.start("t", "1"),
                "remove": lambda: operator.remove("s"),
                "complete": lambda: operator.complete("s", "x"),
            }
            for operation, call in refused.items():
                with pytest.raises(PermissionDenied, match=f"'{operation}' needs the admin role"):
                    await call()
            # Nothing refused ran: no session "t", "s" kept its namespace.
            assert [s.id for s in host.sessions()] == ["s"]

            # What an operator may do; every refusal left the connection usable.
            assert [s.id for s in await operator.sessions()] == ["s"]
            assert (await operator.receive("s", keep=True)).output == "hi\n"
            async with operator.subscribe("s") as events:
                first = await events.__anext__()
                assert isinstance(first, OutputChunk)
                assert (first.offset, first.text) == (0, "hi\n")
            async with operator.watch("s") as changes:
                # In memory nothing is in flight once every task is blocked: the
                # server has registered the watch with the host.
                await trio.testing.wait_all_tasks_blocked()
                host.start("s", "while True: pass")
                change = await changes.__anext__()
                assert (change.previous, change.session.state) == (
                    SessionState.IDLE,
                    SessionState.RUNNING,
                )
                assert await operator.stop("s") == {"s": "requested"}
                [done] = await operator.wait("s", timeout=5)
                assert done.last_status is ExecutionStatus.ABORTED
            # The oldest unreceived result first (s#1 was only peeked at), then the stopped run.
            assert (await operator.receive("s")).run == "s#1"
            assert (await operator.receive("s")).status is ExecutionStatus.ABORTED


async def test_the_peer_name_reaches_the_servers_log(
    host: spe_host.Host, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="spe_host")
    with trio.fail_after(10):
        async with open_test_client(host, role=Role.OPERATOR, peer="ops console 7") as client:
            await host.execute("s", "pass")
            await client.stop("s")
        opened = [r.getMessage() for r in caplog.records if r.name == "spe_host.server"]
        assert any("ops console 7" in m and "connected as operator" in m for m in opened), opened
        assert any("ops console 7 closed" in m for m in opened), opened


async def test_leaving_the_block_closes_the_connection_and_leaks_no_task(
    host: spe_host.Host,
) -> None:
    with trio.fail_after(10):
        await host.execute("s", "pass")
        before = _tasks()
        async with open_test_client(host) as client:
            await client.execute("s", "print('x')")
            # Leave with a stream still open and requests still waiting: they end too.
            async with trio.open_nursery() as waiting:
                waiting.start_soon(client.wait, "s")
                async with client.watch() as changes:
                    await trio.testing.wait_all_tasks_blocked()
                    assert len(_tasks()) > len(before)
                    waiting.cancel_scope.cancel()
                    del changes
        assert client.closed
        assert {task.name for task in _tasks() - before} == set()
        # The host still answers: in-process, and to the next client.
        assert (await host.execute("s", "6 * 7")).value == "42"
        async with open_test_client(host) as again:
            assert [s.id for s in await again.sessions()] == ["s"]


async def test_an_exception_in_the_block_comes_out_as_itself(host: spe_host.Host) -> None:
    with trio.fail_after(10):
        with pytest.raises(SessionNotFound):
            async with open_test_client(host) as client:
                await client.receive("nope")
        with pytest.raises(PermissionDenied):
            async with open_test_client(host, role=Role.OPERATOR) as client:
                await client.execute("s", "1")
        # And the host is none the worse for it.
        async with open_test_client(host) as client:
            assert (await client.execute("s", "1 + 1")).value == "2"
