"""JSON text made once: each live record's encoded form, and arrays of them in a frame.

Theory of operation
-------------------
A listing of 10,000 sessions is mostly the same records as the last one: the engine
hands out the same :class:`~spe_host._model.SessionInfo` object for a session until
something about it changes. :func:`encode_records` therefore remembers the JSON text
of every record it encodes, for as long as that record object lives (a weak
reference drops the entry with it), and encodes only the records it has not seen.
It returns an :class:`EncodedArray`, a JSON array whose items are that text;
:func:`~._codec.encode_message` writes such an array into the frame as it is, so a
listing costs a join of bytes rather than a ``json.dumps`` of every record.

A listing asked again with nothing changed is the very same records, in the same
order. So the last array is kept with its records' ids (not when one of them takes
no weak reference), and a count of the remembered records that have died: when a
call's records have the same ids, in order, and none died since, they are those
same objects (two live objects never share an id), and that array - its text
joined once - comes back. It cannot serve stale text: a session that changed hands
out a new record. The records themselves are not held.

The memo is keyed by the record's ``id()`` and checked by identity, so an id reused by
a newer object never finds an older object's text; a record type that takes no weak
references is encoded every time. Each item is UTF-8 JSON on its own: text with lone
surrogates (which UTF-8 cannot carry) is written with ASCII escapes, as
:func:`dumps` writes any value.
"""

from __future__ import annotations

import json
import weakref
from collections.abc import Callable, Iterable, Sequence
from typing import Final, TypeAlias, overload

from ._schema import JSON, encode

__all__ = ["EncodedArray", "dumps", "encode_records"]

_SEPARATORS: Final = (",", ":")
_Slice: TypeAlias = "slice[int | None, int | None, int | None]"

# id(record) -> (a weak reference to it, its JSON text).
_memo: dict[int, tuple[weakref.ref[object], bytes]] = {}
# How many remembered records have died so far.
_deaths = 0
# The ids of the last call's records, _deaths then, and the array made of them.
_last: tuple[list[int], int, EncodedArray] | None = None


def _not_json(value: object) -> object:
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _c_encoder() -> Callable[[object, int], Sequence[str]] | None:
    # The C encoder that json.dumps makes anew for every call with these options,
    # made once: every frame is encoded on some request's path (~10 us a message
    # here). Without the circular-reference check, whose memo a shared encoder
    # cannot keep: a value that holds itself recurses instead (see dumps).
    make = getattr(json.encoder, "c_make_encoder", None)
    quote = getattr(json.encoder, "c_encode_basestring", None)
    if make is None or quote is None:
        return None  # no C accelerator: json.dumps as it is
    encoder: Callable[[object, int], Sequence[str]] = make(
        None, _not_json, quote, None, ":", ",", False, False, False
    )
    return encoder


_ENCODER: Final = _c_encoder()


def dumps(value: object) -> bytes:
    """Return the UTF-8 JSON text of a JSON value, compact.

    The same text as ``json.dumps(value, ensure_ascii=False, separators=(",", ":"),
    allow_nan=False)``, UTF-8 encoded.

    Raises:
        TypeError: The value holds something that is not JSON.
        ValueError: It holds a NaN or an infinity, or itself (or nests too deep).
    """
    if _ENCODER is None:
        text = json.dumps(value, ensure_ascii=False, separators=_SEPARATORS, allow_nan=False)
    else:
        try:
            text = "".join(_ENCODER(value, 0))
        except RecursionError:
            raise ValueError(
                "the value holds itself, or nests too deep to be written as JSON"
            ) from None
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        # Lone surrogates (e.g. from a decoded "\\ud800" escape) cannot be UTF-8;
        # escaped ASCII JSON carries them intact.
        return json.dumps(value, separators=_SEPARATORS, allow_nan=False).encode("ascii")


class EncodedArray(Sequence[JSON]):
    """A JSON array whose items are encoded already (see :func:`encode_records`).

    It reads as a sequence of the items' values, decoded on demand; a frame carries
    its text unchanged.

    Args:
        parts: The UTF-8 JSON text of each item.
    """

    __slots__ = ("_text", "parts")

    def __init__(self, parts: list[bytes]) -> None:
        self.parts = parts
        self._text: bytes | None = None

    def __len__(self) -> int:
        return len(self.parts)

    @overload
    def __getitem__(self, index: int) -> JSON: ...

    @overload
    def __getitem__(self, index: _Slice) -> Sequence[JSON]: ...

    def __getitem__(self, index: int | _Slice) -> JSON | Sequence[JSON]:
        if isinstance(index, slice):
            return [json.loads(part) for part in self.parts[index]]
        value: JSON = json.loads(self.parts[index])
        return value

    def text(self) -> bytes:
        """The array's JSON text (joined once: the parts must not change after)."""
        if self._text is None:
            parts = self.parts
            if len(parts) < 2:
                self._text = b"[" + b"".join(parts) + b"]"
            else:
                # One join of megabytes, not three copies: the brackets ride on the
                # first and last items.
                self._text = b",".join([b"[" + parts[0], *parts[1:-1], parts[-1] + b"]"])
        return self._text


def encode_records(records: Iterable[object]) -> EncodedArray:
    """Return records as a JSON array, encoding only those not encoded before.

    Args:
        records: Wire records (``_model`` values or messages); the same object gives
            the same text for as long as it lives.

    Raises:
        TypeError: A record holds something that is not JSON.
        ValueError: A record holds a NaN or an infinity.
    """
    global _last
    items = list(records)
    ids = list(map(id, items))
    last = _last
    if last is not None and last[1] == _deaths and last[0] == ids:
        return last[2]
    memo = _memo
    parts: list[bytes] = []
    remembered = True
    for record in items:
        key = id(record)
        known = memo.get(key)
        if known is not None and known[0]() is record:
            parts.append(known[1])
            continue
        part = dumps(encode(record))
        try:
            reference = weakref.ref(record, _forgetter(key))
        except TypeError:
            remembered = False  # no weak references: encoded every time
        else:
            memo[key] = (reference, part)
        parts.append(part)
    array = EncodedArray(parts)
    _last = (ids, _deaths, array) if remembered else None
    return array


def _forgetter(key: int) -> Callable[[weakref.ref[object]], None]:
    def forget(reference: weakref.ref[object]) -> None:
        global _deaths
        _deaths += 1
        # Only this record's entry: a newer object may hold the id by now.
        known = _memo.get(key)
        if known is not None and known[0] is reference:
            _memo.pop(key, None)

    return forget
