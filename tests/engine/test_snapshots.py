"""Session snapshots: one object while nothing changes, a true one after every change,
and nothing done for one session visits the others."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
import trio
import trio.testing

import spe_host
from spe_host import Progress, SessionInfo, SessionState
from spe_host.engine import _match, _snapshot
from spe_host.engine._session import ScriptSession


def _fresh(session: ScriptSession, changed: Callable[[SessionInfo], object]) -> SessionInfo:
    """The snapshot after a change: a new object, equal to one built from scratch."""
    before = session._snapshot._info
    after = session.info()
    assert after is not before
    assert after == _snapshot.build(session)
    assert changed(after) != (None if before is None else changed(before))
    assert session.info() is after  # and kept until the next change
    return after


async def test_an_idle_sessions_snapshot_is_kept_until_it_changes(
    autojump_clock: trio.testing.MockClock,
) -> None:
    with trio.fail_after(100):
        async with spe_host.open_host(idle_timeout=None) as host:
            await host.execute("s", "x = 1", loop=True)
            session = host.session("s")
            first = session.info()
            assert session.info() is first
            assert host.sessions()[0].info() is first

            await trio.sleep(5)
            session.touch()
            _fresh(session, lambda info: info.last_accessed)
            session.output.write("written after the run\n")
            _fresh(session, lambda info: info.output_offset)
            session.name = "nightly"
            _fresh(session, lambda info: info.name)
            session.autodispose = True
            _fresh(session, lambda info: info.autodispose)
            session.progress = Progress(50.0, "half")
            _fresh(session, lambda info: info.progress)

            await host.execute("s", "1 / 0", loop=True)
            failed = _fresh(session, lambda info: (info.run, info.last_status))
            assert failed.run == "s#2"
            assert failed.run_ended_at is not None
            assert failed.progress == Progress()  # a new run starts with none

            await host.remove("s")
            assert _fresh(session, lambda info: info.state).state is SessionState.CLOSED


async def test_a_stopped_runs_ticket_shows_in_the_next_snapshot(
    host: spe_host.Host, gate: threading.Event
) -> None:
    with trio.fail_after(10):
        await host.execute("s", "x = 1")
        idle = host.session("s").info()
        host.start("s", "while True:\n    gate.wait(0.01)", args={"gate": gate})
        host.stop("s", reason="enough")
        await host.wait("s")
        stopped = host.session("s").info()
        assert stopped is not idle
        assert stopped.stop is not None
        assert stopped.stop.reason == "enough"
        assert stopped == _snapshot.build(host.session("s"))


async def test_a_running_sessions_snapshot_is_made_at_every_look(
    host: spe_host.Host, gate: threading.Event
) -> None:
    with trio.fail_after(10):
        host.start("s", "x = 1\ngate.wait()\n", args={"gate": gate})
        session = host.session("s")
        try:
            while session.location is None:
                await trio.sleep(0.001)
            first = session.info()
            assert session.info() is not first  # its line moves without an event
            assert first.state is SessionState.RUNNING
            assert first.location == session.location
        finally:
            gate.set()
        await host.wait("s")
        assert host.session("s").info().state is SessionState.IDLE


@pytest.fixture
def visited(monkeypatch: pytest.MonkeyPatch) -> set[str]:
    """The ids of the sessions whose state, snapshot or clock anything looked at."""
    seen: set[str] = set()

    def counting(method: Callable[..., Any]) -> Callable[..., Any]:
        def look(session: ScriptSession, *args: Any, **kwargs: Any) -> Any:
            seen.add(session.id)
            return method(session, *args, **kwargs)

        return look

    for name in ("info", "is_active", "idle_since", "touch", "stop_ticket", "_announce"):
        monkeypatch.setattr(ScriptSession, name, counting(getattr(ScriptSession, name)))
    plain_of = _snapshot.Snapshot.of
    monkeypatch.setattr(
        _snapshot.Snapshot,
        "of",
        lambda self, session: seen.add(session.id) or plain_of(self, session),
    )
    return seen


async def test_working_in_one_session_among_many_visits_no_other(visited: set[str]) -> None:
    with trio.fail_after(60):
        # Idle expiry on, as by default: the expiry keeps a heap, it does not scan.
        async with spe_host.open_host(idle_timeout=3600) as host:
            for index in range(300):
                await host.execute(f"s{index}", "x = 1", loop=True)
            async with host.watch("s7") as changes:
                visited.clear()
                await host.execute("s5", "x = 2", loop=True)
                await host.execute("new", "x = 1", loop=True)
                host.start("s7", "y = 3", loop=True)
                await host.wait("s7")
                host.receive("s7")
                host.stop("s5", "s6")
                host.session("s5").touch()
                assert host.sessions("s5")[0].info().id == "s5"
                changed = await changes.__anext__()
                assert changed.session.id == "s7"
            assert {"s5", "s7", "new"} <= visited <= {"s5", "s6", "s7", "new"}
            visited.clear()
            assert len(host.sessions()) == 301
            assert not visited  # listing the sessions is not looking at them


def test_a_second_run_at_the_same_instant_shows_in_the_snapshot() -> None:
    # A clock that never moves: both runs touch the session at the same time.
    clock = trio.testing.MockClock()

    async def main() -> None:
        with trio.fail_after(5):
            async with spe_host.open_host(idle_timeout=None) as host:
                await host.execute("s", "pass", loop=True)
                session = host.session("s")
                assert session.info().run == "s#1"
                await host.execute("s", "pass", loop=True)
                assert session.runs.current == "s#2"
                assert session.info().run == "s#2"

    trio.run(main, clock=clock)


async def test_one_plain_id_is_looked_up_not_matched_against_every_session(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with trio.fail_after(30):
        async with spe_host.open_host(idle_timeout=None) as host:
            for index in range(20):
                await host.execute(f"s{index}", "pass", loop=True)
            matched: list[str] = []
            plain = _match.Patterns.matches
            monkeypatch.setattr(
                _match.Patterns,
                "matches",
                lambda self, name: matched.append(name) or plain(self, name),
            )
            assert [s.id for s in host.sessions("s7")] == ["s7"]
            assert [s.id for s in host.sessions("s7", state="idle")] == ["s7"]
            assert host.sessions("s7", state="running") == []
            assert host.sessions("nope") == []
            assert matched == []  # no walk over the other 19
            assert [s.id for s in host.sessions("s1?")] == [f"s{i}" for i in range(10, 20)]
            assert len(matched) == 20  # a wildcard does walk
