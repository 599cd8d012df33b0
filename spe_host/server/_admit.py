"""Admission: who a new connection is, decided from its stream and its ``hello``.

Theory of operation
-------------------
On a unix socket the kernel names the peer (``SO_PEERCRED``): its uid must be ours,
and it is then an admin, known as ``uid 1000 (pid 4242)``. Over TCP the ``hello``
must carry a token, compared in constant time; the token decides the role, and the
principal is named by its address.

Tokens from one peer host are checked one at a time, under that host's lock, and
each only after the host's penalty (:class:`~spe_host.auth.FailureThrottle`): the
lock and the delay come *before* the check, so what the throttle bounds is guesses,
not just refusals - parallel connections do not multiply a guesser's attempts, and a
fast ``welcome`` cannot tell a guesser it was right while its other guesses wait.
The price is that a right token from an address that keeps failing waits its turn
too (every local user shares 127.0.0.1; the unix socket, which needs no token, is
never throttled). The caller bounds all of it by the handshake deadline.
"""

from __future__ import annotations

import array
import fcntl
import logging
import os
import socket
import termios
from collections.abc import Callable
from typing import Any

import trio

from .._errors import AuthenticationError
from .._model import Role
from ..auth import FailureThrottle, PeerLocks, TokenTable, check_peer_uid, peer_credentials
from ..service import Principal
from ..wire import Hello
from ._core import Admit

__all__ = ["describe_peer", "has_sent", "token_admit", "unix_admit"]

logger = logging.getLogger("spe_host.server")


def _socket_of(stream: trio.abc.Stream) -> Any:
    if isinstance(stream, trio.SSLStream):
        stream = stream.transport_stream
    return getattr(stream, "socket", None)


def has_sent(stream: trio.abc.Stream) -> bool:
    """True if the peer's bytes wait in the kernel for us to read (FIONREAD), unread yet."""
    sock = _socket_of(stream)
    if sock is None:
        return False
    waiting = array.array("i", [0])
    try:
        fcntl.ioctl(sock.fileno(), termios.FIONREAD, waiting)
    except OSError:
        return False
    return waiting[0] > 0


def describe_peer(stream: trio.abc.Stream) -> tuple[str, str]:
    """``(shown, host)`` for logs and throttling: ``"127.0.0.1:5555"``, ``"127.0.0.1"``."""
    sock = _socket_of(stream)
    if sock is None:
        return "a stream peer", "stream"
    if sock.family == getattr(socket, "AF_UNIX", None):
        return "a unix-socket peer", "unix"
    try:
        host, port = sock.getpeername()[:2]
    except OSError:
        return "an unknown peer", "unknown"
    shown = f"[{host}]" if ":" in host else host
    return f"{shown}:{port}", host


def unix_admit(where: str, peer_uid: Callable[[Any], int | None]) -> Admit:
    """Admit peers of our own uid on a unix socket, as admins.

    Args:
        where: The socket's path, for the log.
        peer_uid: Returns the uid of a connected socket's peer (tests pass a fake).
    """
    me = os.getuid()

    async def admit(stream: trio.abc.Stream, hello: Hello) -> Principal:
        sock = _socket_of(stream)
        credentials = None if sock is None else peer_credentials(sock)
        pid = "unknown" if credentials is None else str(credentials.pid)
        try:
            uid = None if sock is None else peer_uid(sock)
            check_peer_uid(uid, me)
        except AuthenticationError as exc:
            logger.warning(
                "refused a unix-socket peer on %s (client %r, pid %s): %s",
                where,
                hello.client,
                pid,
                exc,
            )
            raise
        return Principal(Role.ADMIN, f"uid {uid} (pid {pid})")

    return admit


def token_admit(tokens: TokenTable, throttle: FailureThrottle) -> Admit:
    """Admit peers that present one of ``tokens``; slow down those that do not."""
    locks = PeerLocks()

    async def admit(stream: trio.abc.Stream, hello: Hello) -> Principal:
        shown, host = describe_peer(stream)
        # Keyed by host only: a client gets a new port for every connection.
        async with locks.hold(host):
            delay = throttle.delay_for(host)
            if delay > 0:
                await trio.sleep(delay)
            try:
                role = tokens.role_for(hello.token)
            except AuthenticationError as exc:
                throttle.record_failure(host, f"{exc} (connection from {shown})")
                raise
        throttle.reset(host)
        return Principal(role, shown, requester=f"{role} at {shown}")

    return admit
