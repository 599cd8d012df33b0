"""The host's loop goes first (#15): a run that has spun a while gives way when it wakes.

The share here lets a run give way "for an hour" (``give_way=3600``), so what the
tests assert does not depend on the machine's speed: a run that gives way executes
nothing until a stop, the host's exit, or its wait runs out; a young run is never
asked. Runs are made old by hand (their ``ask_after`` set to 0).
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from time import monotonic

import pytest
import trio
from support.engine import SPIN, SPIN_IN_ZONE, spin_count, wait_until

import spe_host
from spe_host import ExecutionStatus
from spe_host.engine._share import InterpreterShare

Shared = tuple[spe_host.Host, InterpreterShare]


def _hour_share(host: spe_host.Host) -> InterpreterShare:
    """Give ``host`` a share that never rotates and whose runs give way for an hour."""
    flags = host._flags
    share = flags.share = InterpreterShare(flags, 2, quantum=3600.0, give_way=3600.0)
    trio.lowlevel.add_instrument(share.instrument)
    return share


@pytest.fixture
async def shared() -> AsyncIterator[Shared]:
    """A host with an hour share (:func:`_hour_share`)."""
    async with spe_host.open_host(
        idle_timeout=None, shutdown_timeout=2.0, interpreter_slots=None
    ) as host:
        share = _hour_share(host)
        try:
            yield host, share
        finally:
            trio.lowlevel.remove_instrument(share.instrument)
            share.close()


def _make_old(share: InterpreterShare) -> None:
    with share._lock:
        for seat in share._seats.values():
            seat.ask_after = 0.0
            share._may_ask(seat)


async def _passes(count: int) -> None:
    # Each checkpoint is a pass of the loop, and so a wake-up the share sees.
    for _ in range(count):
        await trio.sleep(0)


async def test_a_young_run_is_never_asked(shared: Shared) -> None:
    host, share = shared
    with trio.fail_after(10):
        host.start("a", SPIN)
        await wait_until(lambda: spin_count(host, "a") > 0)
        await _passes(50)
        result = await host.execute("b", "sum(range(10))")
        assert result.value == "45"
        mark = spin_count(host, "a")
        await wait_until(lambda: spin_count(host, "a") > mark)
        assert share.give_ways == 0


async def test_an_old_run_gives_way_while_the_loop_serves_another(shared: Shared) -> None:
    host, share = shared
    with trio.fail_after(10):
        host.start("a", SPIN, filename="spin.py")
        await wait_until(lambda: spin_count(host, "a") > 0)
        _make_old(share)
        await wait_until(lambda: share.give_ways == 1)
        mark = spin_count(host, "a")
        # The loop answers a statement of another session: "a" executes nothing.
        for _ in range(3):
            result = await host.execute(
                "b", "total = 0\nfor i in range(1000):\n    total += i\ntotal"
            )
            assert result.value == "499500"
        assert spin_count(host, "a") == mark
        assert share.give_ways == 1  # asked once: a run giving way is not asked again
        # A stop wakes it at once; it meets its abort at the check it waited in.
        host.stop("a", reason="enough")
        (done,) = await host.wait("a", timeout=5)
        assert done.last is not None
        assert done.last.status is ExecutionStatus.ABORTED
        ticket = host.stop_ticket("a")
        assert ticket is not None
        assert ticket.landed_at is not None
        assert ticket.landed_at.startswith("spin.py:")


async def test_the_host_exit_wakes_a_run_that_gives_way() -> None:
    with trio.fail_after(10):
        async with spe_host.open_host(
            idle_timeout=None, shutdown_timeout=0.5, interpreter_slots=None
        ) as host:
            share = _hour_share(host)
            host.start("a", SPIN)
            await wait_until(lambda: spin_count(host, "a") > 0)
            _make_old(share)
            await wait_until(lambda: share.give_ways == 1)
        # The exit stopped it: it did not wait out its hour.
        assert share._giving == set()
        trio.lowlevel.remove_instrument(share.instrument)


async def test_a_run_that_gave_way_runs_as_long_again_before_it_is_asked(
    shared: Shared,
) -> None:
    host, share = shared
    share.give_way = 0.5
    with trio.fail_after(10):
        host.start("a", SPIN)
        await wait_until(lambda: spin_count(host, "a") > 0)
        _make_old(share)
        await wait_until(lambda: share.give_ways == 1)
        mark = spin_count(host, "a")
        await wait_until(lambda: spin_count(host, "a") > mark)  # its wait ran out
        seen = monotonic()
        (seat,) = share._seats.values()
        # Let run for give_way from when it went on, which was before we saw it.
        assert seen < seat.ask_after <= seen + share.give_way
        assert not seat.giving_way


async def test_a_run_in_a_deferral_zone_does_not_give_way(
    shared: Shared, gate: threading.Event
) -> None:
    host, share = shared
    with trio.fail_after(10):
        host.start("z", SPIN_IN_ZONE, args={"gate": gate})
        await wait_until(lambda: spin_count(host, "z") > 0)
        _make_old(share)
        (seat,) = share._seats.values()
        # Asked, it checked in (its flag fell) and ran on.
        await wait_until(lambda: seat.asked == 0.0 and not seat.summoned)
        mark = spin_count(host, "z")
        await wait_until(lambda: spin_count(host, "z") > mark)
        assert share.give_ways == 0
        gate.set()
        await host.wait("z", timeout=5)


async def test_open_host_installs_it() -> None:
    async with spe_host.open_host(idle_timeout=None, shutdown_timeout=1.0) as host:
        share = host._flags.share
        assert share is not None
        with trio.fail_after(10):
            host.start("a", SPIN)
            # Only the loop's waking (these polls) asks it, once it has run give_way.
            await wait_until(lambda: share.give_ways > 0)
