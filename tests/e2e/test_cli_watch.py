"""``spe-host ls --watch`` against a real ``spe-host serve`` subprocess.

The watching ``ls`` runs as a subprocess too; a thread reads its stdout into a queue,
so each expected line is awaited with a deadline rather than a sleep. The job the
test starts reports progress in a loop until the test creates a file: whenever the
watch began (its request is not acknowledged), a ``running`` change arrives, and the
end of the job is pushed after that.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from support.cli import SPE_HOST, ServerProcess, start_server

DEADLINE = 15.0


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    runtime = tmp_path_factory.mktemp("runtime")
    os.chmod(runtime, 0o700)
    process = start_server(runtime)
    yield process
    process.stop()


class Watching:
    """A running ``spe-host ls --watch ...`` whose stdout lines are read as they come."""

    def __init__(self, server: ServerProcess, *args: str) -> None:
        self.process = subprocess.Popen(
            [*SPE_HOST, "ls", "--watch", *args],
            env=server.env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def until(self, ok: Callable[[str], bool]) -> list[str]:
        """The lines read up to and including the first that satisfies ``ok``."""
        seen: list[str] = []
        deadline = time.monotonic() + DEADLINE
        while True:
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"no such line within {DEADLINE} s: {seen}"
            try:
                line = self.lines.get(timeout=remaining)
            except queue.Empty:
                continue
            assert line is not None, f"ls --watch ended: {seen} {self.stop()}"
            seen.append(line)
            if ok(line):
                return seen

    def interrupt(self) -> tuple[int, str]:
        """Ctrl-C: its exit code and stderr."""
        self.process.send_signal(signal.SIGINT)
        return self.stop()

    def stop(self) -> tuple[int, str]:
        try:
            _, err = self.process.communicate(timeout=DEADLINE)
        except subprocess.TimeoutExpired:
            self.process.kill()
            _, err = self.process.communicate()
        return self.process.returncode, err


def progress_loop(gate: Path) -> str:
    """A job that reports progress over and over until ``gate`` exists."""
    return (
        "import os, time\n"
        "n = 0\n"
        f"while not os.path.exists({str(gate)!r}):\n"
        "    n = (n + 1) % 100\n"
        "    spe.progress(n, 'busy')\n"
        "    time.sleep(0.02)\n"
    )


def change_of(line: str) -> dict[str, Any]:
    value = json.loads(line)
    assert isinstance(value, dict)
    return value


def test_ls_watch_json_prints_each_pushed_change(server: ServerProcess, tmp_path: Path) -> None:
    server.run_json("start", "before", "-c", "pass")
    server.run("wait", "before", "--timeout", "10")
    watch = Watching(server, "--json", "before", "pushed")
    try:
        # The sessions that exist come first, with no previous state.
        first = change_of(watch.until(lambda line: True)[0])
        assert first["session"]["id"] == "before"
        assert first["session"]["state"] == "idle"
        assert first["previous"] is None
        gate = tmp_path / "gate"
        server.run_json("start", "pushed", "-c", progress_loop(gate))
        running = watch.until(lambda line: change_of(line)["session"]["state"] == "running")
        change = change_of(running[-1])
        assert change["session"]["id"] == "pushed"
        assert change["previous"] in ("closed", "idle", "running")
        # Its progress is pushed while it runs: `previous` stays running.
        busy = watch.until(lambda line: change_of(line)["session"]["progress"]["message"] == "busy")
        assert change_of(busy[-1])["session"]["state"] == "running"
        assert change_of(busy[-1])["previous"] == "running"
        gate.touch()
        idle = watch.until(lambda line: change_of(line)["session"]["state"] == "idle")
        finished = change_of(idle[-1])
        assert finished["session"]["id"] == "pushed"
        assert finished["previous"] == "running"
        assert finished["session"]["last_status"] == "completed"
        server.run("rm", "pushed")
        removed = change_of(watch.until(lambda line: True)[-1])
        assert removed["session"]["id"] == "pushed"
        assert removed["session"]["state"] == "closed"
        assert removed["previous"] == "idle"
    finally:
        code, err = watch.interrupt()
    assert (code, err) == (130, "")
    server.run("rm", "before")


def test_ls_watch_piped_prints_a_table_per_change(server: ServerProcess, tmp_path: Path) -> None:
    server.run_json("start", "tabled", "-c", "pass")
    server.run("wait", "tabled", "--timeout", "10")
    watch = Watching(server, "tabled")
    try:
        first = watch.until(lambda line: line.startswith("tabled "))
        assert first[0].split() == [
            "SESSION",
            "STATE",
            "RUN",
            "JOB",
            "PROGRESS",
            "LOCATION",
            "STARTED",
            "ENDED",
            "STATUS",
        ]
        assert first[-1].split()[2] == "tabled#1"
        assert first[-1].split()[1] == "idle"
        gate = tmp_path / "gate"
        server.run_json("start", "tabled", "-c", progress_loop(gate))
        again = watch.until(lambda line: line.startswith("tabled ") and "running" in line)
        assert again[-1].split()[2] == "tabled#2"
        # A blank line, then the whole table again.
        assert again[0] == "\n"
        assert again[1].startswith("SESSION")
        gate.touch()
        watch.until(lambda line: line.startswith("tabled ") and " idle " in line)
    finally:
        code, err = watch.interrupt()
    assert (code, err) == (130, "")
    server.run("rm", "tabled")
