"""The HTTP API's listening sockets: one per address its host name resolves to.

Bound here, not by hypercorn, so that a port in use is a sentence from
:func:`bound_sockets` rather than an error deep inside the server's nursery.

A name such as ``localhost`` often resolves to both ``::1`` and ``127.0.0.1``; a
client may try either, so every address gets a socket, as trio's
``open_tcp_listeners`` does for the socket server. Unlike it, every socket gets the
same port: with port 0 the first bind picks one and the others take it too, so the
API has one URL whichever address a client reaches it by.
"""

from __future__ import annotations

import errno
import socket
from typing import Any

import trio

from .._errors import SpeError

__all__ = ["bound_sockets"]


async def bound_sockets(host: str, port: int, address: str) -> list[int]:
    """Bound TCP sockets for every address of ``host``, as descriptors hypercorn takes over.

    Args:
        host: The host name or address to listen on.
        port: The port (0: the system picks one, the same for every address).
        address: The address as the caller wrote it, for error messages.

    Returns:
        The file descriptors, in the resolver's order (the first one's URL is the API's).

    Raises:
        SpeError: The name does not resolve, or an address cannot be bound.
    """
    try:
        infos = await trio.socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise SpeError(f"cannot serve HTTP on {address}: {exc.strerror or exc}") from None
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
    except OSError as exc:
        for sock in sockets:
            sock.close()
        raise SpeError(f"cannot serve HTTP on {address}: {exc.strerror or exc}") from None
    if not sockets:
        raise SpeError(f"cannot serve HTTP on {address}: no address of it can be used here")
    # detach(): hypercorn's socket objects own the descriptors from now on.
    return [sock.detach() for sock in sockets]
