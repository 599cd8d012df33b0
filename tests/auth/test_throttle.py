"""Tests for spe_host.auth._throttle: the failure throttle and the per-peer locks."""

from __future__ import annotations

import logging

import pytest
import trio
import trio.testing

from spe_host.auth import FailureThrottle, PeerLocks


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_throttle_delays_only_after_limit_failures_in_the_window() -> None:
    clock = FakeClock()
    throttle = FailureThrottle(limit=3, window=10.0, penalty=1.0, clock=clock)
    assert throttle.delay_for("10.0.0.1") == 0.0
    for _ in range(2):
        throttle.record_failure("10.0.0.1", "bad token")
        assert throttle.delay_for("10.0.0.1") == 0.0
    throttle.record_failure("10.0.0.1", "bad token")
    assert throttle.delay_for("10.0.0.1") == 1.0
    assert throttle.delay_for("10.0.0.2") == 0.0  # other peers are not affected


def test_throttle_penalty_grows_and_is_capped() -> None:
    clock = FakeClock()
    throttle = FailureThrottle(limit=2, window=60.0, penalty=1.0, clock=clock, max_penalty=10.0)
    delays = []
    for _ in range(8):
        throttle.record_failure("p", "bad token")
        clock.now += 0.1
        delays.append(throttle.delay_for("p"))
    assert delays == [0.0, 1.0, 2.0, 4.0, 8.0, 10.0, 10.0, 10.0]


def test_throttle_old_failures_expire_and_peers_are_forgotten() -> None:
    clock = FakeClock()
    throttle = FailureThrottle(limit=2, window=10.0, clock=clock)
    throttle.record_failure("p", "bad token")
    clock.now += 6
    throttle.record_failure("p", "bad token")
    assert throttle.delay_for("p") == 1.0
    clock.now += 5  # the first failure is now 11 s old
    assert throttle.delay_for("p") == 0.0
    assert len(throttle) == 1
    clock.now += 10
    assert throttle.delay_for("p") == 0.0
    assert len(throttle) == 0


def test_throttle_memory_is_bounded() -> None:
    clock = FakeClock()
    throttle = FailureThrottle(limit=1, window=10.0, clock=clock, max_peers=100)
    for i in range(50):
        throttle.record_failure(f"old{i}", "bad token")
    clock.now += 20  # these have all expired
    for i in range(150):
        throttle.record_failure(f"new{i}", "bad token")
        assert len(throttle) <= 100
    # The most recent peers are kept; the least recent were evicted.
    assert throttle.delay_for("new149") == 1.0
    assert throttle.delay_for("new0") == 0.0


def test_throttle_logs_each_failure_with_peer_and_reason(
    caplog: pytest.LogCaptureFixture,
) -> None:
    throttle = FailureThrottle(clock=FakeClock())
    with caplog.at_level(logging.WARNING, logger="spe_host.auth"):
        throttle.record_failure("203.0.113.7", "the token is not valid")
    [record] = caplog.records
    assert record.name == "spe_host.auth"
    assert record.levelno == logging.WARNING
    assert "203.0.113.7" in record.getMessage()
    assert "the token is not valid" in record.getMessage()


def test_throttle_reset_forgets_a_peer() -> None:
    throttle = FailureThrottle(limit=1, clock=FakeClock())
    throttle.record_failure("p", "bad token")
    assert throttle.delay_for("p") == 1.0
    throttle.reset("p")
    assert throttle.delay_for("p") == 0.0


# --- per-peer locks -----------------------------------------------------------------------


async def test_peer_locks_admit_one_task_per_peer_at_a_time() -> None:
    locks = PeerLocks()
    holding: list[str] = []
    release = trio.Event()

    async def hold(key: str, name: str) -> None:
        async with locks.hold(key):
            holding.append(name)
            await release.wait()

    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(hold, "10.0.0.1", "first")
            await trio.testing.wait_all_tasks_blocked()
            nursery.start_soon(hold, "10.0.0.1", "second")
            nursery.start_soon(hold, "10.0.0.2", "other peer")
            await trio.testing.wait_all_tasks_blocked()
            # The second waits for the first; another peer is not held up by either.
            assert holding == ["first", "other peer"]
            assert len(locks) == 2
            release.set()
    assert holding == ["first", "other peer", "second"]
    assert len(locks) == 0


async def test_peer_locks_keep_a_lock_only_while_it_is_held_or_waited_for() -> None:
    locks = PeerLocks()
    first_done, second_done = trio.Event(), trio.Event()

    async def hold(done: trio.Event) -> None:
        async with locks.hold("p"):
            await done.wait()

    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            assert len(locks) == 0
            nursery.start_soon(hold, first_done)
            await trio.testing.wait_all_tasks_blocked()
            nursery.start_soon(hold, second_done)
            await trio.testing.wait_all_tasks_blocked()
            assert len(locks) == 1
            first_done.set()
            await trio.testing.wait_all_tasks_blocked()
            assert len(locks) == 1  # handed to the second, which still holds it
            second_done.set()
            await trio.testing.wait_all_tasks_blocked()
            assert len(locks) == 0


async def test_a_task_cancelled_while_waiting_for_a_peer_lock_leaves_no_trace() -> None:
    locks = PeerLocks()
    release = trio.Event()
    waiting = trio.CancelScope()

    async def holder() -> None:
        async with locks.hold("p"):
            await release.wait()

    async def waiter() -> None:
        with waiting:
            async with locks.hold("p"):
                raise AssertionError("a cancelled waiter must not get the lock")

    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(holder)
            await trio.testing.wait_all_tasks_blocked()
            nursery.start_soon(waiter)
            await trio.testing.wait_all_tasks_blocked()
            waiting.cancel()
            await trio.testing.wait_all_tasks_blocked()
            assert waiting.cancelled_caught
            assert len(locks) == 1  # the holder's, and only until it lets go
            release.set()
        assert len(locks) == 0
        async with locks.hold("p"):  # the lock still works afterwards
            assert len(locks) == 1
    assert len(locks) == 0
