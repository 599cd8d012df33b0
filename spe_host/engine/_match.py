"""Session-id patterns: the ``fnmatch`` wildcards, matched in linear time.

Theory of operation
-------------------
``fnmatch`` turns a pattern into a regular expression and caches it: a long pattern
costs seconds to compile in the trio thread and tens of megabytes in the cache, and
a request may hold many. So patterns are matched here, with no regular expression
and no cache that outlives the request.

A pattern compiles once (linear in its length) into *atoms* - a literal
character, ``?`` (any character) or a ``[...]`` class - with a note of where a
``*`` stood between them. Matching a name then simulates the pattern's automaton
with bit sets (a shift-and matcher): state *k* means "the first *k* atoms matched",
a ``*`` before atom *k* lets state *k* stay on any character, and one step per
character of the name updates every state at once with a few integer operations.
The cost is linear in the name, whatever the pattern; a pattern with more atoms
than the name has characters is refused without a step.

The meaning is exactly :func:`fnmatch.fnmatchcase`'s, down to its reading of a
class: ``[!...]`` negates, ``]`` first in a class is literal, a ``[`` with no
closing ``]`` is literal, ``a-z`` is a range and a reversed range matches nothing
(the class body is rewritten the way ``fnmatch.translate`` rewrites it, then read
the way :mod:`re` reads the result). The tests check it against ``fnmatchcase``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from .._model import DEFAULT_REQUEST_LIMITS, RequestLimits
from .._records import record

__all__ = ["Pattern", "Patterns"]


@record
class _Class:
    """A ``[...]`` class: the characters and ranges it holds, or all but them."""

    negated: bool
    chars: frozenset[str]
    ranges: tuple[tuple[str, str], ...]

    def accepts(self, char: str) -> bool:
        inside = char in self.chars or any(lo <= char <= hi for lo, hi in self.ranges)
        return inside != self.negated


_ANY: Final = _Class(negated=True, chars=frozenset(), ranges=())
_NOTHING: Final = _Class(negated=False, chars=frozenset(), ranges=())


class Pattern:
    """One compiled pattern.

    Args:
        pattern: An id or an ``fnmatch`` wildcard (``*``, ``?``, ``[...]``).
    """

    __slots__ = ("_classes", "_length", "_literals", "_loops", "_table", "text")

    def __init__(self, pattern: str) -> None:
        self.text = pattern
        # Bit positions first, integers once at the end: or-ing bits into a growing
        # integer one by one would be quadratic in the pattern's length.
        literals: dict[str, list[int]] = {}
        classes: list[tuple[int, _Class]] = []
        loops: list[int] = []
        atoms = 0
        i, n = 0, len(pattern)
        while i < n:
            c = pattern[i]
            i += 1
            if c == "*":
                loops.append(atoms)
                continue
            if c == "?":
                classes.append((atoms, _ANY))
            elif c == "[" and (end := _class_end(pattern, i)) is not None:
                classes.append((atoms, _read_class(pattern[i:end])))
                i = end + 1
            else:
                literals.setdefault(c, []).append(atoms)
            atoms += 1
        self._length = atoms
        self._loops = _bits(loops, atoms + 1)
        self._literals = literals
        self._classes = tuple(classes)
        # Per-character transition masks, filled as names are matched; one pattern
        # lives for one request (or one watch), so this holds the characters of the
        # names it met, no more.
        self._table: dict[str, int] = {}

    def matches(self, name: str) -> bool:
        """True if ``name`` matches, as :func:`fnmatch.fnmatchcase` would say."""
        if self._length > len(name):
            return False
        loops = self._loops
        states = 1
        for char in name:
            mask = self._table.get(char)
            if mask is None:
                mask = self._mask(char)
            states = ((states & mask) << 1) | (states & loops)
            if not states:
                return False
        return bool(states >> self._length & 1)

    def _mask(self, char: str) -> int:
        # Only for a name as long as the pattern: linear in it, once per character.
        positions = self._literals.get(char, []) + [
            at for at, cls in self._classes if cls.accepts(char)
        ]
        mask = self._table[char] = _bits(positions, self._length)
        return mask


class Patterns:
    """The patterns of one request: a name matches if any of them does (all, if none).

    Args:
        patterns: Ids or wildcards; checked against the pattern limits.
        limits: The host's limits (the defaults if not given).

    Raises:
        ValueError: A pattern is too long, or there are too many (the message says
            which limit and how to stay under it).
    """

    __slots__ = ("_patterns",)

    def __init__(
        self, patterns: Iterable[str], limits: RequestLimits = DEFAULT_REQUEST_LIMITS
    ) -> None:
        self._patterns = tuple(Pattern(p) for p in limits.check_patterns(tuple(patterns)))

    def __bool__(self) -> bool:
        return bool(self._patterns)

    def matches(self, name: str) -> bool:
        """True if ``name`` matches one of the patterns, or there are none."""
        return not self._patterns or any(p.matches(name) for p in self._patterns)


def _bits(positions: list[int], size: int) -> int:
    """The integer with the bits at ``positions`` set (all below ``size``)."""
    flags = bytearray(size)
    for position in positions:
        flags[position] = 1
    return int(flags[::-1].translate(_DIGITS) or b"0", 2)


_DIGITS: Final = bytes.maketrans(b"\x00\x01", b"01")


def _class_end(pattern: str, i: int) -> int | None:
    """Where the class opened just before ``i`` closes, or None: then ``[`` is literal."""
    j = i
    n = len(pattern)
    if j < n and pattern[j] == "!":
        j += 1
    if j < n and pattern[j] == "]":
        j += 1
    j = pattern.find("]", j)
    return None if j < 0 else j


def _read_class(body: str) -> _Class:
    """The class ``[body]`` means, as ``fnmatch.translate`` and :mod:`re` read it."""
    if "-" in body:
        # fnmatch splits the body at the hyphens that make ranges, and drops the
        # ranges that are reversed, endpoints and all.
        chunks: list[str] = []
        start = 0
        k = 2 if body.startswith("!") else 1
        while (k := body.find("-", k)) >= 0:
            chunks.append(body[start:k])
            start = k + 1
            k += 3
        if body[start:]:
            chunks.append(body[start:])
        else:
            chunks[-1] += "-"
        for k in range(len(chunks) - 1, 0, -1):
            if chunks[k - 1][-1] > chunks[k][0]:
                chunks[k - 1] = chunks[k - 1][:-1] + chunks[k][1:]
                del chunks[k]
    else:
        chunks = [body]
    stuff = "".join(chunks)
    if not stuff:
        return _NOTHING
    negated = stuff[0] == "!"
    if stuff == "!":
        return _ANY
    # The ranges run across chunk boundaries: the last character of one chunk to the
    # first of the next; every other character stands for itself.
    chars: set[str] = set()
    ranges: list[tuple[str, str]] = []
    first = 1 if negated else 0
    for index, chunk in enumerate(chunks):
        lo = first if index == 0 else 1
        hi = len(chunk) - 1 if index < len(chunks) - 1 else len(chunk)
        chars.update(chunk[lo:hi])
        if index < len(chunks) - 1:
            ranges.append((chunk[-1], chunks[index + 1][0]))
    return _Class(negated=negated, chars=frozenset(chars), ranges=tuple(ranges))
