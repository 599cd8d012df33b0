"""One thread per session: every synchronous statement of a session runs on it (DESIGN.md 11).

Objects with thread affinity (sqlite3 connections, ``threading.local`` state) work
across a session's statements; a session that never ran synchronous code owns no
thread; the thread ends with its session or its host.
"""

from __future__ import annotations

import threading

import trio
import trio.testing

import spe_host
from spe_host import ExecutionStatus
from spe_host.engine._thread import SessionThread


async def test_a_sqlite_connection_works_in_later_statements(
    host: spe_host.Host, gate: threading.Event
) -> None:
    with trio.fail_after(5):
        made = await host.execute("db", "import sqlite3\ncon = sqlite3.connect(':memory:')")
        assert made.status is ExecutionStatus.COMPLETED, made.error
        # Another session is busy in between, on a thread of its own.
        host.start("busy", "gate.wait()", args={"gate": gate})
        await trio.testing.wait_all_tasks_blocked()
        used = await host.execute("db", "con.execute('select 1').fetchone()[0]")
        assert used.value == "1", used.error
        closed = await host.execute("db", "con.close()")  # on its own thread, too
        assert closed.status is ExecutionStatus.COMPLETED, closed.error
        gate.set()
        await host.wait("busy")


async def test_a_session_keeps_its_thread_and_sessions_do_not_share_one(
    host: spe_host.Host,
) -> None:
    async def ident(session: str, code: str = "threading.get_ident()") -> str:
        result = await host.execute(session, code)
        assert result.value is not None, result.error
        return result.value

    with trio.fail_after(5):
        setup = "import threading\nlocal = threading.local()\nthreading.get_ident()"
        first = await ident("a", setup)
        other = await ident("b", "import threading\nthreading.get_ident()")
        assert await ident("a") == first
        assert await ident("a", "local.x = 1\nthreading.get_ident()") == first
        assert await ident("a", "local.x") == "1"  # threading.local state survives
        assert other != first
        assert await ident("b") == other


async def test_a_session_that_never_ran_synchronous_code_owns_no_thread(
    host: spe_host.Host,
) -> None:
    def session_threads() -> list[str]:
        # This host's sessions only: an earlier test's closed host may still have a
        # thread finishing its last job.
        return [t.name for t in threading.enumerate() if t.name.startswith("spe session idle-")]

    with trio.fail_after(5):
        for i in range(20):
            host.start(f"idle-{i}", "await trio.sleep(0)", args={"trio": trio})
        await host.wait()
        assert all(s.last and s.last.status is ExecutionStatus.COMPLETED for s in host.sessions())
        assert session_threads() == []
        assert host.session("idle-0")._thread.ident is None
        await host.execute("idle-0", "x = 1")
        assert session_threads() == ["spe session idle-0"]


async def test_the_thread_ends_with_its_session_and_with_the_host() -> None:
    with trio.fail_after(5):
        async with spe_host.open_host(idle_timeout=None) as host:
            await host.execute("removed", "x = 1")
            await host.execute("kept", "x = 1")
            removed = host.session("removed")._thread
            kept = host.session("kept")._thread
            await host.remove("removed")
            await _ended(removed)
            assert kept.alive
        await _ended(kept)


async def test_deep_recursion_fits_the_session_threads_stack(host: spe_host.Host) -> None:
    with trio.fail_after(5):
        code = "import json\nn = []\nfor _ in range(900): n = [n]\nlen(json.dumps(n))"
        result = await host.execute("s", code)
        assert result.value == "1802", result.error


async def _ended(thread: SessionThread) -> None:
    assert thread._thread is not None
    await trio.to_thread.run_sync(thread._thread.join, 2)
    assert not thread.alive
