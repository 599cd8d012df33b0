"""The messages a client sends: its greeting, and the requests.

Every request derives from :class:`~spe_host.wire.Request` and so carries an ``id``.
Two of them are not requests of their own in the lifecycle that
:class:`~spe_host.wire.Connection` keeps: ``input_reply`` answers an
``input_request`` of an ``execute`` (and takes that execute's id), and ``cancel``
ends a ``subscribe`` or a ``watch`` and is answered at once. Checks beyond a field's
type (a non-empty list, a cursor inside its text) are each class's ``_problem``.
"""

from __future__ import annotations

import reprlib
from dataclasses import field
from typing import ClassVar, Final

from spe_host._model import parse_run_id
from spe_host._records import record
from spe_host._rules import MAX_STOP_REASON

from ._events import SESSION_STATES, Message, Request, Side, one_of, version_problem
from ._schema import JSON

__all__ = [
    "MAX_STOP_REASON",
    "MAX_TICKET_ID",
    "Cancel",
    "Complete",
    "Execute",
    "Hello",
    "InputReply",
    "ListSessions",
    "Receive",
    "Remove",
    "SignatureAt",
    "Start",
    "Stop",
    "Subscribe",
    "Ticket",
    "Tickets",
    "Wait",
    "Watch",
]

#: The longest ticket id a ``ticket`` request may name (a host's ids are far shorter).
MAX_TICKET_ID: Final = 128


@record(kw_only=True)
class Hello(Message):
    """The client's greeting; it must be the first message a client sends.

    Attributes:
        version: The protocol version the client speaks (``MAJOR.MINOR``).
        token: The access token, or None where the transport authenticates the peer
            (unix sockets check the peer's uid).
        client: A free-form name for the client program.
        binary_output: The client takes ``output`` events as a JSON header and the
            text's raw bytes after it (new in 1.5; a 1.4 server ignores it and sends
            JSON frames).
    """

    TYPE: ClassVar[str] = "hello"
    SENDER: ClassVar[Side] = "client"
    version: str
    # repr=False: a logged hello must not leak the secret.
    token: str | None = field(default=None, repr=False)
    client: str = "spe-host"
    binary_output: bool = False

    def _problem(self) -> str | None:
        return version_problem(self.version)


@record(kw_only=True)
class Execute(Request):
    """Run code in the foreground; answered by events and then ``done``.

    Attributes:
        session: The session to run in (created if missing).
        code: The source code.
        interactive: Show and bind ``_`` to expression values, like the Python REPL.
        loop: Run synchronous statements in the app's trio thread (loop mode, new in
            1.2); by default they run on the session's own worker thread.
    """

    TYPE: ClassVar[str] = "execute"
    session: str
    code: str
    interactive: bool = True
    loop: bool = False


@record(kw_only=True)
class Start(Request):
    """Run code or a file in the background; answered by a ``SessionInfo`` result.

    Attributes:
        session: The session id, or None for a fresh session (autodispose on).
        code: The source code (exactly one of ``code`` and ``path``).
        path: A script file on the host's machine (exactly one of ``code`` and ``path``).
        args: Variables to bind in the session's namespace first.
        name: A human-friendly name for the session.
        autodispose: Remove the session once every result it keeps is received (None:
            host default).
        loop: Run synchronous statements in the app's trio thread (loop mode, new in 1.2).
    """

    TYPE: ClassVar[str] = "start"
    session: str | None = None
    code: str | None = None
    path: str | None = None
    args: dict[str, JSON] | None = None
    name: str | None = None
    autodispose: bool | None = None
    loop: bool = False

    def _problem(self) -> str | None:
        if (self.code is None) == (self.path is None):
            return "exactly one of 'code' and 'path' must be given"
        return None


@record(kw_only=True)
class ListSessions(Request):
    """List sessions (wire type ``list``); answered by a list of ``SessionInfo``.

    Attributes:
        patterns: Ids or fnmatch wildcards; empty means every session.
        state: Only sessions in this state, or None for any state.
    """

    TYPE: ClassVar[str] = "list"
    patterns: list[str] = field(default_factory=list)
    state: str | None = None

    def _problem(self) -> str | None:
        return one_of("state", self.state, SESSION_STATES)


@record(kw_only=True)
class Stop(Request):
    """Ask sessions to stop at their next statement; answered by ``{id: outcome}``.

    Each stop requested has a stop ticket, read with ``ticket`` or in ``SessionInfo``.

    Attributes:
        targets: Session ids or wildcards (at least one).
        reason: Why, for the ticket and the script's ``ScriptAborted`` (new in 1.3;
            at most :data:`MAX_STOP_REASON` characters), or None.
        force: If the run has not met the stop, raise it asynchronously in the
            session's thread, so a loop in uninstrumented Python code stops too
            (new in 1.3).
    """

    TYPE: ClassVar[str] = "stop"
    targets: list[str]
    reason: str | None = None
    force: bool = False

    def _problem(self) -> str | None:
        if not self.targets:
            return "'targets' must not be empty"
        if self.reason is not None and len(self.reason) > MAX_STOP_REASON:
            return (
                f"'reason' must be at most {MAX_STOP_REASON} characters, "
                f"not {len(self.reason)}; say why in fewer words"
            )
        return None


@record(kw_only=True)
class Ticket(Request):
    """Read one stop ticket (new in 1.3); answered by a ``StopTicket``, or null.

    Attributes:
        ticket: The ticket's id (exactly one of ``ticket`` and ``session``); an
            unknown one is ``not_found``.
        session: A session id: the ticket of its current or last run, null if that
            run was not asked to stop.
    """

    TYPE: ClassVar[str] = "ticket"
    ticket: str | None = None
    session: str | None = None

    def _problem(self) -> str | None:
        if (self.ticket is None) == (self.session is None):
            return "exactly one of 'ticket' and 'session' must be given"
        if self.ticket is not None and not 0 < len(self.ticket) <= MAX_TICKET_ID:
            return f"'ticket' must be 1 to {MAX_TICKET_ID} characters long"
        return None


@record(kw_only=True)
class Tickets(Request):
    """List the stop tickets the host keeps (new in 1.3); answered by a list of ``StopTicket``.

    The host keeps the tickets of the runs whose results it keeps; newest first.
    """

    TYPE: ClassVar[str] = "tickets"


@record(kw_only=True)
class Wait(Request):
    """Wait for sessions to finish; answered by the list of finished ``SessionInfo``.

    Attributes:
        sessions: Session ids (at least one).
        timeout: Seconds to wait at most, or None to wait as long as it takes.
        any: Return as soon as one of them has finished.
    """

    TYPE: ClassVar[str] = "wait"
    sessions: list[str]
    timeout: float | None = None
    any: bool = False

    def _problem(self) -> str | None:
        if not self.sessions:
            return "'sessions' must not be empty"
        if self.timeout is not None and self.timeout < 0:
            return "'timeout' must not be negative"
        return None


@record(kw_only=True)
class Receive(Request):
    """Fetch a run's result; answered by an ``ExecutionResult``.

    Attributes:
        session: The session id.
        keep: Keep the result (and output) instead of clearing it.
        run: The run's id (``etl#2``, new in 1.2), or None for the session's oldest
            unreceived result.
    """

    TYPE: ClassVar[str] = "receive"
    session: str
    keep: bool = False
    run: str | None = None

    def _problem(self) -> str | None:
        if self.run is None:
            return None
        try:
            owner, _ = parse_run_id(self.run)
        except ValueError as exc:
            return str(exc)
        if owner != self.session:
            return (
                f"the run {reprlib.repr(self.run)} is not a run of session "
                f"{reprlib.repr(self.session)}"
            )
        return None


@record(kw_only=True)
class Remove(Request):
    """Remove sessions; answered by the list of removed ids.

    Attributes:
        sessions: Session ids (at least one).
        force: Stop running sessions first instead of failing with ``busy``.
    """

    TYPE: ClassVar[str] = "remove"
    sessions: list[str]
    force: bool = False

    def _problem(self) -> str | None:
        return None if self.sessions else "'sessions' must not be empty"


@record(kw_only=True)
class Complete(Request):
    """Complete the word before the cursor; answered by a list of ``Completion``.

    Attributes:
        session: The session whose namespace is used.
        text: The text being edited.
        cursor: The cursor position in ``text`` (code points, 0 to ``len(text)``).
    """

    TYPE: ClassVar[str] = "complete"
    session: str
    text: str
    cursor: int

    def _problem(self) -> str | None:
        if self.cursor > len(self.text):
            return f"'cursor' ({self.cursor}) is past the end of 'text' ({len(self.text)})"
        return None


@record(kw_only=True)
class SignatureAt(Complete):
    """The signature of the call around the cursor (wire type ``signature``, new in
    1.4); answered by a ``Signature``, or null. Its fields are ``complete``'s."""

    TYPE: ClassVar[str] = "signature"


@record(kw_only=True)
class Subscribe(Request):
    """Stream a session's output until cancelled; ends with a ``null`` result.

    Attributes:
        session: The session id.
        from_offset: The first byte offset wanted in the session's output stream.
    """

    TYPE: ClassVar[str] = "subscribe"
    session: str
    from_offset: int = 0


@record(kw_only=True)
class Watch(Request):
    """Stream the state changes of sessions until cancelled; ends with a ``null`` result.

    Answered by ``state`` events (:class:`~spe_host.wire.StateChanged`).

    Attributes:
        patterns: Session ids or fnmatch wildcards; empty means every session.
        locations: Also report a running session's new location (the line it is on),
            sampled twice a second; for toolbars and live tables.
    """

    TYPE: ClassVar[str] = "watch"
    patterns: list[str] = field(default_factory=list)
    locations: bool = False


@record(kw_only=True)
class Cancel(Request):
    """End a running ``subscribe`` or ``watch``; answered by whether one was ended.

    Attributes:
        target: The request id of the ``subscribe`` or ``watch`` to end.
    """

    TYPE: ClassVar[str] = "cancel"
    target: int


@record(kw_only=True)
class InputReply(Request):
    """Answer an ``input_request``; never answered itself.

    Attributes:
        id: The request id of the ``execute`` that asked.
        text: The line typed (without its newline), or None for end of file.
    """

    TYPE: ClassVar[str] = "input_reply"
    text: str | None
