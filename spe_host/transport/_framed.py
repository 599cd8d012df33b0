"""One framed connection over a trio stream: the single read loop and the single writer.

Theory of operation
-------------------
The server and the client both speak the wire protocol over a byte stream, and both
need the same two loops around the sans-IO :class:`~spe_host.wire.Connection`:

* **Reading.** :meth:`FramedStream.receive` asks the connection for its next event and,
  while it needs data, reads from the stream. The end of the stream (or a broken one)
  is fed as ``b""``, so the connection decides whether the peer closed cleanly
  (``None`` here) or in the middle of a frame (``RemoteProtocolError``).
* **Writing.** Many tasks answer at once, but frames must never interleave on the wire,
  and a task cancelled in the middle of ``send_all`` would leave half a frame behind.
  So :meth:`FramedStream.send` serialises a message in the caller's task and hands the
  frame to a bounded memory channel - a hand-off that either happened whole or not at
  all - and one writer task (:meth:`FramedStream.run_writer`) drains it, joining small
  frames into one ``send_all``. The bound is the backpressure: a peer that stops
  reading stalls the tasks writing to it, and nothing else.

When the stream breaks, sends raise :class:`~spe_host.ConnectionLost` and the
``on_lost`` callback runs once, so the owner can cancel what still works for that peer.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

import trio

from .._errors import ConnectionLost
from ..wire import CLOSED, NEED_DATA, Connection, Message, Refused

__all__ = ["FramedStream"]

#: Frames queued for the writer before senders wait for the peer to read.
OUTBOX_FRAMES: Final = 64
#: Frames the writer joins into one ``send_all``, up to this many bytes.
WRITE_BATCH: Final = 64 * 1024
_RECEIVE_SIZE: Final = 64 * 1024


class FramedStream:
    """The read loop and the batching writer of one connection.

    Args:
        stream: The byte stream (a socket, TLS, or one end of a memory stream pair).
        connection: The sans-IO protocol state of this end.
        peer: How to name the other end in messages.
        on_lost: Called once when writing finds the stream broken or closed.

    Attributes:
        stream: The byte stream.
        connection: The protocol state.
        eof: True once the peer's end of the stream was read.
        gone: True once the stream is known to be unusable for writing.
        writer_done: Set when the writer has stopped (drained and closed, or broken).
    """

    def __init__(
        self,
        stream: trio.abc.Stream,
        connection: Connection,
        *,
        peer: str = "the peer",
        on_lost: Callable[[], object] | None = None,
    ) -> None:
        self.stream = stream
        self.connection = connection
        self.peer = peer
        self.eof = False
        self.gone = False
        self.writer_done = trio.Event()
        self._on_lost = on_lost
        self._outbox, self._outbox_recv = trio.open_memory_channel[tuple[bytes, trio.Event | None]](
            OUTBOX_FRAMES
        )

    # -- reading ----------------------------------------------------------------------

    async def receive(self) -> Message | Refused | None:
        """The next event from the peer, or None once it has closed its end.

        Raises:
            RemoteProtocolError: The peer broke the protocol (or hung up mid-frame).
        """
        while True:
            event = self.connection.next_event()
            if event is NEED_DATA:
                if self.eof:
                    return None
                try:
                    data = bytes(await self.stream.receive_some(_RECEIVE_SIZE))
                except (trio.BrokenResourceError, trio.ClosedResourceError):
                    data = b""
                if not data:
                    self.eof = True
                self.connection.receive_data(data)
                continue
            if event is CLOSED:
                return None
            assert isinstance(event, Message | Refused)
            return event

    # -- writing ----------------------------------------------------------------------

    async def send(self, message: Message, *, written: trio.Event | None = None) -> None:
        """Serialise ``message`` and queue it for the writer.

        Args:
            message: The message to send.
            written: Set once the frame has been handed to the stream (not just queued).

        Raises:
            LocalProtocolError: The protocol does not allow this message now.
            ConnectionLost: The stream is gone.
        """
        if self.gone:
            raise self._lost_error()
        await self.send_frame(self.connection.send(message), written=written)

    async def send_frame(self, frame: bytes, *, written: trio.Event | None = None) -> None:
        """Queue a frame that :meth:`Connection.send` made already.

        Raises:
            ConnectionLost: The stream is gone.
        """
        try:
            await self._outbox.send((frame, written))
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            raise self._lost_error() from None

    def close_outbox(self) -> None:
        """Take no more frames; the writer sends what is queued, then stops."""
        self._outbox.close()

    async def run_writer(self) -> None:
        """Drain the outbox into the stream until it is closed or the stream breaks."""
        try:
            async for frame, written in self._outbox_recv:
                batch = [frame]
                events = [written]
                size = len(frame)
                while size < WRITE_BATCH:
                    try:
                        frame, written = self._outbox_recv.receive_nowait()
                    except (trio.WouldBlock, trio.EndOfChannel):
                        break
                    batch.append(frame)
                    events.append(written)
                    size += len(frame)
                await self.stream.send_all(b"".join(batch))
                for event in events:
                    if event is not None:
                        event.set()
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            self.lost()
        finally:
            self._outbox_recv.close()
            self.writer_done.set()

    def lost(self) -> None:
        """Mark the stream unusable: sends fail from now on, and ``on_lost`` runs once."""
        if self.gone:
            return
        self.gone = True
        self._outbox.close()
        if self._on_lost is not None:
            self._on_lost()

    def _lost_error(self) -> ConnectionLost:
        return ConnectionLost(f"the connection to {self.peer} is closed")
