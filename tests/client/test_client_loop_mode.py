"""Loop mode through every layer above the engine: client, wire, server and service."""

from __future__ import annotations

import pytest
import trio
import trio.testing
from support.engine import TRIO_WAITER_SETUP
from support.server import served

from spe_host import ExecutionStatus, LocalProtocolError


async def test_a_trio_call_works_in_loop_mode_and_fails_clearly_without() -> None:
    with trio.fail_after(10):
        async with served("memory") as srv, srv.connect() as client:
            await client.execute("s", TRIO_WAITER_SETUP, interactive=False)
            failed = await client.execute("s", "ev.set()")
            assert failed.status == ExecutionStatus.FAILED
            assert "spe.run_sync" in (failed.error or "")
            # Set (half-way) already; a loop-mode statement wakes the waiter.
            await client.execute("s", "ev = trio.Event()", loop=True)
            await client.execute("s", "trio.lowlevel.spawn_system_task(waiter)", loop=True)
            await trio.testing.wait_all_tasks_blocked()
            done = await client.execute("s", "ev.set()", loop=True)
            assert done.status == ExecutionStatus.COMPLETED, done.error
            await trio.testing.wait_all_tasks_blocked()
            assert srv.host.session("s").namespace["woken"] == [1]


async def test_a_background_job_runs_in_loop_mode() -> None:
    with trio.fail_after(10):
        async with served("memory") as srv, srv.connect() as client:
            await client.start("job", "import trio\nnow = trio.current_time()", loop=True)
            await client.wait("job")
            result = await client.receive("job")
            assert result.status == ExecutionStatus.COMPLETED, result.error
            assert srv.host.session("job").namespace["now"] > 0


async def test_a_client_asks_no_loop_mode_of_a_host_older_than_1_2() -> None:
    with trio.fail_after(10):
        async with served("memory") as srv, srv.connect() as client:
            client.version = "1.1"
            with pytest.raises(LocalProtocolError, match=r"protocol 1\.1, which has no loop mode"):
                await client.execute("s", "1", loop=True)
            with pytest.raises(LocalProtocolError, match="no loop mode"):
                await client.start("s", "1", loop=True)
            assert (await client.execute("s", "1")).value == "1"  # worker mode still works
