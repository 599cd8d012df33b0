"""Transport: how bytes reach a host, shared by the server and the client.

Addresses and the bind policy (:mod:`._address`), TLS contexts and certificate pinning
(:mod:`._tls`), and :class:`FramedStream`, the one read loop and batching writer of a
connection (:mod:`._framed`), and its blocking twin over a plain socket for callers that
run without trio (:mod:`._sockets`). This layer may use trio and the wire protocol, and
never the engine, the service, the server or the client: they build on it, not it on
them. Only :mod:`._framed` and :mod:`._bind` (listening TCP sockets, :func:`bind_tcp`)
import trio, and both are loaded when first named, so a one-shot client (``spe-host ls``)
starts without trio.
"""

from typing import TYPE_CHECKING, Any

from ._address import (
    Address,
    TcpAddress,
    UnixAddress,
    check_bind,
    format_address,
    is_loopback,
    parse_address,
)
from ._tls import (
    cert_fingerprint,
    check_fingerprint,
    client_ssl_context,
    fingerprint_of_der,
    pinning_ssl_context,
    server_ssl_context,
)

if TYPE_CHECKING:
    from ._bind import bind_tcp
    from ._framed import FramedStream

__all__ = [
    "Address",
    "FramedStream",
    "TcpAddress",
    "UnixAddress",
    "bind_tcp",
    "cert_fingerprint",
    "check_bind",
    "check_fingerprint",
    "client_ssl_context",
    "fingerprint_of_der",
    "format_address",
    "is_loopback",
    "parse_address",
    "pinning_ssl_context",
    "server_ssl_context",
]


def __getattr__(name: str) -> Any:
    # PEP 562: FramedStream and bind_tcp (and with them trio) are imported the first
    # time they are named.
    if name == "FramedStream":
        from ._framed import FramedStream

        return FramedStream
    if name == "bind_tcp":
        from ._bind import bind_tcp

        return bind_tcp
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
