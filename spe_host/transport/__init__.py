"""Transport: how bytes reach a host, shared by the server and the client.

Addresses and the bind policy (:mod:`._address`), TLS contexts and certificate pinning
(:mod:`._tls`), and :class:`FramedStream`, the one read loop and batching writer of a
connection (:mod:`._framed`). This layer may use trio and the wire protocol, and never the engine,
the service, the server or the client: they build on it, not it on them.
"""

from ._address import (
    Address,
    TcpAddress,
    UnixAddress,
    check_bind,
    format_address,
    is_loopback,
    parse_address,
)
from ._framed import FramedStream
from ._tls import (
    cert_fingerprint,
    check_fingerprint,
    client_ssl_context,
    fingerprint_of_der,
    server_ssl_context,
)

__all__ = [
    "Address",
    "FramedStream",
    "TcpAddress",
    "UnixAddress",
    "cert_fingerprint",
    "check_bind",
    "check_fingerprint",
    "client_ssl_context",
    "fingerprint_of_der",
    "format_address",
    "is_loopback",
    "parse_address",
    "server_ssl_context",
]
