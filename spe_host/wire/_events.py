"""The protocol's vocabulary and the messages a server sends.

Theory of operation
-------------------
Every message is a frozen dataclass whose ``TYPE`` is its wire ``"type"`` and whose
``SENDER`` is the side that may send it. Its field annotations are its wire schema
(:mod:`._schema`), and it checks its fields when it is built, so a message that
exists is a valid one: :class:`~spe_host.wire.Connection` only has to encode it.
A message built from a peer's frame that fails those checks becomes a
:class:`~spe_host.RemoteProtocolError`; one built here, a
:class:`~spe_host.LocalProtocolError`.

Two bases sort the messages: :class:`Message` for all of them, and :class:`Request`
for the client's requests, which all carry the ``id`` that every event and answer
belonging to them carries back. The client's messages live in :mod:`._requests`;
this module holds the base classes, the constants of the protocol, the server's
greeting, events and answers, and :class:`Refused`, which a server-side connection
hands its caller instead of a request it will not accept.
"""

from __future__ import annotations

import re
import reprlib
from collections.abc import Sequence
from typing import ClassVar, Final, Literal, TypeAlias

from spe_host._model import ExecutionResult, ExecutionStatus, Role, SessionInfo, SessionState
from spe_host._records import record

from ._schema import JSON, Checked, encode

__all__ = [
    "DEFAULT_MAX_FRAME",
    "ERROR_CODES",
    "EXECUTION_STATUSES",
    "OPERATOR_REQUESTS",
    "PROTOCOL_VERSION",
    "ROLES",
    "SESSION_STATES",
    "Done",
    "Error",
    "InputRequest",
    "Message",
    "Output",
    "Progress",
    "Refused",
    "Request",
    "Result",
    "Side",
    "StateChanged",
    "Welcome",
]

PROTOCOL_VERSION: Final = "1.5"
DEFAULT_MAX_FRAME: Final = 16 * 1024 * 1024

ERROR_CODES: Final = frozenset(
    {"bad_request", "unauthorized", "forbidden", "not_found", "busy", "too_large", "internal"}
)
SESSION_STATES: Final = tuple(SessionState)
EXECUTION_STATUSES: Final = tuple(ExecutionStatus)
ROLES: Final = tuple(Role)

# The requests an operator token may make; everything else needs admin, because it runs
# or inspects code (completion evaluates attributes of live objects) or destroys sessions.
OPERATOR_REQUESTS: Final = frozenset(
    {"list", "stop", "ticket", "tickets", "wait", "receive", "subscribe", "watch", "cancel"}
)

Side: TypeAlias = Literal["client", "server"]

VERSION_RE: Final = re.compile(r"(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)")  # [0-9], not \d: ASCII only


def version_problem(version: str) -> str | None:
    """Say what is wrong with a ``MAJOR.MINOR`` version string, or None if nothing is."""
    if VERSION_RE.fullmatch(version) is None:
        return f"the version {reprlib.repr(version)} is not of the form MAJOR.MINOR"
    return None


def one_of(name: str, value: str | None, allowed: Sequence[str]) -> str | None:
    """Say that field ``name`` is not one of ``allowed``, or None if it is (or is null)."""
    if value is None or value in allowed:
        return None
    return f"'{name}' must be one of {', '.join(allowed)}, not {reprlib.repr(value)}"


@record
class Message(Checked):
    """The base of every message; ``TYPE`` is the wire ``"type"``, ``SENDER`` who sends it.

    Building a message checks every field.

    Raises:
        LocalProtocolError: A field holds a value the protocol does not allow.
    """

    TYPE: ClassVar[str]
    SENDER: ClassVar[Side]

    def to_json(self) -> dict[str, JSON]:
        """Return the message as a JSON-ready dict, ``"type"`` first."""
        return {"type": self.TYPE, **encode(self)}

    def _what(self) -> str:
        return f"the '{self.TYPE}' message"


@record(kw_only=True)
class Request(Message):
    """The base of the client's requests, each answered by events and a final answer.

    Attributes:
        id: The request id, chosen by the client and unique among its requests in
            flight on the connection; every event and answer for it carries it back.
    """

    SENDER: ClassVar[Side] = "client"
    id: int


# Server -> client -----------------------------------------------------------------------


@record(kw_only=True)
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
        return version_problem(self.version) or one_of("role", self.role, ROLES)


@record(kw_only=True)
class Output(Message):
    """A chunk of a session's output, for an ``execute`` or a ``subscribe``.

    On a connection whose client asked for binary output (1.5), a server's
    :class:`~spe_host.wire.Connection` sends it as a JSON header and the text's bytes
    after it (see :meth:`~spe_host.wire.Connection.send_output`); the receiving side
    builds the same message.

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


@record(kw_only=True)
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


@record(kw_only=True)
class InputRequest(Message):
    """The script called ``input()``; the client answers with ``input_reply``.

    Attributes:
        id: The request id of the ``execute``.
        session: The session id.
        prompt: The prompt passed to ``input()``.
        secret: The script called ``getpass.getpass()``: read the answer without
            echoing it (new in 1.4; a 1.3 client ignores it and echoes).
    """

    TYPE: ClassVar[str] = "input_request"
    SENDER: ClassVar[Side] = "server"
    id: int
    session: str
    prompt: str
    secret: bool = False


@record(kw_only=True)
class StateChanged(Message):
    """A session changed state or progress (wire type ``state``), for a ``watch``.

    It mirrors :class:`spe_host._model.StateChange`.

    Attributes:
        id: The request id of the ``watch``.
        session: The snapshot of the session after the change.
        previous: Its state before the change (equal to ``session.state`` when only
            the progress or the location changed).
    """

    TYPE: ClassVar[str] = "state"
    SENDER: ClassVar[Side] = "server"
    id: int
    session: SessionInfo
    previous: SessionState


@record(kw_only=True)
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


@record(kw_only=True)
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


@record(kw_only=True)
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
        return one_of("code", self.code, sorted(ERROR_CODES))


@record
class Refused:
    """A request the server-side connection did not accept (not a message).

    :meth:`~spe_host.wire.Connection.next_event` returns it instead of the request
    when the request's id is already in flight (``bad_request``) or the connection has
    its limit of requests in flight (``busy``). The connection stays usable; answer it
    with ``conn.send(Error(id=refused.id, code=refused.code, message=refused.message))``.

    Attributes:
        id: The id of the refused request.
        code: The wire code to answer with.
        message: The sentence to answer with.
    """

    id: int
    code: str
    message: str
