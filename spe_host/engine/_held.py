"""Held: the bytes an output buffer keeps, as chunks, dropped from the front at a bound.

Theory of operation
-------------------
One ``bytearray`` that grows at the back and is cut at the front looks cheap, but
at its bound every cut leaves room at the front that the next growth cannot use:
the array is copied whole, up to the bound (16 MiB) again and again - 0.8 s of
copying for 16 MB printed in 8 KiB chunks. So the bytes are kept as a list of
immutable chunks of about :data:`CHUNK` bytes, each with the offset it starts at,
and an open ``bytearray`` tail that small appends go into until it is a chunk's
size. Appending costs one copy into the tail (or none, for a piece of a chunk's
size or more); dropping the oldest bytes drops whole chunks and cuts into at most
one; a read finds its first chunk by bisection and copies just what it returns.
Held memory is the bound plus at most a chunk, whatever the sizes of the pieces.

The caller (:class:`~spe_host.engine._streams.OutputBuffer`) holds its lock around
every call.
"""

from __future__ import annotations

from bisect import bisect_right
from typing import Final

__all__ = ["CHUNK", "Held"]

#: The size at which the open tail becomes a chunk of its own.
CHUNK: Final = 64 * 1024


class Held:
    """Bytes at increasing offsets, ``start`` to ``end``, at most about ``limit`` held.

    Args:
        limit: The most bytes held; :meth:`append` drops the oldest beyond it.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.start = 0  # the offset of the oldest byte held
        self.end = 0  # the offset just past the newest
        self._chunks: list[bytes] = []
        self._starts: list[int] = []  # where each chunk begins; the first at start
        self._tail = bytearray()  # the newest bytes, after the chunks

    def append(self, raw: bytes) -> None:
        """Add ``raw`` at the end; past the bound, drop the oldest bytes."""
        if len(raw) >= CHUNK:
            self._close_tail()
            self._chunks.append(raw)
            self._starts.append(self.end)
            self.end += len(raw)
        else:
            self._tail += raw
            self.end += len(raw)
            if len(self._tail) >= CHUNK:
                self._close_tail()
        excess = self.end - self.start - self.limit
        if excess > 0:
            # Cut an eighth below the bound, so a writer at the bound does not cut
            # at every append.
            self._drop(excess + self.limit // 8)

    def read(self, begin: int, last: int) -> bytes:
        """The bytes from offset ``begin`` to ``last`` (both within ``start``-``end``)."""
        return b"".join(self._pieces(begin, last, kept=False))

    def pieces(self, begin: int, last: int) -> list[bytes | memoryview]:
        """The bytes from ``begin`` to ``last`` as pieces that stay as they are.

        Views of the held chunks (immutable: a later drop replaces or forgets a chunk,
        never changes it) and a copy of the open tail's part, which later appends
        change: a list of references, not a copy of the bytes.
        """
        return self._pieces(begin, last, kept=True)

    def _pieces(self, begin: int, last: int, *, kept: bool) -> list[bytes | memoryview]:
        # kept: the pieces outlive the caller's lock, so the tail's part is copied (a
        # view of it would also stop the tail from growing); else it is a view.
        if begin >= last:
            return []
        tail_start = self.end - len(self._tail)
        if begin >= tail_start:
            return [bytes(self._tail[begin - tail_start : last - tail_start])]
        index = bisect_right(self._starts, begin) - 1
        pieces: list[bytes | memoryview] = []
        while index < len(self._chunks) and self._starts[index] < last:
            chunk, at = self._chunks[index], self._starts[index]
            pieces.append(memoryview(chunk)[max(0, begin - at) : last - at])
            index += 1
        if last > tail_start:
            tail = memoryview(self._tail)[: last - tail_start]
            pieces.append(bytes(tail) if kept else tail)
        return pieces

    def _close_tail(self) -> None:
        if self._tail:
            self._chunks.append(bytes(self._tail))
            self._starts.append(self.end - len(self._tail))
            self._tail = bytearray()

    def _drop(self, count: int) -> None:
        cut = min(self.end, self.start + count)  # the new start, before alignment
        gone = bisect_right(self._starts, cut) - 1  # the chunk the cut falls in
        if gone < 0:
            gone = len(self._chunks)  # the cut is in the tail: every chunk goes
        elif cut >= self._starts[gone] + len(self._chunks[gone]):
            gone += 1
        del self._chunks[:gone], self._starts[:gone]
        while self._chunks:
            # Past the bytes that continue a character, into the next chunk if need be.
            first, at = self._chunks[0], self._starts[0]
            inside = _character_start(first, cut - at)
            if inside < len(first):
                cut = at + inside
                self._chunks[0] = first[inside:]
                self._starts[0] = cut
                break
            del self._chunks[0], self._starts[0]
            cut = at + len(first)
        if not self._chunks:
            tail_start = self.end - len(self._tail)
            inside = _character_start(self._tail, max(0, cut - tail_start))
            del self._tail[:inside]
            cut = tail_start + inside
        self.start = cut


def _character_start(data: bytes | bytearray, at: int) -> int:
    """The first index from ``at`` on that does not continue a UTF-8 character."""
    while at < len(data) and (data[at] & 0xC0) == 0x80:
        at += 1
    return at
