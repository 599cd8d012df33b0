"""Follower: one way to follow a session's output and progress, for every front end.

Theory of operation
-------------------
A follower is a cursor, not a queue: it holds the byte offset it will deliver next
and the progress it delivered last, and nothing else. :meth:`Follower.pending` takes
what the session's :class:`~spe_host.engine._streams.OutputBuffer` holds from that
offset (views of its immutable chunks, and a copy of what is in its open tail), cuts
it into chunks, and moves the offset to the end the buffer reported. A chunk's text
is decoded when it is first read (:func:`~spe_host._model.output_chunk`): a server
sending binary output frames sends the bytes as they are. Writers never wait for a
follower, and a follower that falls behind the buffer's bound is told how many bytes
it missed, in the first chunk's ``dropped``; so what a follower costs does not
depend on how much a script prints.

Chunks are cut on the bytes, at character boundaries, so each chunk's ``offset`` is
exactly where its text begins in the stream - the offset a client resumes from -
with no arithmetic on decoded text. A chunk holds at most ``chunk_chars`` bytes, and
so at most that many characters.

:meth:`Follower.wait` (and :meth:`Follower.next`, which waits and then takes) waits
on the session's activity: every batch of output and every change of state or
progress wakes it, in the trio thread, whichever thread wrote. It checks before it
waits, so nothing written between two calls is missed.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from typing import Final

import trio

from .._model import OutputChunk, Progress, SessionState, output_chunk
from ._session import ScriptSession

__all__ = ["DEFAULT_CHUNK_CHARS", "Follower"]

#: Characters per output chunk unless the follower is told otherwise.
DEFAULT_CHUNK_CHARS: Final = 64 * 1024
# The longest UTF-8 character: a chunk must be able to hold any one.
_MIN_CHUNK: Final = 4


class Follower:
    """Follows a session's output and progress from a byte offset.

    Make one with :meth:`Host.follow <spe_host.Host.follow>`; loop on :meth:`next`
    until the session is CLOSED or you stop following (or on :meth:`wait` and
    :meth:`pending`, to take what is new under a lock of your own).

    Args:
        session: The session to follow.
        from_offset: The byte offset to start at; one past the end starts at the end.
        chunk_chars: The most characters (in fact bytes) of output one chunk carries.
        progress: The progress the caller knows already; None means the current
            progress is news.

    Attributes:
        offset: The byte offset this follower will deliver next.

    Raises:
        ValueError: ``from_offset`` is negative, or ``chunk_chars`` below 4.
    """

    def __init__(
        self,
        session: ScriptSession,
        from_offset: int,
        *,
        chunk_chars: int = DEFAULT_CHUNK_CHARS,
        progress: Progress | None = None,
    ) -> None:
        if from_offset < 0:
            raise ValueError(
                f"offset {from_offset} is negative; output offsets start at 0, the "
                "beginning of the session's output"
            )
        if chunk_chars < _MIN_CHUNK:
            raise ValueError(
                f"chunk_chars is {chunk_chars}; a chunk must hold at least {_MIN_CHUNK} characters"
            )
        self.session = session
        self.offset = min(from_offset, session.output.end_offset)
        self.chunk_chars = chunk_chars
        self._progress = progress

    def pending(self, max_chunks: int | None = None) -> list[OutputChunk | Progress]:
        """What can be delivered now, without waiting.

        Args:
            max_chunks: Take at most this many chunks of output (None: all there is),
                so a reader far behind holds one batch at a time, not the buffer;
                call again for the rest.

        Returns:
            The session's progress if it differs from the one delivered last, then
            the output from :attr:`offset` on, as chunks (the first carries the bytes
            the buffer no longer held as ``dropped``). Empty if there is nothing new.
        """
        items: list[OutputChunk | Progress] = []
        # Progress first: where the run stands, then what it printed meanwhile (a
        # client that stops at a line of output has seen the progress before it).
        progress = self.session.progress
        if progress != self._progress:
            items.append(progress)
            self._progress = progress
        limit = None if max_chunks is None else max(1, max_chunks) * self.chunk_chars
        begin, pieces = self.session.output.read_pieces(self.offset, limit)
        raw = _Span(pieces)
        if limit is not None and raw.size == limit:
            # Cut off by the limit: end the batch between characters, not inside one.
            raw.size = _whole_characters(raw)
        dropped = begin - self.offset
        taken = 0
        chunks = 0
        if raw.size or dropped:
            while True:
                chunks += 1
                end = _chunk_end(raw, taken, self.chunk_chars)
                items.append(
                    output_chunk(self.session.id, begin + taken, raw.cut(taken, end), dropped)
                )
                dropped = 0
                taken = end
                if taken >= raw.size or chunks == max_chunks:
                    break
        # Authoritative: where what was taken ends in the buffer.
        self.offset = begin + taken
        return items

    @property
    def closed(self) -> bool:
        """True once the session is CLOSED (removed): nothing new will come."""
        return self.session.state is SessionState.CLOSED

    async def wait(self) -> None:
        """Wait until :meth:`pending` would not be empty, or the session is CLOSED.

        It takes nothing, so a caller can wait outside a lock and take inside it.
        """
        if self._has_news() or self.closed:
            await trio.lowlevel.checkpoint()
            return
        while not (self._has_news() or self.closed):
            await self.session._activity.wait()

    async def next(self) -> list[OutputChunk | Progress]:
        """Wait until there is something to deliver, and return it.

        Returns:
            What :meth:`pending` returns, once that is not empty; or, once the session
            is CLOSED, whatever is left (possibly nothing).
        """
        # Wait, then read: a cancellation while waiting loses nothing.
        await self.wait()
        return self.pending()

    def _has_news(self) -> bool:
        return (
            self.session.output.end_offset > self.offset or self.session.progress != self._progress
        )


class _Span:
    """Bytes held as pieces (views of the buffer's chunks), read as one run of bytes.

    ``size`` may be lowered to leave the last bytes out.
    """

    __slots__ = ("_pieces", "_starts", "size")

    def __init__(self, pieces: Sequence[bytes | memoryview]) -> None:
        self._pieces = pieces
        self._starts: list[int] = []
        size = 0
        for piece in pieces:
            self._starts.append(size)
            size += len(piece)
        self.size = size

    def __getitem__(self, at: int) -> int:
        index = bisect_right(self._starts, at) - 1
        return self._pieces[index][at - self._starts[index]]

    def cut(self, begin: int, end: int) -> list[bytes | memoryview]:
        """The bytes from ``begin`` to ``end`` as views of the pieces (no copy)."""
        index = bisect_right(self._starts, begin) - 1
        out: list[bytes | memoryview] = []
        while begin < end:
            piece, at = self._pieces[index], self._starts[index]
            stop = min(end - at, len(piece))
            out.append(
                piece
                if begin == at and stop == len(piece)
                else memoryview(piece)[begin - at : stop]
            )
            begin = at + stop
            index += 1
        return out


def _chunk_end(raw: _Span, start: int, limit: int) -> int:
    """Where the chunk from ``start`` ends: at most ``limit`` bytes on, between characters."""
    end = start + limit
    if end >= raw.size:
        return raw.size
    # A character starts at a byte that is not a continuation byte (10xxxxxx), and
    # spans at most four bytes; limit >= 4 keeps the cut past ``start``.
    for cut in range(end, end - _MIN_CHUNK, -1):
        if raw[cut] & 0xC0 != 0x80:
            return cut
    return end  # not UTF-8 here (a script wrote stray bytes): cut at the limit


def _whole_characters(raw: _Span) -> int:
    """The length of the longest prefix of ``raw`` that does not end inside a character."""
    size = raw.size
    for back in range(1, min(4, size) + 1):
        lead = raw[size - back]
        if lead & 0xC0 == 0x80:
            continue  # a continuation byte: the character started earlier
        # The sequence length a UTF-8 lead byte announces (1 for ASCII and stray bytes).
        length = 4 if lead >= 0xF0 else 3 if lead >= 0xE0 else 2 if lead >= 0xC0 else 1
        return size if back >= length else size - back
    return size  # not UTF-8 here (stray continuation bytes): cut at the limit
