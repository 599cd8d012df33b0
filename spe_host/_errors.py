"""The exception tree of spe_host.

Theory of operation: every error the library raises on purpose derives from
:class:`SpeError`, so an embedding program can catch them all in one place. Each
subclass carries a stable wire ``code`` (see ``docs/protocol.md``) so that an error
raised in the host arrives at a remote client as the same class. Messages are full
sentences that say what happened and what to do about it. Each class also names the
HTTP status it maps to (``http_status``), so the HTTP API answers from the same tree.

The connection family (:class:`TransportError`: :class:`ConnectError`,
:class:`HandshakeTimeout`, :class:`ConnectionLost`) is raised on the client's side
only: it says why a host could not be reached or stopped answering, so a caller (the
CLI's exit codes) can tell those apart by class instead of by message text.

:class:`ScriptAborted` is the odd one out: it is what a *script* sees when its session
is stopped, and it derives from :class:`BaseException` so that ``except Exception:``
in the script does not swallow the stop.
"""

from __future__ import annotations

__all__ = [
    "AuthenticationError",
    "ConnectError",
    "ConnectionLost",
    "HandshakeTimeout",
    "JournalUnavailable",
    "LocalProtocolError",
    "NoResult",
    "PermissionDenied",
    "ProtocolError",
    "RemoteProtocolError",
    "ScriptAborted",
    "SessionBusy",
    "SessionExists",
    "SessionNotFound",
    "SpeError",
    "TransportError",
]


class SpeError(Exception):
    """The root of every error spe_host raises on purpose.

    Attributes:
        code: The stable error code used on the wire (``internal`` for the root).
        http_status: The HTTP status the error maps to.
    """

    code: str = "internal"
    http_status: int = 500


class SessionNotFound(SpeError, LookupError):
    """No session has the given id (or no session matches the given pattern)."""

    code = "not_found"
    http_status = 404


class NoResult(SessionNotFound):
    """The session has no result to receive: nothing finished since the last receive.

    It is a :class:`SessionNotFound` (wire code ``not_found``) so that a remote
    client raises the same family as an in-process caller.
    """


class SessionBusy(SpeError):
    """The session is running (or stopping) and cannot take this operation now."""

    code = "busy"
    http_status = 409


class SessionExists(SpeError):
    """A session with that id exists already."""

    code = "busy"
    http_status = 409


class ProtocolError(SpeError):
    """A frame or message broke the wire protocol.

    Attributes:
        error_code: The wire code to answer with (``bad_request`` or ``too_large``).
    """

    code = "bad_request"
    http_status = 400

    def __init__(
        self, message: str, *, error_code: str = "bad_request", request_id: int | None = None
    ) -> None:
        super().__init__(message)
        self.error_code = error_code
        self.code = error_code
        self.http_status = 413 if error_code == "too_large" else 400
        #: The id of the request the bad frame belonged to, when it could be read.
        self.request_id = request_id


class LocalProtocolError(ProtocolError):
    """We tried to send something the protocol does not allow."""


class RemoteProtocolError(ProtocolError):
    """The peer sent something the protocol does not allow."""


class AuthenticationError(SpeError):
    """The credentials were missing, wrong, or the peer is not allowed to connect."""

    code = "unauthorized"
    http_status = 401


class PermissionDenied(SpeError):
    """The credentials are valid, but their role may not do this."""

    code = "forbidden"
    http_status = 403


class JournalUnavailable(SpeError):
    """The journal cannot record: a run is refused (``--journal-required``), or the
    journal file is another host's.

    Its wire code is ``internal`` (the protocol has no code of its own for it, and an
    unknown code would break older clients); the sentence says what happened.
    """

    http_status = 503


class TransportError(SpeError):
    """The connection to a host could not be made, or it ended (client side only)."""

    http_status = 502


class ConnectError(TransportError):
    """The host could not be reached: nothing listens there, or the connect failed."""


class HandshakeTimeout(ConnectError):
    """The host accepted the connection but did not finish the handshake in time."""

    http_status = 504


class ConnectionLost(TransportError):
    """An established connection to the host ended before the answer arrived."""


class ScriptAborted(BaseException):
    """Raised inside a script when its session has been stopped.

    It derives from :class:`BaseException` so that ``except Exception:`` in a script
    does not swallow it; ``finally:`` blocks and ``with`` exits still run.
    """

    # Tracebacks and reprs name the public path, not the private module.
    __module__ = "spe_host"
