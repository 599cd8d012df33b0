"""Shared fixtures, and helpers for the engine tests.

Every async test keeps its own ``trio.fail_after``; the helpers here only poll real
conditions (a session's live ``location`` or namespace) and never sleep-and-hope.
The server, client and end-to-end tests take ``runtime`` and ``gate`` from here and
their own helpers from ``_support_server``.
"""

from __future__ import annotations

import re
import threading
from collections.abc import AsyncIterator, Callable, Collection, Iterator
from pathlib import Path

import pytest
import trio
from _support_server import use_private_runtime_dir

import spe_host

# How often the polling helpers look again; short, so tests stay fast.
POLL = 0.002


@pytest.fixture
async def host() -> AsyncIterator[spe_host.Host]:
    """A host with no idle expiry and a short shutdown deadline."""
    async with spe_host.open_host(idle_timeout=None, shutdown_timeout=2.0) as h:
        yield h


@pytest.fixture
def runtime(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private runtime directory (not created yet) for sockets and connection files."""
    return use_private_runtime_dir(tmp_path, monkeypatch)


@pytest.fixture
def gate() -> Iterator[threading.Event]:
    """A threading.Event a script can block on; always set at teardown.

    Setting it at teardown releases any worker thread a failed test left waiting.
    """
    event = threading.Event()
    yield event
    event.set()


class NativeCall:
    """A blocking library call for scripts: ``native_call()`` returns once ``release`` is set.

    Library code is not instrumented, so no stop lands inside it. Once ``entered`` is
    set, the script is really inside the call; its ``location`` shows the calling line
    earlier, while the abort check before that line is still ahead, where a stop would
    land at once.
    """

    def __init__(self, release: threading.Event) -> None:
        self.entered = threading.Event()
        self.release = release

    def __call__(self) -> bool:
        self.entered.set()
        return self.release.wait()

    async def wait_entered(self) -> None:
        """Wait until a script is inside the call (the caller's fail_after bounds it)."""
        await wait_until(self.entered.is_set)


@pytest.fixture
def native_call(gate: threading.Event) -> NativeCall:
    """A call that blocks until the test sets ``gate`` (set at teardown in any case)."""
    return NativeCall(gate)


async def wait_until(predicate: Callable[[], object]) -> None:
    """Poll ``predicate`` until it is true (the caller's fail_after bounds it)."""
    while not predicate():
        await trio.sleep(POLL)


async def wait_location(
    session: spe_host.ScriptSession, line: int | Collection[int] | None = None
) -> str:
    """Wait until the session runs a script line (one of ``line``, if given); return it."""
    lines = {line} if isinstance(line, int) else line

    def at_line() -> bool:
        where = session.location
        if where is None:
            return False
        return lines is None or int(where.rpartition(":")[2]) in lines

    await wait_until(at_line)
    where = session.location
    assert where is not None
    return where


def abort_frames(error: str | None) -> list[tuple[str, int, str]]:
    """The ``(file, line, function)`` of every frame in a formatted traceback."""
    assert error is not None
    return [
        (m.group(1), int(m.group(2)), m.group(3))
        for m in re.finditer(r'File "([^"]+)", line (\d+), in (\S+)', error)
    ]
