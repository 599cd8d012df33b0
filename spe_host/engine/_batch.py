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
"""

from __future__ import annotations

import codecs
import io
from collections.abc import Callable
from typing import Any, Final

__all__ = ["CHUNK_BYTES", "ERRORS", "OutputStream"]

#: The bytes the stream gathers before it hands them over as one chunk.
CHUNK_BYTES: Final = 8 * 1024
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
        binary: Any = _Chunks(self._chunks, drain)  # duck-typed, as the wrapper allows
        self._text = io.TextIOWrapper(
            binary,
            encoding="utf-8",
            errors=ERRORS,
            newline="\n",
            line_buffering=True,
        )
        self._text._CHUNK_SIZE = CHUNK_BYTES  # type: ignore[attr-defined]
        self.write: Callable[[str], int] = self._text.write

    def flush(self) -> None:
        """Hand over what the stream holds, then call ``drain``."""
        self._text.flush()

    def running(self, running: bool) -> None:
        """Gather text into chunks during a run; hand each line over between runs."""
        self._text.reconfigure(line_buffering=not running)

    def take(self) -> bytes:
        """The chunks handed over so far, as one ``bytes`` (with the buffer's lock held)."""
        chunks = self._chunks
        count = len(chunks)  # appends that come meanwhile land past this prefix
        if count == 1:
            raw = chunks[0]
        elif count:
            raw = b"".join(chunks[:count])
        else:
            return b""
        del chunks[:count]
        return raw
