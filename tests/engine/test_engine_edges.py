"""Edge cases of the stop semantics found in review.

* cleanup code that handles an exception of its own while the abort propagates;
* a stop of session B that lands inside a function session A defined;
* a stop of an execution still queued for a worker slot (``max_running``);
* the abort traceback of an awaiting statement names the script's line;
* a session held by an attached client does not expire;
* ``NoResult`` belongs to the ``SessionNotFound`` family.
"""

from __future__ import annotations

import threading

import pytest
import trio
import trio.testing
from support.engine import abort_frames, run_in_real_time, wait_location

import spe_host
from spe_host import ExecutionStatus, SessionState, StopOutcome


async def test_cleanup_that_handles_its_own_exception_runs_to_completion(
    host: spe_host.Host,
) -> None:
    code = """
log = []
try:
    while True:
        pass
finally:
    try:
        {}["missing"]
    except KeyError:
        log.append("handled 1")
        log.append("handled 2")
    log.append("after the handler")
"""
    with trio.fail_after(5):
        session = host.start("s", code)
        await wait_location(session, {4, 5})
        host.stop("s")
        await host.wait("s")
        assert session.last is not None
        assert session.last.status is ExecutionStatus.ABORTED
        # The checks in the KeyError handler and after it stay quiet: the abort is
        # still propagating (it is the KeyError's context).
        assert session.namespace["log"] == ["handled 1", "handled 2", "after the handler"]


async def test_a_stop_lands_inside_a_function_another_session_defined(
    host: spe_host.Host,
) -> None:
    with trio.fail_after(5):
        defined = await host.execute("a", "def spin():\n    while True:\n        pass\n")
        assert defined.status is ExecutionStatus.COMPLETED
        b = host.start("b", "spin()", args={"spin": host.session("a").namespace["spin"]})
        await wait_location(b)
        assert host.stop("b") == {"b": StopOutcome.REQUESTED}
        await host.wait("b")
        assert b.last is not None
        assert b.last.status is ExecutionStatus.ABORTED
        assert ("<session a #1>", 3, "spin") in abort_frames(b.last.error)
        # The stop is over: A's own namespace is back on the fast path.
        assert host.session("a").namespace["__spe_abort__"] is False


async def test_a_stop_lands_on_an_execution_queued_for_a_worker_slot(
    gate: threading.Event,
) -> None:
    with trio.fail_after(5):
        async with spe_host.open_host(
            namespace={"gate": gate}, idle_timeout=None, max_running=1
        ) as host:
            busy = host.start("busy", "gate.wait()")
            await wait_location(busy, 1)
            queued = host.start("queued", "ran = True")
            await trio.testing.wait_all_tasks_blocked()
            assert queued.state is SessionState.RUNNING  # queued, not started
            host.stop("queued")
            with trio.fail_after(1):
                await host.wait("queued")
            assert queued.last is not None
            assert queued.last.status is ExecutionStatus.ABORTED
            assert "waited for a free worker slot" in (queued.last.error or "")
            assert "ran" not in queued.namespace
            assert busy.state is SessionState.RUNNING  # the slot holder is untouched
            gate.set()
            await host.wait("busy")
            # The slot was not leaked: the next run gets one.
            again = await host.execute("queued", "ran = True")
            assert again.status is ExecutionStatus.COMPLETED


async def test_the_abort_of_an_awaiting_statement_names_the_script_line(
    host: spe_host.Host,
) -> None:
    code = "import trio\nasync def nap():\n    await trio.sleep(100)\nawait nap()\n"
    with trio.fail_after(5):
        session = host.start("s", code)
        await wait_location(session, 3)
        host.stop("s")
        await host.wait("s")
        assert session.last is not None
        frames = abort_frames(session.last.error)
        assert ("<session s #1>", 4, "<module>") in frames
        assert ("<session s #1>", 3, "nap") in frames


async def test_a_held_session_does_not_expire(autojump_clock: trio.testing.MockClock) -> None:
    with trio.fail_after(1000):
        async with spe_host.open_host(idle_timeout=60) as host:
            await run_in_real_time(autojump_clock, host, "x = 1")
            session = host.session("s")
            with session.hold():
                await trio.sleep(600)  # a REPL left attached for ten minutes
                assert host.sessions() == [session]
            await trio.sleep(59)  # expiry counts from the end of the hold
            assert host.sessions() == [session]
            await trio.sleep(62)
            assert host.sessions() == []


async def test_no_result_is_a_session_not_found(host: spe_host.Host) -> None:
    with trio.fail_after(5):
        host.start("s", "x = 1")
        await host.wait("s")
        host.receive("s")
        with pytest.raises(spe_host.SessionNotFound, match="no result to receive"):
            host.receive("s")
