"""Loop mode from the command line: `start --loop`, `attach --loop`, `serve --loop-timeout`."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator

import pytest
from support.cli import SPE_HOST, ServerProcess, start_server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    runtime = tmp_path_factory.mktemp("runtime")
    os.chmod(runtime, 0o700)
    process = start_server(runtime, "--loop-timeout", "1")
    yield process
    process.stop()


def piped(server: ServerProcess, code: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*SPE_HOST, "attach", "--connect", server.address, *args],
        input=code,
        env=server.env(),
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    )


def test_attach_loop_runs_statements_in_the_trio_thread(server: ServerProcess) -> None:
    code = "import trio\ntrio.current_time() > 0\n"
    in_loop = piped(server, code, "--session", "piped", "--loop")
    assert in_loop.returncode == 0, in_loop.stderr
    assert in_loop.stdout.splitlines() == ["True"]
    in_worker = piped(server, code, "--session", "piped")
    assert in_worker.returncode == 1
    assert "spe.run_sync" in in_worker.stderr


def test_start_loop_is_stopped_by_the_serve_loop_timeout(server: ServerProcess) -> None:
    started = server.run("start", "spin", "--loop", "-c", "while True: pass")
    assert started.returncode == 0, started.stderr
    waited = server.run("wait", "spin", "--timeout", "10")
    assert waited.returncode == 5, waited.stderr  # the run was aborted
    received = server.run("receive", "spin", "--json")
    assert received.returncode == 5, received.stderr
    result = json.loads(received.stdout)
    assert result["status"] == "aborted"
    # The host answered again as soon as the guard had stopped the statement.
    assert "more than 1 s (loop_timeout)" in result["error"]
