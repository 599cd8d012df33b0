"""Addresses and the bind policy: where a host listens and a client connects.

Theory of operation
-------------------
A host is reached at ``unix:/path/to/socket`` or ``tcp://host:port`` (an IPv6 host in
brackets). :func:`parse_address` turns that text into a :class:`UnixAddress` or a
:class:`TcpAddress`, with a sentence saying how to write it when it is malformed, and
:func:`format_address` is its inverse, so an address always prints the way a user
would type it.

TCP is loopback by default. Listening on anything else exposes a process that runs
code for whoever connects, so :func:`check_bind` refuses a non-loopback bind without
TLS unless the operator insists (``--insecure``), and then it says so in the log. The
client applies the mirror rule with :func:`is_loopback`: it will not send a token in
clear text off this machine.

Pure standard library: nothing here knows of trio.
"""

from __future__ import annotations

import ipaddress
import re
from typing import ClassVar, TypeAlias

from spe_host._errors import SpeError
from spe_host._records import record

__all__ = [
    "Address",
    "TcpAddress",
    "UnixAddress",
    "check_bind",
    "format_address",
    "is_loopback",
    "parse_address",
]

_HOSTNAME_RE = re.compile(r"[A-Za-z0-9._-]+")


@record
class UnixAddress:
    """A unix socket address, ``unix:/path/to/socket``."""

    kind: ClassVar[str] = "unix"
    path: str

    def __str__(self) -> str:
        return format_address(self)


@record
class TcpAddress:
    """A TCP address, ``tcp://host:port`` (IPv6 hosts in brackets, stored without)."""

    kind: ClassVar[str] = "tcp"
    host: str
    port: int

    def __str__(self) -> str:
        return format_address(self)


Address: TypeAlias = UnixAddress | TcpAddress


def parse_address(address: str) -> Address:
    """Parse ``unix:/path`` or ``tcp://host:port`` (``tcp://[::1]:port`` for IPv6).

    ``unix:///path`` (the URL spelling) is accepted too. Port 0 is allowed, for a
    listener that lets the system pick a port.

    Args:
        address: The address as a user would type it.

    Returns:
        A :class:`UnixAddress` or a :class:`TcpAddress`.

    Raises:
        ValueError: The address is malformed; the message says how to write it.
    """
    if address.startswith("unix:"):
        path = address.removeprefix("unix:")
        if path.startswith("///"):
            path = path[2:]
        if not path:
            raise ValueError(f"{address!r} has no socket path; write unix:/path/to/socket")
        if "\0" in path:
            raise ValueError(f"{address!r} contains a NUL character; write unix:/path/to/socket")
        return UnixAddress(path)
    if address.startswith("tcp://"):
        rest = address.removeprefix("tcp://")
        if rest.startswith("["):
            host, sep, port_text = rest[1:].partition("]:")
            if not sep:
                raise ValueError(f"{address!r} is not an address; write tcp://[::1]:port")
            try:
                ipaddress.IPv6Address(host)
            except ValueError:
                raise ValueError(
                    f"{address!r} has {host!r} in brackets, which is not an IPv6 address"
                ) from None
        else:
            host, sep, port_text = rest.rpartition(":")
            if not sep:
                raise ValueError(f"{address!r} has no port; write tcp://host:port")
            if ":" in host:
                raise ValueError(
                    f"{address!r} looks like an IPv6 address; put it in brackets, "
                    "as in tcp://[::1]:9000"
                )
            if not host:
                raise ValueError(
                    f"{address!r} has no host; write tcp://127.0.0.1:port "
                    "(an empty host would mean every network interface)"
                )
            if _HOSTNAME_RE.fullmatch(host) is None:
                raise ValueError(f"{address!r} has {host!r} as its host, which is not a host name")
        if not (port_text.isascii() and port_text.isdigit()) or int(port_text) > 65535:
            raise ValueError(
                f"{address!r} has {port_text!r} as its port; a port is a number from 0 to 65535"
            )
        return TcpAddress(host, int(port_text))
    raise ValueError(
        f"{address!r} is not an address; write unix:/path/to/socket or tcp://host:port"
    )


def format_address(address: Address) -> str:
    """Return the text form of an address, the inverse of :func:`parse_address`."""
    if isinstance(address, UnixAddress):
        return f"unix:{address.path}"
    host = f"[{address.host}]" if ":" in address.host else address.host
    return f"tcp://{host}:{address.port}"


def is_loopback(host: str) -> bool:
    """Return whether ``host`` is ``localhost`` or a loopback IP (127.0.0.0/8, ::1)."""
    name = host.strip().lower()
    if name.startswith("[") and name.endswith("]"):
        name = name[1:-1]
    if name in ("localhost", "localhost."):
        return True
    try:
        ip = ipaddress.ip_address(name.partition("%")[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped.is_loopback
    return ip.is_loopback


def check_bind(host: str, tls: bool, insecure: bool) -> None:
    """Refuse to listen on a non-loopback address without TLS, unless told to.

    Args:
        host: The address to listen on (``""`` means every interface).
        tls: Whether the listener will speak TLS.
        insecure: The operator's explicit ``--insecure``; allows it with a warning.

    Raises:
        SpeError: A non-loopback host without TLS and without ``insecure``.
    """
    if tls or is_loopback(host):
        return
    where = host or "every network interface"
    if insecure:
        import logging  # only a server binds; a client (spe-host ls) never loads it

        logging.getLogger("spe_host.transport").warning(
            "listening on %s without TLS (--insecure): tokens and code cross the network "
            "in clear text",
            where,
        )
        return
    raise SpeError(
        f"refusing to listen on {where} without TLS: anyone on the network could run code "
        "in this process; pass --tls-cert/--tls-key, or --insecure if you really mean it"
    )
