"""A record's text field that may hold output bytes, decoded on first read.

Theory of operation
-------------------
A run's :attr:`~spe_host._model.ExecutionResult.output` is up to the session's output
bound (16 MiB) of text. Decoding it when the run ends costs the trio thread 20-50 ms,
before a subscriber gets the run's last output, and most results are never read in
full (a subscriber had the text already; a ``wait`` over the socket may trim it). So
the engine builds the result with the bytes the output buffer held at the run's end
(views of its immutable chunks: no copy) and a count of bytes dropped before them;
the first read of the field decodes them once and keeps the text in their place.

A follower's :class:`~spe_host._model.OutputChunk` does the same with its text: a
server sending it in a binary output frame (protocol 1.5) takes the bytes as they
are (:meth:`DeferredText.peek`), and never decodes them at all.

The field is the record's own slot, reached through :class:`DeferredText`, a data
descriptor put over the slot's member descriptor. Every reader of a record reads
fields by attribute (equality, hashing, repr, pickling, :func:`dataclasses.replace`,
:func:`dataclasses.asdict`, the wire's encoder), so every caller sees a ``str``
with the value an eager decode would have given.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from ._rules import decode_output, dropped_marker

__all__ = ["DeferredText", "OutputBytes"]


class _Slot(Protocol):
    # The member descriptor a slotted class has for each slot.
    def __get__(self, instance: object, owner: type | None = None) -> object: ...
    def __set__(self, instance: object, value: object) -> None: ...
    def __delete__(self, instance: object) -> None: ...


class OutputBytes:
    """Output bytes that stand for a text until it is first needed.

    Args:
        dropped: Bytes dropped before ``pieces`` (a marker line leads the text then).
        pieces: The bytes, in order; none of them may change afterwards.
    """

    __slots__ = ("dropped", "pieces")

    def __init__(self, dropped: int, pieces: Sequence[bytes | memoryview]) -> None:
        self.dropped = dropped
        self.pieces = pieces

    def text(self) -> str:
        """The text, as :meth:`~spe_host.engine.OutputBuffer.read` would decode it."""
        pieces = self.pieces
        text = decode_output(pieces[0] if len(pieces) == 1 else b"".join(pieces))
        return dropped_marker(self.dropped) + text if self.dropped else text

    def size(self) -> int:
        """How many bytes the pieces hold (the marker not counted)."""
        return sum(map(len, self.pieces))


class DeferredText:
    """A text field of a slotted record that may hold :class:`OutputBytes`.

    Args:
        slot: The class's member descriptor of the field, which this replaces.
    """

    __slots__ = ("_slot",)

    def __init__(self, slot: _Slot) -> None:
        self._slot = slot

    def __get__(self, instance: object, owner: type | None = None) -> object:
        if instance is None:
            return self
        value = self._slot.__get__(instance, owner)
        if isinstance(value, OutputBytes):
            # Two threads may both decode: the same text, and either may be kept.
            value = value.text()
            self._slot.__set__(instance, value)
        return value

    def __set__(self, instance: object, value: object) -> None:
        self._slot.__set__(instance, value)

    def __delete__(self, instance: object) -> None:
        self._slot.__delete__(instance)

    def defer(self, instance: object, raw: OutputBytes) -> None:
        """Make the field of ``instance`` (a record being built) stand for ``raw``."""
        self._slot.__set__(instance, raw)

    def peek(self, instance: object) -> OutputBytes | None:
        """The bytes the field of ``instance`` stands for while it is not decoded, else None."""
        value = self._slot.__get__(instance, type(instance))
        return value if isinstance(value, OutputBytes) else None
