"""On a plain socket the framed stream waits, then reads: frames still arrive whole and in order."""

from __future__ import annotations

import pytest
import trio
import trio.testing
from support.wire import handshaken

from spe_host._errors import RemoteProtocolError
from spe_host.transport import FramedStream
from spe_host.wire import ListSessions, Message, Output, Result, Subscribe
from spe_host.wire._codec import encode_message


def socket_pair() -> tuple[trio.SocketStream, trio.SocketStream]:
    ours, theirs = map(trio.SocketStream, trio.socket.socketpair())
    return ours, theirs


class _Server:
    """Frames of the server's answers (no lifecycle on this side: the client checks it)."""

    def send(self, message: Message) -> bytes:
        return encode_message(message, end=b"\n")


def _greeted_client(stream: trio.SocketStream) -> tuple[FramedStream, _Server]:
    """A client's framed stream, welcomed, with requests 1-9 (9: a subscribe) in flight."""
    client, _ = handshaken()
    for request_id in range(1, 9):
        client.send(ListSessions(id=request_id))
    client.send(Subscribe(id=9, session="s", from_offset=0))
    return FramedStream(stream, client), _Server()


async def test_frames_split_and_joined_across_reads_arrive_whole_in_order() -> None:
    ours, theirs = socket_pair()
    framed, server = _greeted_client(ours)
    data = server.send(Result(id=1, value="a")) + server.send(Result(id=2, value="b" * 100))
    async with ours, theirs, trio.open_nursery() as nursery:
        with trio.fail_after(5):
            received: list[object] = []

            async def receive_two() -> None:
                received.append(await framed.receive())
                received.append(await framed.receive())

            nursery.start_soon(receive_two)
            # Half of the first frame, then the rest with the whole second one.
            await theirs.send_all(data[:5])
            await trio.testing.wait_all_tasks_blocked()
            assert received == []
            await theirs.send_all(data[5:])
            await trio.testing.wait_all_tasks_blocked()
            assert received == [Result(id=1, value="a"), Result(id=2, value="b" * 100)]


async def test_a_receive_cancelled_while_waiting_reads_nothing() -> None:
    ours, theirs = socket_pair()
    framed, server = _greeted_client(ours)
    async with ours, theirs:
        with trio.fail_after(5):
            with trio.move_on_after(0.05) as waited:
                await framed.receive()
            assert waited.cancelled_caught
            await theirs.send_all(server.send(Result(id=3, value=None)))
            assert await framed.receive() == Result(id=3, value=None)


async def test_a_peer_that_closes_between_frames_ends_the_stream_cleanly() -> None:
    ours, theirs = socket_pair()
    framed, server = _greeted_client(ours)
    async with ours:
        with trio.fail_after(5):
            await theirs.send_all(server.send(Result(id=4, value=1)))
            await theirs.aclose()
            assert await framed.receive() == Result(id=4, value=1)
            assert await framed.receive() is None
            assert framed.eof


async def test_a_peer_that_closes_mid_frame_broke_the_protocol() -> None:
    ours, theirs = socket_pair()
    framed, server = _greeted_client(ours)
    async with ours:
        with trio.fail_after(5):
            await theirs.send_all(server.send(Result(id=5, value=1))[:-3])
            await theirs.aclose()
            with pytest.raises(RemoteProtocolError, match="in the middle of a frame"):
                await framed.receive()


async def test_closing_our_end_under_a_waiting_receive_reads_as_the_end() -> None:
    ours, theirs = socket_pair()
    framed, _ = _greeted_client(ours)
    async with theirs, trio.open_nursery() as nursery:
        with trio.fail_after(5):
            ends: list[object] = []

            async def receive() -> None:
                ends.append(await framed.receive())

            nursery.start_soon(receive)
            await trio.testing.wait_all_tasks_blocked()
            await ours.aclose()
            await trio.testing.wait_all_tasks_blocked()
            assert ends == [None]


async def test_a_read_that_filled_the_buffer_checkpoints_before_the_next() -> None:
    ours, theirs = socket_pair()
    framed, server = _greeted_client(ours)
    chunk = "x" * 200
    # About 100 kB, all in the socket before the first read: that read fills its
    # 64 kB and more is queued, so no wait would come before the next read.
    count = 400
    frames = b"".join(
        server.send(Output(id=9, session="s", offset=i * 200, text=chunk)) for i in range(count)
    )
    async with ours, theirs:
        with trio.fail_after(10):
            await theirs.send_all(frames)
            assert isinstance(await framed.receive(), Output)
            received = 1
            # Cancelled from here: what receive returns comes from the first read, until
            # the next read's checkpoint (where other tasks could run) raises.
            with trio.CancelScope() as scope:
                scope.cancel()
                while True:
                    assert isinstance(await framed.receive(), Output)
                    received += 1
            assert 0 < received < count
            # What the cancelled receive did not read is still there, in order.
            for i in range(received, count):
                event = await framed.receive()
                assert isinstance(event, Output)
                assert event.offset == i * 200
