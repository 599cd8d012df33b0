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

Writes are batched: a ``print`` is two writes, and encoding, trimming and signalling
each of them cost five times what appending it to a list does. So a write only joins
the pending batch; the batch's first write posts the wake-up, and the trio thread
moves the whole batch into the buffer when the wake-up runs (a running job's output
streams as fast as the trio thread gets to it), and so does the writer itself once
the batch holds :data:`BATCH_CHARS`. Every read, and ``end_offset``, moves the
pending batch first, so what a reader sees and every offset are exact; all writers
share the one batch, so the order of stdout, stderr and the host's own notes is the
order they were written in.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from dataclasses import dataclass

import trio

from .._model import decode_output, dropped_marker, encode_output
from ._events import Broadcast

__all__ = [
    "BATCH_CHARS",
    "DEFAULT_OUTPUT_LIMIT",
    "OutputBuffer",
    "OutputSlice",
    "Signal",
    "dropped_marker",
]

DEFAULT_OUTPUT_LIMIT = 16 * 1024 * 1024
#: The writer moves its pending batch into the buffer itself once it holds this many
#: characters (the trio thread does it earlier when it gets the wake-up).
BATCH_CHARS = 8 * 1024
# The most characters of an open line kept for input()'s prompt.
_LINE_TAIL = 200


@dataclass(frozen=True, slots=True)
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
    :meth:`write` may then be called from any thread.

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
        self._data = bytearray()
        self._start = 0
        self._pending: list[str] = []
        self._pending_chars = 0
        self._line_tail = ""
        self._lock = threading.Lock()
        self._on_wake = on_wake
        self._on_data = on_data
        self._signal = Signal(self._woken)

    @property
    def start_offset(self) -> int:
        """The offset of the oldest byte still held."""
        with self._lock:
            if self._pending:
                self._move_pending()
            return self._start

    @property
    def end_offset(self) -> int:
        """The offset just past the newest byte written."""
        with self._lock:
            if self._pending:
                self._move_pending()
            return self._start + len(self._data)

    def write(self, text: str) -> None:
        """Append ``text``; never blocks on readers.

        Any text can be written: it is stored as :func:`~spe_host._model.encode_output`
        makes it bytes, and read back with :func:`~spe_host._model.decode_output`, so
        offsets are exact (a lone surrogate that stands for no byte becomes U+FFFD).
        """
        if not text:
            return
        # No lock: list.append is atomic, and the mover takes only what it counted.
        self._pending.append(text)
        # A race between threads may lose an update: the count only brings the
        # writer's own move forward.
        self._pending_chars += len(text)
        if self._pending_chars >= BATCH_CHARS:
            with self._lock:
                self._move_pending()
        # The wake-up clears its mark before it moves the batch, so a write it does
        # not take sees no mark and posts the next one.
        if not self._signal.posted:
            self._signal.fire()

    def _move_pending(self) -> None:
        # With the lock held: the pending batch goes into the buffer, in order.
        # Writers append meanwhile; they land past the ``count`` taken here.
        pending = self._pending
        count = len(pending)
        if not count:
            return
        text = "".join(pending[:count])
        del pending[:count]
        self._pending_chars = 0
        newline = text.rfind("\n")
        tail = text[newline + 1 :] if newline >= 0 else self._line_tail + text
        self._line_tail = tail[-_LINE_TAIL:]
        raw = encode_output(text)
        if self._on_data is not None:
            self._on_data(self._start + len(self._data), raw)
        self._data += raw
        excess = len(self._data) - self.limit
        if excess > 0:
            # Trim an eighth below the bound so a writer at the bound does not move
            # the whole buffer on every write.
            cut = min(len(self._data), excess + self.limit // 8)
            while cut < len(self._data) and (self._data[cut] & 0xC0) == 0x80:
                cut += 1  # never split a UTF-8 character
            del self._data[:cut]
            self._start += cut

    def take_line_tail(self) -> str:
        """What was written since the last newline (its last 200 characters); forget it.

        ``input()``'s prompt is the tail when it asks; a note of the host's that
        starts a line of its own asks whether one is open.
        """
        with self._lock:
            if self._pending:
                self._move_pending()
            tail, self._line_tail = self._line_tail, ""
        return tail

    def _woken(self) -> None:
        # The trio thread's wake-up: the batch so far goes in before anyone is woken.
        with self._lock:
            if self._pending:
                self._move_pending()
        if self._on_wake is not None:
            self._on_wake()

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
        with self._lock:
            if self._pending:
                self._move_pending()
            end = self._start + len(self._data)
            if from_offset < 0 or from_offset > end:
                raise ValueError(
                    f"offset {from_offset} is outside the output stream, which ends at {end}"
                )
            begin = max(from_offset, self._start)
            # Through a view, so the held bytes are copied once, not sliced and copied.
            first = begin - self._start
            last = len(self._data) if limit is None else min(len(self._data), first + limit)
            with memoryview(self._data) as view:
                raw = bytes(view[first:last])
        return begin, raw

    def text_since(self, from_offset: int) -> str:
        """The text from ``from_offset`` on, led by a marker if some was dropped."""
        piece = self.read(from_offset)
        if piece.dropped:
            return dropped_marker(piece.dropped) + piece.text
        return piece.text

    async def wait_beyond(self, offset: int) -> None:
        """Wait until the buffer ends after ``offset`` (returns at once if it does)."""
        while self.end_offset <= offset:
            await self._signal.wait()
