"""The other processes of the benchmark: ``spe-host serve``, the trio floor, and their clients.

Every server the benchmark measures runs in a process of its own and is reached over a
real socket, as a user's client reaches it. :func:`served_host` runs ``spe-host serve``
(with its defaults, on a unix socket and a token-protected TCP port) and yields the two
addresses; :func:`floor_server` runs ``bench/_floor_server.py``; :class:`LineClient`
talks that floor's line protocol and the aioconsole server's. Each server prints one
JSON line when it is ready; its stderr goes to a file, shown when it fails to start.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import trio

FLOOR_SCRIPT = Path(__file__).with_name("_floor_server.py")
START_TIMEOUT = 60.0


def spe_host_command() -> list[str]:
    """How a user runs ``spe-host`` from this interpreter's environment."""
    script = Path(sys.executable).with_name("spe-host")
    return [str(script)] if script.exists() else [sys.executable, "-m", "spe_host"]


class StartFailed(RuntimeError):
    """A server process ended or fell silent before it said it was ready."""


def _tail(log: Path) -> str:
    return log.read_text(errors="replace")[-2000:] if log.exists() else ""


async def _first_line(process: trio.Process, log: Path) -> dict[str, Any]:
    assert process.stdout is not None
    buffer = b""
    with trio.move_on_after(START_TIMEOUT) as waited:
        while b"\n" not in buffer:
            data = await process.stdout.receive_some(65536)
            if not data:
                break
            buffer += data
    if b"\n" not in buffer:
        why = "did not say it was ready in time" if waited.cancelled_caught else "ended"
        raise StartFailed(f"{process.args!r} {why}; its stderr ends with:\n{_tail(log)}")
    value = json.loads(buffer.split(b"\n", 1)[0])
    assert isinstance(value, dict)
    return value


@asynccontextmanager
async def running(
    command: Sequence[str], log: Path, env: dict[str, str] | None = None
) -> AsyncIterator[tuple[trio.Process, dict[str, Any]]]:
    """Run a server process; yield it with the JSON line it printed when ready.

    On exit the process gets SIGTERM, then SIGKILL if it has not ended in 10 s.
    """
    with log.open("wb") as stderr:
        process = await trio.lowlevel.open_process(
            list(command),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=stderr,
            env={**os.environ, **(env or {})},
        )
    try:
        ready = await _first_line(process, log)
        yield process, ready
    finally:
        with trio.CancelScope(shield=True):
            if process.returncode is None:
                process.send_signal(signal.SIGTERM)
                with trio.move_on_after(10):
                    await process.wait()
            if process.returncode is None:
                process.kill()
                await process.wait()
            if process.stdout is not None:
                await process.stdout.aclose()


@dataclass(frozen=True)
class Served:
    """A running ``spe-host serve``: where to connect over each transport."""

    unix: str  # "unix:/path/to/socket"
    tcp: str  # the path of the admin connection file (it carries the token)
    pid: int


@asynccontextmanager
async def served_host(workdir: Path, name: str, *extra: str) -> AsyncIterator[Served]:
    """Run ``spe-host serve`` with its defaults on a unix socket and 127.0.0.1."""
    runtime = workdir / f"{name}-runtime"
    runtime.mkdir(mode=0o700, exist_ok=True)
    command = [
        *spe_host_command(),
        "serve",
        "--name",
        name,
        "--listen",
        f"unix:{workdir / (name + '.sock')}",
        "--listen",
        "tcp://127.0.0.1:0",
        "--json",
        *extra,
    ]
    # The journal (on by default) goes to the workdir too, not to ~/.local/state.
    env = {"SPE_HOST_RUNTIME_DIR": str(runtime), "XDG_STATE_HOME": str(workdir / "state")}
    async with running(command, workdir / f"{name}.log", env) as (_, ready):
        listening = ready["listening"]
        unix = next(item["address"] for item in listening if item["address"].startswith("unix:"))
        tcp = next(
            item["connection_files"]["admin"]
            for item in listening
            if item["address"].startswith("tcp:")
        )
        yield Served(unix=unix, tcp=tcp, pid=int(ready["pid"]))


@dataclass(frozen=True)
class Floor:
    """A running trio floor server."""

    unix: str  # socket path
    port: int


@asynccontextmanager
async def floor_server(workdir: Path, name: str, *, hop: bool = False) -> AsyncIterator[Floor]:
    """Run ``bench/_floor_server.py`` (with a thread hop per echo when ``hop``)."""
    path = workdir / f"{name}.sock"
    command = [sys.executable, str(FLOOR_SCRIPT), str(path), *(["--hop"] if hop else [])]
    async with running(command, workdir / f"{name}.log") as (_, ready):
        yield Floor(unix=str(ready["unix"]), port=int(ready["port"]))


class LineClient:
    """A client of a line-oriented server over a trio stream."""

    def __init__(self, stream: trio.abc.Stream) -> None:
        self.stream = stream
        self._buffer = bytearray()

    @classmethod
    async def open(cls, unix: str | None = None, port: int | None = None) -> LineClient:
        if unix is not None:
            return cls(await trio.open_unix_socket(unix))
        assert port is not None
        return cls(await trio.open_tcp_stream("127.0.0.1", port))

    async def _more(self) -> None:
        data = await self.stream.receive_some(1 << 20)
        if not data:
            raise EOFError("the server closed the connection")
        self._buffer += data

    async def until(self, marker: bytes) -> bytes:
        """Read up to and including ``marker``."""
        while (end := self._buffer.find(marker)) < 0:
            await self._more()
        end += len(marker)
        data = bytes(self._buffer[:end])
        del self._buffer[:end]
        return data

    async def exactly(self, count: int) -> bytes:
        while len(self._buffer) < count:
            await self._more()
        data = bytes(self._buffer[:count])
        del self._buffer[:count]
        return data

    async def call(self, line: bytes) -> bytes:
        """Send one line; return the answer line without its newline."""
        await self.stream.send_all(line + b"\n")
        return (await self.until(b"\n"))[:-1]

    async def aclose(self) -> None:
        await self.stream.aclose()
