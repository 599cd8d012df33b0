"""Per-session stdout/stderr/stdin routing and the bounded output buffer.

Theory of operation
-------------------
``sys.stdout``, ``sys.stderr`` and ``sys.stdin`` are process-wide, but a script's
``print`` must reach *its* session and nothing else. So the first host to open puts
proxies in their place (:func:`install`); each proxy looks up a context variable that
the runner sets for the duration of an execution. Worker threads run by
``trio.to_thread`` and trio tasks started by a script inherit the variable, so their
output follows the execution too. Anything written outside an execution - the
embedding program's own threads, the host's logging - finds no sink and passes
straight through to the stream that was there before.

The proxies are the one piece of global mutable state in spe_host: the streams they
replace are global already, and there is no other way to catch ``print``. They are
installed once, counted, and put back by the last host to close.

:class:`OutputBuffer` keeps a session's output as UTF-8 bytes with monotonically
increasing offsets, so a client that reconnects can ask for everything from the last
offset it saw. When the bound is hit the oldest bytes go, and a reader that asks for
them is told exactly how many it missed. Writers never wait for readers: readers pull
from the buffer at their own pace, and a wake-up is posted to the trio thread at most
once per batch of writes.
"""

from __future__ import annotations

import contextlib
import contextvars
import io
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO, Any, Protocol

import trio

from .._model import decode_output, dropped_marker, encode_output
from ._events import Broadcast

__all__ = [
    "DEFAULT_OUTPUT_LIMIT",
    "OutputBuffer",
    "OutputSlice",
    "Signal",
    "Sink",
    "dropped_marker",
    "install",
    "uninstall",
    "use_sink",
]

DEFAULT_OUTPUT_LIMIT = 16 * 1024 * 1024


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
    """

    def __init__(
        self, limit: int = DEFAULT_OUTPUT_LIMIT, *, on_wake: Callable[[], None] | None = None
    ) -> None:
        if limit < 1:
            raise ValueError("the output limit must be at least one byte")
        self.limit = limit
        self._data = bytearray()
        self._start = 0
        self._lock = threading.Lock()
        self._signal = Signal(on_wake)

    @property
    def start_offset(self) -> int:
        """The offset of the oldest byte still held."""
        return self._start

    @property
    def end_offset(self) -> int:
        """The offset just past the newest byte written."""
        with self._lock:
            return self._start + len(self._data)

    def write(self, text: str) -> None:
        """Append ``text``; never blocks on readers.

        Any text can be written: it is stored as :func:`~spe_host._model.encode_output`
        makes it bytes, and read back with :func:`~spe_host._model.decode_output`, so
        offsets are exact (a lone surrogate that stands for no byte becomes U+FFFD).
        """
        if not text:
            return
        data = encode_output(text)
        with self._lock:
            self._data += data
            excess = len(self._data) - self.limit
            if excess > 0:
                # Trim an eighth below the bound so a writer at the bound does not move
                # the whole buffer on every write.
                cut = min(len(self._data), excess + self.limit // 8)
                while cut < len(self._data) and (self._data[cut] & 0xC0) == 0x80:
                    cut += 1  # never split a UTF-8 character
                del self._data[:cut]
                self._start += cut
        self._signal.fire()

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


class Sink(Protocol):
    """Where an execution's standard streams go."""

    def write(self, text: str) -> None:
        """Take text written to stdout or stderr."""

    def readline(self) -> str:
        """Answer a read from stdin (``input()``)."""


_current: contextvars.ContextVar[Sink | None] = contextvars.ContextVar(
    "spe_host_sink", default=None
)


@contextmanager
def use_sink(sink: Sink) -> Iterator[None]:
    """Route this context's standard streams to ``sink`` while the block runs."""
    token = _current.set(sink)
    try:
        yield
    finally:
        _current.reset(token)


class _OutProxy:
    def __init__(self, original: IO[str]) -> None:
        self._original = original

    def write(self, text: str) -> int:
        sink = _current.get()
        if sink is None:
            return self._original.write(text)
        sink.write(text)
        return len(text)

    def writelines(self, lines: list[str]) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        if _current.get() is None:
            self._original.flush()

    def isatty(self) -> bool:
        return _current.get() is None and self._original.isatty()

    def fileno(self) -> int:
        _refuse_fileno_in_a_sink()
        return self._original.fileno()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._original, name)


def _refuse_fileno_in_a_sink() -> None:
    # Inside an execution the streams are the session's, not the console's. input()
    # reads the terminal itself (bypassing sys.stdin, and out of reach of a stop)
    # when sys.stdin and sys.stdout report the console's descriptors, so they must
    # not report them there.
    if _current.get() is not None:
        raise io.UnsupportedOperation(
            "this stream belongs to a script session and has no file descriptor"
        )


class _InProxy:
    # The process may have no stdin at all (a daemon, CI): reads outside an execution
    # then see end-of-file, as they would on /dev/null.
    def __init__(self, original: IO[str] | None) -> None:
        self._original = original

    def readline(self, size: int = -1) -> str:
        sink = _current.get()
        if sink is not None:
            return sink.readline()
        if self._original is None:
            return ""
        return self._original.readline(size)

    def isatty(self) -> bool:
        return _current.get() is None and self._original is not None and self._original.isatty()

    def fileno(self) -> int:
        _refuse_fileno_in_a_sink()
        if self._original is None:
            raise io.UnsupportedOperation("the process has no standard input")
        return self._original.fileno()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._original, name)


_installed = 0
_saved: tuple[Any, Any, Any] | None = None


def install() -> None:
    """Put the routing proxies in place of the standard streams (counted)."""
    global _installed, _saved
    if _installed == 0 or not isinstance(sys.stdout, _OutProxy):
        _saved = (sys.stdout, sys.stderr, sys.stdin)
        sys.stdout = _OutProxy(sys.stdout)
        sys.stderr = _OutProxy(sys.stderr)
        sys.stdin = _InProxy(sys.stdin)
    _installed += 1


def uninstall() -> None:
    """Undo one :func:`install`; the last one puts the original streams back."""
    global _installed, _saved
    _installed = max(0, _installed - 1)
    if _installed == 0 and _saved is not None:
        # Someone (pytest, say) may have replaced our proxies since: leave theirs alone.
        if isinstance(sys.stdout, _OutProxy):
            sys.stdout = _saved[0]
        if isinstance(sys.stderr, _OutProxy):
            sys.stderr = _saved[1]
        if isinstance(sys.stdin, _InProxy):
            sys.stdin = _saved[2]
        _saved = None
