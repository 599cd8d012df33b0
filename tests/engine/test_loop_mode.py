"""Loop mode, and the bridge from worker mode to the trio thread (DESIGN.md 11).

In loop mode a session's synchronous statements run in the trio thread, so the app's
trio objects work directly; a statement that holds the loop is reported, and the
watchdog stops one that holds it longer than ``loop_timeout``. Worker mode stays the
default and reaches the trio thread through ``spe.run_sync`` / ``spe.run``.
"""

from __future__ import annotations

import time

import trio
import trio.testing
from support.engine import TRIO_WAITER_SETUP

import spe_host
from spe_host import ExecutionStatus


async def _run_waiter(host: spe_host.Host, session: str, *, loop: bool) -> None:
    result = await host.execute(session, TRIO_WAITER_SETUP, interactive=False, loop=loop)
    assert result.status is ExecutionStatus.COMPLETED, result.error
    await trio.testing.wait_all_tasks_blocked()  # the waiter is parked on ev


async def test_trio_objects_work_directly_in_loop_mode(host: spe_host.Host) -> None:
    with trio.fail_after(5):
        await _run_waiter(host, "s", loop=True)
        result = await host.execute("s", "ev.set()", loop=True)
        assert result.status is ExecutionStatus.COMPLETED, result.error
        await trio.testing.wait_all_tasks_blocked()
        assert host.session("s").namespace["woken"] == [1]


async def test_a_trio_call_from_the_worker_names_the_remedies(host: spe_host.Host) -> None:
    with trio.fail_after(5):
        await _run_waiter(host, "s", loop=False)
        result = await host.execute("s", "ev.set()")
        assert result.status is ExecutionStatus.FAILED
        error = result.error or ""
        assert "must be called from async context" in error
        assert "spe.run_sync" in error
        assert "loop mode" in error
        assert "half-updated" in error


async def test_spe_run_sync_wakes_the_waiter_from_the_worker(host: spe_host.Host) -> None:
    with trio.fail_after(5):
        await _run_waiter(host, "s", loop=False)
        result = await host.execute("s", "spe.run_sync(ev.set)\nspe.run_sync(trio.current_time)")
        assert result.status is ExecutionStatus.COMPLETED, result.error
        assert float(result.value or "0") > 0  # trio.current_time() from the worker
        await trio.testing.wait_all_tasks_blocked()
        assert host.session("s").namespace["woken"] == [1]


async def test_spe_run_awaits_in_the_trio_thread_and_a_stop_cancels_it() -> None:
    with trio.fail_after(5):
        async with spe_host.open_host(idle_timeout=None) as host:
            result = await host.execute("s", "import trio\nspe.run(trio.sleep, 0) or 7")
            assert result.value == "7", result.error
            session = host.start("s", "spe.run(trio.sleep, 100)")
            await trio.testing.wait_all_tasks_blocked()
            host.stop("s")
            await host.wait("s")
            assert session.last is not None
            assert session.last.status is ExecutionStatus.ABORTED
            misuse = await host.execute("s", "spe.run(trio.sleep, 0)", loop=True)
            assert "write `await async_fn(...)` instead" in (misuse.error or "")


async def test_start_soon_on_the_apps_nursery_works_in_loop_mode() -> None:
    ran: list[str] = []

    async def job(tag: str) -> None:
        ran.append(tag)

    with trio.fail_after(5):
        async with trio.open_nursery() as app_nursery:
            namespace = {"app_nursery": app_nursery, "job": job}
            async with spe_host.open_host(namespace=namespace, idle_timeout=None) as host:
                result = await host.execute("s", "app_nursery.start_soon(job, 'x')", loop=True)
                assert result.status is ExecutionStatus.COMPLETED, result.error
                await trio.testing.wait_all_tasks_blocked()
                assert ran == ["x"]


async def test_a_statement_that_holds_the_loop_is_reported(host: spe_host.Host) -> None:
    with trio.fail_after(5):
        result = await host.execute("s", "import time\ntime.sleep(0.3)\nx = 1", loop=True)
        assert result.status is ExecutionStatus.COMPLETED, result.error
        lines = [line for line in result.output.splitlines() if "event loop" in line]
        assert len(lines) == 1  # the sleep; the quick statements are not reported
        assert lines[0].startswith("spe_host: this statement held the app's event loop for 0.")
        assert lines[0].endswith(" s (loop mode)")
        # The report is in the session's output, for the replay too.
        assert lines[0] in host.session("s").output.read(0).text
        quick = await host.execute("s", "time.sleep(0.3)")  # worker mode holds nothing
        assert "event loop" not in quick.output


async def test_the_watchdog_stops_a_statement_that_never_gives_the_loop_back() -> None:
    with trio.fail_after(10):
        async with spe_host.open_host(idle_timeout=None, loop_timeout=1) as host:
            started = time.monotonic()
            result = await host.execute("spin", "while True: pass", loop=True)
            assert time.monotonic() - started < 3
            assert result.status is ExecutionStatus.ABORTED
            error = result.error or ""
            assert "loop-timeout guard" in error
            assert "more than 1 s (loop_timeout)" in error
            assert "<session spin #1>:1" in error
            assert "longer than loop_timeout" in result.output
            # The host answers again, in both modes.
            again = await host.execute("other", "1 + 1", loop=True)
            assert again.value == "2"
            assert (await host.execute("spin", "2 + 2")).value == "4"


async def test_a_stop_requested_while_the_loop_is_held_lands_when_it_is_free(
    host: spe_host.Host,
) -> None:
    async def stop_soon() -> None:
        await trio.sleep(0.05)  # due while the statement below holds the loop
        assert host.stop("s")["s"] is spe_host.StopOutcome.REQUESTED

    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(stop_soon)
            await trio.testing.wait_all_tasks_blocked()
            result = await host.execute(
                "s", "import time\ntime.sleep(0.3)\nreached = True", loop=True
            )
        assert result.status is ExecutionStatus.ABORTED
        assert "reached" not in host.session("s").namespace
        assert "line 3" in (result.error or "")


async def test_loop_mode_runs_count_against_max_running() -> None:
    with trio.fail_after(5):
        async with spe_host.open_host(idle_timeout=None, max_running=1) as host:
            host.start("first", "import trio\nawait trio.sleep_forever()", loop=True)
            await trio.testing.wait_all_tasks_blocked()  # first holds the one slot
            second = host.start("second", "x = 1", loop=True)
            await trio.testing.wait_all_tasks_blocked()
            assert second.is_active()
            assert "x" not in second.namespace  # queued behind the first
            host.stop("first")
            await host.wait("second")
            assert second.namespace["x"] == 1


async def test_input_in_loop_mode_says_why_it_cannot_wait(host: spe_host.Host) -> None:
    async def answer(prompt: str) -> str:
        return "never asked"

    with trio.fail_after(5):
        result = await host.execute("s", "input('? ')", loop=True, input_handler=answer)
        assert result.status is ExecutionStatus.FAILED
        assert "EOFError: input() cannot wait for an answer in loop mode" in (result.error or "")
        asked = await host.execute("s", "input('? ')", input_handler=answer)
        assert asked.value == "'never asked'"
