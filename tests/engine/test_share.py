"""The interpreter share (#15): with many runs spinning, K execute Python, in turn.

Most tests drive the rotation by hand (``rotate()``, with a quantum no ticker ever
reaches), so what they assert does not depend on the machine's speed: who is parked,
who runs, and in what order.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from typing import Any

import pytest
import trio
from support.engine import SPIN, SPIN_IN_ZONE, NativeCall, spin_count, wait_until

import spe_host
from spe_host import ExecutionStatus
from spe_host.engine._checkpoint import StopFlags
from spe_host.engine._instrument import FLAG_NAME
from spe_host.engine._share import DEFAULT_INTERPRETER_SLOTS, InterpreterShare

Shared = tuple[spe_host.Host, InterpreterShare]


@pytest.fixture
async def shared() -> AsyncIterator[Shared]:
    """A host whose share lets one run execute at a time and rotates only when told."""
    async with spe_host.open_host(
        idle_timeout=None, shutdown_timeout=2.0, interpreter_slots=None
    ) as host:
        flags = host._flags
        share = flags.share = InterpreterShare(flags, 1, quantum=3600.0)
        yield host, share


def _checked_in(host: spe_host.Host, name: str) -> bool:
    return host.session(name).namespace.get(FLAG_NAME) is False


async def _rotate_and_settle(host: spe_host.Host, share: InterpreterShare, *names: str) -> None:
    """Rotate, then wait until each of ``names`` has checked in (its flag fell)."""
    share.rotate()
    await wait_until(lambda: all(_checked_in(host, name) for name in names))


async def test_parked_runs_execute_nothing_and_take_their_turns_in_order(shared: Shared) -> None:
    host, share = shared
    with trio.fail_after(10):
        for name in "abc":
            host.start(name, SPIN)
        # Before any rotation one new run is let run (fresh) and one takes the free
        # permit; the third waits at its first check.
        await wait_until(lambda: len(share.parked()) == 1)
        (first,) = share.parked()
        assert spin_count(host, first) == 0
        # A rotation gives the permit to the first in line; the two that ran wait.
        share.rotate()
        await wait_until(lambda: len(share.parked()) == 2 and first not in share.parked())
        parked = share.parked()
        before = {name: spin_count(host, name) for name in parked}
        mark = spin_count(host, first)
        await wait_until(lambda: spin_count(host, first) > mark + 10_000)
        assert {name: spin_count(host, name) for name in parked} == before
        assert _checked_in(host, first)  # the admitted run is back on the fast path
        # The next rotation admits the next in line; the runner goes to the back.
        share.rotate()
        await wait_until(lambda: share.parked() == [parked[1], first])
        mark = spin_count(host, parked[0])
        await wait_until(lambda: spin_count(host, parked[0]) > mark)


async def test_a_burst_of_new_runs_waits_at_once(shared: Shared) -> None:
    host, share = shared
    names = [f"new{number}" for number in range(6)]
    with trio.fail_after(10):
        for name in names:
            host.start(name, SPIN)
        # No rotation yet: one fresh run and one with the permit; the others wait.
        await wait_until(lambda: len(share.parked()) == 4)
        assert sum(spin_count(host, name) > 0 for name in names) <= 2
        assert share.rotations == 0


async def test_a_stop_wakes_a_parked_run_at_once(shared: Shared) -> None:
    host, share = shared
    with trio.fail_after(10):
        for name in "ab":
            host.start(name, SPIN, filename="spin.py")
        await wait_until(lambda: all(spin_count(host, name) > 0 for name in "ab"))
        share.rotate()
        await wait_until(lambda: len(share.parked()) == 1)
        (waiting,) = share.parked()
        rotations = share.rotations
        host.stop(waiting, reason="enough")
        (done,) = await host.wait(waiting, timeout=5)
        last = done.last
        assert last is not None
        assert last.status is ExecutionStatus.ABORTED
        ticket = host.stop_ticket(waiting)
        assert ticket is not None
        assert ticket.landed_at is not None
        assert ticket.landed_at.startswith("spin.py:")
        # It did not wait for its turn: nobody rotated.
        assert share.rotations == rotations
        assert share.parked() == []


async def test_a_run_blocked_in_a_c_call_does_not_count(
    shared: Shared, gate: threading.Event, native_call: NativeCall
) -> None:
    host, share = shared
    with trio.fail_after(10):
        host.start("s", "native_call()\n" + SPIN, args={"native_call": native_call})
        host.start("a", SPIN)
        # Really inside the call: its location shows the line before the check ahead
        # of it, where a summons would still meet it.
        await native_call.wait_entered()
        await wait_until(lambda: spin_count(host, "a") > 0)
        for _ in range(3):
            await _rotate_and_settle(host, share, "a")
        # "s" sits in a native call: it took no permit, so "a" never waited.
        assert share.parks == 0
        mark = spin_count(host, "a")
        await wait_until(lambda: spin_count(host, "a") > mark)
        gate.set()
        # Back in script code it meets its summons; "a" holds this quantum's permit.
        await wait_until(lambda: share.parked() == ["s"])


async def test_loop_mode_and_awaiting_statements_are_never_held_back(shared: Shared) -> None:
    host, share = shared
    with trio.fail_after(10):
        # A worker-mode run whose loop awaits: its checks run in the trio thread.
        host.start("w", "x = 1\nn = 0\nwhile True:\n    n += 1\n    await trio.sleep(0)\n")
        host.session("w").namespace["trio"] = trio
        await wait_until(lambda: spin_count(host, "w") > 0)
        for name in "ab":
            host.start(name, SPIN)
        await wait_until(lambda: len(share.parked()) == 1)
        share.rotate()  # summons "w" as well
        await wait_until(lambda: len(share.parked()) == 1 and share.rotations == 1)
        parks = share.parks
        result = await host.execute(
            "loop", "total = 0\nfor i in range(1000):\n    total += i\ntotal", loop=True
        )
        assert result.value == "499500"
        # "w" is summoned, but its checks are in the trio thread: it runs on.
        mark = spin_count(host, "w")
        await wait_until(lambda: spin_count(host, "w") > mark + 10)
        assert "w" not in share.parked()
        assert "loop" not in share.parked()
        assert share.parks == parks


async def test_a_run_in_a_deferral_zone_is_never_parked(
    shared: Shared, gate: threading.Event
) -> None:
    host, share = shared
    with trio.fail_after(10):
        host.start("z", SPIN_IN_ZONE, args={"gate": gate})
        host.start("a", SPIN)
        await wait_until(lambda: spin_count(host, "z") > 0 and spin_count(host, "a") > 0)
        for _ in range(3):
            await _rotate_and_settle(host, share, "z", "a")
            mark = spin_count(host, "z")
            await wait_until(lambda: spin_count(host, "z") > mark)
        assert share.parks == 0
        gate.set()  # the zone ends (a stop would wait for it)


async def test_results_and_output_are_unchanged_under_the_rotating_ticker() -> None:
    script = (
        "total = 0\nfor i in range(20_000):\n    total += i\n"
        "while not go.is_set():\n    pass\nprint(total)\ntotal"
    )
    go = threading.Event()
    try:
        async with spe_host.open_host(
            idle_timeout=None, shutdown_timeout=2.0, interpreter_slots=2
        ) as host:
            share = host._flags.share
            assert share is not None
            share.quantum = 0.002
            with trio.fail_after(20):
                names = [f"r{number}" for number in range(5)]
                for name in names:
                    host.start(name, script, args={"go": go})
                # The ticker rotated and runs waited: the share was at work.
                await wait_until(lambda: share.parks >= 5)
                # And the host's own thread still gets the interpreter.
                for _ in range(5):
                    await trio.to_thread.run_sync(lambda: None)
                go.set()
                await host.wait(*names, timeout=15)
                for name in names:
                    result = host.receive(name)
                    assert result.status is ExecutionStatus.COMPLETED
                    assert result.output == "199990000\n"
    finally:
        go.set()


async def test_few_runs_pay_nothing(host: spe_host.Host) -> None:
    share = host._flags.share
    assert share is not None
    assert share.slots == DEFAULT_INTERPRETER_SLOTS
    with trio.fail_after(5):
        for name in "ab":
            result = await host.execute(name, "x = sum(range(100))\nx")
            assert result.value == "4950"
    # No more runs than slots: no ticker thread, no rotation, nobody summoned.
    assert share._ticker is None
    assert share.rotations == 0


def test_open_host_refuses_a_bad_slot_count() -> None:
    async def main() -> None:
        async with spe_host.open_host(interpreter_slots=0):
            pass  # pragma: no cover - refused before the host opens

    with pytest.raises(ValueError, match="interpreter_slots must be"):
        trio.run(main)


def test_a_summoned_flag_outlives_the_end_of_a_stop() -> None:
    flags = StopFlags()
    mine: dict[str, Any] = {}
    other: dict[str, Any] = {}
    flags.add(mine)
    flags.add(other)
    stopped: Any = object()  # only its identity is used
    flags.summon(mine)
    assert (mine[FLAG_NAME], other[FLAG_NAME]) == (True, False)
    flags.raise_for(stopped)
    assert (mine[FLAG_NAME], other[FLAG_NAME]) == (True, True)
    flags.lower_for(stopped)
    # The stop is over, but the summoned run has not checked in yet.
    assert (mine[FLAG_NAME], other[FLAG_NAME]) == (True, False)
    flags.settle(mine)
    assert mine[FLAG_NAME] is False
