"""Shared fixtures and helpers for the engine tests.

Every async test keeps its own ``trio.fail_after``; the helpers here only poll real
conditions (a session's live ``location`` or namespace) and never sleep-and-hope.
"""

from __future__ import annotations

import re
import threading
from collections.abc import AsyncIterator, Callable, Collection, Iterator

import pytest
import trio

import spe_host

# How often the polling helpers look again; short, so tests stay fast.
POLL = 0.002


@pytest.fixture
async def host() -> AsyncIterator[spe_host.Host]:
    """A host with no idle expiry and a short shutdown deadline."""
    async with spe_host.open_host(idle_timeout=None, shutdown_timeout=2.0) as h:
        yield h


@pytest.fixture
def gate() -> Iterator[threading.Event]:
    """A threading.Event a script can block on; always set at teardown.

    Setting it at teardown releases any worker thread a failed test left waiting.
    """
    event = threading.Event()
    yield event
    event.set()


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
