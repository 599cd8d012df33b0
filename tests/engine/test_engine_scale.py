"""What makes the engine cheap at scale keeps its behaviour: idle expiry by heap, the
compiled-statement cache, session snapshots and batched output."""

from __future__ import annotations

import sys
import threading

import pytest
import trio
import trio.testing

import spe_host
from spe_host import ExecutionStatus, OutputChunk, SessionState
from spe_host.engine._streams import OutputBuffer


async def test_expiry_among_many_sessions_drops_each_at_its_own_time(
    autojump_clock: trio.testing.MockClock,
) -> None:
    with trio.fail_after(10_000):
        async with spe_host.open_host(idle_timeout=100) as host:
            began = trio.current_time()
            for index in range(300):
                await host.execute(f"s{index}", "x = 1", loop=True)
            sessions = {s.id: s for s in host.sessions()}
            await trio.sleep(50)
            # Touch every third session: its heap entry is now stale and must not
            # expire it at the old time.
            for index in range(0, 300, 3):
                sessions[f"s{index}"].touch()
            await trio.sleep_until(began + 101)
            alive = {s.id for s in host.sessions()}
            assert alive == {f"s{index}" for index in range(0, 300, 3)}
            assert all(sessions[f"s{i}"].state is SessionState.CLOSED for i in range(1, 300, 3))
            await trio.sleep_until(began + 151)  # 101 s after their touch
            assert host.sessions() == []


async def test_a_session_made_while_the_host_has_none_wakes_the_expiry(
    autojump_clock: trio.testing.MockClock,
) -> None:
    with trio.fail_after(10_000):
        async with spe_host.open_host(idle_timeout=10) as host:
            await trio.sleep(1000)  # the expiry task sleeps with nothing to expire
            await host.execute("late", "x = 1", loop=True)
            await trio.sleep(9)
            assert [s.id for s in host.sessions()] == ["late"]
            await trio.sleep(2)
            assert host.sessions() == []


async def test_removed_sessions_do_not_pile_up_in_the_expiry(
    autojump_clock: trio.testing.MockClock,
) -> None:
    with trio.fail_after(10_000):
        async with spe_host.open_host(idle_timeout=1000) as host:
            await host.execute("keep", "x = 1", loop=True)
            for index in range(400):
                await host.execute(f"gone{index}", "x = 1", loop=True)
                await host.remove(f"gone{index}")
                await trio.sleep(5)  # the expiry looks now and then, at each due entry
            await trio.sleep(1000)
            assert len(host._expiry._heap) <= 2 * len(host.sessions()) + 64
            assert [s.id for s in host.sessions()] == []


async def test_two_sessions_running_the_same_source_show_their_own_tracebacks(
    host: spe_host.Host,
) -> None:
    source = "def f():\n    return 1 / 0\n\nf()\n"
    with trio.fail_after(10):
        for session in ("a", "b", "a"):
            result = await host.execute(session, source)
            assert result.status is ExecutionStatus.FAILED
            assert result.error is not None
            run = host.session(session).runs.count
            assert f'File "<session {session} #{run}>", line 2, in f' in result.error
            assert "return 1 / 0" in result.error
        # The function a defined still names a's run once b runs the same source.
        fn = host.session("a").namespace["f"]
        assert fn.__code__.co_filename == f"<session a #{host.session('a').runs.count}>"


async def test_a_cached_statement_keeps_its_display_and_value(host: spe_host.Host) -> None:
    with trio.fail_after(10):
        for expected in ("2", "2"):
            result = await host.execute("s", "1+1")
            assert result.value == expected
        assert (await host.execute("s", "1+1", interactive=False)).value is None
        assert (await host.execute("s", "_")).value == "2"


async def test_info_follows_touches(autojump_clock: trio.testing.MockClock) -> None:
    with trio.fail_after(1000):
        async with spe_host.open_host(idle_timeout=None) as host:
            await host.execute("s", "x = 1", loop=True)
            session = host.session("s")
            first = session.info()
            assert first.created_at == session.created_at.timestamp()
            assert session.info().last_accessed == first.last_accessed
            await trio.sleep(30)
            session.touch()
            later = session.info()
            assert later.last_accessed == session.last_accessed.timestamp()
            assert later.last_accessed - first.last_accessed == pytest.approx(30, abs=1e-3)


# -- batched output ---------------------------------------------------------------


async def test_writers_racing_in_threads_lose_nothing_and_keep_their_own_order() -> None:
    with trio.fail_after(20):
        buffer = OutputBuffer(limit=10**7)

        def writer(name: str) -> None:
            for index in range(3000):
                buffer.write(f"{name}{index}\n")

        async with trio.open_nursery() as nursery:
            for name in "abcd":
                nursery.start_soon(trio.to_thread.run_sync, writer, name)
        lines = buffer.read(0).text.splitlines()
        assert len(lines) == 4 * 3000
        for name in "abcd":
            assert [line for line in lines if line[0] == name] == [
                f"{name}{index}" for index in range(3000)
            ]
        assert buffer.end_offset == sum(len(line) + 1 for line in lines)


async def test_stdout_stderr_and_host_notes_keep_their_order(host: spe_host.Host) -> None:
    code = "import sys\nfor i in range(2000):\n    print(i)\n    print(-i, file=sys.stderr)\n"
    with trio.fail_after(10):
        result = await host.execute("s", code)
        expected = "".join(f"{i}\n{-i}\n" for i in range(2000))
        assert result.output == expected
        assert host.session("s").output.end_offset == len(expected)


async def test_a_running_jobs_output_streams_before_the_statement_ends(
    host: spe_host.Host,
) -> None:
    gate = threading.Event()
    with trio.fail_after(10):
        # One statement that prints once and then blocks: no later write, no
        # statement end to move the batch; the wake-up must.
        host.start("s", "print('first', end='')\ngate.wait()", args={"gate": gate})
        try:
            follower = host.follow("s")
            seen = ""
            while seen != "first":
                seen += "".join(i.text for i in await follower.next() if isinstance(i, OutputChunk))
            assert host.session("s").is_active()
        finally:
            gate.set()
        await host.wait("s")


async def test_input_prompts_are_the_runs_own_open_line(host: spe_host.Host) -> None:
    prompts: list[str] = []

    async def answer(prompt: str) -> str:
        prompts.append(prompt)
        return "x"

    with trio.fail_after(10):
        await host.execute("s", "print('left open', end='')")
        await host.execute(
            "s", "print('a', end='')\ninput('b? ')\ninput('c? ')", input_handler=answer
        )
        assert prompts == ["ab? ", "c? "]


# -- the switch interval ------------------------------------------------------------------


async def test_a_host_sets_the_switch_interval_only_when_asked_and_puts_it_back() -> None:
    with trio.fail_after(10):
        before = sys.getswitchinterval()
        async with spe_host.open_host():
            assert sys.getswitchinterval() == before
        async with spe_host.open_host(switch_interval=0.0007):
            assert sys.getswitchinterval() == pytest.approx(0.0007)
        assert sys.getswitchinterval() == before
        with pytest.raises(ValueError, match="switch_interval"):
            async with spe_host.open_host(switch_interval=0):
                pass
        assert sys.getswitchinterval() == before
