"""Holding frames: queued in order, written at once, joined, on release - or at the deadline."""

from __future__ import annotations

import pytest
import trio
import trio.testing
from support.transport import receive_exactly, socket_pair

from spe_host.transport import FramedStream, _framed
from spe_host.wire import Connection


class _Writes:
    """Records what each ``os.write`` of the framed stream's module wrote."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.data: list[bytes] = []
        write = _framed.os.write

        def recorded(fd: int, data: bytes) -> int:
            sent = write(fd, data)
            self.data.append(bytes(data[:sent]))
            return sent

        monkeypatch.setattr(_framed.os, "write", recorded)


async def test_held_frames_leave_on_release_in_one_write(monkeypatch: pytest.MonkeyPatch) -> None:
    ours, theirs = socket_pair()
    framed = FramedStream(ours, Connection("client"))
    writes = _Writes(monkeypatch)
    written: list[str] = []
    async with ours, theirs:
        with trio.fail_after(5):
            framed.hold(trio.current_time() + 60)
            assert framed.held
            await framed.send_frame(b"stop\n", written=lambda: written.append("stop"))
            await framed.send_frame(b"wait\n", written=lambda: written.append("wait"))
            # No writer runs and nothing went through: both are still queued.
            assert writes.data == []
            assert written == []
            assert framed.queued_bytes == 10
            framed.release()
            assert not framed.held
            assert writes.data == [b"stop\nwait\n"]
            assert written == ["stop", "wait"]
            assert framed.queued_bytes == 0
            assert await receive_exactly(theirs, 10) == b"stop\nwait\n"
            # Released, a frame goes straight through again.
            await framed.send_frame(b"next\n")
            assert writes.data[-1] == b"next\n"


async def test_a_hold_ends_at_its_deadline_and_the_writer_sends_what_it_held() -> None:
    # A lockstep stream never writes through: only the writer delivers.
    ours, theirs = trio.testing.lockstep_stream_pair()
    framed = FramedStream(ours, Connection("client"))
    written: list[str] = []
    async with trio.open_nursery() as nursery:
        with trio.fail_after(5):
            nursery.start_soon(framed.run_writer)
            start = trio.current_time()
            framed.hold(start + 0.05)
            await framed.send_frame(b"stop\n", written=lambda: written.append("stop"))
            assert await receive_exactly(theirs, 5) == b"stop\n"
            assert trio.current_time() - start >= 0.05
            assert not framed.held
            await trio.testing.wait_all_tasks_blocked()
            assert written == ["stop"]
            nursery.cancel_scope.cancel()


async def test_closing_the_outbox_ends_a_hold_and_drains_it() -> None:
    ours, theirs = trio.testing.memory_stream_pair()
    framed = FramedStream(ours, Connection("client"))
    async with trio.open_nursery() as nursery:
        with trio.fail_after(5):
            nursery.start_soon(framed.run_writer)
            framed.hold(trio.current_time() + 60)
            await framed.send_frame(b"a\n")
            await framed.send_frame(b"b\n")
            framed.close_outbox()
            framed.hold(trio.current_time() + 60)  # a closed outbox holds nothing
            await framed.writer_done.wait()
            assert await receive_exactly(theirs, 4) == b"a\nb\n"


async def test_what_a_release_cannot_write_at_once_follows_in_order() -> None:
    ours, theirs = socket_pair()
    framed = FramedStream(ours, Connection("client"), outbox_bytes=64 * 1024 * 1024)
    big = b"a" * (8 * 1024 * 1024) + b"\n"  # far more than a socket buffer holds
    frames = [b"b\n", big, b"c" * 1000 + b"\n"]
    written: list[int] = []
    async with ours, theirs, trio.open_nursery() as nursery:
        with trio.fail_after(10):
            nursery.start_soon(framed.run_writer)
            framed.hold(trio.current_time() + 60)
            for n, frame in enumerate(frames):
                await framed.send_frame(frame, written=lambda n=n: written.append(n))
            framed.release()
            # The first frame went whole; the big one's rest and the last wait for
            # the writer, in order, while the peer reads nothing.
            assert written == [0]
            await framed.send_frame(b"d\n", written=lambda: written.append(3))
            expected = b"".join(frames) + b"d\n"
            assert await receive_exactly(theirs, len(expected)) == expected
            await trio.testing.wait_all_tasks_blocked()
            assert written == [0, 1, 2, 3]
            nursery.cancel_scope.cancel()


class _WriterSteps(trio.abc.Instrument):
    """Counts the steps the framed stream's writer task takes while it is on."""

    def __init__(self) -> None:
        self.count = 0

    def before_task_step(self, task: trio.lowlevel.Task) -> None:
        if task.name.endswith("run_writer"):
            self.count += 1


async def test_a_released_hold_wakes_the_writer_neither_for_its_frames_nor_at_its_deadline(
    autojump_clock: trio.testing.MockClock,
) -> None:
    ours, theirs = socket_pair()
    framed = FramedStream(ours, Connection("client"))
    steps = _WriterSteps()
    async with ours, theirs, trio.open_nursery() as nursery:
        with trio.fail_after(30):
            nursery.start_soon(framed.run_writer)
            await trio.testing.wait_all_tasks_blocked()  # parked, nothing to write
            trio.lowlevel.add_instrument(steps)
            try:
                framed.hold(trio.current_time() + 1)
                await framed.send_frame(b"stop\n")
                framed.release()  # written through, in this task
                await trio.sleep(5)  # well past the hold's old deadline
            finally:
                trio.lowlevel.remove_instrument(steps)
            assert steps.count == 0
            assert await receive_exactly(theirs, 5) == b"stop\n"
            nursery.cancel_scope.cancel()


async def test_a_hold_placed_while_the_writer_waits_still_ends_at_its_deadline(
    autojump_clock: trio.testing.MockClock,
) -> None:
    # A lockstep stream never writes through: only the writer delivers.
    ours, theirs = trio.testing.lockstep_stream_pair()
    framed = FramedStream(ours, Connection("client"))
    async with trio.open_nursery() as nursery:
        with trio.fail_after(30):
            nursery.start_soon(framed.run_writer)
            await trio.testing.wait_all_tasks_blocked()  # parked without a deadline
            start = trio.current_time()
            framed.hold(start + 2)
            await framed.send_frame(b"stop\n")
            assert await receive_exactly(theirs, 5) == b"stop\n"
            assert trio.current_time() - start >= 2
            assert not framed.held
            nursery.cancel_scope.cancel()
