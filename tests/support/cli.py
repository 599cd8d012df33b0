"""Helpers for the CLI and REPL tests: a session snapshot, and a real `spe-host serve`.

``info`` builds a :class:`~spe_host._model.SessionInfo` with defaults, for the tests of
how sessions are listed and shown. The REPL and CLI tests that need a host use a real
one (``spe_host.testing.open_test_client``), never an imitation.

``ServerProcess`` starts ``spe-host serve --json`` as a subprocess in a private
runtime directory and reads where it listens from its first line; nothing sleeps
and hopes.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from spe_host._model import SessionInfo

# ---------------------------------------------------------------------------------------
# A session snapshot


def info(session: str, **fields: Any) -> SessionInfo:
    """A SessionInfo with sensible defaults, for tests of how sessions are shown."""
    base: dict[str, Any] = {
        "name": None,
        "state": "idle",
        "progress_percent": None,
        "progress_message": None,
        "location": None,
        "last_status": None,
        "created_at": 1000.0,
        "last_accessed": 1000.0,
        "autodispose": False,
        "output_offset": 0,
    }
    base.update(fields)
    return SessionInfo(id=session, **base)


# ---------------------------------------------------------------------------------------
# A real server


SPE_HOST = [sys.executable, "-m", "spe_host"]


def cli_env(runtime: Path, **extra: str) -> dict[str, str]:
    """The environment for a CLI subprocess: a private runtime and state directory."""
    env = dict(os.environ)
    env.pop("SPE_HOST", None)
    env.pop("SPE_HOST_TOKEN", None)
    env.update(
        SPE_HOST_RUNTIME_DIR=str(runtime),
        XDG_STATE_HOME=str(runtime / "state"),
        PYTHONUNBUFFERED="1",
        NO_COLOR="1",
    )
    env.update(extra)
    return env


@dataclass
class ServerProcess:
    """A running ``spe-host serve`` and what it announced."""

    process: subprocess.Popen[str]
    announced: dict[str, Any]
    runtime: Path

    @property
    def address(self) -> str:
        return str(self.announced["listening"][0]["address"])

    def env(self, **extra: str) -> dict[str, str]:
        return cli_env(self.runtime, **extra)

    def run(
        self, *args: str, timeout: float = 20, **extra: str
    ) -> subprocess.CompletedProcess[str]:
        """Run ``spe-host ARGS`` against this server."""
        return subprocess.run(
            [*SPE_HOST, *args],
            env=self.env(**extra),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def run_json(self, *args: str, **extra: str) -> Any:
        """Run a verb with ``--json``; assert it exits 0 and return the parsed output."""
        done = self.run(*args, "--json", **extra)
        assert done.returncode == 0, (done.returncode, done.stdout, done.stderr)
        return json.loads(done.stdout)

    def stop(self, timeout: float = 15) -> tuple[int, str]:
        """SIGTERM the server and return its exit code and stderr."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            _, err = self.process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            _, err = self.process.communicate()
            raise
        return self.process.returncode, err


def start_server(runtime: Path, *args: str, timeout: float = 20) -> ServerProcess:
    """Start ``spe-host serve --json ARGS`` and wait for its announcement line."""
    process = subprocess.Popen(
        [*SPE_HOST, "serve", "--json", "--log-level", "warning", *args],
        env=cli_env(runtime),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    # readline blocks until the server has printed where it listens (or died); the
    # deadline is enforced by killing it from a timer thread.
    timer = threading.Timer(timeout, process.kill)
    timer.start()
    try:
        line = process.stdout.readline()
    finally:
        timer.cancel()
    if not line:
        _, err = process.communicate(timeout=5)
        raise AssertionError(f"spe-host serve did not start: {err}")
    return ServerProcess(process, json.loads(line), runtime)
