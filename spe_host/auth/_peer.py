"""Peer credentials: who is at the other end of a unix socket, as the kernel tells it.

Theory of operation
-------------------
Unix sockets need no token: the kernel names the peer process (``SO_PEERCRED``, a
``struct ucred``), and :func:`check_peer_uid` accepts only our own uid. A peer whose
uid cannot be determined is refused: "unknown" never means "allowed".

:func:`peer_credentials` is the one place that reads ``struct ucred``; the uid check
and the server's log lines (which name the refused peer's pid) both start from it.
Only Linux has ``SO_PEERCRED`` in the standard library; elsewhere the credentials are
unknown, and unix-socket peers are refused.
"""

from __future__ import annotations

import socket
import struct
from typing import Protocol

from spe_host._errors import AuthenticationError
from spe_host._records import record

__all__ = ["Credentials", "PeerSocket", "check_peer_uid", "peer_credentials", "peer_uid"]

_UCRED = struct.Struct("3i")  # struct ucred {pid_t pid; uid_t uid; gid_t gid;}


class PeerSocket(Protocol):
    """What :func:`peer_credentials` needs: satisfied by ``socket.socket`` and trio sockets."""

    @property
    def family(self) -> int: ...

    def getsockopt(self, level: int, optname: int, buflen: int, /) -> bytes: ...


@record
class Credentials:
    """The process at the other end of a unix socket, when it connected.

    Attributes:
        pid: Its process id.
        uid: Its user id.
        gid: Its group id.
    """

    pid: int
    uid: int
    gid: int


def peer_credentials(sock: PeerSocket) -> Credentials | None:
    """Return the credentials of the process at the other end of a connected unix socket.

    Args:
        sock: A connected socket (``socket.socket`` or a trio socket).

    Returns:
        The peer's pid, uid and gid, or None if they cannot be known: not a unix socket,
        or a platform without ``SO_PEERCRED`` (only Linux is supported for now).
    """
    so_peercred = getattr(socket, "SO_PEERCRED", None)
    if so_peercred is None or sock.family != getattr(socket, "AF_UNIX", None):
        return None
    try:
        raw = sock.getsockopt(socket.SOL_SOCKET, so_peercred, _UCRED.size)
        pid, uid, gid = _UCRED.unpack(raw)
    except (OSError, struct.error):
        return None
    return Credentials(pid=int(pid), uid=int(uid), gid=int(gid))


def peer_uid(sock: PeerSocket) -> int | None:
    """Return the uid of the process at the other end of a connected unix socket.

    Args:
        sock: A connected socket (``socket.socket`` or a trio socket).

    Returns:
        The peer's uid, or None if it cannot be known (see :func:`peer_credentials`).
    """
    credentials = peer_credentials(sock)
    return None if credentials is None else credentials.uid


def check_peer_uid(uid: int | None, expected: int) -> None:
    """Refuse a unix-socket peer that is not running as ``expected``.

    Args:
        uid: The peer's uid from :func:`peer_uid`, or None if it is unknown.
        expected: The uid allowed in (normally ``os.getuid()``).

    Raises:
        AuthenticationError: The uid differs, or could not be determined.
    """
    if uid is None:
        raise AuthenticationError(
            "the peer's user could not be determined (no SO_PEERCRED on this socket or "
            "platform), so the connection is refused; connect over TCP with the token from "
            "the connection file instead"
        )
    if uid != expected:
        raise AuthenticationError(
            f"the peer runs as uid {uid}; this host only accepts its own user (uid {expected})"
        )
