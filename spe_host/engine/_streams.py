"""The bounded output buffer of a session, with byte offsets for replay.

Theory of operation
-------------------
(The routing of ``sys.stdout``/``stderr``/``stdin`` to a session is ``_redirect``.)

:class:`OutputBuffer` keeps a session's output as UTF-8 bytes with monotonically
increasing offsets, so a client that reconnects can ask for everything from the last
offset it saw. When the bound is hit the oldest bytes go, and a reader that asks for
them is told exactly how many it missed. Writers never wait for readers: readers pull
from the buffer at their own pace, and a wake-up is posted to the trio thread at most
once per batch of writes.

Writes are batched (``_batch``): a script's text gathers in the session's C-level
:class:`~spe_host.engine._batch.OutputStream` and comes over in chunks of up to
8 KiB, at every flush. The buffer flushes before every read and before
``take_line_tail``, so what a reader sees and every offset are exact; during a run
also before ``end_offset`` (between runs a flush there would cost every listing of
many sessions a call each, and nothing is left to flush but a line still open).
The flusher thread (``_flush``) flushes the stream of each running script every
:data:`~spe_host.engine._flush.FLUSH_INTERVAL`, so a job that prints a line and
then blocks is seen. Every chunk that comes in posts one wake-up to the trio
thread. stdout, stderr and the host's own notes share the one stream, so their
order is the order they were written in.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from typing import TypeVar

import trio

from .._deferred import OutputBytes
from .._model import decode_output, dropped_marker
from .._records import record
from ._batch import OutputStream
from ._changes import changed
from ._events import Broadcast
from ._flush import flusher
from ._held import Held

_T = TypeVar("_T")

__all__ = [
    "DEFAULT_OUTPUT_LIMIT",
    "OutputBuffer",
    "OutputSlice",
    "Signal",
    "dropped_marker",
]

DEFAULT_OUTPUT_LIMIT = 16 * 1024 * 1024
# The most characters of an open line kept for input()'s prompt, and the bytes kept
# to find them (four a character at most, and room for one cut in two).
_LINE_TAIL = 200
_LINE_TAIL_BYTES = 4 * _LINE_TAIL + 4


@record
class OutputSlice:
    """What :meth:`OutputBuffer.read` returns.

    Attributes:
        offset: The offset of the first byte of ``text``.
        text: The output from ``offset`` to the end of the buffer.
        dropped: Bytes the reader asked for that the buffer no longer holds.
        end: The offset just past ``text``; pass it to the next read.
    """

    offset: int
    text: str
    dropped: int
    end: int


class Signal:
    """A "something changed" event for the trio thread that any thread may fire.

    Create it in the trio thread. :meth:`fire` from another thread posts one wake-up
    to the trio thread, however many fires come before it runs, so a script writing
    in a tight loop costs the event loop one callback per batch, not one per write.

    Args:
        on_wake: Called in the trio thread at every wake-up, before the waiters are
            woken; it must not raise (from another thread's fire it runs as a trio
            callback, where an exception would end the whole run).
    """

    def __init__(self, on_wake: Callable[[], None] | None = None) -> None:
        self._lock = threading.Lock()
        self._token = trio.lowlevel.current_trio_token()
        self._trio_thread = threading.get_ident()
        self._broadcast = Broadcast()
        self._on_wake = on_wake
        self._pending = False

    def fire(self) -> None:
        """Wake every task waiting in :meth:`wait`; safe from any thread."""
        if threading.get_ident() == self._trio_thread:
            self._wake()
            return
        with self._lock:
            if self._pending:
                return
            self._pending = True
        # If the run is over, the host is gone and nobody is left to wake.
        with contextlib.suppress(trio.RunFinishedError):
            self._token.run_sync_soon(self._wake)

    @property
    def posted(self) -> bool:
        """True from a fire in another thread until its wake-up begins."""
        return self._pending

    async def wait(self) -> None:
        """Wait for the next :meth:`fire` (check your condition first)."""
        await self._broadcast.wait()

    def _wake(self) -> None:
        with self._lock:
            self._pending = False
        if self._on_wake is not None:
            self._on_wake()
        self._broadcast.fire()


class OutputBuffer:
    """A bounded, thread-safe output buffer with byte offsets.

    Create it in the trio thread (it captures the trio token to post wake-ups);
    :meth:`write` and :attr:`writer` may then be used from any thread.

    Args:
        limit: The most bytes kept; older bytes are dropped beyond it.
        on_wake: Called in the trio thread once per batch of writes (see
            :class:`Signal`).
        on_data: Given ``(offset, bytes)`` of every batch as it goes into the buffer,
            from whichever thread moves it, with the buffer's lock held: it must only
            hand the bytes on (the journal queues them for its writer).

    """

    def __init__(
        self,
        limit: int = DEFAULT_OUTPUT_LIMIT,
        *,
        on_wake: Callable[[], None] | None = None,
        on_data: Callable[[int, bytes], None] | None = None,
    ) -> None:
        if limit < 1:
            raise ValueError("the output limit must be at least one byte")
        self.limit = limit
        self._held = Held(limit)
        self._line_tail = b""
        self._lock = threading.Lock()
        self._on_data = on_data
        self._signal = Signal(on_wake)
        self._runs = 0
        self._stream = OutputStream(self._drain)

    @property
    def writer(self) -> Callable[[str], int]:
        """The C-level ``write`` of the buffer's stream (an execution's stdout and
        stderr): no Python code runs until 8 KiB have gathered, and the text comes
        into the buffer at the next flush."""
        return self._stream.write

    @property
    def start_offset(self) -> int:
        """The offset of the oldest byte still held."""
        if self._runs:
            self._stream.flush()
        return self._held.start

    @property
    def end_offset(self) -> int:
        """The offset just past the newest byte written."""
        if self._runs:
            self._stream.flush()
        return self._held.end

    def write(self, text: str) -> None:
        """Append ``text``, and flush; never blocks on readers.

        Any text can be written: it is stored as :func:`~spe_host._model.encode_output`
        makes it bytes, and read back with :func:`~spe_host._model.decode_output`, so
        offsets are exact (a lone surrogate that stands for no byte becomes U+FFFD).
        """
        if text:
            self._stream.write(text)
            self._stream.flush()

    def flush(self) -> None:
        """Move what the stream holds into the buffer (any thread)."""
        self._stream.flush()

    def begin_run(self) -> int:
        """A run starts: its text is gathered and flushed on the clock until
        :meth:`end_run`, and the open line is forgotten (``input()``'s prompt is the
        run's own text). Returns the offset where the run's output begins."""
        self._runs += 1
        if self._runs == 1:
            self._stream.running(True)
            flusher().add(self)
        self.take_line_tail()
        return self.end_offset

    def end_run(self) -> None:
        """The run has ended: what it left is flushed, and lines go over as they end."""
        self._runs -= 1
        if not self._runs:
            flusher().discard(self)
            self._stream.running(False)

    def _drain(self) -> None:
        # The stream's flush: its chunks go into the buffer, then one wake-up.
        with self._lock:
            left = self._stream.pending()  # not what comes in meanwhile: no end
            if not left:
                return
            while left:
                # In pieces, each freed as the next is taken: after one huge C-level
                # write the backlog is not copied whole.
                raw, taken = self._stream.take(left)
                self._append(raw)
                left -= taken
        if not self._signal.posted:
            self._signal.fire()

    def _append(self, raw: bytes) -> None:
        # With the lock held.
        newline = raw.rfind(b"\n")
        tail = raw[newline + 1 :] if newline >= 0 else self._line_tail + raw
        self._line_tail = tail[-_LINE_TAIL_BYTES:]
        if self._on_data is not None:
            self._on_data(self._held.end, raw)
        self._held.append(raw)
        # The end offset shows in listings: any thread's output moves their stamp.
        changed()

    def take_line_tail(self) -> str:
        """What was written since the last newline (its last 200 characters); forget it.

        ``input()``'s prompt is the tail when it asks; a note of the host's that
        starts a line of its own asks whether one is open.
        """
        self._stream.flush()
        with self._lock:
            tail, self._line_tail = self._line_tail, b""
        return decode_output(tail)[-_LINE_TAIL:]

    def read(self, from_offset: int = 0) -> OutputSlice:
        """Everything held from ``from_offset`` on.

        Args:
            from_offset: An offset this buffer gave out earlier (0 for everything).

        Raises:
            ValueError: ``from_offset`` is negative or beyond the end.
        """
        begin, raw = self.read_bytes(from_offset)
        return OutputSlice(
            offset=begin,
            text=decode_output(raw),
            dropped=begin - from_offset,
            end=begin + len(raw),
        )

    def read_bytes(self, from_offset: int = 0, limit: int | None = None) -> tuple[int, bytes]:
        """The bytes held from ``from_offset`` on, copied once, and the offset of the first.

        The first byte's offset is past ``from_offset`` by the bytes the buffer no
        longer holds; the bytes end at the end of the stream, or after ``limit`` bytes.

        Raises:
            ValueError: ``from_offset`` is negative or beyond the end.
        """
        return self._take(from_offset, limit, Held.read)

    def read_pieces(
        self, from_offset: int = 0, limit: int | None = None
    ) -> tuple[int, list[bytes | memoryview]]:
        """:meth:`read_bytes` without the copy: the bytes as pieces that stay as they are.

        Views of the held chunks (which never change) and a copy of the open tail's
        part (see :meth:`~spe_host.engine._held.Held.pieces`).

        Raises:
            ValueError: ``from_offset`` is negative or beyond the end.
        """
        return self._take(from_offset, limit, Held.pieces)

    def _take(
        self, from_offset: int, limit: int | None, take: Callable[[Held, int, int], _T]
    ) -> tuple[int, _T]:
        # The held span from `from_offset` on (at most `limit` bytes), taken under the
        # lock with `take(held, begin, last)`, and the offset of its first byte.
        self._stream.flush()
        with self._lock:
            held = self._held
            begin = self._first_held(from_offset)
            last = held.end if limit is None else min(held.end, begin + limit)
            return begin, take(held, begin, last)

    def output_since(self, from_offset: int) -> OutputBytes:
        """The bytes held from ``from_offset`` on, as they are now, without a copy.

        What :meth:`text_since` would decode, for a run's result to decode when it
        is read: the bytes stay as they were even after the buffer drops them.

        Raises:
            ValueError: ``from_offset`` is negative or beyond the end.
        """
        self._stream.flush()
        with self._lock:
            begin = self._first_held(from_offset)
            pieces = self._held.pieces(begin, self._held.end)
        return OutputBytes(begin - from_offset, pieces)

    def _first_held(self, from_offset: int) -> int:
        # With the lock held.
        if from_offset < 0 or from_offset > self._held.end:
            raise ValueError(
                f"offset {from_offset} is outside the output stream, which ends at {self._held.end}"
            )
        return max(from_offset, self._held.start)

    def text_since(self, from_offset: int) -> str:
        """The text from ``from_offset`` on, led by a marker if some was dropped."""
        return self.output_since(from_offset).text()

    async def wait_beyond(self, offset: int) -> None:
        """Wait until the buffer ends after ``offset`` (returns at once if it does)."""
        while self.end_offset <= offset:
            await self._signal.wait()
