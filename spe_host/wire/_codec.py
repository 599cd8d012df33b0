"""JSON <-> typed values: messages, _model records, frames, versions and error codes.

Theory of operation
-------------------
Encoding and decoding follow each class's field annotations (:mod:`._schema`):
:func:`to_json` turns a message or a :mod:`spe_host._model` value into a JSON-ready
dict (enums as their strings, nested records as objects); :func:`from_json` and
:func:`message_from_json` go the other way, check every field, ignore unknown keys,
and raise :class:`~spe_host.RemoteProtocolError` with a sentence saying what was
wrong. :func:`encode_message` makes the bytes of one frame. Nothing here re-decodes
what it encodes: a message checked its fields when it was built.

The error mapping is one table both ways: :func:`error_for` gives the ``(code,
message)`` of an ``error`` answer for an exception, :func:`exception_for` the
exception a client raises for one, so a remote caller catches the same classes as an
in-process one.
"""

from __future__ import annotations

import reprlib
from typing import Final, TypeVar

from spe_host._errors import (
    AuthenticationError,
    LocalProtocolError,
    PermissionDenied,
    RemoteProtocolError,
    SessionBusy,
    SessionNotFound,
    SpeError,
)

from ._encoded import EncodedArray, dumps, encode_records
from ._events import (
    ERROR_CODES,
    PROTOCOL_VERSION,
    VERSION_RE,
    Done,
    Error,
    InputRequest,
    Message,
    Output,
    Progress,
    Result,
    StateChanged,
    Welcome,
)
from ._requests import (
    Cancel,
    Complete,
    Execute,
    Hello,
    InputReply,
    ListSessions,
    Receive,
    Remove,
    SignatureAt,
    Start,
    Stop,
    Subscribe,
    Ticket,
    Tickets,
    Wait,
    Watch,
)
from ._schema import JSON, Invalid, decode, decode_list, describe, encode
from ._text import LONG, escaped

__all__ = [
    "MESSAGE_TYPES",
    "EncodedArray",
    "check_version",
    "encode_message",
    "encode_records",
    "error_for",
    "exception_for",
    "from_json",
    "from_json_list",
    "message_from_json",
    "output_header",
    "request_id_of",
    "to_json",
]

#: Every message class by its wire ``"type"``.
MESSAGE_TYPES: Final[dict[str, type[Message]]] = {
    cls.TYPE: cls
    for cls in (
        Hello,
        Execute,
        Start,
        ListSessions,
        Stop,
        Ticket,
        Tickets,
        Wait,
        Receive,
        Remove,
        Complete,
        SignatureAt,
        Subscribe,
        Watch,
        Cancel,
        InputReply,
        Welcome,
        Output,
        Progress,
        InputRequest,
        StateChanged,
        Done,
        Result,
        Error,
    )
}

_R = TypeVar("_R")
_MAJOR: Final = PROTOCOL_VERSION.split(".")[0]
_INTERNAL_MESSAGE: Final = "an internal error occurred; see the host's log"


def to_json(value: object) -> dict[str, JSON]:
    """Return a message or a model value as a JSON-ready dict (field names are wire names).

    Args:
        value: A :class:`Message` (its ``"type"`` comes first), or a value type of
            :mod:`spe_host._model`.
    """
    if isinstance(value, Message):
        return value.to_json()
    return encode(value)


def from_json(cls: type[_R], obj: object) -> _R:
    """Build a message or a model value from a decoded JSON object, checking every field.

    Unknown keys are ignored, so that a peer speaking a newer minor version can add
    optional fields.

    Raises:
        RemoteProtocolError: A field is missing, has the wrong type or a bad value.
    """
    try:
        return decode(cls, obj, f"the {cls.__name__}")
    except Invalid as exc:
        raise RemoteProtocolError(str(exc)) from None


def from_json_list(cls: type[_R], objs: list[object]) -> list[_R]:
    """:func:`from_json` of each item of an array, in one pass (a listing's records).

    Raises:
        RemoteProtocolError: An item is not a valid record (the first such).
    """
    try:
        return decode_list(cls, objs, f"the {cls.__name__}")
    except Invalid as exc:
        raise RemoteProtocolError(str(exc)) from None


def id_in(obj: object) -> int | None:
    """The request id of a decoded frame, if it has a valid one."""
    if isinstance(obj, dict):
        value = obj.get("id")
        if type(value) is int and value >= 0:
            return value
    return None


def request_id_of(exc: BaseException) -> int | None:
    """Return the request id a :class:`RemoteProtocolError` was raised for, if known.

    Args:
        exc: An exception raised by :meth:`Connection.next_event` or
            :func:`message_from_json`.

    Returns:
        The ``id`` of the offending frame when it could be parsed, else None.
    """
    value = getattr(exc, "request_id", None)
    return value if type(value) is int else None


def message_from_json(obj: object) -> Message:
    """Build a message from a decoded JSON object, checking every field.

    This checks the message on its own; which side may send it, and when, is
    :class:`Connection`'s business.

    Args:
        obj: What ``json.loads`` returned for one frame.

    Returns:
        The typed message.

    Raises:
        RemoteProtocolError: ``obj`` is not a valid message (``bad_request``); the
            exception carries the frame's request id when there was one.
    """
    request_id = id_in(obj)
    if not isinstance(obj, dict):
        raise RemoteProtocolError(f"a frame must hold a JSON object, not {describe(obj)}")
    kind = obj.get("type")
    if not isinstance(kind, str):
        raise RemoteProtocolError(
            "the message has no 'type' string naming what it is", request_id=request_id
        )
    cls = MESSAGE_TYPES.get(kind)
    if cls is None:
        raise RemoteProtocolError(
            f"{reprlib.repr(kind)} is not a message type this side knows",
            request_id=request_id,
        )
    try:
        return decode(cls, obj, f"the '{kind}' message")
    except Invalid as exc:
        raise RemoteProtocolError(str(exc), request_id=request_id) from None


def encode_message(message: Message, *, end: bytes = b"") -> bytes:
    """Return the frame of one message, newline excluded, whatever the connection's state.

    :meth:`Connection.send` uses it after its checks; a server may use it to measure
    what an answer would take. A field holding an :class:`EncodedArray` (a listing
    from :func:`encode_records`) is written as the text it holds, and a long string
    (an output frame's text) by :func:`~._text.escaped`: the same bytes, faster.
    ``end`` goes after the frame (:meth:`Connection.send` passes the newline there,
    so a frame of megabytes is not copied once more to add it).

    Raises:
        LocalProtocolError: The message holds a value that is not JSON.
    """
    obj = message.to_json()
    try:
        for value in obj.values():
            if type(value) is EncodedArray or (type(value) is str and len(value) >= LONG):
                return _spliced(obj, end)
        return dumps(obj) + end
    except (TypeError, ValueError) as exc:
        raise LocalProtocolError(
            f"the '{message.TYPE}' message holds a value that is not JSON: {exc}"
        ) from None


def _spliced(obj: dict[str, JSON], end: bytes) -> bytes:
    # The object's text with each EncodedArray's text put in as it is, and each long
    # string's made by _text (an output frame's text: the same bytes, faster); one
    # join, so the long piece is copied once.
    pieces: list[bytes] = []
    for key, value in obj.items():
        pieces += (b",", _key(key), b":")
        if type(value) is EncodedArray:
            pieces.append(value.text())
            continue
        if type(value) is int:
            pieces.append(b"%d" % value)  # what dumps writes, without its setup per call
            continue
        if type(value) is str and len(value) >= LONG:
            try:
                pieces += (b'"', escaped(value), b'"')
                continue
            except UnicodeEncodeError:
                pass  # a lone surrogate: dumps writes it as an ASCII escape
        pieces.append(dumps(value))
    pieces[0] = b"{"
    pieces.append(b"}" + end)
    return b"".join(pieces)


def output_header(message: Output, size: int) -> bytes:
    """The header of a binary ``output`` frame (1.5) whose payload is ``size`` bytes.

    The message's fields but ``text``, and ``"bytes"``, newline included; the payload
    (the text's bytes) follows it.
    """
    return b'{"type":"output","id":%d,"session":%b,"offset":%d,"dropped":%d,"bytes":%d}\n' % (
        message.id,
        dumps(message.session),
        message.offset,
        message.dropped,
        size,
    )


# A member name's JSON text, by name: the messages' field names, a small set.
_KEYS: dict[str, bytes] = {}


def _key(key: str) -> bytes:
    text = _KEYS.get(key)
    if text is None:
        text = _KEYS[key] = dumps(key)
    return text


def check_version(peer_version: str) -> None:
    """Check that the peer's protocol version is compatible with ours.

    Versions are ``MAJOR.MINOR``; peers are compatible when the majors are equal. A
    minor release only adds optional fields, which older peers ignore.

    Args:
        peer_version: The ``version`` from the peer's ``hello`` or ``welcome``.

    Raises:
        RemoteProtocolError: The version is malformed or its major differs from ours.
    """
    match = VERSION_RE.fullmatch(peer_version)
    if match is None:
        raise RemoteProtocolError(
            f"the peer's protocol version {reprlib.repr(peer_version)} is not of the form "
            f"MAJOR.MINOR; this side speaks {PROTOCOL_VERSION}"
        )
    # Compared as text: the regex forbids leading zeros, and int() of a huge string fails.
    if match[1] != _MAJOR:
        raise RemoteProtocolError(
            f"the peer speaks protocol version {reprlib.repr(peer_version)}, which is "
            f"incompatible with version {PROTOCOL_VERSION} spoken here; upgrade the older side"
        )


def error_for(exc: BaseException) -> tuple[str, str]:
    """Map an exception to the ``(code, message)`` of an ``error`` message.

    Args:
        exc: The exception a request raised.

    Returns:
        The exception's wire code and text for an :class:`SpeError`; for anything else
        ``("internal", ...)`` with a fixed sentence, so no internals leak to clients.
    """
    if isinstance(exc, SpeError) and exc.code in ERROR_CODES:
        return exc.code, str(exc) or f"the request failed ({exc.code})"
    return "internal", _INTERNAL_MESSAGE


_EXCEPTIONS: Final[dict[str, type[SpeError]]] = {
    "not_found": SessionNotFound,
    "busy": SessionBusy,
    "unauthorized": AuthenticationError,
    "forbidden": PermissionDenied,
}


def exception_for(code: str, message: str) -> SpeError:
    """Map the ``code`` and ``message`` of an ``error`` message back to an exception.

    Args:
        code: The wire code.
        message: The sentence that came with it.

    Returns:
        An exception of the class the server raised, so :func:`error_for` gives back the
        same pair: ``bad_request`` and ``too_large`` become :class:`RemoteProtocolError`
        with that ``error_code``; ``internal`` and unknown codes become :class:`SpeError`.
    """
    if code in ("bad_request", "too_large"):
        return RemoteProtocolError(message, error_code=code)
    return _EXCEPTIONS.get(code, SpeError)(message)
