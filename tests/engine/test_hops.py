"""Thread hops per run (#15): what the fast paths rely on, checked by counting hops.

An execution costs one hop to its session's thread and back when it has a
synchronous statement, and none when it only awaits - also in a session whose thread
exists. A short source compiles in the trio thread, a long one on the session's
thread. A call abandoned by a cancelled wait never wakes the task that made it.
"""

from __future__ import annotations

import threading

import pytest
import trio
import trio.testing

import spe_host
from spe_host import ExecutionStatus
from spe_host.engine import _instrument, _modes
from spe_host.engine._thread import SessionThread


@pytest.fixture
def hops(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the session threads each run hopped to, in order."""
    seen: list[str] = []
    real = SessionThread.run_sync

    async def counted(self: SessionThread, fn: object) -> object:
        seen.append(self._name)
        return await real(self, fn)  # type: ignore[arg-type]

    monkeypatch.setattr(SessionThread, "run_sync", counted)
    return seen


async def test_an_awaiting_run_never_hops_to_the_sessions_thread(
    host: spe_host.Host, hops: list[str]
) -> None:
    with trio.fail_after(5):
        made = await host.execute("s", "import trio")  # a synchronous statement: one hop
        assert made.status is ExecutionStatus.COMPLETED, made.error
        assert len(hops) == 1
        assert host.session("s")._thread.alive
        awaited = await host.execute("s", "await trio.sleep(0)\nawait trio.sleep(0)")
        assert awaited.status is ExecutionStatus.COMPLETED, awaited.error
        both = await host.execute("s", "await trio.sleep(0)\nx = 41\nx + 1")
        assert both.value == "42", both.error
        assert len(hops) == 2  # only the run with synchronous statements hopped


async def test_a_stop_ends_an_await_at_once_in_a_session_with_a_thread(
    host: spe_host.Host, hops: list[str]
) -> None:
    with trio.fail_after(5):
        await host.execute("s", "import trio")
        host.start("s", "await trio.sleep(0)\nawait trio.sleep(100)")
        await trio.testing.wait_all_tasks_blocked()
        assert host.stop("s") == {"s": spe_host.StopOutcome.REQUESTED}
        (done,) = await host.wait("s")
        assert done.last is not None
        assert done.last.status is ExecutionStatus.ABORTED
        # The abort's traceback ends at the await it cancelled.
        assert "line 2, in <module>\n    await trio.sleep(100)" in (done.last.error or "")
        assert len(hops) == 1  # only `import trio`


async def test_a_short_source_compiles_in_the_trio_thread_and_a_long_one_off_it(
    host: spe_host.Host, monkeypatch: pytest.MonkeyPatch
) -> None:
    where: dict[int, int] = {}
    real = _instrument.compile_script

    def recorded(source: str, filename: str, *, interactive: bool) -> list[_instrument.Statement]:
        where[len(source)] = threading.get_ident()
        return real(source, filename, interactive=interactive)

    monkeypatch.setattr(_instrument, "compile_script", recorded)
    with trio.fail_after(5):
        ident = "import threading\nthreading.get_ident()"
        first = await host.execute("s", ident)
        assert first.value is not None, first.error
        session_thread = int(first.value)
        long = "x = 1\n" * (_modes._COMPILE_INLINE // 6 + 1) + "threading.get_ident()"
        result = await host.execute("s", long)
        assert result.value == first.value, result.error
        again = await host.execute("s", ident)  # the session's thread exists now
        assert again.value == first.value, again.error
        assert where[len(ident)] == threading.get_ident()  # the trio thread
        assert where[len(long)] == session_thread


async def test_an_abandoned_call_does_not_wake_its_caller_later() -> None:
    thread = SessionThread("spe session abandon-test")
    gate = threading.Event()
    try:
        with trio.fail_after(5):
            with trio.move_on_after(0.01) as waited:
                await thread.run_sync(lambda: gate.wait(5) and "late")
            assert waited.cancelled_caught
            # Queued behind the abandoned call; that call's answer must not reach us.
            gate.set()
            assert await thread.run_sync(lambda: "mine") == "mine"
            assert await thread.run_sync(threading.get_ident) == thread.ident
            with pytest.raises(ZeroDivisionError):
                await thread.run_sync(lambda: 1 // 0)
    finally:
        gate.set()
        thread.close()
