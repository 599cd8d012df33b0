"""The outbox of a FramedStream is budgeted in bytes, hands frames over whole, in order."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from spe_host._errors import ConnectionLost
from spe_host.transport import FramedStream
from spe_host.wire import Connection


def framed_over_lockstep(budget: int) -> tuple[FramedStream, trio.abc.ReceiveStream]:
    # A lockstep stream: send_all returns only once the peer has read it all, so a peer
    # that does not read holds the writer - the outbox is all that can fill up.
    ours, theirs = trio.testing.lockstep_stream_pair()
    return FramedStream(ours, Connection("client"), outbox_bytes=budget), theirs


async def test_a_peer_that_does_not_read_costs_at_most_the_budget() -> None:
    framed, peer = framed_over_lockstep(1000)
    sent: list[int] = []
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(framed.run_writer)

            async def sender() -> None:
                for n in range(20):
                    await framed.send_frame(b"x" * 299 + b"\n")
                    sent.append(n)

            nursery.start_soon(sender)
            await trio.testing.wait_all_tasks_blocked()
            # One frame is in send_all, three more wait in the outbox: 4 x 300 > 1000
            # only because the one being written counts until it is written.
            assert framed.queued_bytes <= 1000 + 300
            assert len(sent) <= 4
            received = b""
            while len(received) < 20 * 300:
                received += await peer.receive_some(65536)
            assert received == (b"x" * 299 + b"\n") * 20
            nursery.cancel_scope.cancel()
    assert sent == list(range(20))


async def test_a_frame_larger_than_the_budget_goes_out_alone() -> None:
    framed, peer = framed_over_lockstep(10)
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(framed.run_writer)
            await framed.send_frame(b"y" * 100)
            assert await peer.receive_some(1000) == b"y" * 100
            nursery.cancel_scope.cancel()


async def test_a_send_cancelled_while_waiting_queues_nothing_and_keeps_the_order() -> None:
    framed, peer = framed_over_lockstep(20)
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(framed.run_writer)
            await framed.send_frame(b"a" * 10)  # taken by the writer, stuck in send_all
            await trio.testing.wait_all_tasks_blocked()
            await framed.send_frame(b"b" * 10)  # fills the budget, with "a" being written
            with trio.move_on_after(0.05) as waited:
                await framed.send_frame(b"c" * 10)
            assert waited.cancelled_caught
            nursery.start_soon(framed.send_frame, b"d" * 10)
            await trio.testing.wait_all_tasks_blocked()
            received = b""
            while len(received) < 30:
                received += await peer.receive_some(1000)
            assert received == b"a" * 10 + b"b" * 10 + b"d" * 10
            nursery.cancel_scope.cancel()


async def test_senders_waiting_for_room_see_the_connection_lost() -> None:
    framed, _peer = framed_over_lockstep(20)
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(framed.run_writer)
            await framed.send_frame(b"a" * 10)
            await trio.testing.wait_all_tasks_blocked()
            await framed.send_frame(b"b" * 10)

            async def blocked() -> None:
                with pytest.raises(ConnectionLost):
                    await framed.send_frame(b"c" * 10)

            nursery.start_soon(blocked)
            await trio.testing.wait_all_tasks_blocked()
            framed.lost()
            await trio.testing.wait_all_tasks_blocked()
            with pytest.raises(ConnectionLost):
                await framed.send_frame(b"d")
            nursery.cancel_scope.cancel()


def test_the_budget_must_be_positive() -> None:
    ours, _ = trio.testing.lockstep_stream_pair()
    with pytest.raises(ValueError, match="at least 1 byte"):
        FramedStream(ours, Connection("client"), outbox_bytes=0)
