"""The verbs that follow state changes do not poll: ``wait`` on a terminal, ``ls --watch``.

Each verb runs in-process against a real host (``spe_host.testing.open_test_client``),
through a proxy that records every client method it calls. ``wait`` on a terminal must
make the host's ``wait`` request once and take its progress from one ``watch``,
listing the sessions only before and after; ``ls --watch`` must list once and draw
every later change from the watch.
"""

from __future__ import annotations

import io
import json
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import trio
import trio.testing
from prompt_toolkit.application import create_app_session
from prompt_toolkit.input import create_pipe_input
from prompt_toolkit.output import DummyOutput
from support.recording import Recording

import spe_host
from spe_host._model import SessionState, StateChange
from spe_host.cli import _verbs
from spe_host.cli._parser import build_parser
from spe_host.testing import open_test_client


class Terminal(io.StringIO):
    """A stdout that says it is a terminal."""

    def isatty(self) -> bool:
        return True


class Pipe(io.StringIO):
    """A stdout that is not a terminal."""

    def isatty(self) -> bool:
        return False


@pytest.fixture
def quiet_terminal() -> Iterator[None]:
    """prompt_toolkit's progress bar draws nowhere and reads no keys."""
    with create_pipe_input() as keys, create_app_session(input=keys, output=DummyOutput()):
        yield


def connect_verbs_to(monkeypatch: pytest.MonkeyPatch, client: Recording) -> None:
    @asynccontextmanager
    async def connected(args: object, target: str | None = None) -> AsyncIterator[Recording]:
        yield client

    monkeypatch.setattr(_verbs, "connected", connected)


def gated_job(gate: Path) -> str:
    return (
        "import os, time\n"
        "spe.progress(30, 'step one')\n"
        f"while not os.path.exists({str(gate)!r}):\n"
        "    time.sleep(0.01)\n"
    )


async def first(changes: AsyncIterator[StateChange], state: SessionState) -> None:
    async for change in changes:
        if change.session.state == state and change.session.progress_percent is not None:
            return


@pytest.mark.usefixtures("quiet_terminal")
async def test_wait_on_a_terminal_makes_one_wait_request_and_watches(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    gate = tmp_path / "gate"
    stdout = Terminal()
    monkeypatch.setattr("sys.stdout", stdout)
    codes: list[int] = []
    with trio.fail_after(20):
        async with spe_host.open_host() as host, open_test_client(host) as client:
            recording = Recording(client)
            connect_verbs_to(monkeypatch, recording)
            async with host.watch("barjob") as changes:
                await client.start("barjob", gated_job(gate))
                await first(changes, SessionState.RUNNING)
            args = build_parser().parse_args(["wait", "barjob", "--timeout", "15"])
            async with trio.open_nursery() as nursery:

                async def run() -> None:
                    codes.append(await _verbs.wait(args))

                nursery.start_soon(run)
                await trio.testing.wait_all_tasks_blocked()
                assert "wait" in recording.calls
                assert codes == []  # still waiting
                # Time passes while it waits; a poll would list the sessions now.
                await trio.sleep(0.3)
                gate.touch()
            assert codes == [0]
    assert recording.calls.count("wait") == 1
    assert recording.calls.count("watch") == 1
    # Once before the wait (what it covers), once after (what still runs): no polling.
    assert recording.calls.count("sessions") == 2
    table = stdout.getvalue().splitlines()
    assert table[0].split()[:2] == ["SESSION", "STATE"]
    assert table[1].split()[:2] == ["barjob", "idle"]
    assert "completed" in table[1]


@pytest.mark.usefixtures("quiet_terminal")
async def test_wait_on_a_terminal_keeps_timeout_and_any(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    gate = tmp_path / "gate"
    monkeypatch.setattr("sys.stdout", Terminal())
    with trio.fail_after(20):
        async with spe_host.open_host() as host, open_test_client(host) as client:
            recording = Recording(client)
            connect_verbs_to(monkeypatch, recording)
            await client.start("slow", gated_job(gate))
            await client.start("quick", "spe.progress(100, 'done')")
            await client.wait("quick")
            # --timeout: the slow one is still running when it passes.
            timed_out = build_parser().parse_args(["wait", "slow", "--timeout", "0.2"])
            assert await _verbs.wait(timed_out) == 1
            assert "still running after 0.2 s: slow" in capsys.readouterr().err
            # --any: one finished is enough.
            any_ = build_parser().parse_args(["wait", "slow", "quick", "--any"])
            assert await _verbs.wait(any_) == 0
            assert capsys.readouterr().err == ""
            gate.touch()
            await client.wait("slow")
    assert recording.calls.count("wait") == 2
    assert recording.calls.count("sessions") == 4


async def test_ls_watch_lists_once_then_draws_pushed_changes(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    gate = tmp_path / "gate"
    stdout = Pipe()
    monkeypatch.setattr("sys.stdout", stdout)
    with trio.fail_after(20):
        async with spe_host.open_host() as host, open_test_client(host) as client:
            await client.start("kept", "pass")
            await client.wait("kept")
            recording = Recording(client)
            connect_verbs_to(monkeypatch, recording)
            args = build_parser().parse_args(["ls", "--watch", "--json", "--state", "running"])
            async with trio.open_nursery() as nursery:
                nursery.start_soon(_verbs.ls, args)
                await trio.testing.wait_all_tasks_blocked()
                # Nothing runs yet: with --state running, nothing to show.
                assert stdout.getvalue() == ""
                async with host.watch("job") as changes:
                    await client.start("job", gated_job(gate))
                    await first(changes, SessionState.RUNNING)
                    gate.touch()
                    async for change in changes:
                        if change.session.state == SessionState.IDLE:
                            break
                await trio.testing.wait_all_tasks_blocked()
                nursery.cancel_scope.cancel()
    assert recording.calls.count("sessions") == 1
    assert recording.calls.count("watch") == 1
    lines = [json.loads(line) for line in stdout.getvalue().splitlines()]
    assert {line["session"]["id"] for line in lines} == {"job"}
    assert lines[0]["session"]["state"] == "running"
    assert lines[0]["previous"] == "closed"
    assert any(line["session"]["progress"]["message"] == "step one" for line in lines)
    # It leaves the state asked for: that change is shown too.
    assert lines[-1]["session"]["state"] == "idle"
    assert lines[-1]["previous"] == "running"


async def test_ls_watch_on_a_terminal_redraws_in_place(monkeypatch: pytest.MonkeyPatch) -> None:
    stdout = Terminal()
    monkeypatch.setattr("sys.stdout", stdout)
    with trio.fail_after(20):
        async with spe_host.open_host() as host, open_test_client(host) as client:
            recording = Recording(client)
            connect_verbs_to(monkeypatch, recording)
            args = build_parser().parse_args(["ls", "-w", "-q"])
            async with trio.open_nursery() as nursery:
                nursery.start_soon(_verbs.ls, args)
                await trio.testing.wait_all_tasks_blocked()
                async with host.watch() as changes:
                    await client.start("one", "pass")
                    async for change in changes:
                        if change.session.state == SessionState.IDLE:
                            break
                await trio.testing.wait_all_tasks_blocked()
                nursery.cancel_scope.cancel()
    screens = stdout.getvalue().split("\x1b[H\x1b[2J")
    assert screens[0] == ""
    assert screens[1] == ""  # no sessions at first
    assert screens[-1] == "one\n"
    assert recording.calls.count("sessions") == 1


async def test_ls_watch_on_a_terminal_moves_a_running_runs_clock(
    monkeypatch: pytest.MonkeyPatch, autojump_clock: trio.testing.MockClock
) -> None:
    stdout = Terminal()
    monkeypatch.setattr("sys.stdout", stdout)
    with trio.fail_after(60):
        async with spe_host.open_host() as host, open_test_client(host) as client:
            recording = Recording(client)
            connect_verbs_to(monkeypatch, recording)
            release = trio.Event()
            host.start("job", "await release.wait()", args={"release": release})
            async with trio.open_nursery() as nursery:
                nursery.start_soon(_verbs.ls, build_parser().parse_args(["ls", "-w"]))
                await trio.sleep(3.5)
                screens = stdout.getvalue().split("\x1b[H\x1b[2J")[1:]
                # Drawn again each second, nothing having changed: no request either.
                assert len(screens) >= 4
                assert all("running for" in screen for screen in screens)
                release.set()
                await host.wait("job")
                await trio.testing.wait_all_tasks_blocked()
                drawn = stdout.getvalue().count("\x1b[H\x1b[2J")
                await trio.sleep(5)
                # The run has ended: its times do not move, nothing is drawn.
                assert stdout.getvalue().count("\x1b[H\x1b[2J") == drawn
                nursery.cancel_scope.cancel()
    assert recording.calls.count("sessions") == 1
    assert "ago" in stdout.getvalue().split("\x1b[H\x1b[2J")[-1]
