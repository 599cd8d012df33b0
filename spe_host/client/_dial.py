"""What both ways of connecting share: finding the host, the TLS decision, the greeting's
answer, and the sentences for every way it can fail.

A client connects under trio (:mod:`._connect`) or over a blocking socket
(:mod:`._blocking`, for one-shot commands that run without trio). Both find the host
the same way, refuse to send a token in clear text off this machine by the same rule,
read the host's first answer the same way, and say the same sentence for the same
failure; so those live here, in a module that imports no trio.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from .. import transport
from .._errors import AuthenticationError, ConnectError, HandshakeTimeout, SpeError
from ..auth import ConnectionInfo, find_connection
from ..wire import PROTOCOL_VERSION, Error, Hello, Message, Refused, Welcome, exception_for

__all__ = [
    "BINARY_OUTPUT",
    "HOST_ENV",
    "Dial",
    "broke",
    "cannot_connect",
    "find_host",
    "hello_for",
    "host_closed",
    "host_left",
    "not_spe",
    "plan_dial",
    "protocol_broken",
    "timed_out",
    "welcome_of",
]

#: The environment variable naming the host to connect to when none is given.
HOST_ENV = "SPE_HOST"


@dataclass(frozen=True)
class Dial:
    """How to reach a host: the parsed address, TLS or not, and what to greet it with.

    Attributes:
        address: The parsed address.
        shown: The address as a user would type it, for sentences.
        tls: Whether to speak TLS.
        hello: The greeting to send.
    """

    address: transport.Address
    shown: str
    tls: bool
    hello: Hello


def find_host(address_or_name: str | None) -> ConnectionInfo:
    """The connection details for what the caller named (``$SPE_HOST``, else ``default``).

    Raises:
        ConnectError: Nothing was found, or what was found is not trustworthy.
    """
    try:
        return find_connection(address_or_name or os.environ.get(HOST_ENV) or None)
    except ConnectError:
        raise
    except SpeError as exc:
        raise ConnectError(str(exc)) from None


def plan_dial(
    info: ConnectionInfo,
    *,
    token: str | None,
    cafile: str | None,
    client_name: str,
    tls: bool | None,
    insecure: bool,
) -> Dial:
    """Decide how to reach the host ``info`` names.

    Raises:
        ConnectError: The address is malformed, or the token would go in clear text
            to a host off this machine.
    """
    try:
        address = transport.parse_address(info.address)
    except ValueError as exc:
        raise ConnectError(str(exc)) from None
    shown = transport.format_address(address)
    use_tls = False
    if isinstance(address, transport.TcpAddress):
        use_tls = tls if tls is not None else (info.tls or cafile is not None)
        if (
            token is not None
            and not use_tls
            and not insecure
            and not transport.is_loopback(address.host)
        ):
            raise ConnectError(
                f"refusing to send the token in clear text to {shown}, which is not on this "
                "machine: connect with TLS (its connection file, or a CA file), or, if the "
                "network path is trusted, allow clear text (--insecure on the command "
                "line, insecure=True in Python)"
            )
    return Dial(address, shown, use_tls, hello_for(token, client_name))


#: Whether this client asks for binary output frames (protocol 1.5): always, but a
#: test may turn it off to see the JSON frames a 1.4 client gets.
BINARY_OUTPUT = True


def hello_for(token: str | None, client_name: str) -> Hello:
    """The ``hello`` this client says: our version, the token, binary output asked for.

    A host older than 1.5 ignores ``binary_output`` and sends JSON output frames,
    which the connection reads as before.
    """
    return Hello(
        version=PROTOCOL_VERSION, token=token, client=client_name, binary_output=BINARY_OUTPUT
    )


def welcome_of(reply: Message | Refused | None, shown: str) -> Welcome:
    """The welcome in the host's first answer, or the error that says why there is none.

    Raises:
        ConnectError: The host closed the connection, or refused for another reason.
        AuthenticationError: The host refused the credentials.
    """
    if reply is None:
        raise ConnectError(
            f"the host at {shown} closed the connection during the handshake; if it "
            "speaks TLS, connect with its connection file or a CA file"
        )
    if isinstance(reply, Error):
        refusal = exception_for(reply.code, reply.message)
        if isinstance(refusal, AuthenticationError):
            raise refusal
        raise ConnectError(str(refusal))
    assert isinstance(reply, Welcome)  # the protocol allows nothing else first
    return reply


def cannot_connect(shown: str, exc: OSError) -> ConnectError:
    """The error for a host that cannot be reached (refused, no such socket, ...)."""
    return ConnectError(
        f"cannot connect to {shown}: {_why(exc)}; is the host running? "
        "Start one with `spe-host serve`"
    )


def _why(exc: OSError) -> str:
    """What the system said: trio's "all attempts to connect ... failed" carries the
    attempts' own errors in its cause, and the first says it as the socket module would
    (``Connection refused``), so both ways of connecting give the same sentence."""
    if exc.strerror:
        return exc.strerror
    attempts = exc.__cause__
    if isinstance(attempts, BaseExceptionGroup):
        for attempt in attempts.exceptions:
            if isinstance(attempt, OSError) and attempt.errno:
                return os.strerror(attempt.errno)
    return str(exc)


def broke(shown: str, cause: BaseException) -> ConnectError:
    """The error for a stream that broke during the handshake (TLS, say)."""
    return ConnectError(
        f"the connection to {shown} broke during the handshake ({cause}); "
        "if the server speaks TLS, connect with its connection file or a CA file"
    )


def not_spe(shown: str, exc: BaseException) -> ConnectError:
    """The error for a host whose first answer is not the spe-host protocol."""
    return ConnectError(f"the host at {shown} does not speak the spe-host protocol: {exc}")


def timed_out(shown: str, timeout: float) -> HandshakeTimeout:
    """The error for a host that did not complete the handshake within ``timeout``."""
    return HandshakeTimeout(
        f"the host at {shown} did not complete the handshake within {timeout:g} s; is "
        "it an spe-host server, and does it expect TLS?"
    )


def host_closed(address: str) -> str:
    """The sentence for a host that closed a greeted connection."""
    return f"the host at {address} closed the connection; connect again once it is back"


def host_left(address: str, message: str) -> str:
    """The sentence for a host that closed a greeted connection and said why."""
    return f"the host at {address} closed the connection: {message}"


def protocol_broken(address: str, what: str) -> str:
    """The sentence for a host that sent what the protocol does not allow."""
    return (
        f"the connection to {address} broke: the host sent what the protocol "
        f"does not allow ({what}); connect again"
    )
