"""The host's loop goes first (#15): a run that has spun a while gives way when it wakes.

The share here has ``give_way=3600``: a run is young for an hour, and one that gives
way waits until the loop no longer wants the interpreter (at work, or waiting for a
young run), a stop, or the host's exit - never for its hour, so what the tests assert
does not depend on the machine's speed. Runs are made old by hand (``ask_after`` 0).
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
from spe_host.engine._instrument import FLAG_NAME
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


def _make_old(share: InterpreterShare, name: str) -> None:
    with share._lock:
        for seat in share._seats.values():
            if seat.execution.session_id == name:
                seat.since = seat.ask_after = 0.0  # seated long ago, and due
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
        host.start("b", SPIN)  # young for the hour: while it runs, the loop waits for it
        await wait_until(lambda: spin_count(host, "a") > 0 and spin_count(host, "b") > 0)
        _make_old(share, "a")
        await wait_until(lambda: share.give_ways == 1)
        mark = spin_count(host, "a")
        # The loop answers statements of another session: "a" executes nothing.
        for _ in range(3):
            result = await host.execute(
                "c", "total = 0\nfor i in range(1000):\n    total += i\ntotal"
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
            host.start("b", SPIN)  # young for the hour: the loop waits for it
            await wait_until(lambda: spin_count(host, "a") > 0)
            _make_old(share, "a")
            await wait_until(lambda: share.give_ways == 1)
        # The exit stopped it: it did not wait out its hour.
        assert share._giving == set()
        trio.lowlevel.remove_instrument(share.instrument)


async def test_an_idle_loop_waking_costs_a_spinning_run_no_pause(shared: Shared) -> None:
    # A timer of the app wakes the loop, which does its bit and waits again: the run
    # is asked, and goes on as soon as the loop waits (it never waits its hour).
    host, share = shared
    with trio.fail_after(10):
        host.start("a", SPIN)
        await wait_until(lambda: spin_count(host, "a") > 0)
        _make_old(share, "a")
        # Every poll of wait_until is a wake of the loop, and every wake asks "a" (it
        # is due from now on); a pause that did not end with the pass would last
        # the hour.
        for _ in range(20):
            mark = spin_count(host, "a")
            await wait_until(lambda: spin_count(host, "a") > mark)


async def test_a_pause_ends_when_the_loop_no_longer_waits_and_counts_as_run_time(
    shared: Shared,
) -> None:
    host, share = shared
    with trio.fail_after(10):
        host.start("a", SPIN)
        host.start("b", SPIN)  # young for the hour: while it runs, the loop waits for it
        await wait_until(lambda: spin_count(host, "a") > 0 and spin_count(host, "b") > 0)
        (seat,) = [s for s in share._seats.values() if s.execution.session_id == "a"]
        asked = monotonic()
        _make_old(share, "a")
        await wait_until(lambda: share.give_ways == 1)
        gave = monotonic()
        mark = spin_count(host, "a")
        await trio.sleep(0.05)  # a pause of some length, to measure below
        assert spin_count(host, "a") == mark
        assert seat.giving_way
        stopped = monotonic()
        host.stop("b")
        await host.wait("b", timeout=5)
        await wait_until(lambda: spin_count(host, "a") > mark)  # the loop let it go on
        seen = monotonic()
        # Not asked again before it has run as long as it paused.
        assert stopped + (stopped - gave) <= seat.ask_after <= seen + (seen - asked)
        assert not seat.giving_way
        assert share.give_ways == 1


async def test_a_run_in_a_deferral_zone_does_not_give_way(
    shared: Shared, gate: threading.Event
) -> None:
    host, share = shared
    with trio.fail_after(10):
        host.start("z", SPIN_IN_ZONE, args={"gate": gate})
        await wait_until(lambda: spin_count(host, "z") > 0)
        _make_old(share, "a")
        (seat,) = share._seats.values()
        # Asked, it checked in (its flag fell) and ran on.
        await wait_until(lambda: seat.asked == 0.0 and not seat.summoned)
        mark = spin_count(host, "z")
        await wait_until(lambda: spin_count(host, "z") > mark)
        assert share.give_ways == 0
        gate.set()
        await host.wait("z", timeout=5)


async def test_a_summons_met_off_the_session_thread_is_let_go(
    shared: Shared, gate: threading.Event
) -> None:
    # The session thread waits in join(); the thread it started runs script code.
    # The loop's summons must not keep that code on the slow path.
    script = (
        "import threading\nn = 0\n"
        "def work():\n    global n\n    while not gate.is_set():\n        n += 1\n"
        "t = threading.Thread(target=work)\nt.start()\nt.join()\n"
    )
    host, share = shared
    with trio.fail_after(10):
        host.start("a", script, args={"gate": gate})
        await wait_until(lambda: spin_count(host, "a") > 0)
        # And the session thread is in join() (line 9), past its last check: summoned
        # any earlier, on a loaded machine, it would meet the summons itself.
        await wait_until(lambda: (host.session("a").location or "").endswith(":9"))
        (seat,) = share._seats.values()
        for _ in range(5):
            _make_old(share, "a")
            # Asked at a wake of the loop, and let off by the worker's next check: it
            # is not asked again for give_way (an hour).
            await wait_until(lambda: seat.ask_after > 0.0)
            assert not seat.summoned
            assert host.session("a").namespace[FLAG_NAME] is False
        assert share.give_ways == 0
        gate.set()
        await host.wait("a", timeout=5)


async def test_open_host_installs_it() -> None:
    async with spe_host.open_host(idle_timeout=None, shutdown_timeout=1.0) as host:
        share = host._flags.share
        assert share is not None
        with trio.fail_after(10):
            host.start("a", SPIN)
            # Once "a" has run give_way, a statement of another session makes it pause.
            while share.give_ways == 0:
                result = await host.execute("b", "1+1")
                assert result.value == "2"
