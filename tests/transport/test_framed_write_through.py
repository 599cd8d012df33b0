"""On a plain socket, a frame sent with nothing queued goes straight out; the rest keeps order."""

from __future__ import annotations

import pytest
import trio
import trio.testing
from support.transport import receive_exactly, socket_pair

from spe_host._errors import ConnectionLost
from spe_host.transport import FramedStream
from spe_host.wire import Connection


async def test_a_frame_with_nothing_queued_reaches_the_socket_without_the_writer() -> None:
    ours, theirs = socket_pair()
    framed = FramedStream(ours, Connection("client"))
    written: list[str] = []
    async with ours, theirs:
        # No writer task runs: only writing through can deliver the frame.
        with trio.fail_after(5):
            await framed.send_frame(b"hello\n", written=lambda: written.append("hello"))
            assert written == ["hello"]
            assert framed.queued_bytes == 0
            assert await receive_exactly(theirs, 6) == b"hello\n"


async def test_what_the_socket_does_not_take_goes_to_the_writer_in_order() -> None:
    ours, theirs = socket_pair()
    framed = FramedStream(ours, Connection("client"), outbox_bytes=64 * 1024 * 1024)
    big = b"a" * (8 * 1024 * 1024) + b"\n"  # far more than a socket buffer holds
    frames = [big, b"b\n", b"c" * 1000 + b"\n"]
    written: list[int] = []
    async with ours, theirs, trio.open_nursery() as nursery:
        with trio.fail_after(10):
            nursery.start_soon(framed.run_writer)
            for n, frame in enumerate(frames):
                await framed.send_frame(frame, written=lambda n=n: written.append(n))
            # The peer has read nothing: the big frame's rest waits in the outbox, and
            # the frames after it wait behind it instead of writing through.
            assert framed.queued_bytes > 0
            assert written == []
            assert await receive_exactly(theirs, sum(map(len, frames))) == b"".join(frames)
            await trio.testing.wait_all_tasks_blocked()
            assert written == [0, 1, 2]
            nursery.cancel_scope.cancel()


async def test_writing_through_to_a_closed_peer_is_a_lost_connection() -> None:
    ours, theirs = socket_pair()
    lost: list[bool] = []
    framed = FramedStream(ours, Connection("client"), on_lost=lambda: lost.append(True))
    await theirs.aclose()
    async with ours:
        with trio.fail_after(5), pytest.raises(ConnectionLost):
            await framed.send_frame(b"x\n")
        assert lost == [True]
        assert framed.gone
        with pytest.raises(ConnectionLost):
            await framed.send_frame(b"y\n")


async def test_frames_left_queued_when_the_stream_breaks_are_reported_unwritten() -> None:
    # A lockstep stream never writes through: the writer holds the first frame in
    # send_all while the peer does not read, and the second waits behind it.
    ours, theirs = trio.testing.lockstep_stream_pair()
    framed = FramedStream(ours, Connection("client"))
    done: list[str] = []
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(framed.run_writer)
            await framed.send_frame(b"first\n", written=lambda: done.append("first"))
            await framed.send_frame(b"second\n", written=lambda: done.append("second"))
            await trio.testing.wait_all_tasks_blocked()
            assert done == []
            await theirs.aclose()
            await framed.writer_done.wait()
    # Shutdown waits on these: a frame that will never be written must not hang it.
    assert done == ["first", "second"]
    assert framed.gone
