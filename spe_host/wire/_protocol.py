"""The spe_host wire protocol, without any I/O.

Theory of operation
-------------------

A connection carries newline-delimited JSON: every frame is one JSON object encoded as
UTF-8 and terminated by ``\\n``. Each object has a ``"type"`` naming one of the message
classes below. :class:`Connection` turns bytes into messages and messages into bytes; it
never touches a socket, a clock or trio, so the server, the client library and the tests
drive it the same way (this is h11's design, shrunk to one frame format)::

    conn.receive_data(chunk)         # b"" means the peer closed its side
    while (event := conn.next_event()) is not NEED_DATA:
        if event is CLOSED: ...
        handle(event)                # a Message
    transport.send_all(conn.send(reply))

The connection checks what can be checked without knowing about sessions: the frame
limit, UTF-8, JSON, the type of every field, the handshake order (a client's first
message is ``hello``, a server's is ``welcome`` or ``error``), which side may send which
message, and the major protocol version. It does not pair requests with their answers:
requests carry a client-chosen ``id`` that the server echoes on every event and answer
belonging to them, and several requests may be in flight at once.

Anything wrong with what the peer sent raises :class:`RemoteProtocolError` (wire code
``bad_request``, or ``too_large`` for an oversized frame) with a sentence for people and,
when the frame had one, the request ``id`` (see :func:`request_id_of`) so the server can
answer that request before it closes the connection. After that the connection is
broken: every later :meth:`Connection.next_event` raises again. Trying to send what the
protocol forbids raises :class:`LocalProtocolError` and changes nothing.

The field annotations below are written as strings (``from __future__ import
annotations``) and double as the wire schema: :data:`_KINDS` maps each annotation to the
check that validates it, so a message class is declared in one place only.
"""

from __future__ import annotations

import json
import math
import re
import reprlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import MISSING, dataclass, field, fields, is_dataclass
from typing import Any, ClassVar, Final, Literal, Self, TypeAlias, TypeVar

from spe_host._errors import (
    AuthenticationError,
    LocalProtocolError,
    PermissionDenied,
    RemoteProtocolError,
    SessionBusy,
    SessionNotFound,
    SpeError,
)
from spe_host._model import Completion, ExecutionResult, ExecutionStatus, SessionInfo, SessionState
from spe_host._model import Role as ModelRole

__all__ = [
    "CLOSED",
    "DEFAULT_MAX_FRAME",
    "ERROR_CODES",
    "EXECUTION_STATUSES",
    "JSON",
    "NEED_DATA",
    "OPERATOR_REQUESTS",
    "PROTOCOL_VERSION",
    "ROLES",
    "SESSION_STATES",
    "Cancel",
    "Complete",
    "Connection",
    "Done",
    "Error",
    "Execute",
    "Hello",
    "InputReply",
    "InputRequest",
    "ListSessions",
    "Message",
    "Output",
    "Progress",
    "Receive",
    "Remove",
    "Result",
    "Start",
    "Stop",
    "Subscribe",
    "Wait",
    "Welcome",
    "check_version",
    "error_for",
    "exception_for",
    "from_json",
    "message_from_json",
    "request_id_of",
    "to_json",
]

PROTOCOL_VERSION: Final = "1.0"
DEFAULT_MAX_FRAME: Final = 16 * 1024 * 1024

ERROR_CODES: Final = frozenset(
    {"bad_request", "unauthorized", "forbidden", "not_found", "busy", "too_large", "internal"}
)
SESSION_STATES: Final = tuple(SessionState)
EXECUTION_STATUSES: Final = tuple(ExecutionStatus)
ROLES: Final = tuple(ModelRole)

# The requests an operator token may make; everything else needs admin, because it runs
# or inspects code (completion evaluates attributes of live objects) or destroys sessions.
OPERATOR_REQUESTS: Final = frozenset({"list", "stop", "wait", "receive", "subscribe", "cancel"})

# Covariant containers, so that a producer can pass a list[dict[str, JSON]] as a JSON value.
JSON: TypeAlias = "Mapping[str, JSON] | Sequence[JSON] | str | int | float | bool | None"

Side: TypeAlias = Literal["client", "server"]

_INTERNAL_MESSAGE: Final = "an internal error occurred; see the host's log"
_VERSION_RE: Final = re.compile(r"(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)")  # [0-9], not \d: ASCII only
_MAJOR: Final = PROTOCOL_VERSION.split(".")[0]


class _Sentinel(type):
    def __repr__(cls) -> str:
        return cls.__name__


class NEED_DATA(metaclass=_Sentinel):
    """Returned by :meth:`Connection.next_event` when no complete frame is buffered."""


class CLOSED(metaclass=_Sentinel):
    """Returned by :meth:`Connection.next_event` once the peer has closed cleanly."""


# ---------------------------------------------------------------------------------------
# Field checks: each takes a decoded JSON value and returns it (or raises _Mismatch).


class _Mismatch(Exception):
    def __init__(self, expected: str) -> None:
        super().__init__(expected)
        self.expected = expected


class _NotOneOf(_Mismatch):
    """A string outside an enumeration; reported with the value itself."""

    def __init__(self, allowed: str, value: object) -> None:
        super().__init__(f"one of {allowed}")
        self.allowed = allowed
        self.value = value


class _Invalid(Exception):
    """A record failed validation; the argument is a complete sentence."""


def _describe(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list | tuple):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return f"a Python {type(value).__name__}"


def _string(value: object) -> str:
    if isinstance(value, str):
        return value
    raise _Mismatch("a string")


def _count(value: object) -> int:
    # `type() is int` because JSON true is not a number, although Python's bool is an int.
    if type(value) is int and value >= 0:
        return value
    raise _Mismatch("a non-negative integer")


def _number(value: object) -> float:
    if type(value) is int or type(value) is float:
        try:
            number = float(value)
        except OverflowError:
            pass
        else:
            if math.isfinite(number):
                return number
    raise _Mismatch("a finite number")


def _boolean(value: object) -> bool:
    if isinstance(value, bool):
        return value
    raise _Mismatch("true or false")


def _strings(value: object) -> list[str]:
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return value
    raise _Mismatch("an array of strings")


def _object(value: object) -> dict[str, Any]:
    if isinstance(value, dict) and all(isinstance(key, str) for key in value):
        return value
    raise _Mismatch("an object")


def _any_json(value: object) -> object:
    # Whatever json.loads produced is JSON; send() lets json.dumps reject the rest.
    return value


def _execution_result(value: object) -> ExecutionResult:
    return _decode(ExecutionResult, value, "the execution result")


def _enum(kind: type[SessionState] | type[ExecutionStatus]) -> Callable[[object], object]:
    allowed = ", ".join(kind)

    def check(value: object) -> object:
        if isinstance(value, str):
            try:
                return kind(value)
            except ValueError:
                pass
        raise _NotOneOf(allowed, value)

    return check


def _optional(check: Callable[[object], object]) -> Callable[[object], object]:
    def optional(value: object) -> object:
        if value is None:
            return None
        try:
            return check(value)
        except _Mismatch as exc:
            raise _Mismatch(f"{exc.expected} or null") from None

    return optional


_KINDS: Final[dict[str, Callable[[object], object]]] = {
    "str": _string,
    "str | None": _optional(_string),
    "int": _count,
    "int | None": _optional(_count),
    "float": _number,
    "float | None": _optional(_number),
    "bool": _boolean,
    "bool | None": _optional(_boolean),
    "list[str]": _strings,
    "dict[str, JSON] | None": _optional(_object),
    "JSON": _any_json,
    "ExecutionResult": _execution_result,
    "SessionState": _enum(SessionState),
    "ExecutionStatus": _enum(ExecutionStatus),
    "ExecutionStatus | None": _optional(_enum(ExecutionStatus)),
}


def _version_problem(version: str) -> str | None:
    if _VERSION_RE.fullmatch(version) is None:
        return f"the version {reprlib.repr(version)} is not of the form MAJOR.MINOR"
    return None


def _one_of(name: str, value: str | None, allowed: Sequence[str]) -> str | None:
    if value is None or value in allowed:
        return None
    return f"'{name}' must be one of {', '.join(allowed)}, not {reprlib.repr(value)}"


# ---------------------------------------------------------------------------------------
# Records and messages


@dataclass(frozen=True, slots=True)
class _Record:
    """A frozen dataclass that travels as a JSON object."""

    def to_json(self) -> dict[str, JSON]:
        """Return the record as a JSON-ready dict (field names are the wire names)."""
        return to_json(self)

    @classmethod
    def from_json(cls, obj: object) -> Self:
        """Build the record from a decoded JSON object, checking every field.

        Unknown keys are ignored, so that a peer speaking a newer minor version can add
        optional fields.

        Raises:
            RemoteProtocolError: A field is missing, has the wrong type or a bad value.
        """
        return from_json(cls, obj)

    def _problem(self) -> str | None:
        # Checks across fields or on values, beyond each field's JSON type.
        return None


@dataclass(frozen=True, slots=True)
class Message(_Record):
    """The base of every message; ``TYPE`` is the wire ``"type"``, ``SENDER`` who sends it."""

    TYPE: ClassVar[str]
    SENDER: ClassVar[Side]

    def to_json(self) -> dict[str, JSON]:
        """Return the message as a JSON-ready dict, ``"type"`` first."""
        return {"type": self.TYPE, **_Record.to_json(self)}


# Client -> server -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Hello(Message):
    """The client's greeting; it must be the first message a client sends.

    Attributes:
        version: The protocol version the client speaks (``MAJOR.MINOR``).
        token: The access token, or None where the transport authenticates the peer
            (unix sockets check the peer's uid).
        client: A free-form name for the client program.
    """

    TYPE: ClassVar[str] = "hello"
    SENDER: ClassVar[Side] = "client"
    version: str
    # repr=False: a logged hello must not leak the secret.
    token: str | None = field(default=None, repr=False)
    client: str = "spe-host"

    def _problem(self) -> str | None:
        return _version_problem(self.version)


@dataclass(frozen=True, slots=True, kw_only=True)
class Execute(Message):
    """Run code in the foreground; answered by events and then ``done``.

    Attributes:
        id: The request id.
        session: The session to run in (created if missing).
        code: The source code.
        interactive: Show and bind ``_`` to expression values, like the Python REPL.
    """

    TYPE: ClassVar[str] = "execute"
    SENDER: ClassVar[Side] = "client"
    id: int
    session: str
    code: str
    interactive: bool = True


@dataclass(frozen=True, slots=True, kw_only=True)
class Start(Message):
    """Run code or a file in the background; answered by a ``SessionInfo`` result.

    Attributes:
        id: The request id.
        session: The session id, or None for a fresh session (autodispose on).
        code: The source code (exactly one of ``code`` and ``path``).
        path: A script file on the host's machine (exactly one of ``code`` and ``path``).
        args: Variables to bind in the session's namespace first.
        name: A human-friendly name for the session.
        autodispose: Remove the session once its result is received (None: host default).
    """

    TYPE: ClassVar[str] = "start"
    SENDER: ClassVar[Side] = "client"
    id: int
    session: str | None = None
    code: str | None = None
    path: str | None = None
    args: dict[str, JSON] | None = None
    name: str | None = None
    autodispose: bool | None = None

    def _problem(self) -> str | None:
        if (self.code is None) == (self.path is None):
            return "exactly one of 'code' and 'path' must be given"
        return None


@dataclass(frozen=True, slots=True, kw_only=True)
class ListSessions(Message):
    """List sessions (wire type ``list``); answered by a list of ``SessionInfo``.

    Attributes:
        id: The request id.
        patterns: Ids or fnmatch wildcards; empty means every session.
        state: Only sessions in this state, or None for any state.
    """

    TYPE: ClassVar[str] = "list"
    SENDER: ClassVar[Side] = "client"
    id: int
    patterns: list[str] = field(default_factory=list)
    state: str | None = None

    def _problem(self) -> str | None:
        return _one_of("state", self.state, SESSION_STATES)


@dataclass(frozen=True, slots=True, kw_only=True)
class Stop(Message):
    """Ask sessions to stop at their next statement; answered by ``{id: outcome}``.

    Attributes:
        id: The request id.
        targets: Session ids or wildcards (at least one).
    """

    TYPE: ClassVar[str] = "stop"
    SENDER: ClassVar[Side] = "client"
    id: int
    targets: list[str]

    def _problem(self) -> str | None:
        return None if self.targets else "'targets' must not be empty"


@dataclass(frozen=True, slots=True, kw_only=True)
class Wait(Message):
    """Wait for sessions to finish; answered by the list of finished ``SessionInfo``.

    Attributes:
        id: The request id.
        sessions: Session ids (at least one).
        timeout: Seconds to wait at most, or None to wait as long as it takes.
        any: Return as soon as one of them has finished.
    """

    TYPE: ClassVar[str] = "wait"
    SENDER: ClassVar[Side] = "client"
    id: int
    sessions: list[str]
    timeout: float | None = None
    any: bool = False

    def _problem(self) -> str | None:
        if not self.sessions:
            return "'sessions' must not be empty"
        if self.timeout is not None and self.timeout < 0:
            return "'timeout' must not be negative"
        return None


@dataclass(frozen=True, slots=True, kw_only=True)
class Receive(Message):
    """Fetch the last execution's result; answered by an ``ExecutionInfo``.

    Attributes:
        id: The request id.
        session: The session id.
        keep: Keep the result (and output) instead of clearing it.
    """

    TYPE: ClassVar[str] = "receive"
    SENDER: ClassVar[Side] = "client"
    id: int
    session: str
    keep: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class Remove(Message):
    """Remove sessions; answered by the list of removed ids.

    Attributes:
        id: The request id.
        sessions: Session ids (at least one).
        force: Stop running sessions first instead of failing with ``busy``.
    """

    TYPE: ClassVar[str] = "remove"
    SENDER: ClassVar[Side] = "client"
    id: int
    sessions: list[str]
    force: bool = False

    def _problem(self) -> str | None:
        return None if self.sessions else "'sessions' must not be empty"


@dataclass(frozen=True, slots=True, kw_only=True)
class Complete(Message):
    """Complete the word before the cursor; answered by a list of ``Completion``.

    Attributes:
        id: The request id.
        session: The session whose namespace is used.
        text: The text being edited.
        cursor: The cursor position in ``text`` (code points, 0 to ``len(text)``).
    """

    TYPE: ClassVar[str] = "complete"
    SENDER: ClassVar[Side] = "client"
    id: int
    session: str
    text: str
    cursor: int

    def _problem(self) -> str | None:
        if self.cursor > len(self.text):
            return f"'cursor' ({self.cursor}) is past the end of 'text' ({len(self.text)})"
        return None


@dataclass(frozen=True, slots=True, kw_only=True)
class Subscribe(Message):
    """Stream a session's output until cancelled; ends with a ``null`` result.

    Attributes:
        id: The request id; ``output`` events of the stream carry it.
        session: The session id.
        from_offset: The first byte offset wanted in the session's output stream.
    """

    TYPE: ClassVar[str] = "subscribe"
    SENDER: ClassVar[Side] = "client"
    id: int
    session: str
    from_offset: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class Cancel(Message):
    """End a running ``subscribe`` stream.

    Attributes:
        id: The request id of this cancel.
        target: The request id of the ``subscribe`` to end.
    """

    TYPE: ClassVar[str] = "cancel"
    SENDER: ClassVar[Side] = "client"
    id: int
    target: int


@dataclass(frozen=True, slots=True, kw_only=True)
class InputReply(Message):
    """Answer an ``input_request``.

    Attributes:
        id: The request id of the ``execute`` that asked.
        text: The line typed (without its newline), or None for end of file.
    """

    TYPE: ClassVar[str] = "input_reply"
    SENDER: ClassVar[Side] = "client"
    id: int
    text: str | None


# Server -> client -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Welcome(Message):
    """The server's answer to a successful ``hello``.

    Attributes:
        version: The protocol version the server speaks.
        server: A name for the server (its host name or the embedding program's name).
        role: What the credentials may do: ``admin`` or ``operator``.
        pid: The host's process id.
    """

    TYPE: ClassVar[str] = "welcome"
    SENDER: ClassVar[Side] = "server"
    version: str
    server: str
    role: str
    pid: int

    def _problem(self) -> str | None:
        return _version_problem(self.version) or _one_of("role", self.role, ROLES)


@dataclass(frozen=True, slots=True, kw_only=True)
class Output(Message):
    """A chunk of a session's output, for an ``execute`` or a ``subscribe``.

    Attributes:
        id: The request id of the ``execute`` or ``subscribe``.
        session: The session id.
        offset: The byte offset (UTF-8) of ``text`` in the session's output stream.
        text: The output text.
        dropped: Bytes lost just before this chunk because the output buffer was full.
    """

    TYPE: ClassVar[str] = "output"
    SENDER: ClassVar[Side] = "server"
    id: int
    session: str
    offset: int
    text: str
    dropped: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class Progress(Message):
    """A progress report from a running script.

    Attributes:
        id: The request id of the ``execute`` or ``subscribe``.
        session: The session id.
        percent: The percentage reported, or None.
        message: The message reported, or None.
    """

    TYPE: ClassVar[str] = "progress"
    SENDER: ClassVar[Side] = "server"
    id: int
    session: str
    percent: float | None = None
    message: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class InputRequest(Message):
    """The script called ``input()``; the client answers with ``input_reply``.

    Attributes:
        id: The request id of the ``execute``.
        session: The session id.
        prompt: The prompt passed to ``input()``.
    """

    TYPE: ClassVar[str] = "input_request"
    SENDER: ClassVar[Side] = "server"
    id: int
    session: str
    prompt: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Done(Message):
    """The end of an ``execute``.

    Attributes:
        id: The request id of the ``execute``.
        result: How the execution ended.
    """

    TYPE: ClassVar[str] = "done"
    SENDER: ClassVar[Side] = "server"
    id: int
    result: ExecutionResult


@dataclass(frozen=True, slots=True, kw_only=True)
class Result(Message):
    """The answer to any request except ``execute``.

    Attributes:
        id: The request id.
        value: Any JSON value; see docs/protocol.md for each request's shape.
    """

    TYPE: ClassVar[str] = "result"
    SENDER: ClassVar[Side] = "server"
    id: int
    value: JSON


@dataclass(frozen=True, slots=True, kw_only=True)
class Error(Message):
    """A request failed, or the connection is about to be closed.

    Attributes:
        id: The request id, or None when the error concerns the connection.
        code: One of :data:`ERROR_CODES`.
        message: A sentence for people.
    """

    TYPE: ClassVar[str] = "error"
    SENDER: ClassVar[Side] = "server"
    id: int | None
    code: str
    message: str

    def _problem(self) -> str | None:
        return _one_of("code", self.code, sorted(ERROR_CODES))


_MESSAGE_TYPES: Final[dict[str, type[Message]]] = {
    cls.TYPE: cls
    for cls in (
        Hello,
        Execute,
        Start,
        ListSessions,
        Stop,
        Wait,
        Receive,
        Remove,
        Complete,
        Subscribe,
        Cancel,
        InputReply,
        Welcome,
        Output,
        Progress,
        InputRequest,
        Done,
        Result,
        Error,
    )
}

_R = TypeVar("_R")

# (name, check, required) per field; a KeyError here at import means an annotation has no
# entry in _KINDS.
_SCHEMAS: Final[dict[type[Any], tuple[tuple[str, Callable[[object], object], bool], ...]]] = {
    cls: tuple(
        (f.name, _KINDS[str(f.type)], f.default is MISSING and f.default_factory is MISSING)
        for f in fields(cls)
    )
    for cls in (SessionInfo, ExecutionResult, Completion, *_MESSAGE_TYPES.values())
}


def _decode(cls: type[_R], obj: object, what: str) -> _R:
    if not isinstance(obj, dict):
        raise _Invalid(f"{what} must be a JSON object, not {_describe(obj)}")
    values: dict[str, Any] = {}
    for name, check, required in _SCHEMAS[cls]:
        if name not in obj:
            if required:
                raise _Invalid(f"{what} is missing the '{name}' field")
            continue
        try:
            values[name] = check(obj[name])
        except _NotOneOf as exc:
            raise _Invalid(
                f"{what} is invalid: '{name}' must be one of {exc.allowed}, "
                f"not {reprlib.repr(exc.value)}"
            ) from None
        except _Mismatch as exc:
            raise _Invalid(
                f"the '{name}' field of {what} must be {exc.expected}, not {_describe(obj[name])}"
            ) from None
    record = cls(**values)
    problem = record._problem() if isinstance(record, _Record) else None
    if problem is not None:
        raise _Invalid(f"{what} is invalid: {problem}")
    return record


def to_json(record: object) -> dict[str, JSON]:
    """Return a message or a model value as a JSON-ready dict (field names are wire names).

    Args:
        record: A :class:`Message`, or a value type of :mod:`spe_host._model`.
    """
    result: dict[str, JSON] = {}
    for f in fields(record):  # type: ignore[arg-type]
        value = getattr(record, f.name)
        result[f.name] = to_json(value) if is_dataclass(value) else value
    return result


def from_json(cls: type[_R], obj: object) -> _R:
    """Build a message or a model value from a decoded JSON object, checking every field.

    Unknown keys are ignored, so that a peer speaking a newer minor version can add
    optional fields.

    Raises:
        RemoteProtocolError: A field is missing, has the wrong type or a bad value.
    """
    try:
        return _decode(cls, obj, f"the {cls.__name__}")
    except _Invalid as exc:
        raise _remote_error(str(exc)) from None


def _remote_error(
    message: str, *, error_code: str = "bad_request", request_id: int | None = None
) -> RemoteProtocolError:
    return RemoteProtocolError(message, error_code=error_code, request_id=request_id)


def _id_in(obj: object) -> int | None:
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
    request_id = _id_in(obj)
    if not isinstance(obj, dict):
        raise _remote_error(f"a frame must hold a JSON object, not {_describe(obj)}")
    kind = obj.get("type")
    if not isinstance(kind, str):
        raise _remote_error(
            "the message has no 'type' string naming what it is", request_id=request_id
        )
    cls = _MESSAGE_TYPES.get(kind)
    if cls is None:
        raise _remote_error(
            f"{reprlib.repr(kind)} is not a message type this side knows",
            request_id=request_id,
        )
    try:
        return _decode(cls, obj, f"the '{kind}' message")
    except _Invalid as exc:
        raise _remote_error(str(exc), request_id=request_id) from None


def check_version(peer_version: str) -> None:
    """Check that the peer's protocol version is compatible with ours.

    Versions are ``MAJOR.MINOR``; peers are compatible when the majors are equal. A
    minor release only adds optional fields, which older peers ignore.

    Args:
        peer_version: The ``version`` from the peer's ``hello`` or ``welcome``.

    Raises:
        RemoteProtocolError: The version is malformed or its major differs from ours.
    """
    match = _VERSION_RE.fullmatch(peer_version)
    if match is None:
        raise _remote_error(
            f"the peer's protocol version {reprlib.repr(peer_version)} is not of the form "
            f"MAJOR.MINOR; this side speaks {PROTOCOL_VERSION}"
        )
    # Compared as text: the regex forbids leading zeros, and int() of a huge string fails.
    if match[1] != _MAJOR:
        raise _remote_error(
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


def _reject_constant(name: str) -> object:
    raise ValueError(f"{name} is not a JSON number")


class Connection:
    """One end of an spe_host connection, as a state machine without I/O.

    Args:
        our_role: ``"client"`` or ``"server"``.
        max_frame: The largest frame, in bytes without its newline, that either side may
            send. A longer frame from the peer raises ``too_large`` as soon as that many
            bytes are buffered without a newline.

    Attributes:
        our_role: The role passed in.
        their_role: The other role.
        max_frame: The frame limit.
    """

    def __init__(self, our_role: Side, *, max_frame: int = DEFAULT_MAX_FRAME) -> None:
        if our_role not in ("client", "server"):
            raise ValueError(f"our_role must be 'client' or 'server', not {our_role!r}")
        if max_frame < 1:
            raise ValueError(f"max_frame must be positive, not {max_frame}")
        self.our_role: Side = our_role
        self.their_role: Side = "server" if our_role == "client" else "client"
        self.max_frame = max_frame
        self._buffer = bytearray()
        # The first _scanned bytes of _buffer hold no newline; resuming the search there
        # keeps a frame fed one byte at a time linear.
        self._scanned = 0
        self._eof = False
        self._error: RemoteProtocolError | None = None
        self._they_greeted = False  # hello (or welcome) received
        self._we_greeted = False  # hello (or welcome) sent

    def receive_data(self, data: bytes) -> None:
        """Add bytes received from the peer; call :meth:`next_event` afterwards.

        Args:
            data: The bytes read, or ``b""`` when the peer closed the connection.

        Raises:
            RuntimeError: Data arrived after ``b""``.
        """
        if self._eof and data:
            raise RuntimeError("received data after the end of the stream")
        if not data:
            self._eof = True
        elif self._error is None:  # a broken connection has nothing to parse
            self._buffer += data

    def next_event(self) -> Message | type[NEED_DATA] | type[CLOSED]:
        """Parse the next complete frame.

        A line holding only whitespace (a bare ``\\n``) is a keep-alive and is skipped.

        Returns:
            The next message; :data:`NEED_DATA` when no complete frame is buffered;
            :data:`CLOSED` once the peer has closed and every frame was consumed.

        Raises:
            RemoteProtocolError: The peer broke the protocol. The connection stays
                broken: every later call raises again.
        """
        if self._error is not None:
            raise _remote_error(
                f"the connection is broken by an earlier protocol error: {self._error}",
                error_code=self._error.error_code,
            )
        try:
            return self._next_event()
        except RemoteProtocolError as exc:
            self._error = exc
            self._buffer.clear()
            raise

    def _next_event(self) -> Message | type[NEED_DATA] | type[CLOSED]:
        while True:
            end = self._buffer.find(b"\n", self._scanned)
            if end < 0:
                self._scanned = len(self._buffer)
                if self._scanned > self.max_frame:
                    raise self._too_large()
                if self._eof:
                    if self._buffer:
                        raise _remote_error("the connection closed in the middle of a frame")
                    return CLOSED
                return NEED_DATA
            if end > self.max_frame:
                raise self._too_large()
            line = bytes(self._buffer[:end])
            del self._buffer[: end + 1]
            self._scanned = 0
            if line.strip(b" \t\r"):
                return self._accept(self._parse(line))

    def _too_large(self) -> RemoteProtocolError:
        return _remote_error(
            f"a frame is longer than the limit of {self.max_frame} bytes",
            error_code="too_large",
        )

    def _parse(self, line: bytes) -> tuple[Message, dict[str, object]]:
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError:
            raise _remote_error("the frame is not valid UTF-8") from None
        try:
            obj = json.loads(text, parse_constant=_reject_constant)
        except json.JSONDecodeError as exc:
            raise _remote_error(
                f"the frame is not valid JSON ({exc.msg} at character {exc.pos})"
            ) from None
        except (ValueError, RecursionError) as exc:
            # ValueError: NaN/Infinity or an integer too long to convert; RecursionError:
            # arrays nested thousands deep.
            raise _remote_error(
                f"the frame is not acceptable JSON ({type(exc).__name__})"
            ) from None
        return message_from_json(obj), obj

    def _accept(self, parsed: tuple[Message, dict[str, object]]) -> Message:
        message, obj = parsed
        request_id = _id_in(obj)
        if self.their_role != message.SENDER:
            raise _remote_error(
                f"a {self.their_role} may not send '{message.TYPE}' messages",
                request_id=request_id,
            )
        if isinstance(message, Hello | Welcome):
            if self._they_greeted:
                raise _remote_error(f"'{message.TYPE}' may be sent only once")
            check_version(message.version)
            self._they_greeted = True
        elif not self._they_greeted:
            if self.their_role == "client":
                raise _remote_error(
                    "the first message must be hello, with the protocol version and the "
                    f"credentials; got '{message.TYPE}'",
                    request_id=request_id,
                )
            if not isinstance(message, Error):
                raise _remote_error(
                    f"the server's first message must be welcome or error; got '{message.TYPE}'"
                )
        return message

    def send(self, message: Message) -> bytes:
        """Serialise a message into one frame.

        Args:
            message: The message to send.

        Returns:
            The bytes to write, newline included.

        Raises:
            LocalProtocolError: Our role may not send this message now, a field is
                invalid, a value is not JSON, or the frame would exceed ``max_frame``
                (``too_large``). Nothing changes in the connection's state.
        """
        if self.our_role != message.SENDER:
            raise LocalProtocolError(f"a {self.our_role} may not send '{message.TYPE}' messages")
        greeting = isinstance(message, Hello | Welcome)
        if greeting and self._we_greeted:
            raise LocalProtocolError(f"'{message.TYPE}' may be sent only once")
        if not greeting and not self._we_greeted and not isinstance(message, Error):
            first = "hello" if self.our_role == "client" else "welcome or error"
            raise LocalProtocolError(
                f"the first message must be {first}; '{message.TYPE}' cannot come before it"
            )
        obj = message.to_json()
        try:
            # Decoding what we are about to send means the peer will accept it.
            _decode(type(message), obj, f"the '{message.TYPE}' message")
            text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
        except _Invalid as exc:
            raise LocalProtocolError(str(exc)) from None
        except (TypeError, ValueError) as exc:
            raise LocalProtocolError(
                f"the '{message.TYPE}' message holds a value that is not JSON: {exc}"
            ) from None
        try:
            frame = text.encode("utf-8")
        except UnicodeEncodeError:
            # Lone surrogates (e.g. from a decoded "\\ud800" escape) cannot be UTF-8;
            # escaped ASCII JSON carries them intact.
            frame = json.dumps(obj, separators=(",", ":"), allow_nan=False).encode("ascii")
        if len(frame) > self.max_frame:
            raise LocalProtocolError(
                f"the '{message.TYPE}' message is {len(frame)} bytes, longer than the frame "
                f"limit of {self.max_frame} bytes",
                error_code="too_large",
            )
        if greeting:
            self._we_greeted = True
        return frame + b"\n"
