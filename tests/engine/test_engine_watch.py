"""State changes pushed to watchers (``Host.watch``), coalesced per session."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator

import trio
import trio.testing
from support.engine import NativeCall, wait_location

import spe_host
from spe_host import ExecutionStatus, SessionState
from spe_host._model import StateChange


def step(change: StateChange) -> tuple[str, SessionState, SessionState]:
    return change.session.id, change.previous, change.session.state


async def test_a_session_is_seen_created_running_stopping_idle_and_closed(
    host: spe_host.Host, native_call: NativeCall, gate: threading.Event
) -> None:
    with trio.fail_after(5):
        async with host.watch() as changes:
            session = host.start("a", "native_call()\nx = 1", args={"native_call": native_call})
            first = await anext(changes)
            # Made and started in one step: first seen RUNNING, having not existed.
            assert step(first) == ("a", SessionState.CLOSED, SessionState.RUNNING)
            assert first.session.last_status is None
            await native_call.wait_entered()
            host.stop("a")
            assert step(await anext(changes)) == (
                "a",
                SessionState.RUNNING,
                SessionState.STOPPING,
            )
            gate.set()
            idle = await anext(changes)
            while idle.session.state is SessionState.STOPPING:
                # The stop ticket's phase changes (landed) are pushed too (#10).
                assert idle.session.stop is not None
                idle = await anext(changes)
            assert step(idle) == ("a", SessionState.STOPPING, SessionState.IDLE)
            # The snapshot already knows how the run ended.
            assert idle.session.last_status is ExecutionStatus.ABORTED
            second = threading.Event()
            try:
                host.start("a", "second.wait()", args={"second": second})
                assert step(await anext(changes)) == (
                    "a",
                    SessionState.IDLE,
                    SessionState.RUNNING,
                )
            finally:
                second.set()
            done = await anext(changes)
            assert step(done) == ("a", SessionState.RUNNING, SessionState.IDLE)
            assert done.session.last_status is ExecutionStatus.COMPLETED
            await host.remove("a")
            assert step(await anext(changes)) == ("a", SessionState.IDLE, SessionState.CLOSED)
            assert session.state is SessionState.CLOSED


async def test_progress_from_the_worker_thread_reaches_the_watcher(
    host: spe_host.Host, gate: threading.Event
) -> None:
    with trio.fail_after(5):
        after = threading.Event()
        async with host.watch("p") as changes:
            session = host.start(
                "p",
                "gate.wait()\nspe.progress(40, 'reading')\nafter.wait()",
                args={"gate": gate, "after": after},
            )
            assert step(await anext(changes)) == ("p", SessionState.CLOSED, SessionState.RUNNING)
            await wait_location(session, 1)

            async def release() -> None:
                await trio.testing.wait_all_tasks_blocked()
                gate.set()

            async with trio.open_nursery() as nursery:
                nursery.start_soon(release)
                change = await anext(changes)
            assert step(change) == ("p", SessionState.RUNNING, SessionState.RUNNING)
            assert change.session.progress == spe_host.Progress(40.0, "reading")
            after.set()
            assert step(await anext(changes)) == ("p", SessionState.RUNNING, SessionState.IDLE)


async def test_a_watcher_that_does_not_read_holds_one_entry_per_session(
    host: spe_host.Host,
) -> None:
    with trio.fail_after(10):
        await host.execute("old", "pass")
        async with host.watch() as changes:
            for i in range(20):
                await host.execute("old", f"spe.progress({i})")
            for name in ("a", "b", "c"):
                for _ in range(10):
                    await host.execute(name, "pass")
            # Sessions that came and went unseen leave nothing behind.
            for i in range(50):
                await host.execute(f"gone-{i}", "pass")
                await host.remove(f"gone-{i}")
            watcher = changes
            assert len(watcher._changed) == 4  # type: ignore[attr-defined]
            seen = [step(await anext(changes)) for _ in range(4)]
            assert seen == [
                ("old", SessionState.IDLE, SessionState.IDLE),
                ("a", SessionState.CLOSED, SessionState.IDLE),
                ("b", SessionState.CLOSED, SessionState.IDLE),
                ("c", SessionState.CLOSED, SessionState.IDLE),
            ]
            assert not watcher._changed  # type: ignore[attr-defined]

            # The newest snapshot, with the state the watcher saw last as previous.
            host.start("a", "spe.progress(99)")
            await host.wait("a")
            await host.remove("b")
            newest = [await anext(changes) for _ in range(2)]
            assert [step(c) for c in newest] == [
                ("a", SessionState.IDLE, SessionState.IDLE),
                ("b", SessionState.IDLE, SessionState.CLOSED),
            ]
            assert newest[0].session.progress_percent == 99.0
            # A closed session is forgotten once its close has been handed out.
            assert set(watcher._seen) == {"old", "a", "c"}  # type: ignore[attr-defined]


async def test_patterns_choose_the_sessions_existing_and_later(host: spe_host.Host) -> None:
    with trio.fail_after(5):
        await host.execute("etl-1", "pass")
        async with host.watch("etl*", "report") as changes:
            await host.execute("other", "pass")
            await host.execute("etl-1", "pass")
            await host.execute("etl-2", "pass")
            await host.execute("report", "pass")
            await host.execute("reports", "pass")
            seen = [step(await anext(changes)) for _ in range(3)]
            assert not changes._changed  # type: ignore[attr-defined]
            assert seen == [
                ("etl-1", SessionState.IDLE, SessionState.IDLE),
                ("etl-2", SessionState.CLOSED, SessionState.IDLE),
                ("report", SessionState.CLOSED, SessionState.IDLE),
            ]


async def test_leaving_the_watch_ends_the_iteration_and_forgets_the_watcher(
    host: spe_host.Host,
) -> None:
    with trio.fail_after(5):
        got: list[StateChange] = []
        ended = trio.Event()

        async def read(changes: AsyncIterator[StateChange]) -> None:
            async for change in changes:
                got.append(change)
            ended.set()

        async with trio.open_nursery() as nursery:
            async with host.watch() as changes:
                nursery.start_soon(read, changes)
                await host.execute("s", "pass")
                await trio.testing.wait_all_tasks_blocked()
                # A watcher that keeps up sees every step.
                assert [step(c) for c in got] == [
                    ("s", SessionState.CLOSED, SessionState.RUNNING),
                    ("s", SessionState.RUNNING, SessionState.IDLE),
                ]
                assert len(host._watchers) == 1
            await ended.wait()
        assert host._watchers == set()
        await host.execute("s", "pass")  # nobody is told, nothing is kept
        assert len(got) == 2
        async for _ in changes:
            raise AssertionError("a left watch yields nothing")


async def test_several_watchers_each_see_every_change(host: spe_host.Host) -> None:
    with trio.fail_after(5):
        async with host.watch() as one, host.watch("s") as two:
            await host.execute("s", "pass")
            for changes in (one, two):
                assert step(await anext(changes)) == ("s", SessionState.CLOSED, SessionState.IDLE)


async def test_a_watch_that_asks_for_locations_is_told_when_a_running_session_moves_on(
    host: spe_host.Host,
) -> None:
    first, second = threading.Event(), threading.Event()
    try:
        with trio.fail_after(5):
            session = host.start(
                "a", "first.wait()\nx = 1\nsecond.wait()\n", args={"first": first, "second": second}
            )
            await wait_location(session, 1)
            async with host.watch("a", locations=True) as changes:
                first.set()
                # Sampled twice a second: the line moves from 1 to 3, the state stays.
                async for change in changes:
                    assert step(change) == ("a", SessionState.RUNNING, SessionState.RUNNING)
                    assert change.session.location is not None
                    if change.session.location.endswith(":3"):
                        break
                second.set()
                async for change in changes:
                    if change.session.state is SessionState.IDLE:
                        assert change.session.location is None
                        break
    finally:
        first.set()
        second.set()
