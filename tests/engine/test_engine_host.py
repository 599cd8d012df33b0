"""The Host API: the cmdlet family, expiry, autodispose, and the host's exit."""

from __future__ import annotations

import logging
import math
import threading
import time
from datetime import UTC

import pytest
import trio
import trio.testing
from support.engine import NativeCall, run_in_real_time, wait_location

import spe_host
from spe_host import (
    ExecutionStatus,
    NoResult,
    SessionBusy,
    SessionNotFound,
    SessionState,
    StopOutcome,
)

SPIN = "n = 0\nwhile True:\n    n += 1\n"


# -- Stop -----------------------------------------------------------------------------------------


async def test_every_stop_outcome(host: spe_host.Host, gate: threading.Event) -> None:
    with trio.fail_after(5):
        await host.execute("idle", "x = 1")
        running = host.start("busy", "gate.wait()\nafter = 1\n", args={"gate": gate})
        await wait_location(running, 1)
        outcomes = host.stop("busy", "idle", "ghost", "nothing-*")
        assert outcomes == {
            "busy": StopOutcome.REQUESTED,
            "idle": StopOutcome.NOT_RUNNING,
            "ghost": StopOutcome.NOT_FOUND,
            "nothing-*": StopOutcome.NOT_FOUND,
        }
        assert running.state is SessionState.STOPPING
        assert host.stop("busy") == {"busy": StopOutcome.ALREADY_STOPPING}
        assert host.stop() == {}
        # stop never waits and never removes.
        assert host.session("busy") is running
        gate.set()
        await host.wait("busy")
        assert host.receive("busy").status is ExecutionStatus.ABORTED
        assert host.stop("busy") == {"busy": StopOutcome.NOT_RUNNING}
        # The outcomes are strings on the wire.
        assert StopOutcome.ALREADY_STOPPING == "already_stopping"


async def test_wildcards_in_sessions_and_stop(host: spe_host.Host) -> None:
    with trio.fail_after(5):
        for name in ("etl-1", "etl-2", "report"):
            host.start(name, SPIN)
        await host.execute("etl-idle", "x = 1")
        for name in ("etl-1", "etl-2", "report"):
            await wait_location(host.session(name))
        assert [s.id for s in host.sessions("etl-*")] == ["etl-1", "etl-2", "etl-idle"]
        assert [s.id for s in host.sessions("etl-?")] == ["etl-1", "etl-2"]
        assert [s.id for s in host.sessions("etl-[2]", "rep*")] == ["etl-2", "report"]
        assert [s.id for s in host.sessions()] == ["etl-1", "etl-2", "report", "etl-idle"]
        assert [s.id for s in host.sessions(state="running")] == ["etl-1", "etl-2", "report"]
        assert [s.id for s in host.sessions("etl-*", state=SessionState.IDLE)] == ["etl-idle"]
        assert host.sessions("nope*") == []
        # One call, a pattern and an id naming the same session: one outcome each.
        assert host.stop("etl-*", "etl-1") == {
            "etl-1": StopOutcome.REQUESTED,
            "etl-2": StopOutcome.REQUESTED,
            "etl-idle": StopOutcome.NOT_RUNNING,
        }
        assert host.session("report").state is SessionState.RUNNING
        done = await host.wait("etl-*")
        assert {s.id for s in done} == {"etl-1", "etl-2", "etl-idle"}
        assert host.session("report").state is SessionState.RUNNING
        host.stop("report")
        await host.wait("report")


# -- Wait -----------------------------------------------------------------------------------------


async def test_wait_with_a_timeout_returns_what_finished(
    host: spe_host.Host, gate: threading.Event
) -> None:
    with trio.fail_after(5):
        host.start("slow", "gate.wait()", args={"gate": gate})
        host.start("quick", "x = 1")
        await host.wait("quick")
        started = time.perf_counter()
        finished = await host.wait("slow", "quick", timeout=0.3)
        elapsed = time.perf_counter() - started
        assert [s.id for s in finished] == ["quick"]  # no error, a partial list
        # It waited for its timeout, and no longer: "slow" ends only when the gate opens.
        assert 0.25 <= elapsed < 3.0
        gate.set()
        finished = await host.wait("slow", "quick", timeout=2)
        assert {s.id for s in finished} == {"slow", "quick"}


async def test_wait_any_returns_when_the_first_finishes(
    host: spe_host.Host, gate: threading.Event
) -> None:
    with trio.fail_after(5):
        slow = host.start("slow", "gate.wait()", args={"gate": gate})
        await wait_location(slow, 1)
        quick = host.start("quick", "import time\ntime.sleep(0.05)\n")
        finished = await host.wait("slow", "quick", any=True)
        assert finished == [quick]
        assert slow.state is SessionState.RUNNING
        gate.set()
        assert await host.wait("slow", any=True) == [slow]


async def test_wait_names_and_patterns(host: spe_host.Host) -> None:
    with trio.fail_after(5):
        await host.execute("a", "1")
        assert await host.wait() == [host.session("a")]
        assert await host.wait("zz*") == []
        with pytest.raises(SessionNotFound, match="no session has the id 'ghost'"):
            await host.wait("ghost")


# -- Receive --------------------------------------------------------------------------------------


async def test_receive_with_and_without_keep(host: spe_host.Host) -> None:
    with trio.fail_after(5):
        host.start("r", "print('hello')\n21 * 2")
        await host.wait("r")
        kept = host.receive("r", keep=True)
        assert kept.output == "hello\n"
        assert kept.status is ExecutionStatus.COMPLETED
        assert kept.session_id == "r"
        assert kept.started_at <= kept.finished_at
        assert host.receive("r", keep=True) == kept
        assert host.receive("r") == kept  # without keep: returned, then cleared
        with pytest.raises(NoResult, match="no result to receive"):
            host.receive("r")
        # The session stays (no autodispose), and keeps its status.
        assert host.session("r").last_status is ExecutionStatus.COMPLETED
        with pytest.raises(SessionNotFound):
            host.receive("ghost")


async def test_receive_while_running_is_busy(host: spe_host.Host, gate: threading.Event) -> None:
    with trio.fail_after(5):
        host.start("r", "gate.wait()", args={"gate": gate})
        with pytest.raises(SessionBusy, match="session 'r' is running"):
            host.receive("r")
        gate.set()
        await host.wait("r")
        assert host.receive("r").status is ExecutionStatus.COMPLETED


# -- Start / Execute on a busy session ------------------------------------------------------------


async def test_start_or_execute_on_a_running_session_is_busy(
    host: spe_host.Host, gate: threading.Event
) -> None:
    with trio.fail_after(5):
        session = host.start("b", "gate.wait()\nfirst = 1", args={"gate": gate})
        with pytest.raises(SessionBusy, match="'b' is running; wait for it or stop it"):
            host.start("b", "second = 1")
        with pytest.raises(SessionBusy):
            await host.execute("b", "second = 1")
        host.stop("b")
        with pytest.raises(SessionBusy, match="'b' is stopping"):
            host.start("b", "second = 1")
        gate.set()
        await host.wait("b")
        assert "second" not in session.namespace
        host.start("b", "second = 1")  # idle again: fine
        await host.wait("b")
        assert session.namespace["second"] == 1


async def test_start_checks_its_arguments(host: spe_host.Host) -> None:
    with pytest.raises(ValueError, match="exactly one of code= or path="):
        host.start("x")
    with pytest.raises(ValueError, match="exactly one of code= or path="):
        host.start("x", "1", path="file.py")
    with pytest.raises(ValueError, match="not a valid session id"):
        host.start("bad id!", "1")
    with pytest.raises(ValueError, match="valid Python names"):
        host.start("x", "1", args={"not a name": 1})
    with pytest.raises(ValueError, match="cannot read the script"):
        host.start("x", path="/nonexistent/job.py")
    assert host.sessions() == []


# -- Remove ---------------------------------------------------------------------------------------


async def test_remove_a_running_session_needs_force(host: spe_host.Host) -> None:
    with trio.fail_after(5):
        running = host.start("run", SPIN)
        await host.execute("idle", "x = 1")
        await wait_location(running)
        with pytest.raises(
            SessionBusy, match="'run' is running; stop it first or remove with force"
        ):
            await host.remove("run", "idle")
        # Nothing was removed, nothing was stopped.
        assert [s.id for s in host.sessions()] == ["run", "idle"]
        assert running.state is SessionState.RUNNING
        await host.remove("run", "idle", force=True)
        assert host.sessions() == []
        assert running.state is SessionState.CLOSED
        assert running.last is not None
        assert running.last.status is ExecutionStatus.ABORTED
        with pytest.raises(SessionNotFound):
            host.session("run")
        with pytest.raises(SessionNotFound):
            await host.remove("run")
        await host.remove("no-match-*")  # a pattern that matches nothing is fine


# -- Idle expiry and autodispose ------------------------------------------------------------------


async def test_idle_sessions_expire_and_use_pushes_expiry_back(
    autojump_clock: trio.testing.MockClock,
) -> None:
    with trio.fail_after(1000):
        async with spe_host.open_host(idle_timeout=60) as host:
            await run_in_real_time(autojump_clock, host, "x = 1")
            session = host.session("s")
            await trio.sleep(40)
            host.receive("s", keep=True)  # a use: expiry slides to 60 s from now
            await trio.sleep(40)
            assert host.sessions() == [session]  # 80 s after the run, still there
            await trio.sleep(19)
            assert host.sessions() == [session]
            await trio.sleep(2)  # 61 s after the last use
            assert host.sessions() == []
            assert session.state is SessionState.CLOSED
            with pytest.raises(SessionNotFound):
                host.session("s")


async def test_last_accessed_is_read_on_the_clock_that_expiry_uses(
    autojump_clock: trio.testing.MockClock,
) -> None:
    with trio.fail_after(1000):
        async with spe_host.open_host(idle_timeout=None) as host:
            await run_in_real_time(autojump_clock, host, "x = 1")
            session = host.session("s")
            used = session.last_accessed
            assert used.tzinfo is UTC
            assert used >= session.created_at
            await trio.sleep(40)
            assert session.last_accessed == used  # nothing used it
            host.receive("s", keep=True)  # a use
            assert session.idle_since() == trio.current_time()
            # 40 s of the mock clock (and the moment of real time the run's end took).
            assert (session.last_accessed - used).total_seconds() == pytest.approx(40, abs=0.5)
            assert session.info().last_accessed == session.last_accessed.timestamp()


async def test_a_running_session_does_not_expire(autojump_clock: trio.testing.MockClock) -> None:
    with trio.fail_after(1000):
        async with spe_host.open_host(idle_timeout=10) as host:
            gate = threading.Event()
            session = host.start("s", "gate.wait()", args={"gate": gate})
            await trio.sleep(100)  # the worker thread waits; the clock jumps
            assert host.sessions() == [session]
            autojump_clock.autojump_threshold = math.inf
            autojump_clock.rate = 1.0
            gate.set()
            await host.wait("s")
            autojump_clock.rate = 0.0
            autojump_clock.autojump_threshold = 0.0
            await trio.sleep(9)
            assert host.sessions() == [session]  # expiry counts from the end of the run
            await trio.sleep(2)
            assert host.sessions() == []


async def test_no_idle_timeout_means_sessions_live_forever(
    autojump_clock: trio.testing.MockClock,
) -> None:
    with trio.fail_after(10**7):
        async with spe_host.open_host(idle_timeout=None) as host:
            await run_in_real_time(autojump_clock, host, "x = 1")
            await trio.sleep(10**6)
            assert [s.id for s in host.sessions()] == ["s"]


async def test_autodispose_removes_a_session_once_its_result_is_received(
    host: spe_host.Host,
) -> None:
    with trio.fail_after(5):
        session = host.start(code="print('job output')")  # no id: fresh, autodispose
        assert session.id.startswith("job-")
        assert session.autodispose
        await host.wait(session.id)
        assert host.receive(session.id, keep=True).output == "job output\n"
        assert host.session(session.id) is session  # keep: still there
        assert host.receive(session.id).output == "job output\n"
        assert host.sessions() == []
        assert session.state is SessionState.CLOSED
        # Fresh ids do not repeat.
        second = host.start(code="pass")
        assert second.id != session.id
        # Named sessions autodispose only when asked.
        named = host.start("named", "pass", autodispose=True)
        await host.wait("named", second.id)
        host.receive("named")
        host.receive(second.id)
        assert named.state is SessionState.CLOSED
        kept = host.start("kept", "pass")
        await host.wait("kept")
        host.receive("kept")
        assert host.session("kept") is kept


# -- the host's exit ------------------------------------------------------------------------------


async def test_on_exit_a_running_session_is_stopped() -> None:
    with trio.fail_after(5):
        async with spe_host.open_host(shutdown_timeout=2) as host:
            session = host.start("spin", SPIN)
            await wait_location(session)
        assert host.unfinished == []
        assert session.last is not None
        assert session.last.status is ExecutionStatus.ABORTED


async def test_on_exit_a_session_stuck_in_a_native_call_is_reported_not_waited_for(
    caplog: pytest.LogCaptureFixture, native_call: NativeCall
) -> None:
    caplog.set_level(logging.WARNING, logger="spe_host")
    # Long enough for the spinning session to meet its stop on a loaded machine.
    deadline = 1.0
    with trio.fail_after(5):
        async with spe_host.open_host(shutdown_timeout=deadline) as host:
            host.start(
                "stuck", "x = 0\nnative_call()\nafter = 1\n", args={"native_call": native_call}
            )
            host.start("spin", SPIN)
            await native_call.wait_entered()
            started = time.perf_counter()
        elapsed = time.perf_counter() - started
    # The call returns only when the gate opens (at teardown): the exit gave it its
    # deadline, then stopped waiting for it.
    assert deadline <= elapsed < deadline + 2.5
    assert host.unfinished == [("stuck", "<session stuck #1>:2")]
    messages = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(messages) == 1
    assert "'stuck'" in messages[0]
    assert "<session stuck #1>:2" in messages[0]
    assert host.sessions("spin")[0].last_status is ExecutionStatus.ABORTED


async def test_an_abandoned_execution_still_stops_at_its_next_statement(
    gate: threading.Event, native_call: NativeCall
) -> None:
    ended = threading.Event()
    code = "x = 0\ntry:\n    native_call()\n    after = 1\nfinally:\n    ended.set()\n"
    with trio.fail_after(5):
        async with spe_host.open_host(shutdown_timeout=0.1) as host:
            session = host.start("stuck", code, args={"ended": ended, "native_call": native_call})
            await native_call.wait_entered()
        assert host.unfinished == [("stuck", "<session stuck #1>:3")]
        assert not ended.is_set()
        # The worker thread was left to finish its call; when it does, the stop
        # still lands before the next statement.
        gate.set()
        assert await trio.to_thread.run_sync(ended.wait, 3)
        assert "after" not in session.namespace
        # The abandoned execution has a result that says what happened.
        assert session.last is not None
        assert session.last.status is ExecutionStatus.ABORTED
        assert "<session stuck #1>:3" in (session.last.error or "")


async def test_exit_by_cancellation_still_stops_and_reports_sessions(
    caplog: pytest.LogCaptureFixture, gate: threading.Event, native_call: NativeCall
) -> None:
    ended = threading.Event()
    code = "x = 0\ntry:\n    native_call()\n    after = 1\nfinally:\n    ended.set()\n"
    with trio.fail_after(5):
        with trio.CancelScope() as outer:
            # Long enough for the spinning session to meet its stop on a loaded machine.
            async with spe_host.open_host(shutdown_timeout=1.0) as host:
                spinning = host.start("spin", SPIN)
                stuck = host.start("stuck", code, args={"ended": ended, "native_call": native_call})
                await native_call.wait_entered()
                await wait_location(spinning)
                outer.cancel()  # the embedding program is going away
                await trio.sleep_forever()
        assert spinning.last is not None
        assert spinning.last.status is ExecutionStatus.ABORTED
        assert host.unfinished == [("stuck", "<session stuck #1>:3")]
        gate.set()
        assert await trio.to_thread.run_sync(ended.wait, 3)
        assert "after" not in stuck.namespace


async def test_a_closed_host_takes_no_new_work() -> None:
    with trio.fail_after(5):
        async with spe_host.open_host() as host:
            pass
        with pytest.raises(spe_host.SpeError, match="closed"):
            host.start("late", "x = 1")
        with pytest.raises(spe_host.SpeError, match="closed"):
            await host.execute("late", "x = 1")
