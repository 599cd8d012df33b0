"""Stopping a running session: at the next statement, wherever it is (DESIGN.md 1-5, 9, 10)."""

from __future__ import annotations

import itertools
import threading
import time
from typing import Any

import pytest
import trio
import trio.testing
from support.engine import NativeCall, abort_frames, wait_location, wait_until

import spe_host
from spe_host import ExecutionStatus, SessionState, StopOutcome

STOP_WITHIN = 1.0  # seconds from stop() to ABORTED, generous for a loaded 2-core box

# Each case: the script, and the line (marked "# here") where the stop must land
# because the script is running there when it is stopped.
STOP_CASES = {
    "while True: pass": """
while True: pass  # here running
""",
    "top-level while True": """
while True:  # running
    pass  # here running
""",
    "loop in a function the script defined": """
def spin():
    n = 0
    while True:  # running
        n += 1  # here running
spin()
""",
    "nested loop": """
import itertools
for i in itertools.count():
    for j in range(10**12):  # running
        pass  # here running
""",
    "recursive fib(32) defined in the script": """
def fib(k):  # running
    if k < 2:  # here running
        return k  # running
    return fib(k - 1) + fib(k - 2)  # running
fib(32)
""",
    "infinite generator expression": """
import itertools
sum(1 for _ in itertools.count())  # here running
""",
    "generator expression whose filter never passes": """
import itertools
for v in (n for n in itertools.count() if n < 0): pass  # here running
""",
}


def marked_line(code: str) -> int:
    return next(n for n, line in enumerate(code.splitlines(), 1) if "# here" in line)


def running_lines(code: str) -> set[int]:
    return {n for n, line in enumerate(code.splitlines(), 1) if "running" in line}


async def stop_and_time(host: spe_host.Host, session_id: str) -> float:
    started = time.perf_counter()
    assert host.stop(session_id) == {session_id: StopOutcome.REQUESTED}
    await host.wait(session_id)
    return time.perf_counter() - started


@pytest.mark.parametrize("code", list(STOP_CASES.values()), ids=list(STOP_CASES))
async def test_a_running_script_stops_at_its_next_statement(host: spe_host.Host, code: str) -> None:
    with trio.fail_after(10):
        line = marked_line(code)
        session = host.start("s", code)
        # A loop shows its header line while it runs (CPython samples the frame at
        # the backward jump); the abort lands at the check in its body.
        where = await wait_location(session, running_lines(code))
        assert where.startswith("<session s #1>:")
        elapsed = await stop_and_time(host, "s")
        assert elapsed < STOP_WITHIN
        result = host.receive("s")
        assert result.status is ExecutionStatus.ABORTED
        assert result.error is not None
        assert "ScriptAborted" in result.error
        # It stopped where it was running, not at a statement boundary before it.
        frames = abort_frames(result.error)
        assert frames[-1][1] == line, result.error
        if "generator" in code or "sum(" in code:
            assert frames[-1][2] == "<genexpr>"
        if "fib(32)" in code:
            assert sum(1 for frame in frames if frame[2] == "fib") > 1  # deep in it
        assert session.state is SessionState.IDLE
        assert session.location is None


async def test_a_loop_that_catches_base_exception_still_stops(host: spe_host.Host) -> None:
    code = """
caught = 0
while True:
    try:
        while True:
            pass
    except BaseException:
        caught += 1
"""
    with trio.fail_after(10):
        session = host.start("sticky", code)
        await wait_location(session, {5, 6})
        elapsed = await stop_and_time(host, "sticky")
        assert elapsed < STOP_WITHIN
        result = host.receive("sticky")
        assert result.status is ExecutionStatus.ABORTED
        # The handler swallowed the abort once; the next check outside it raised again.
        assert session.namespace["caught"] == 1
        assert abort_frames(result.error)[-1][1] == 4  # the check before `try`


async def test_except_exception_does_not_swallow_the_stop(host: spe_host.Host) -> None:
    code = """
swallowed = 0
while True:
    try:
        while True:
            pass
    except Exception:
        swallowed += 1
"""
    with trio.fail_after(10):
        session = host.start("exc", code)
        await wait_location(session, {5, 6})
        await stop_and_time(host, "exc")
        assert host.receive("exc").status is ExecutionStatus.ABORTED
        assert session.namespace["swallowed"] == 0


async def test_a_blocking_call_finishes_before_the_stop_lands(
    host: spe_host.Host, gate: threading.Event, native_call: NativeCall
) -> None:
    # The call returns only when the test opens the gate, after the stop.
    code = "x = 1\ny = 2\nreturned = native_call()\nafter = 1\n"
    with trio.fail_after(5):
        session = host.start("sleepy", code, args={"native_call": native_call})
        await native_call.wait_entered()
        assert host.stop("sleepy") == {"sleepy": StopOutcome.REQUESTED}
        # The call is not cut short: the session is still stopping, inside it.
        assert session.state is SessionState.STOPPING
        assert session.location == "<session sleepy #1>:3"
        gate.set()
        await host.wait("sleepy")
        result = host.receive("sleepy")
        assert result.status is ExecutionStatus.ABORTED
        assert session.namespace["returned"] is True  # the call ran to its end...
        assert "after" not in session.namespace  # ...and the next statement was stopped
        assert abort_frames(result.error)[-1][1] == 4


async def test_cleanup_code_runs_to_completion_on_abort(host: spe_host.Host) -> None:
    code = """
import contextlib
log = []

class Resource:
    def __enter__(self):
        return self
    def __exit__(self, *exc):
        log.append("exit 1")
        for i in range(2):
            log.append(f"exit loop {i}")
        log.append("exit 2")
        return False

@contextlib.contextmanager
def managed():
    try:
        yield
    finally:
        log.append("cm 1")
        log.append("cm 2")

def work():
    try:
        with Resource():
            with managed():
                while True:
                    pass
    finally:
        log.append("work finally 1")
        cleaned = [x for x in range(3)]
        log.append(f"work finally {len(cleaned)}")

try:
    work()
except ValueError:
    log.append("not this handler")
finally:
    log.append("top finally 1")
    log.append("top finally 2")
"""
    with trio.fail_after(10):
        session = host.start("cleanup", code)
        loop = code.splitlines().index("                while True:") + 1
        await wait_location(session, {loop, loop + 1})
        await stop_and_time(host, "cleanup")
        assert host.receive("cleanup").status is ExecutionStatus.ABORTED
        assert session.namespace["log"] == [
            "cm 1",
            "cm 2",
            "exit 1",
            "exit loop 0",
            "exit loop 1",
            "exit 2",
            "work finally 1",
            "work finally 3",
            "top finally 1",
            "top finally 2",
        ]


async def test_cleanup_in_an_awaiting_statement_runs_to_completion(host: spe_host.Host) -> None:
    code = """
import trio
log = []
async def work():
    try:
        await trio.sleep(100)
    finally:
        log.append("finally 1")
        log.append("finally 2")
await work()
after = 1
"""
    with trio.fail_after(5):
        session = host.start("acleanup", code)
        await wait_location(session, 6)
        await stop_and_time(host, "acleanup")
        result = host.receive("acleanup")
        assert result.status is ExecutionStatus.ABORTED, result.error
        assert session.namespace["log"] == ["finally 1", "finally 2"]
        assert "after" not in session.namespace


async def test_an_awaiting_statement_stops_at_once(host: spe_host.Host) -> None:
    with trio.fail_after(5):
        session = host.start("waiter", "import trio\nawait trio.sleep(100)\nafter = 1\n")
        assert await wait_location(session, 2) == "<session waiter #1>:2"
        elapsed = await stop_and_time(host, "waiter")
        assert elapsed < STOP_WITHIN  # the 100 s sleep was cut short, not waited out
        result = host.receive("waiter")
        assert result.status is ExecutionStatus.ABORTED
        assert "after" not in session.namespace


async def test_an_async_for_loop_stops_at_its_next_iteration(host: spe_host.Host) -> None:
    code = """
import itertools
import trio
async def ticks():
    for i in itertools.count():
        yield i
        await trio.lowlevel.checkpoint()
n = 0
async for tick in ticks():
    n += 1
"""
    with trio.fail_after(5):
        session = host.start("afor", code)
        await wait_until(lambda: session.namespace.get("n", 0) > 100)
        elapsed = await stop_and_time(host, "afor")
        assert elapsed < STOP_WITHIN
        assert host.receive("afor").status is ExecutionStatus.ABORTED


async def test_a_stop_before_the_thread_starts_aborts_before_the_first_statement() -> None:
    with trio.fail_after(5):
        async with spe_host.open_host(max_running=1, idle_timeout=None) as host:
            gate = threading.Event()
            first = host.start("first", "gate.wait()", args={"gate": gate})
            await wait_location(first, 1)  # it holds the only thread slot
            waiting = host.start("second", "ran = 1")
            await trio.testing.wait_all_tasks_blocked()
            assert waiting.state is SessionState.RUNNING
            assert host.stop("second") == {"second": StopOutcome.REQUESTED}
            gate.set()
            await host.wait("first", "second")
            assert host.receive("second").status is ExecutionStatus.ABORTED
            assert "ran" not in waiting.namespace


# -- whose stop is it? ---------------------------------------------------------------


async def test_a_function_from_a_stopping_session_called_from_outside_does_not_raise(
    host: spe_host.Host, gate: threading.Event
) -> None:
    code = """
def helper(n):
    total = 0
    for i in range(n):
        total += i
    return total
squares = lambda n: [i * i for i in range(n)]
def numbers(n):
    for i in range(n):
        yield i
gate.wait()
after = 1
"""
    with trio.fail_after(5):
        a = host.start("a", code, args={"gate": gate})
        await wait_location(a, 11)
        assert host.stop("a") == {"a": StopOutcome.REQUESTED}
        assert a.state is SessionState.STOPPING
        # The embedding program calls A's functions while A is being stopped.
        helper, squares, numbers = (
            a.namespace["helper"],
            a.namespace["squares"],
            a.namespace["numbers"],
        )
        assert helper(100) == 4950
        assert squares(4) == [0, 1, 4, 9]
        assert sum(numbers(10)) == 45
        # ...from a worker thread too, and from another session's execution.
        assert await trio.to_thread.run_sync(helper, 10) == 45
        b = host.start("b", "value = helper(100)", args={"helper": helper})
        await host.wait("b")
        assert host.receive("b").status is ExecutionStatus.COMPLETED
        assert b.namespace["value"] == 4950
        assert a.state is SessionState.STOPPING
        gate.set()
        await host.wait("a")
        assert host.receive("a").status is ExecutionStatus.ABORTED
        assert helper(3) == 3  # and after it


async def test_a_stop_lands_only_on_the_session_it_names(host: spe_host.Host) -> None:
    with trio.fail_after(5):
        a = host.start("a", "n = 0\nwhile True:\n    n += 1\n")
        b = host.start("b", "m = 0\nwhile True:\n    m += 1\n")
        await wait_location(a, {2, 3})
        await wait_location(b, {2, 3})
        await stop_and_time(host, "a")
        assert b.state is SessionState.RUNNING
        m = b.namespace["m"]
        await wait_until(lambda: b.namespace["m"] > m + 1000)
        await stop_and_time(host, "b")
        assert host.receive("a").status is ExecutionStatus.ABORTED
        assert host.receive("b").status is ExecutionStatus.ABORTED


async def test_after_an_abort_the_session_runs_new_code(host: spe_host.Host) -> None:
    with trio.fail_after(5):
        session = host.start("again", "x = 1\nwhile True:\n    pass\n")
        await wait_location(session, {2, 3})
        await stop_and_time(host, "again")
        result = await host.execute("again", "x + 1")
        assert result.status is ExecutionStatus.COMPLETED
        assert result.value == "2"


# -- input() and the spe handle --------------------------------------------------------


async def test_a_stop_while_waiting_for_input_aborts_at_once(host: spe_host.Host) -> None:
    asked = trio.Event()

    async def never_answers(prompt: str) -> str | None:
        asked.set()
        await trio.sleep_forever()
        raise AssertionError("unreachable")

    results: list[spe_host.ExecutionResult] = []

    async def run() -> None:
        results.append(
            await host.execute(
                "ask", "name = input('name? ')\nafter = 1", input_handler=never_answers
            )
        )

    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(run)
            await asked.wait()
            elapsed = await stop_and_time(host, "ask")
        assert elapsed < STOP_WITHIN  # the input nobody answers was given up at once
        assert results[0].status is ExecutionStatus.ABORTED
        assert "name" not in host.session("ask").namespace


def library_loop(spe: Any) -> str:
    """Library code: not instrumented, so only spe.stopping can end it."""
    while not spe.stopping:
        time.sleep(0.002)
    return "noticed"


def library_checkpoints(spe: Any) -> None:
    for _ in itertools.count():
        spe.checkpoint()
        time.sleep(0.002)


async def test_spe_stopping_lets_library_code_notice_the_stop(host: spe_host.Host) -> None:
    with trio.fail_after(5):
        session = host.start("lib", "r = lib(spe)\nafter = 1\n", args={"lib": library_loop})
        await wait_location(session, 1)
        assert session.namespace["spe"].stopping is False
        await stop_and_time(host, "lib")
        assert host.receive("lib").status is ExecutionStatus.ABORTED
        assert session.namespace["r"] == "noticed"  # the library call returned...
        assert "after" not in session.namespace  # ...and the next statement was stopped


async def test_spe_checkpoint_stops_library_code(host: spe_host.Host) -> None:
    with trio.fail_after(5):
        session = host.start("lib", "lib(spe)\n", args={"lib": library_checkpoints})
        await wait_location(session, 1)
        elapsed = await stop_and_time(host, "lib")
        assert elapsed < STOP_WITHIN
        result = host.receive("lib")
        assert result.status is ExecutionStatus.ABORTED
        # Outside any execution, spe.checkpoint() never raises.
        session.namespace["spe"].checkpoint()
