"""The listing stamp: an unchanged listing is served again, and never a stale one.

A listing is handed out again while the process-wide stamp (``engine._changes``)
has not moved; these tests check that every kind of change a listing shows moves
it - from the trio thread and from a script's own thread between runs - so that
the next listing is always the one a look at every session would give.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
import trio
import trio.testing

import spe_host
from spe_host import Host, Progress, SessionInfo, SessionState
from spe_host.engine import Listing, _changes, _snapshot
from spe_host.service import EMBEDDING_PROGRAM, Service

# A script that starts a thread of its own, which writes output and reports progress
# whenever the test asks, after the run that started it has ended (in the run's
# context, as trio.to_thread gives a thread: its print goes to the session).
_BACKGROUND = """
import contextvars
import threading

def _work():
    while True:
        ask.wait()
        ask.clear()
        job = jobs.pop()
        if job == "stop":
            return
        if job == "print":
            print("from the script's own thread")
        else:
            spe.progress(float(len(job)), job)
        done.set()

threading.Thread(target=contextvars.copy_context().run, args=(_work,), daemon=True).start()
"""


def _truth(host: Host) -> list[SessionInfo]:
    """The listing a look at every session gives, nothing reused."""
    return [_snapshot.build(s) for s in host.sessions()]


class _Lister:
    """Lists through the service and checks each listing against the truth."""

    def __init__(self, host: Host) -> None:
        self.host = host
        self.service = Service(host)
        self.last = self.service.sessions(EMBEDDING_PROGRAM)

    def unchanged(self) -> None:
        now = self.service.sessions(EMBEDDING_PROGRAM)
        assert now == self.last
        assert all(a is b for a, b in zip(now, self.last, strict=True))  # served again
        self.last = now

    def changed(self, what: Callable[[list[SessionInfo]], object]) -> None:
        now = self.service.sessions(EMBEDDING_PROGRAM)
        assert now == _truth(self.host)
        assert what(now) != what(self.last)
        self.last = now


def _by_id(session: str, field: str) -> Callable[[list[SessionInfo]], object]:
    def pick(infos: list[SessionInfo]) -> object:
        found = [getattr(i, field) for i in infos if i.id == session]
        return found[0] if found else None

    return pick


def test_every_change_from_the_trio_thread_shows_in_the_next_listing() -> None:
    clock = trio.testing.MockClock()  # never moves: two changes at one instant

    async def main() -> None:
        with trio.fail_after(20):
            async with spe_host.open_host(idle_timeout=None) as host:
                for index in range(3):
                    await host.execute(f"s{index}", "pass", loop=True)
                lister = _Lister(host)
                lister.unchanged()

                await host.execute("s1", "pass", loop=True)  # a run at the same instant
                lister.changed(_by_id("s1", "run"))
                await host.execute("s1", "1 / 0", loop=True)
                lister.changed(_by_id("s1", "last_status"))
                host.session("s0").name = "nightly"
                lister.changed(_by_id("s0", "name"))
                host.session("s2").autodispose = True
                lister.changed(_by_id("s2", "autodispose"))
                host.session("s2").progress = Progress(10.0, "a tenth")
                lister.changed(_by_id("s2", "progress_percent"))
                host.session("s0").output.write("between runs\n")
                lister.changed(_by_id("s0", "output_offset"))
                await host.execute("s3", "pass", loop=True)
                lister.changed(len)  # a new session
                await host.remove("s1")
                lister.changed(len)  # a removed one
                clock.jump(5)
                host.session("s0").touch()
                lister.changed(_by_id("s0", "last_accessed"))
                lister.unchanged()

    trio.run(main, clock=clock)


async def test_a_scripts_own_thread_between_runs_shows_in_the_next_listing(
    host: Host,
) -> None:
    with trio.fail_after(20):
        ask, done, jobs = threading.Event(), threading.Event(), []
        host.start("s", _BACKGROUND, args={"ask": ask, "done": done, "jobs": jobs})
        await host.wait("s")
        await host.execute("other", "pass")
        lister = _Lister(host)
        try:
            for job, field in [
                ("print", "output_offset"),
                ("progress", "progress_message"),
                ("print", "output_offset"),
                ("progress again", "progress_percent"),
            ]:
                lister.unchanged()
                jobs.append(job)
                ask.set()
                # In once the thread says so; no trio-thread event came.
                await trio.to_thread.run_sync(done.wait)
                done.clear()
                lister.changed(_by_id("s", field))
                assert host.session("s").state is SessionState.IDLE
        finally:
            jobs.append("stop")
            ask.set()


async def test_a_stop_ticket_and_a_running_session_show_in_every_listing(
    host: Host, gate: threading.Event
) -> None:
    with trio.fail_after(20):
        await host.execute("idle", "pass")
        lister = _Lister(host)
        host.start("s", "x = 1\ngate.wait()\n", args={"gate": gate})
        session = host.session("s")
        while session.location is None:
            await trio.sleep(0.001)
        running = lister.service.sessions(EMBEDDING_PROGRAM)
        assert running[1].state is SessionState.RUNNING
        # A running session's line moves with no change of the stamp: never served again.
        assert lister.service.sessions(EMBEDDING_PROGRAM)[1] is not running[1]
        host.stop("s", reason="enough")
        stopping = lister.service.sessions(EMBEDDING_PROGRAM)
        assert stopping[1].state is SessionState.STOPPING
        assert stopping[1].stop is not None
        gate.set()
        await host.wait("s")
        lister.changed(_by_id("s", "state"))
        stopped = lister.last[1].stop
        assert stopped is not None
        assert stopped.reason == "enough"
        assert stopped.finished_at is not None
        lister.unchanged()


async def test_a_listing_with_other_patterns_is_not_served_the_last_one(host: Host) -> None:
    with trio.fail_after(20):
        for name in ("a1", "a2", "b1"):
            await host.execute(name, "pass")
        service = Service(host)
        assert [i.id for i in service.sessions(EMBEDDING_PROGRAM)] == ["a1", "a2", "b1"]
        assert [i.id for i in service.sessions(EMBEDDING_PROGRAM, "a*")] == ["a1", "a2"]
        assert [i.id for i in service.sessions(EMBEDDING_PROGRAM, "b*")] == ["b1"]
        assert service.sessions(EMBEDDING_PROGRAM, "b*", state="running") == []
        assert [i.id for i in service.sessions(EMBEDDING_PROGRAM, "b*", state="idle")] == ["b1"]
        everything = service.sessions(EMBEDDING_PROGRAM)
        everything.clear()  # the caller's own list: the kept listing is not touched
        assert len(service.sessions(EMBEDDING_PROGRAM)) == 3


async def test_output_written_while_listings_are_made_shows_once_it_is_in(host: Host) -> None:
    with trio.fail_after(30):
        await host.execute("s", "pass")
        session = host.session("s")
        service = Service(host)
        finished = threading.Event()

        def write() -> None:
            for _ in range(2000):
                session.output.write("x\n")
            finished.set()

        thread = threading.Thread(target=write)
        thread.start()
        seen = 0
        while not finished.is_set():
            offset = service.sessions(EMBEDDING_PROGRAM)[0].output_offset
            assert seen <= offset <= session.output.end_offset
            seen = offset
            await trio.sleep(0)
        await trio.to_thread.run_sync(thread.join)
        assert service.sessions(EMBEDDING_PROGRAM)[0].output_offset == 2000 * 2


def test_the_stamp_never_comes_back_to_a_value_read_before_a_change() -> None:
    # Many threads move it at once: however their stores land, none stores a value
    # that was the stamp before they began.
    before = _changes.stamp
    seen: set[int] = set()
    lock = threading.Lock()

    def move() -> None:
        for _ in range(2000):
            _changes.changed()
            with lock:
                seen.add(_changes.stamp)

    threads = [threading.Thread(target=move) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert before not in seen
    assert _changes.stamp != before


@pytest.mark.parametrize(
    "kind",
    [
        "name",
        "autodispose",
        "progress",
        "touch",
        "output",
        "state",
        "run begins",
        "run ends",
        "ticket",
        "added",
        "removed",
    ],
)
async def test_each_value_a_listing_keys_on_moves_the_stamp(host: Host, kind: str) -> None:
    with trio.fail_after(10):
        await host.execute("s", "pass")
        session = host.session("s")
        change: dict[str, Callable[[], object]] = {
            "name": lambda: setattr(session, "name", "n"),
            "autodispose": lambda: setattr(session, "autodispose", True),
            "progress": lambda: setattr(session, "progress", Progress(1.0, None)),
            "touch": session.touch,
            "output": lambda: session.output.write("x\n"),
            # Each of these comes with other moves in the engine; each moves it alone too.
            "state": lambda: session._set_state(SessionState.IDLE),
            "run begins": session.runs.begin,
            "run ends": lambda: session.runs.end(None),
            "ticket": session._ticket_changed,
            "added": lambda: host._get_or_create("new", autodispose=False),
            "removed": lambda: host._drop(session, "removed by the test"),
        }
        before = _changes.stamp
        change[kind]()
        assert _changes.stamp != before


async def test_a_listing_that_raises_keeps_nothing(host: Host) -> None:
    with trio.fail_after(10):
        await host.execute("s", "pass")
        listing = Listing()

        def refuse() -> list[object]:
            raise ValueError("no")

        with pytest.raises(ValueError, match="no"):
            listing.get("asked", refuse)  # type: ignore[arg-type]
        assert [i.id for i in listing.get("asked", host.sessions)] == ["s"]
