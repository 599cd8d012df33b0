"""The cork: a ``stop`` and the requests read with it are answered in one write.

Theory of operation
-------------------
A client that wants to see a stop land sends the ``stop`` and a ``wait`` in one write
(``Client.stop_and_wait``) and reads both answers. Written one by one, each answer's
write wakes the client, and on a busy machine such a write costs the writer more than
everything else the stop does (and, while a session spins, every syscall of the trio
thread may wait a switch interval for the interpreter lock).

So when the reader reads a ``stop``, the connection holds its answers
(:meth:`FramedStream.hold <spe_host.transport.FramedStream.hold>`): the *batch* is the
stop and the requests read after it before the reader must read from the stream
again. The hold ends, and everything queued leaves in one write, as soon as

* the reader goes back to the stream with every request of the batch answered (a
  stop read alone is answered at once), or
* the last request of the batch is answered after that, or
* :data:`HOLD` seconds have passed since the stop was read: a ``wait`` that takes
  100 s does not keep the stop's answer 100 s.

Only the batch that holds ends the hold; the answer of a request from an older
batch, whose hold ran out, goes out as any other.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Final

import trio

from ..transport import FramedStream
from ..wire import Request

__all__ = ["HOLD", "Cork"]

#: The longest a batch's answers are held back, in seconds.
HOLD: Final = 0.005


class _Batch:
    """A stop and the requests read after it in the same read."""

    __slots__ = ("open", "unanswered")

    def __init__(self) -> None:
        self.open = True  # requests read before the next read from the stream join it
        self.unanswered = 0


class Cork:
    """Holds the answers of one connection's batch (see the module's docstring).

    Args:
        framed: The connection's framed stream; the cork sets its ``before_read``.
    """

    def __init__(self, framed: FramedStream) -> None:
        self._framed = framed
        self._batch: _Batch | None = None  # the batch that holds, while it does
        framed.before_read = self._reading

    def begin(self) -> None:
        """A ``stop`` was read: hold the answers from now (it joins an open batch)."""
        batch = self._batch
        if batch is not None and batch.open and self._framed.held:
            return
        self._batch = _Batch()
        self._framed.hold(trio.current_time() + HOLD)

    def join(self) -> _Batch | None:
        """The batch a request read now belongs to (counted unanswered), or None."""
        batch = self._batch
        if batch is None or not batch.open:
            return None
        batch.unanswered += 1
        return batch

    async def run(
        self, batch: _Batch, handle: Callable[[Request], Awaitable[object]], request: Request
    ) -> None:
        """``handle(request)``, a request that joined ``batch``; its answer may end the hold."""
        try:
            await handle(request)
        finally:
            batch.unanswered -= 1
            self._settle(batch)

    def _reading(self) -> None:
        batch = self._batch
        if batch is not None and batch.open:
            batch.open = False
            self._settle(batch)

    def _settle(self, batch: _Batch) -> None:
        if batch is self._batch and not batch.open and batch.unanswered == 0:
            self._batch = None
            self._framed.release()
