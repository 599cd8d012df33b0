"""TCP listening sockets: one per address a host name resolves to, all on one port.

A name such as ``localhost`` often resolves to both ``::1`` and ``127.0.0.1``, and a
client may try either, so every address gets a socket, as trio's
``open_tcp_listeners`` does. Unlike it, every socket gets the same port: with port 0
the first bind picks one and the others take it too, so a listener has one address
to announce whichever of its addresses a client reaches it by. The socket server and
the HTTP API both listen through :func:`bind_tcp`.
"""

from __future__ import annotations

import errno
import socket
from typing import Any

import trio

__all__ = ["bind_tcp"]


async def bind_tcp(
    host: str | None, port: int, *, backlog: int | None = None
) -> list[socket.socket]:
    """Bound TCP sockets for every address of ``host``.

    Args:
        host: The host name or address; None or ``""`` for every interface.
        port: The port (0: the system picks one, the same for every address).
        backlog: Make them listen, with this backlog (None: the caller's server
            will).

    Returns:
        The sockets, in the resolver's order: the first one's address is the one to
        announce.

    Raises:
        OSError: The name does not resolve, or an address cannot be bound (the
            sockets bound so far are closed).
    """
    infos = await trio.socket.getaddrinfo(
        host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )
    sockets: list[socket.socket] = []
    seen: set[tuple[int, Any]] = set()
    try:
        for family, kind, proto, _, where in infos:
            if (family, where[:2]) in seen:
                continue
            seen.add((family, where[:2]))
            if sockets and port == 0:
                where = (where[0], sockets[0].getsockname()[1], *where[2:])
            try:
                sock = socket.socket(family, kind, proto)
            except OSError as exc:
                # A family this machine does not have (IPv6 switched off): the others serve.
                if exc.errno == errno.EAFNOSUPPORT:
                    continue
                raise
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                # Otherwise [::] would also take the IPv4 port the next socket binds.
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind(where)
            if backlog is not None:
                sock.listen(backlog)
    except OSError:
        for sock in sockets:
            sock.close()
        raise
    if not sockets:
        raise OSError(errno.EADDRNOTAVAIL, "no address of it can be used on this machine")
    return sockets
