"""One framed connection over a trio stream: the single read loop and the single writer.

Theory of operation
-------------------
The server and the client both speak the wire protocol over a byte stream, and both
need the same two loops around the sans-IO :class:`~spe_host.wire.Connection`:

* **Reading.** :meth:`FramedStream.receive` asks the connection for its next event and,
  while it needs data, reads from the stream (:mod:`._reading`, which on a plain
  socket waits before it reads). The end of the stream (or a broken one)
  is fed as ``b""``, so the connection decides whether the peer closed cleanly
  (``None`` here) or in the middle of a frame (``RemoteProtocolError``).
* **Writing.** Many tasks answer at once, but frames must never interleave on the wire,
  and a task cancelled in the middle of ``send_all`` would leave half a frame behind.
  So :meth:`FramedStream.send` serialises a message in the caller's task and hands the
  frame to the outbox - a hand-off that either happened whole or not at all - and one
  writer task (:meth:`FramedStream.run_writer`) drains it, joining small frames into
  one ``send_all``. The outbox is budgeted in *bytes* (``outbox_bytes``), not frames:
  a sender whose frame does not fit waits its turn, first come first served, so a
  peer that stops reading costs at most the budget (plus one frame, which may exceed
  it when the outbox is empty) and stalls only the tasks writing to it.
* **Writing through.** On a plain socket, a frame sent while nothing is queued or
  being written goes straight to the socket in the sender's task, with one
  non-blocking write: no round through the writer task (a scheduling pass). What
  the kernel does not take is queued for the writer, first in line, with no
  checkpoint in between: no half frame, no frame slipping in.
* **Holding.** The write that wakes the peer is the costly part of an answer, so
  answers the peer waits for together should leave in one write.
  :meth:`FramedStream.hold` queues the frames sent from then on without writing
  them, until :meth:`FramedStream.release` (which writes them through at once,
  joined) or the hold's deadline (the writer then sends them). The owner decides
  what belongs together. The writer's wait has the hold's deadline, which hold and
  release move: held frames never wake it, nor does a hold released.

When the stream breaks, sends raise :class:`~spe_host.ConnectionLost` and the
``on_lost`` callback runs once, so the owner can cancel what still works for that peer.
"""

from __future__ import annotations

import math
import os
from collections import deque
from collections.abc import Callable
from typing import Final, TypeAlias

import trio

from .._errors import ConnectionLost
from ..wire import CLOSED, NEED_DATA, Connection, Message, Refused
from ._reading import StreamReader

__all__ = ["FramedStream"]

#: Bytes of frames queued for the writer before senders wait for the peer to read.
OUTBOX_BYTES: Final = 256 * 1024
#: Frames the writer joins into one ``send_all``, up to this many bytes.
WRITE_BATCH: Final = 64 * 1024
_RECEIVE_SIZE: Final = 64 * 1024
# While one frame fills read after read (a listing of megabytes), reads grow to this.
_RECEIVE_MAX: Final = 1024 * 1024

#: Called once a frame has been handed to the stream, or once it never will be (the
#: stream broke with the frame still queued).
Written: TypeAlias = Callable[[], object]


class FramedStream:
    """The read loop and the batching writer of one connection.

    Args:
        stream: The byte stream (a socket, TLS, or one end of a memory stream pair).
        connection: The sans-IO protocol state of this end.
        peer: How to name the other end in messages.
        on_lost: Called once when writing finds the stream broken or closed.
        outbox_bytes: The outbox's budget: senders wait while this many bytes of frames
            are queued or being written.

    Attributes:
        stream: The byte stream.
        connection: The protocol state.
        eof: True once the peer's end of the stream was read.
        bytes_received: Bytes read from the peer so far.
        gone: True once the stream is known to be unusable for writing.
        writer_done: Set when the writer has stopped (drained and closed, or broken).
        before_read: Called whenever :meth:`receive` is about to read from the stream
            (None: nothing is).
    """

    def __init__(
        self,
        stream: trio.abc.Stream,
        connection: Connection,
        *,
        peer: str = "the peer",
        on_lost: Callable[[], object] | None = None,
        outbox_bytes: int = OUTBOX_BYTES,
    ) -> None:
        if outbox_bytes < 1:
            raise ValueError(f"outbox_bytes is {outbox_bytes}; the outbox needs at least 1 byte")
        self.stream = stream
        self.connection = connection
        self.peer = peer
        self.eof = False
        self.bytes_received = 0
        self.gone = False
        self.writer_done = trio.Event()
        self.before_read: Callable[[], object] | None = None
        self._on_lost = on_lost
        self._budget = outbox_bytes
        # Frames queued for the writer, and their bytes plus those being written now.
        self._queue: deque[tuple[bytes, Written | None]] = deque()
        self._queued_bytes = 0
        self._waiting: deque[_Waiting] = deque()  # senders whose frame did not fit, in order
        self._closed = False
        self._writer_lot = trio.lowlevel.ParkingLot()
        self._held_until: float | None = None  # while frames are held: until when
        self._park: trio.CancelScope | None = None  # the writer's wait, while it waits
        self._writing = False  # the writer is in send_all
        # The socket to write through to (a plain socket stream).
        self._socket = stream.socket if type(stream) is trio.SocketStream else None
        self._reader = StreamReader(stream)

    @property
    def queued_bytes(self) -> int:
        """Bytes of frames queued for the writer or being written now."""
        return self._queued_bytes

    # -- reading ----------------------------------------------------------------------

    async def receive(self) -> Message | Refused | None:
        """The next event from the peer, or None once it has closed its end.

        Raises:
            RemoteProtocolError: The peer broke the protocol (or hung up mid-frame).
        """
        size = _RECEIVE_SIZE
        while True:
            event = self.connection.next_event()
            if event is NEED_DATA:
                if self.eof:
                    return None
                if self.before_read is not None:
                    self.before_read()
                data = await self._reader.read(size)
                if not data:
                    self.eof = True
                self.bytes_received += len(data)
                self.connection.receive_data(data)
                if len(data) == size:
                    size = min(2 * size, _RECEIVE_MAX)
                continue
            if event is CLOSED:
                return None
            assert isinstance(event, Message | Refused)
            return event

    # -- writing ----------------------------------------------------------------------

    async def send(
        self, message: Message, *, written: Written | None = None, schedule_point: bool = True
    ) -> None:
        """Serialise ``message`` and queue it for the writer.

        Args:
            message: The message to send.
            written: Called once the frame has been handed to the stream (not just
                queued), or once it never will be because the stream broke.
            schedule_point: False for a caller that waits or ends right after (a
                request waiting for its answer, a handler's last answer): a frame
                that goes out at once then skips a pass through the scheduler.

        Raises:
            LocalProtocolError: The protocol does not allow this message now.
            ConnectionLost: The stream is gone.
        """
        if self.gone:
            raise self._lost_error()
        await self.send_frame(
            self.connection.send(message), written=written, schedule_point=schedule_point
        )

    async def send_frame(
        self, frame: bytes, *, written: Written | None = None, schedule_point: bool = True
    ) -> None:
        """Queue a frame that :meth:`Connection.send` made already (arguments as :meth:`send`).

        Waits while the outbox is over its budget; the frame is then queued whole, or -
        if the wait is cancelled - not at all. With nothing queued, a plain socket
        gets the frame at once (see the module's notes).

        Raises:
            ConnectionLost: The stream is gone.
        """
        await trio.lowlevel.checkpoint_if_cancelled()
        if self._closed:
            raise self._lost_error()
        if (
            self._queued_bytes == 0
            and not self._waiting
            and self._socket is not None
            and self._held_until is None
        ):
            frame = self._write_through(frame)
            if not frame:
                if written is not None:
                    written()
                if schedule_point:
                    await trio.lowlevel.cancel_shielded_checkpoint()
                return
        if not self._waiting and self._fits(len(frame)):
            self._push(frame, written)
            if schedule_point:
                await trio.lowlevel.cancel_shielded_checkpoint()
            return
        waiting = _Waiting(frame, written)
        self._waiting.append(waiting)

        def abort(_: object) -> trio.lowlevel.Abort:
            # Out of the line as the cancel comes, not when we next run: room made in
            # between (a release, a waiter leaving) must not queue a frame not sent.
            self._waiting.remove(waiting)
            return trio.lowlevel.Abort.SUCCEEDED

        try:
            await trio.lowlevel.wait_task_rescheduled(abort)
        except BaseException:
            # Our place may have been the one holding up the next sender.
            self._admit_waiting()
            raise
        if not waiting.queued:
            raise self._lost_error()

    def _write_through(self, frame: bytes) -> bytes:
        """Write what the socket takes now, without blocking; return the rest.

        Only while nothing is queued or being written, so the writer is not in
        ``send_all`` and frames cannot interleave.
        """
        assert self._socket is not None
        try:
            sent = os.write(self._socket.fileno(), frame)
        except BlockingIOError:
            return frame
        except OSError:
            # Broken, reset or closed: what the writer's send_all would have found.
            self.lost()
            raise self._lost_error() from None
        return frame[sent:]

    def _fits(self, size: int) -> bool:
        # A frame larger than the whole budget still goes out, alone.
        return self._queued_bytes == 0 or self._queued_bytes + size <= self._budget

    def _push(self, frame: bytes, written: Written | None) -> None:
        self._queue.append((frame, written))
        self._queued_bytes += len(frame)
        # A held frame does not wake the writer: its park watches the hold's deadline.
        if self._held_until is None:
            self._writer_lot.unpark_all()

    # -- holding ----------------------------------------------------------------------

    @property
    def held(self) -> bool:
        """True while frames sent are held back (see :meth:`hold`)."""
        return self._held_until is not None

    def hold(self, until: float) -> None:
        """Hold the frames sent from now on, until :meth:`release` or the time ``until``.

        Frames keep their order and are queued as always (the outbox's budget counts
        them); only their writing waits. A hold already in place keeps its deadline.
        """
        if self._held_until is None and not self._closed:
            self._held_until = until
            if self._park is not None:
                self._park.deadline = until

    def release(self) -> None:
        """End the hold: write what is queued now, joined, without waiting.

        On a plain socket the frames go through at once, in the caller's task, as far
        as the kernel takes them; the rest (and everything, on other streams) goes to
        the writer. A stream found broken makes later sends fail, as a write would.
        """
        if self._held_until is None:
            return
        self._held_until = None
        if self._park is not None:
            self._park.deadline = math.inf  # else it wakes at the old one, for nothing
        if self._socket is not None and not self._writing and self._queue:
            self._flush_through()
        if self._queue:
            self._writer_lot.unpark_all()

    def _flush_through(self) -> None:
        frames = [frame for frame, _ in self._queue]
        try:
            rest = self._write_through(b"".join(frames) if len(frames) > 1 else frames[0])
        except ConnectionLost:
            return  # lost() ran: the writer's end calls the frames' callbacks
        sent = self._queued_bytes - len(rest)
        self._queued_bytes = len(rest)
        while self._queue and len(self._queue[0][0]) <= sent:
            frame, written = self._queue.popleft()
            sent -= len(frame)
            if written is not None:
                written()
        if sent:
            frame, written = self._queue[0]
            self._queue[0] = (frame[sent:], written)
        self._admit_waiting()

    def _admit_waiting(self) -> None:
        while self._waiting and not self._closed and self._fits(len(self._waiting[0].frame)):
            waiting = self._waiting.popleft()
            self._push(waiting.frame, waiting.written)
            waiting.queued = True
            trio.lowlevel.reschedule(waiting.task)

    def close_outbox(self) -> None:
        """Take no more frames; the writer sends what is queued, then stops."""
        self._closed = True
        self._held_until = None
        while self._waiting:
            # Not queued: that sender sees ConnectionLost.
            trio.lowlevel.reschedule(self._waiting.popleft().task)
        self._writer_lot.unpark_all()

    async def run_writer(self) -> None:
        """Drain the outbox into the stream until it is closed or the stream breaks."""
        try:
            while True:
                while not self._queue or self._held_until is not None:
                    if self._closed and not self._queue:
                        return
                    held = self._held_until  # hold() and release() move the park's deadline
                    with trio.CancelScope(deadline=math.inf if held is None else held) as park:
                        self._park = park
                        await self._writer_lot.park()
                    self._park = None
                    # At the deadline the writer sends them (a newer hold may hold on).
                    if self._held_until is not None and trio.current_time() >= self._held_until:
                        self._held_until = None
                # The batch stays queued while it is written: if the stream breaks,
                # the finally below finds its frames with the rest.
                batch: list[bytes] = []
                size = 0
                for frame, _ in self._queue:
                    if size >= WRITE_BATCH:
                        break
                    batch.append(frame)
                    size += len(frame)
                self._writing = True
                try:
                    await self.stream.send_all(b"".join(batch))
                finally:
                    self._writing = False
                self._queued_bytes -= size
                for _ in batch:
                    _, written = self._queue.popleft()
                    if written is not None:
                        written()
                self._admit_waiting()
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            self.lost()
        finally:
            # Whatever is still queued will never be written.
            self.close_outbox()
            while self._queue:
                _, written = self._queue.popleft()
                if written is not None:
                    written()
            self._queued_bytes = 0
            self.writer_done.set()

    def lost(self) -> None:
        """Mark the stream unusable: sends fail from now on, and ``on_lost`` runs once."""
        if self.gone:
            return
        self.gone = True
        self.close_outbox()
        if self._on_lost is not None:
            self._on_lost()

    def _lost_error(self) -> ConnectionLost:
        return ConnectionLost(f"the connection to {self.peer} is closed")


class _Waiting:
    """A sender whose frame did not fit in the outbox yet."""

    __slots__ = ("frame", "queued", "task", "written")

    def __init__(self, frame: bytes, written: Written | None) -> None:
        self.frame = frame
        self.written = written
        self.queued = False
        # Rescheduled once its frame is queued (``queued``) or the outbox closed.
        self.task = trio.lowlevel.current_task()
