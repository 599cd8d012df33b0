"""Connection: one end of an spe_host connection, as a state machine without I/O.

Theory of operation
-------------------
A connection carries newline-delimited JSON: every frame is one JSON object encoded as
UTF-8 and terminated by ``\\n``. :class:`Connection` turns bytes into events and
messages into bytes; it never touches a socket, a clock or trio, so the server, the
client library and the tests drive it the same way (h11's design, shrunk to one
frame format)::

    conn.receive_data(chunk)         # b"" means the peer closed its side
    while (event := conn.next_event()) is not NEED_DATA:
        if event is CLOSED: ...
        handle(event)                # a Message, or on a server a Refused
    transport.send_all(conn.send(reply))

It checks everything that can be checked without knowing about sessions:

* the frame: its size, UTF-8, JSON, the type of every field. Until the greeting is
  done (a server has sent ``welcome``, a client has received it) frames from the peer
  are limited to ``handshake_max_frame``, so a stranger cannot make us buffer
  ``max_frame`` bytes;
* binary output (1.5): a client whose ``hello`` asks for it, talking to a server of
  1.5 or later, gets ``output`` events as a JSON header with ``"bytes": N`` instead
  of ``"text"``, followed by exactly N raw bytes, which neither side escapes or parses
  as JSON (:mod:`._payload` reads them). :attr:`Connection.binary_output` says whether
  both ends agreed; a server's :meth:`Connection.send_output` makes the frame from
  bytes without decoding them;
* the handshake: a client's first message is ``hello``, a server's ``welcome`` or
  ``error``, each side greets once, and the major protocol versions agree;
* which side may send which message;
* the request lifecycle (:mod:`._lifecycle`): ids in flight, the in-flight limit, one
  final answer per request, the events that belong to each request, ``input_request``
  and ``input_reply`` pairing, and ``cancel``.

Anything wrong with what the peer sent raises :class:`~spe_host.RemoteProtocolError`
(wire code ``bad_request``, or ``too_large`` for an oversized frame) with a sentence
for people and, when the frame had one, the request ``id`` (see
:func:`~spe_host.wire.request_id_of`), so a server can answer that request before it
closes the connection. After that the connection is broken: every later
:meth:`Connection.next_event` raises again. A request a server will not take (its id
is in flight, or too many are) is not an error of the connection: ``next_event``
returns a :class:`~spe_host.wire.Refused` for it and goes on. Trying to send what the
protocol forbids raises :class:`~spe_host.LocalProtocolError` and changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence, Set
from typing import Final, TypeAlias

from spe_host._errors import LocalProtocolError, RemoteProtocolError
from spe_host._rules import decode_output, encode_output

from ._codec import check_version, encode_message, id_in, message_from_json, output_header
from ._events import (
    DEFAULT_MAX_FRAME,
    VERSION_RE,
    Error,
    Message,
    Output,
    Refused,
    Request,
    Side,
    Welcome,
)
from ._lifecycle import Answer, Lifecycle
from ._payload import load_frame, payload_size, take_payload, too_large
from ._requests import Hello

__all__ = [
    "BINARY_OUTPUT_MINOR",
    "CLOSED",
    "HANDSHAKE_MAX_FRAME",
    "MAX_IN_FLIGHT",
    "NEED_DATA",
    "Connection",
]

#: The frame limit until the greeting is done: a hello is a few hundred bytes.
HANDSHAKE_MAX_FRAME: Final = 64 * 1024
#: Requests one connection may have in flight on the server; more are refused with
#: ``busy``, as OpenSSH refuses channels beyond MaxSessions. Far above what a REPL needs.
MAX_IN_FLIGHT: Final = 256
#: The minor version of protocol 1 that added binary output frames.
BINARY_OUTPUT_MINOR: Final = 5

#: Output bytes in one or more pieces, in order.
Payload: TypeAlias = "bytes | bytearray | memoryview | Sequence[bytes | memoryview]"


class _Sentinel(type):
    def __repr__(cls) -> str:
        return cls.__name__


class NEED_DATA(metaclass=_Sentinel):
    """Returned by :meth:`Connection.next_event` when no complete frame is buffered."""


class CLOSED(metaclass=_Sentinel):
    """Returned by :meth:`Connection.next_event` once the peer has closed cleanly."""


class Connection:
    """One end of an spe_host connection, as a state machine without I/O.

    Args:
        our_role: ``"client"`` or ``"server"``.
        max_frame: The largest frame, in bytes without its newline, that either side may
            send. A longer frame from the peer raises ``too_large`` as soon as that many
            bytes are buffered without a newline.
        handshake_max_frame: The limit on the peer's frames until the greeting is done.
        max_in_flight: How many requests a server accepts at once; one more is
            :class:`Refused` with ``busy``. A client does not enforce it.

    Attributes:
        our_role: The role passed in.
        their_role: The other role.
        max_frame: The frame limit.
        handshake_max_frame: The frame limit before the greeting is done.
        max_in_flight: The in-flight limit.
    """

    def __init__(
        self,
        our_role: Side,
        *,
        max_frame: int = DEFAULT_MAX_FRAME,
        handshake_max_frame: int = HANDSHAKE_MAX_FRAME,
        max_in_flight: int = MAX_IN_FLIGHT,
    ) -> None:
        if our_role not in ("client", "server"):
            raise ValueError(f"our_role must be 'client' or 'server', not {our_role!r}")
        for name, value in (
            ("max_frame", max_frame),
            ("handshake_max_frame", handshake_max_frame),
            ("max_in_flight", max_in_flight),
        ):
            if value < 1:
                raise ValueError(f"{name} must be positive, not {value}")
        self.our_role: Side = our_role
        self.their_role: Side = "server" if our_role == "client" else "client"
        self.max_frame = max_frame
        self.handshake_max_frame = handshake_max_frame
        self.max_in_flight = max_in_flight
        self._lifecycle = Lifecycle(max_in_flight if our_role == "server" else None)
        self._buffer = bytearray()
        # The first _scanned bytes of _buffer hold no newline; resuming the search there
        # keeps a frame fed one byte at a time linear.
        self._scanned = 0
        self._eof = False
        self._error: RemoteProtocolError | None = None
        self._they_greeted = False  # hello (or welcome) received
        self._we_greeted = False  # hello (or welcome) sent
        self._asked_binary = False  # a client: its hello asked for binary output
        self._binary = False  # both ends agreed on binary output
        # A client: the output header whose payload is still arriving, and its size.
        self._payload: tuple[dict[str, object], int] | None = None

    # -- the request lifecycle, for the caller's use ---------------------------------------

    @property
    def in_flight(self) -> Set[int]:
        """The ids of the requests in flight (a read-only view; cancels not included)."""
        return self._lifecycle.in_flight

    def cancellable(self, target: int) -> bool:
        """Whether ``target`` is a ``subscribe`` or ``watch`` in flight (what ``cancel`` ends)."""
        return self._lifecycle.cancellable(target)

    def input_pending(self, request_id: int) -> bool:
        """Whether an ``input_request`` of ``request_id`` waits for its ``input_reply``."""
        return self._lifecycle.input_pending(request_id)

    @property
    def binary_output(self) -> bool:
        """Whether ``output`` events travel as a header and raw bytes on this connection.

        True once the client's ``hello`` asked for it (``binary_output``) and each end
        knows the other speaks 1.5 or later: on a server from the ``hello`` on, on a
        client from the ``welcome`` on.
        """
        return self._binary

    @property
    def _frame_limit(self) -> int:
        greeted = self._we_greeted if self.our_role == "server" else self._they_greeted
        return self.max_frame if greeted else min(self.max_frame, self.handshake_max_frame)

    # -- receiving -----------------------------------------------------------------------

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

    def next_event(self) -> Message | Refused | type[NEED_DATA] | type[CLOSED]:
        """Parse the next complete frame.

        A line holding only whitespace (a bare ``\\n``) is a keep-alive and is skipped,
        and so is an ``input_reply`` that no input waits for (a server's side).

        Returns:
            The next message; on a server's side a :class:`Refused` for a request it
            does not accept; :data:`NEED_DATA` when no complete frame is buffered;
            :data:`CLOSED` once the peer has closed and every frame was consumed.

        Raises:
            RemoteProtocolError: The peer broke the protocol. The connection stays
                broken: every later call raises again.
        """
        if self._error is not None:
            raise RemoteProtocolError(
                f"the connection is broken by an earlier protocol error: {self._error}",
                error_code=self._error.error_code,
            )
        try:
            return self._next_event()
        except RemoteProtocolError as exc:
            self._error = exc
            self._buffer.clear()
            if self.our_role == "server" and exc.request_id is not None:
                self._lifecycle.owe_error(exc.request_id)
            raise

    def _next_event(self) -> Message | Refused | type[NEED_DATA] | type[CLOSED]:
        while True:
            if self._payload is not None:
                message = take_payload(self._buffer, *self._payload, eof=self._eof)
                if message is None:
                    return NEED_DATA
                event = self._accept(message, self._payload[0])
                self._payload = None
                if event is not None:
                    return event
                continue
            limit = self._frame_limit
            end = self._buffer.find(b"\n", self._scanned)
            if end < 0:
                self._scanned = len(self._buffer)
                if self._scanned > limit:
                    raise too_large(limit)
                if self._eof:
                    if self._buffer:
                        raise RemoteProtocolError("the connection closed in the middle of a frame")
                    return CLOSED
                return NEED_DATA
            if end > limit:
                raise too_large(limit)
            # A slice of the buffer, not bytes() of one: a frame of megabytes is
            # copied once (bytes() of it took 4.6 ms of fresh pages for 3.3 MB).
            line = self._buffer[:end]
            del self._buffer[: end + 1]
            self._scanned = 0
            # A frame starts with "{": only a line that does not needs stripping (a
            # keep-alive), and a multi-megabyte frame is not copied once more.
            if line[:1] == b"{" or line.strip(b" \t\r"):
                obj = load_frame(line)
                if self.our_role == "client" and type(obj) is dict and "bytes" in obj:
                    size = payload_size(obj, end, limit, binary=self._binary)
                    if size is not None:
                        self._payload = (obj, size)
                        continue  # its payload comes next
                event = self._accept(message_from_json(obj), obj)
                if event is not None:
                    return event

    def _accept(self, message: Message, obj: object) -> Message | Refused | None:
        # `obj` is the decoded frame, whose id (id_in) an error names: read only then.
        if self.their_role != message.SENDER:
            raise RemoteProtocolError(
                f"a {self.their_role} may not send '{message.TYPE}' messages",
                request_id=id_in(obj),
            )
        if isinstance(message, Hello | Welcome):
            if self._they_greeted:
                raise RemoteProtocolError(f"'{message.TYPE}' may be sent only once")
            check_version(message.version)
            self._they_greeted = True
            # Binary output: asked for by the client, and both speak 1.5 or later.
            knows = _minor(message.version) >= BINARY_OUTPUT_MINOR
            asked = message.binary_output if isinstance(message, Hello) else self._asked_binary
            self._binary = asked and knows
            return message
        if not self._they_greeted:
            if self.their_role == "client":
                raise RemoteProtocolError(
                    "the first message must be hello, with the protocol version and the "
                    f"credentials; got '{message.TYPE}'",
                    request_id=id_in(obj),
                )
            if not isinstance(message, Error):
                raise RemoteProtocolError(
                    f"the server's first message must be welcome or error; got '{message.TYPE}'"
                )
        if isinstance(message, Request):
            return self._lifecycle.received_request(message)
        assert isinstance(message, Answer)  # every other server message belongs to an id
        problem = self._lifecycle.check_answer(message)
        if problem is not None:
            raise RemoteProtocolError(f"the server sent {problem}", request_id=id_in(obj))
        self._lifecycle.answered(message)
        return message

    # -- sending -------------------------------------------------------------------------

    def send(self, message: Message) -> bytes:
        """Serialise a message into one frame.

        A request the client sends goes in flight; a final answer the server sends
        (``done``, ``result``, or ``error`` with an id) ends its request.

        Args:
            message: The message to send.

        Returns:
            The bytes to write, newline included (an ``output`` event on a connection
            with :attr:`binary_output`: its header, newline included, and its text's
            bytes).

        Raises:
            LocalProtocolError: Our role may not send this message now (the handshake
                order, or the request lifecycle forbids it), a value is not JSON, or the
                frame would exceed ``max_frame`` (``too_large``). Nothing changes in the
                connection's state.
        """
        greeting = self._check_send(message)
        if self._binary and type(message) is Output:
            text = encode_output(message.text)
            frame = output_header(message, len(text)) + text
        else:
            frame = encode_message(message, end=b"\n")
        self._check_size(message, len(frame) - 1)
        self._sent(message, greeting)
        return frame

    def send_output(
        self, *, id: int, session: str, offset: int, data: Payload, dropped: int = 0
    ) -> list[bytes | memoryview]:
        """Serialise an ``output`` event from the output's bytes, as they are.

        On a connection with :attr:`binary_output` the frame is its header and ``data``
        itself, nothing copied or decoded; on any other, the JSON frame of the text
        ``data`` stands for (:func:`~spe_host._model.decode_output`), as :meth:`send`
        makes it. ``data`` must not end inside a character.

        Args:
            id: The request id of the ``execute`` or ``subscribe``.
            session: The session id.
            offset: The byte offset of ``data`` in the session's output stream.
            data: The bytes, in one or more pieces (not changed while the frame is out).
            dropped: Bytes lost just before them.

        Returns:
            The pieces of the frame, in order: write them as one.

        Raises:
            LocalProtocolError: As :meth:`send`.
        """
        pieces = [data] if isinstance(data, bytes | bytearray | memoryview) else list(data)
        if not self._binary:
            text = decode_output(pieces[0] if len(pieces) == 1 else b"".join(pieces))
            message = Output(id=id, session=session, offset=offset, text=text, dropped=dropped)
            return [self.send(message)]
        message = Output(id=id, session=session, offset=offset, text="", dropped=dropped)
        self._check_send(message)
        size = sum(map(len, pieces))
        header = output_header(message, size)
        self._check_size(message, len(header) - 1 + size)
        self._sent(message, False)
        return [header, *pieces]

    def _check_send(self, message: Message) -> bool:
        # Whether our role may send ``message`` now; returns whether it is our greeting.
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
        if isinstance(message, Request):
            problem = self._lifecycle.check_request(message)
        elif isinstance(message, Answer):
            problem = self._lifecycle.check_answer(message)
        else:
            problem = None
        if problem is not None:
            raise LocalProtocolError(f"cannot send {problem}")
        return greeting

    def _check_size(self, message: Message, size: int) -> None:
        if size > self.max_frame:
            raise LocalProtocolError(
                f"the '{message.TYPE}' message is {size} bytes, longer than the frame "
                f"limit of {self.max_frame} bytes",
                error_code="too_large",
            )

    def _sent(self, message: Message, greeting: bool) -> None:
        if greeting:
            self._we_greeted = True
            if isinstance(message, Hello):
                self._asked_binary = message.binary_output
        elif isinstance(message, Request):
            self._lifecycle.sent_request(message)
        elif isinstance(message, Answer):
            self._lifecycle.answered(message)


def _minor(version: str) -> int:
    # Of a version check_version took: MAJOR.MINOR, ASCII digits.
    match = VERSION_RE.fullmatch(version)
    assert match is not None
    return int(match[2]) if len(match[2]) < 10 else BINARY_OUTPUT_MINOR
