"""Escalation: ``stop(force=True)`` stops a loop in uninstrumented Python library code (#10)."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import trio
from support.engine import wait_until

import spe_host
from spe_host import ExecutionStatus, StopOutcome
from spe_host._model import StopPhase

LIBRARY = """\
import time


def spin(started):
    started.set()
    n = 0
    while True:
        n += 1


def nap_then_spin(started, seconds):
    started.set()
    time.sleep(seconds)
    while True:
        pass
"""


@pytest.fixture
def spinlib(tmp_path: Path) -> Iterator[str]:
    """A library module, on sys.path only for the test, that loops forever in Python."""
    name = f"spinlib_{id(tmp_path):x}"
    (tmp_path / f"{name}.py").write_text(LIBRARY)
    sys.path.insert(0, str(tmp_path))
    try:
        yield name
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop(name, None)


async def test_a_plain_stop_waits_and_force_stops_the_library_loop(
    host: spe_host.Host, spinlib: str
) -> None:
    started = threading.Event()
    script = f"import {spinlib}\n{spinlib}.spin(started)\nafter = 1\n"
    with trio.fail_after(5):
        session = host.start("f", script, args={"started": started}, filename="job.py")
        await wait_until(started.is_set)
        host.stop("f", reason="runaway")
        # The library carries no checks: the plain stop does not land...
        await trio.sleep(0.2)
        ticket = host.stop_ticket("f")
        assert ticket is not None
        assert ticket.phase is StopPhase.REQUESTED
        assert session.is_active()
        # ...and the ticket says where it is blocked.
        assert ticket.blocked_in is not None
        assert ticket.blocked_in.startswith(f"{spinlib}.spin() called at job.py:2 for ")
        forced = time.perf_counter()
        assert host.stop("f", force=True) == {"f": StopOutcome.ALREADY_STOPPING}
        await host.wait("f")
        took = time.perf_counter() - forced
    assert took < 0.1
    ticket = host.stop_ticket("f")
    assert ticket is not None
    assert ticket.forced_at is not None
    assert ticket.phase is StopPhase.FINISHED
    assert ticket.status is ExecutionStatus.ABORTED
    assert ticket.landed_at is not None
    assert ticket.landed_at.endswith((".py:7", ".py:8"))
    assert "after" not in session.namespace
    result = host.receive("f")
    assert result.error is not None
    assert "run #1 was stopped by embedding program: runaway" in result.error
    # The session lives on: its thread runs the next statement.
    assert (await host.execute("f", "1 + 1")).value == "2"


async def test_a_native_call_finishes_before_the_forced_abort(
    host: spe_host.Host, spinlib: str
) -> None:
    started = threading.Event()
    script = f"import {spinlib}\n{spinlib}.nap_then_spin(started, 1)\n"
    with trio.fail_after(5):
        host.start("n", script, args={"started": started})
        await wait_until(started.is_set)
        began = time.perf_counter()
        assert host.stop("n", force=True) == {"n": StopOutcome.REQUESTED}
        await host.wait("n")
        took = time.perf_counter() - began
    ticket = host.stop_ticket("n")
    assert ticket is not None
    assert ticket.forced_at is not None
    # time.sleep(1) ran to its end; the abort landed as it returned (or in the loop).
    assert took >= 0.9
    assert ticket.landed_at is not None
    assert ticket.landed_at.endswith((".py:13", ".py:14", ".py:15"))


async def test_loop_mode_is_never_forced_and_the_ticket_says_why(host: spe_host.Host) -> None:
    script = 'import trio\nwith spe.critical("flush"):\n    await trio.sleep(0.2)\n'
    with trio.fail_after(5):
        session = host.start("l", script, loop=True)
        await wait_until(lambda: session.location is not None)
        host.stop("l", force=True)
        ticket = host.stop_ticket("l")
        assert ticket is not None
        assert ticket.forced_at is None
        assert ticket.note is not None
        assert "loop mode" in ticket.note
        await host.wait("l")


async def test_force_waits_for_a_deferral_zone(host: spe_host.Host, gate: threading.Event) -> None:
    script = (
        'with spe.critical("commit"):\n'
        "    entered.set()\n"
        "    while not gate.is_set():\n"
        "        pass\n"
        "    committed = 1\n"
        "after = 1\n"
    )
    entered = threading.Event()
    with trio.fail_after(5):
        session = host.start("z", script, args={"entered": entered, "gate": gate})
        await wait_until(entered.is_set)
        host.stop("z", force=True)
        ticket = host.stop_ticket("z")
        assert ticket is not None
        assert ticket.forced_at is None
        assert ticket.deferred == "commit"
        assert "zone" in (ticket.note or "")
        gate.set()
        await host.wait("z")
        assert session.namespace["committed"] == 1
        assert "after" not in session.namespace
