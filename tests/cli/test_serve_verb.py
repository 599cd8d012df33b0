"""The ``serve`` verb as a composition root: it stops the host's sessions itself.

The server's shutdown is not to stop sessions (restarting one listener must not abort
another's jobs), so ``spe-host serve`` asks the running sessions to stop before it
closes its listeners. These tests stand a fake ``spe_host.server.serve`` in for the
server, one that never stops a session, so they show what the verb does by itself.
"""

from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import trio
import trio.testing
from support.server import wait_state

import spe_host.server
from spe_host._errors import SpeError
from spe_host._model import ExecutionStatus, SessionState
from spe_host.cli._exits import EXIT_FAILED
from spe_host.cli._main import main
from spe_host.cli._parser import build_parser
from spe_host.cli._serve import run_host
from spe_host.engine._share import DEFAULT_INTERPRETER_SLOTS

LOOP = "import time\nwhile True:\n    time.sleep(0.01)\n"


async def test_serve_stops_running_sessions_before_its_listeners_close(
    monkeypatch: pytest.MonkeyPatch, runtime: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    hosts: list[spe_host.Host] = []
    states_at_close: list[SessionState] = []
    served = trio.Event()

    async def serve_that_never_stops_sessions(
        host: spe_host.Host, address: str | None, *, task_status: Any, **options: Any
    ) -> None:
        hosts.append(host)
        served.set()
        task_status.started(SimpleNamespace(address="unix:/fake.sock", connection_files={}))
        try:
            await trio.sleep_forever()
        finally:
            states_at_close.extend(session.state for session in host.sessions())

    monkeypatch.setattr(spe_host.server, "serve", serve_that_never_stops_sessions)
    args = build_parser().parse_args(["serve", "--shutdown-timeout", "5"])
    shutdown = trio.Event()
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(run_host, args, shutdown.wait)
            # The host opens its journal in a worker thread first, then serves.
            await served.wait()
            (host,) = hosts
            job = host.start("nightly", LOOP)
            await wait_state(host, "nightly", "running")
            shutdown.set()
    # Asked to stop while the listener was still open, so its clients heard the end.
    assert states_at_close in ([SessionState.STOPPING], [SessionState.IDLE])
    assert job.last is not None
    assert job.last.status is ExecutionStatus.ABORTED
    assert "host 'default' is serving" in capsys.readouterr().out


def test_a_listener_that_cannot_start_exits_1(
    monkeypatch: pytest.MonkeyPatch, runtime: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    async def refuse(host: spe_host.Host, address: str | None, **options: Any) -> None:
        raise SpeError("cannot listen on tcp://127.0.0.1:80: permission denied")

    monkeypatch.setattr(spe_host.server, "serve", refuse)
    assert main(["serve", "--listen", "tcp://127.0.0.1:80"]) == EXIT_FAILED
    err = capsys.readouterr().err
    assert err == "spe-host: cannot listen on tcp://127.0.0.1:80: permission denied\n"


def test_the_idle_timeout_default_is_the_engines(capsys: pytest.CaptureFixture[str]) -> None:
    # The parser does not import the engine; its help names the engine's default.
    assert build_parser().parse_args(["serve"]).idle_timeout is None
    assert main(["serve", "--help"]) == 0
    help_text = " ".join(capsys.readouterr().out.split())
    assert f"(default: {spe_host.DEFAULT_IDLE_TIMEOUT:g})" in help_text


async def _host_served_with(
    monkeypatch: pytest.MonkeyPatch, argv: list[str], intervals: list[float] | None = None
) -> spe_host.Host:
    # Runs `serve ARGV` with a listener that only records the host it was given (and,
    # in `intervals`, the switch interval the interpreter ran at while it served).
    hosts: list[spe_host.Host] = []
    served = trio.Event()

    async def fake_serve(
        host: spe_host.Host, address: str | None, *, task_status: Any, **options: Any
    ) -> None:
        hosts.append(host)
        if intervals is not None:
            intervals.append(sys.getswitchinterval())
        served.set()
        task_status.started(SimpleNamespace(address="unix:/fake.sock", connection_files={}))
        await trio.sleep_forever()

    monkeypatch.setattr(spe_host.server, "serve", fake_serve)
    shutdown = trio.Event()
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(run_host, build_parser().parse_args(["serve", *argv]), shutdown.wait)
            await served.wait()
            shutdown.set()
    return hosts[0]


@pytest.mark.parametrize(
    ("argv", "guard"), [(["--loop-timeout", "2"], 2.0), (["--loop-timeout", "0"], None)]
)
async def test_serve_gives_its_host_the_loop_timeout(
    monkeypatch: pytest.MonkeyPatch, runtime: Path, argv: list[str], guard: float | None
) -> None:
    host = await _host_served_with(monkeypatch, argv)
    assert host.watchdog.timeout == guard


async def test_serve_gives_its_host_the_request_limits(
    monkeypatch: pytest.MonkeyPatch, runtime: Path
) -> None:
    argv = ["--max-patterns", "3", "--max-pattern-length", "20", "--max-script-size", "4096"]
    host = await _host_served_with(monkeypatch, argv)
    assert host.limits == spe_host.RequestLimits(
        max_pattern_length=20, max_patterns=3, max_script_size=4096
    )
    default = await _host_served_with(monkeypatch, [])
    assert default.limits == spe_host.RequestLimits()


@pytest.mark.parametrize(
    ("argv", "slots"),
    [
        ([], DEFAULT_INTERPRETER_SLOTS),  # the parser writes the engine's default out
        (["--interpreter-slots", "4"], 4),
        (["--interpreter-slots", "0"], None),
    ],
)
async def test_serve_gives_its_host_the_interpreter_slots(
    monkeypatch: pytest.MonkeyPatch, runtime: Path, argv: list[str], slots: int | None
) -> None:
    host = await _host_served_with(monkeypatch, argv)
    share = host._flags.share
    assert (share.slots if share is not None else None) == slots


@pytest.mark.parametrize(("argv", "interval"), [([], 0.0005), (["--switch-interval", "5"], 0.005)])
async def test_serve_runs_its_host_at_the_switch_interval_it_announces(
    monkeypatch: pytest.MonkeyPatch,
    runtime: Path,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    interval: float,
) -> None:
    seen: list[float] = []
    before = sys.getswitchinterval()
    await _host_served_with(monkeypatch, argv, seen)
    assert seen == [pytest.approx(interval)]
    assert f"Thread switch interval {interval * 1e3:g} ms" in capsys.readouterr().out
    assert sys.getswitchinterval() == before  # the host gives the setting back
