"""A framed connection over a blocking socket, for a caller that runs without trio.

Theory of operation
-------------------
A one-shot command (``spe-host ls``) makes one request and exits; starting trio for it
costs more than the request. :func:`open_socket` connects to a unix or TCP address
with the standard library, speaking TLS with the same context and the same
certificate pin as the trio path (:func:`~._tls.pinning_ssl_context`,
:func:`~._tls.check_fingerprint`), and :class:`BlockingFramed` is
:class:`~._framed.FramedStream`'s twin around the same sans-IO
:class:`~spe_host.wire.Connection`: frames are read until the connection has an
event, and a frame is written whole with one ``sendall`` (one request at a time, so
there is nothing to interleave with).

Every wait has a deadline: each call takes one (a :func:`time.monotonic` instant),
and the socket's timeout is set to what is left of it before every blocking call, so
a peer that never answers raises :class:`TimeoutError` when it passes. As in
:meth:`FramedStream.receive`, a stream that breaks under a read counts as the peer
closing it (``None``), and the connection decides whether that was clean.
"""

from __future__ import annotations

import socket
import time
from typing import Final

from ..wire import CLOSED, NEED_DATA, Connection, Message, Refused
from ._address import Address, UnixAddress
from ._tls import check_fingerprint, pinning_ssl_context

__all__ = ["BlockingFramed", "open_socket", "remaining"]

_RECEIVE_SIZE: Final = 64 * 1024


def remaining(deadline: float) -> float:
    """The seconds left until ``deadline`` (a :func:`time.monotonic` instant).

    Raises:
        TimeoutError: It has passed.
    """
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError("the deadline passed")
    return left


def open_socket(
    address: Address,
    *,
    deadline: float,
    tls: bool = False,
    cafile: str | None = None,
    fingerprint: str | None = None,
) -> socket.socket:
    """Connect to ``address`` (and speak TLS) before ``deadline``.

    Args:
        address: Where the host listens.
        deadline: When to give up (a :func:`time.monotonic` instant).
        tls: Speak TLS (TCP only).
        cafile: PEM file of the CA to trust; None trusts the pinned certificate.
        fingerprint: The certificate's fingerprint from the connection file, or None.

    Returns:
        The connected socket (an ``ssl.SSLSocket`` with TLS).

    Raises:
        TimeoutError: The deadline passed first.
        ssl.SSLError: The TLS handshake failed.
        OSError: The host cannot be reached.
        AuthenticationError: The certificate is not the one pinned.
        SpeError: The CA file cannot be loaded.
    """
    if isinstance(address, UnixAddress):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(remaining(deadline))
            sock.connect(address.path)
        except BaseException:
            sock.close()
            raise
        return sock
    sock = socket.create_connection((address.host, address.port), timeout=remaining(deadline))
    if not tls:
        return sock
    try:
        context = pinning_ssl_context(cafile, fingerprint)
        sock.settimeout(remaining(deadline))
        secure = context.wrap_socket(sock, server_hostname=address.host)
    except BaseException:
        sock.close()
        raise
    try:
        if fingerprint:
            check_fingerprint(secure.getpeercert(binary_form=True), fingerprint)
    except BaseException:
        secure.close()
        raise
    return secure


class BlockingFramed:
    """One connection's frames over a blocking socket.

    Args:
        sock: The connected socket; it is this object's from now on.
        connection: The sans-IO protocol state of this end.

    Attributes:
        connection: The protocol state.
        eof: True once the peer's end of the stream was read.
    """

    def __init__(self, sock: socket.socket, connection: Connection) -> None:
        self.connection = connection
        self.eof = False
        self._sock = sock

    def send(self, message: Message, *, deadline: float) -> None:
        """Serialise ``message`` and write it before ``deadline``.

        Raises:
            LocalProtocolError: The protocol does not allow this message now.
            TimeoutError: The deadline passed first.
            OSError: The stream broke.
        """
        frame = self.connection.send(message)
        self._sock.settimeout(remaining(deadline))
        self._sock.sendall(frame)

    def receive(self, *, deadline: float) -> Message | Refused | None:
        """The next event from the peer, or None once it has closed its end.

        Raises:
            TimeoutError: Nothing complete came before ``deadline``.
            RemoteProtocolError: The peer broke the protocol (or hung up mid-frame).
        """
        while True:
            event = self.connection.next_event()
            if event is NEED_DATA:
                if self.eof:
                    return None
                self._sock.settimeout(remaining(deadline))
                try:
                    data = self._sock.recv(_RECEIVE_SIZE)
                except TimeoutError:
                    raise
                except OSError:
                    data = b""  # reset or broken: the connection decides if it was clean
                if not data:
                    self.eof = True
                self.connection.receive_data(data)
                continue
            if event is CLOSED:
                return None
            assert isinstance(event, Message | Refused)
            return event

    def close(self) -> None:
        """Close the socket (a TLS one without waiting for the peer's close_notify)."""
        self._sock.close()
