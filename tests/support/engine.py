"""Helpers for tests that drive a Host: a blocking native call, and pollers of real state.

The pollers look at a session's live ``location`` or a predicate and never
sleep-and-hope; every caller bounds them with its own ``trio.fail_after``.
"""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Callable, Collection

import trio
import trio.testing

import spe_host
from spe_host import ExecutionStatus

# How often the polling helpers look again; short, so tests stay fast.
POLL = 0.002

#: A CPU-bound script whose progress ``spin_count`` reads.
SPIN = "n = 0\nwhile True:\n    n += 1\n"
#: SPIN inside a stop-deferral zone, until the ``gate`` argument (an Event) is set.
SPIN_IN_ZONE = (
    'n = 0\nwith spe.critical("holds the app lock"):\n'
    "    while not gate.is_set():\n        n += 1\n"
)


def spin_count(host: spe_host.Host, name: str) -> int:
    """How far session ``name``'s ``SPIN`` (or any loop counting in ``n``) has gone."""
    value = host.session(name).namespace.get("n", 0)
    assert isinstance(value, int)
    return value


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


async def run_in_real_time(clock: trio.testing.MockClock, host: spe_host.Host, code: str) -> None:
    """Run code in the background in session 's' while the mock clock follows real time.

    The autojump clock would jump to the next deadline while the worker thread runs
    (no task is runnable then), so it is paused for the duration. The result is left
    for a receive.
    """
    clock.autojump_threshold = math.inf
    clock.rate = 1.0
    try:
        host.start("s", code)
        await host.wait("s")
        assert host.session("s").last_status is ExecutionStatus.COMPLETED
    finally:
        clock.rate = 0.0
        clock.autojump_threshold = 0.0


# The reproduction of issue 8, item 1: a waiter the app runs (a system task of the
# host's trio run), for a synchronous statement to wake with ev.set().
TRIO_WAITER_SETUP = """
import trio
ev = trio.Event(); woken = []
async def waiter():
    await ev.wait(); woken.append(1)

if True:
    await trio.sleep(0)
    trio.lowlevel.spawn_system_task(waiter)
"""
