"""A sender cancelled while it waits for room in the outbox: its frame is not queued.

``send_frame`` promises the frame is queued whole or, if the wait is cancelled, not
at all; callers count on it (``done``'s ``written`` uncounts the execute; the stop's
audit line runs once). The promise must hold when the room appears in the same
scheduling pass as the cancel, before the cancelled sender has run again: a release
(or another waiter leaving) that admits waiters must not admit one already cancelled.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import trio
import trio.testing
from support.transport import socket_pair

from spe_host.transport import FramedStream
from spe_host.wire import Connection


class _Senders:
    """Senders of one held, budget-bound framed stream, and what each of them saw."""

    def __init__(self, framed: FramedStream, nursery: trio.Nursery) -> None:
        self.framed = framed
        self.nursery = nursery
        self.seen: list[str] = []

    async def start(self, frame: bytes, name: str) -> trio.CancelScope:
        """A sender of ``frame`` that waits for room; returns its cancel scope."""
        scope = trio.CancelScope()
        self.nursery.start_soon(self._send, frame, scope, name)
        await trio.testing.wait_all_tasks_blocked()
        return scope

    async def _send(self, frame: bytes, scope: trio.CancelScope, name: str) -> None:
        with scope:
            try:
                await self.framed.send_frame(
                    frame, written=lambda: self.seen.append(f"{name} written")
                )
            except trio.Cancelled:
                self.seen.append(f"{name} cancelled")
                raise
            self.seen.append(f"{name} queued")


@asynccontextmanager
async def _held(first: bytes) -> AsyncIterator[_Senders]:
    # A 10-byte outbox, held: `first` stays queued until a release.
    ours, theirs = socket_pair()
    framed = FramedStream(ours, Connection("server"), outbox_bytes=10)
    async with ours, theirs, trio.open_nursery() as nursery:
        with trio.fail_after(5):
            framed.hold(trio.current_time() + 60)
            await framed.send_frame(first)
            yield _Senders(framed, nursery)


async def test_a_release_in_the_cancels_pass_does_not_queue_the_cancelled_senders_frame() -> None:
    async with _held(b"x" * 9 + b"\n") as senders:  # the outbox is full
        scope = await senders.start(b"late\n", "late")
        assert senders.seen == []
        # One pass: the sender is cancelled, then the release makes room.
        scope.cancel()
        senders.framed.release()
        await trio.testing.wait_all_tasks_blocked()
        assert senders.seen == ["late cancelled"]
        assert senders.framed.queued_bytes == 0  # the cancelled frame is not queued


async def test_a_waiter_leaving_does_not_admit_the_next_one_cancelled_with_it() -> None:
    # A connection's nursery cancelled: every waiting sender is cancelled in one
    # pass; the first to run leaves and makes the next one the head of the line.
    # Trio runs a pass's tasks in either order, so a few rounds see both orders.
    for _ in range(12):
        async with _held(b"x" * 5 + b"\n") as senders:  # 4 bytes of room left
            big = await senders.start(b"b" * 9 + b"\n", "big")
            # Fits, but waits behind the big one (first come, first served).
            small = await senders.start(b"ok\n", "small")
            assert senders.seen == []
            small.cancel()
            big.cancel()  # whichever runs first, neither frame may be queued
            await trio.testing.wait_all_tasks_blocked()
            assert sorted(senders.seen) == ["big cancelled", "small cancelled"]
            assert senders.framed.queued_bytes == 6
