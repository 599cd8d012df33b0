"""OutputStream: a session's text stream, written at C speed and handed over in chunks.

Theory of operation
-------------------
A ``print`` is two writes, and 200,000 of them through three Python calls each (the
stdout proxy, the execution, the buffer) cost six times the printing itself. So the
text side of a session's output is a C object, an :class:`io.TextIOWrapper` - the
very class of ``sys.stdout`` - and the stdout proxy (``_redirect``) hands a script
its bound ``write`` with no Python frame in between. The wrapper encodes as UTF-8
(with the one bytes<->text rule of :func:`~spe_host._model.encode_output`, as a
codec error handler) and gathers the bytes itself; once it holds
:data:`CHUNK_BYTES` it writes them, as one ``bytes``, to its binary side, whose
``write`` is a list's ``append``: still C, still no Python code.

Order. The wrapper takes its pending bytes and appends them to the chunk list in
one stretch of C code, during which the interpreter lock is not given up; so chunks
join the list in the order their text was written, whichever thread wrote or
flushed, and :meth:`OutputStream.take` takes them, under the buffer's lock, as a
prefix of that list. (A Python ``write`` on the binary side would break this: a
flush from another thread could overtake it between the hand-over and the lock.)

Where the Python code runs. ``flush()`` on the wrapper writes what it holds and then
calls the binary side's ``flush``, the buffer's drain: that is where chunks move
into the buffer and followers are woken. The buffer flushes before every read and
every host note; the flusher thread (``_flush``) flushes a running script's stream
on a clock. Between runs the wrapper is line-buffered, so a line that a thread the
run left behind writes later still reaches the buffer at its newline; during a run
it is not, and a chunk waits for the next flush (:data:`~spe_host.engine._flush.FLUSH_INTERVAL`
at most while the flusher gets the interpreter), so the memory it holds is what the
script wrote in that time.

Why no Python code on the binary side's ``write``, not even one call per chunk to
drain a large backlog: a Python call can let the interpreter go to another thread
there, and the wrapper is not safe for that: CPython's ``textiowrapper_write``
flushes before it adds a piece that would pass the chunk size and then sets its
pending bytes to that piece, overwriting whatever another thread added meanwhile -
text lost, lines torn, uninitialised bytes in the output (a trial with four
printing threads and a Python ``write`` here showed all three). So one C-level
write that gives no other thread the interpreter, ``print(*lines, sep="\\n")`` of
100 MB say, gathers all its chunks here until it returns; the drain then moves
them into the buffer :data:`DRAIN_BYTES` at a time, freeing each piece as it goes,
so the peak is that write's own bytes once, not twice.

A script can reach the wrapper (``sys.stdout.write.__self__``) and ``detach()`` it,
as it could detach a real ``sys.stdout``. Its writes then fail in the script, as
they would there; the host does not: the next flush or run boundary finds the
wrapper detached and puts a fresh one over the same chunks, which the session's
next run writes to.
"""

from __future__ import annotations

import codecs
import io
from collections.abc import Callable
from typing import Any, Final

__all__ = ["CHUNK_BYTES", "DRAIN_BYTES", "ERRORS", "OutputStream"]

#: The bytes the stream gathers before it hands them over as one chunk.
CHUNK_BYTES: Final = 8 * 1024
#: The most bytes of chunks that one :meth:`OutputStream.take` joins.
DRAIN_BYTES: Final = 256 * 1024
#: The codec error handler of output text (see :func:`_lone_surrogates`).
ERRORS: Final = "spe_host.output"

_REPLACEMENT: Final = "\ufffd".encode()


def _lone_surrogates(error: UnicodeError) -> tuple[bytes, int]:
    """:func:`~spe_host._model.encode_output`'s rule as an error handler.

    U+DC80-U+DCFF are the bytes they stand for (``surrogateescape``); any other lone
    surrogate stands for no byte and is written as U+FFFD.
    """
    if not isinstance(error, UnicodeEncodeError):
        raise error
    out = bytearray()
    for char in error.object[error.start : error.end]:
        code = ord(char)
        out += bytes((code - 0xDC00,)) if 0xDC80 <= code <= 0xDCFF else _REPLACEMENT
    return bytes(out), error.end


codecs.register_error(ERRORS, _lone_surrogates)


class _Chunks:
    # The wrapper's binary side. It calls readable/writable/seekable when it is made,
    # reads `closed` at every write, and calls close() when it is collected.
    closed = False

    def __init__(self, chunks: list[bytes], drain: Callable[[], None]) -> None:
        self.write = chunks.append
        self.flush = drain

    def readable(self) -> bool:
        return False

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def close(self) -> None:
        pass


class OutputStream:
    """A C-level text stream that gathers a session's output into byte chunks.

    Args:
        drain: Called on every :meth:`flush`, after the stream has handed over what
            it held: it :meth:`take`\\ s the chunks (from any thread).

    Attributes:
        write: The stream's C ``write``: takes a str, returns its length. Safe from
            any thread.
    """

    def __init__(self, drain: Callable[[], None]) -> None:
        self._chunks: list[bytes] = []
        self._binary = _Chunks(self._chunks, drain)
        self._open()

    def _open(self) -> None:
        binary: Any = self._binary  # duck-typed, as the wrapper allows
        self._text = io.TextIOWrapper(
            binary,
            encoding="utf-8",
            errors=ERRORS,
            newline="\n",
            line_buffering=True,
        )
        self._text._CHUNK_SIZE = CHUNK_BYTES  # type: ignore[attr-defined]
        self.write: Callable[[str], int] = self._text.write

    def _reopened(self) -> bool:
        # A script detached the wrapper (see the module's header): open a fresh one.
        if self._text.buffer is not None:
            return False
        self._open()
        return True

    def flush(self) -> None:
        """Hand over what the stream holds, then call ``drain``."""
        try:
            self._text.flush()
        except ValueError:
            if not self._reopened():
                raise
            self._binary.flush()

    def running(self, running: bool) -> None:
        """Gather text into chunks during a run; hand each line over between runs."""
        try:
            self._text.reconfigure(line_buffering=not running)
        except ValueError:
            if not self._reopened():
                raise
            self._text.reconfigure(line_buffering=not running)

    def pending(self) -> int:
        """How many chunks have been handed over and not taken yet."""
        return len(self._chunks)

    def take(self, count: int) -> tuple[bytes, int]:
        """The first chunks of ``count`` handed over, as one ``bytes`` of about
        :data:`DRAIN_BYTES` at most, and how many it took (with the buffer's lock held)."""
        chunks = self._chunks
        try:
            return self._take(chunks, count)
        except Exception:  # whatever a script's object makes len() or the join raise
            # Something else than bytes among them: make it bytes where it lies (one C
            # slice assignment; appends meanwhile go past this prefix) and take again.
            chunks[:count] = [_as_bytes(chunk) for chunk in chunks[:count]]
            return self._take(chunks, count)

    @staticmethod
    def _take(chunks: list[bytes], count: int) -> tuple[bytes, int]:
        if count == 1:
            raw = chunks[0]
            if type(raw) is not bytes:
                raise TypeError("not bytes")
        else:
            size = taken = 0
            while taken < count and size < DRAIN_BYTES:
                size += len(chunks[taken])
                taken += 1
            raw = b"".join(chunks[:taken])
            count = taken
        del chunks[:count]  # appends that came meanwhile are past this prefix
        return raw, count


def _as_bytes(chunk: object) -> bytes:
    # What a script wrote straight to the stream's binary side
    # (``sys.stdout.write.__self__.buffer.write``), whose write is a list's append
    # and so checks nothing: keep it as text rather than let it break the reads.
    if type(chunk) is bytes:
        return chunk
    if isinstance(chunk, str):
        return chunk.encode("utf-8", ERRORS)
    try:
        return bytes(memoryview(chunk))  # type: ignore[arg-type]
    except Exception:  # not a buffer, or a released one
        pass
    try:
        return repr(chunk).encode("utf-8", ERRORS)
    except Exception:  # a script's __repr__ may raise anything
        return object.__repr__(chunk).encode("utf-8", ERRORS)
