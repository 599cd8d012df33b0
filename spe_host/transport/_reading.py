"""Reading a framed connection's byte stream with the fewest syscalls and scheduler passes.

Theory of operation
-------------------
trio's ``SocketStream.receive_some`` tries ``recv`` first and, when the socket is
empty, waits for it to be readable and tries again; a read that succeeds at once
still passes through the scheduler. But a connection that asks for more bytes has
parsed every frame it had, and when its last read did not fill the buffer the
socket was empty then: the peer's next frame comes later. So on a plain socket
:class:`StreamReader` turns the order round after such a short read: it waits first
(the wait is the read's checkpoint) and then reads with one ``os.read``. That saves
the ``recv`` that would fail with ``EAGAIN``, and the calls through trio's socket
layers, on every frame a client or server waits for. After a read that filled the
buffer (more is likely queued) it checkpoints, so a flood of frames cannot starve
the other tasks, and reads at once.

Any other stream (TLS, a memory stream in the tests) is read with ``receive_some``.
Either way a stream that broke or was closed reads as ``b""``, the end of the stream:
the :class:`~spe_host.wire.Connection` decides whether that came between frames.
"""

from __future__ import annotations

import os

import trio

__all__ = ["StreamReader"]


class StreamReader:
    """Reads one stream for its :class:`~spe_host.transport.FramedStream` (one task at a time).

    Args:
        stream: The byte stream.
    """

    def __init__(self, stream: trio.abc.Stream) -> None:
        self._stream = stream
        self._socket = stream.socket if type(stream) is trio.SocketStream else None
        # The last read left the socket empty (or none was made): wait before reading.
        self._drained = True

    async def read(self, size: int) -> bytes:
        """Up to ``size`` bytes, waiting for some; ``b""`` once the stream has ended or broke.

        A checkpoint: cancelled, it has read nothing.
        """
        sock = self._socket
        if sock is None:
            try:
                return bytes(await self._stream.receive_some(size))
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                return b""
        if not self._drained:
            await trio.lowlevel.checkpoint()
        while True:
            if self._drained:
                try:
                    await trio.lowlevel.wait_readable(sock)
                except (trio.ClosedResourceError, OSError):
                    return b""  # closed under the wait, or before it
            try:
                data = os.read(sock.fileno(), size)
            except BlockingIOError:
                self._drained = True  # readable was a false alarm: wait again
                continue
            except OSError:
                return b""  # reset, or closed: what receive_some reports as broken
            self._drained = len(data) < size
            return data
