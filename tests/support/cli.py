"""Helpers for the CLI and REPL tests: a fake client, and a real `spe-host serve`.

``FakeClient`` implements the client API the REPL uses, in memory: code runs in a
local namespace (so ``x + 1`` really gives ``42``), and a test can script any
statement with an async handler to exercise input, stops and long runs.

``ServerProcess`` starts ``spe-host serve --json`` as a subprocess in a private
runtime directory and reads where it listens from its first line; nothing sleeps
and hopes.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import trio

from spe_host._errors import SessionNotFound
from spe_host._model import Completion, ExecutionResult, OutputChunk, ProgressReport, SessionInfo

# ---------------------------------------------------------------------------------------
# A fake client


@dataclass
class Hooks:
    """What a scripted statement can use: the REPL's callbacks."""

    session: str
    on_output: Callable[[OutputChunk], object] | None
    on_input: Callable[[str], Awaitable[str | None]] | None
    client: FakeClient

    def print(self, text: str) -> None:
        self.client.emit(self.session, text, self.on_output)


Handler = Callable[[Hooks], Awaitable[ExecutionResult]]


def result(session: str, status: str = "completed", **fields: Any) -> ExecutionResult:
    """An ExecutionResult with sensible defaults."""
    now = time.time()
    base = {"value": None, "error": None, "output": "", "started_at": now, "finished_at": now}
    base.update(fields)
    return ExecutionResult(session=session, status=status, **base)


def info(session: str, **fields: Any) -> SessionInfo:
    """A SessionInfo with sensible defaults."""
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


@dataclass
class FakeClient:
    """The client API the REPL needs, in memory."""

    role: str = "admin"
    server: str = "fake-host"
    pid: int = 4242
    address: str = "unix:/fake.sock"
    handlers: dict[str, Handler] = field(default_factory=dict)
    completions: list[Completion] = field(default_factory=list)
    executed: list[tuple[str, str]] = field(default_factory=list)
    stops: list[tuple[str, ...]] = field(default_factory=list)
    subscribed: list[tuple[str, int]] = field(default_factory=list)
    completed: list[tuple[str, str, int | None]] = field(default_factory=list)
    infos: dict[str, SessionInfo] = field(default_factory=dict)
    outputs: dict[str, str] = field(default_factory=dict)
    namespaces: dict[str, dict[str, Any]] = field(default_factory=dict)
    changed: trio.Event = field(default_factory=trio.Event)

    def _notify(self) -> None:
        self.changed.set()
        self.changed = trio.Event()

    def emit(
        self, session: str, text: str, on_output: Callable[[OutputChunk], object] | None
    ) -> None:
        """Append output to a session's stream (and to an execute's callback)."""
        start = len(self.outputs.get(session, "").encode())
        self.outputs[session] = self.outputs.get(session, "") + text
        current = self.infos[session]
        self.infos[session] = replace(current, output_offset=start + len(text.encode()))
        if on_output is not None:
            on_output(OutputChunk(session=session, offset=start, text=text))
        self._notify()

    def ensure(self, session: str) -> None:
        if session not in self.infos:
            self.infos[session] = info(session, created_at=time.time())
            self.outputs[session] = ""

    async def execute(
        self,
        session: str,
        code: str,
        *,
        interactive: bool = True,
        on_output: Callable[[OutputChunk], object] | None = None,
        on_input: Callable[[str], Awaitable[str | None]] | None = None,
        on_progress: Callable[[ProgressReport], object] | None = None,
    ) -> ExecutionResult:
        self.executed.append((session, code))
        self.ensure(session)
        self.infos[session] = replace(self.infos[session], state="running")
        hooks = Hooks(session, on_output, on_input, self)
        try:
            handler = self.handlers.get(code)
            if handler is not None:
                outcome = await handler(hooks)
            else:
                outcome = self._run_locally(hooks, code)
        finally:
            self.infos[session] = replace(self.infos[session], state="idle")
            self._notify()
        return outcome

    def _run_locally(self, hooks: Hooks, code: str) -> ExecutionResult:
        namespace = self.namespaces.setdefault(hooks.session, {})
        buffer = io.StringIO()
        value = None
        with contextlib.redirect_stdout(buffer):
            try:
                compiled = compile(code, "<fake>", "eval")
            except SyntaxError:
                exec(compile(code, "<fake>", "exec"), namespace)
            else:
                shown = eval(compiled, namespace)
                value = None if shown is None else repr(shown)
        if buffer.getvalue():
            hooks.print(buffer.getvalue())
        return result(hooks.session, value=value, output=buffer.getvalue())

    async def sessions(self, *patterns: str, state: str | None = None) -> list[SessionInfo]:
        from fnmatch import fnmatchcase

        return [
            i
            for i in self.infos.values()
            if (not patterns or any(fnmatchcase(i.id, p) for p in patterns))
            and (state is None or i.state == state)
        ]

    async def stop(self, *targets: str) -> dict[str, str]:
        self.stops.append(targets)
        outcomes = {}
        for target in targets:
            current = self.infos.get(target)
            if current is None:
                outcomes[target] = "not_found"
            elif current.state == "running":
                self.infos[target] = replace(current, state="stopping")
                outcomes[target] = "requested"
            else:
                outcomes[target] = "not_running"
        self._notify()
        return outcomes

    async def wait(
        self, *sessions: str, timeout: float | None = None, any: bool = False
    ) -> list[SessionInfo]:
        with trio.move_on_after(timeout if timeout is not None else float("inf")):
            while True:
                found = [self.infos[s] for s in sessions if s in self.infos]
                done = [i for i in found if i.state not in ("running", "stopping")]
                if len(done) == len(found) or (any and done):
                    return done
                await self.changed.wait()
        return [self.infos[s] for s in sessions if self.infos[s].state == "idle"]

    async def complete(
        self, session: str, text: str, cursor: int | None = None
    ) -> list[Completion]:
        self.completed.append((session, text, cursor))
        return list(self.completions)

    @asynccontextmanager
    async def _subscription(
        self, session: str, from_offset: int
    ) -> AsyncIterator[AsyncIterator[OutputChunk | ProgressReport]]:
        if session not in self.infos:
            raise SessionNotFound(f"no session has the id {session!r}")

        async def events() -> AsyncIterator[OutputChunk | ProgressReport]:
            sent = from_offset
            while True:
                data = self.outputs.get(session, "").encode()
                if len(data) > sent:
                    yield OutputChunk(session=session, offset=sent, text=data[sent:].decode())
                    sent = len(data)
                await self.changed.wait()

        yield events()

    def subscribe(self, session: str, from_offset: int = 0) -> Any:
        self.subscribed.append((session, from_offset))
        return self._subscription(session, from_offset)


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
    import threading

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
