"""Helpers for transport tests: a connected pair of real sockets, exact reads, and a
resolver that gives a name both loopback addresses."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import trio


def socket_pair() -> tuple[trio.SocketStream, trio.SocketStream]:
    """Two ends of a real socket pair, as trio streams."""
    ours, theirs = trio.socket.socketpair()
    return trio.SocketStream(ours), trio.SocketStream(theirs)


async def receive_exactly(stream: trio.abc.ReceiveStream, size: int) -> bytes:
    """Read ``size`` bytes; fails if the peer closes first."""
    received = bytearray()
    while len(received) < size:
        data = await stream.receive_some(1 << 20)
        assert data, "the peer closed early"
        received += data
    return bytes(received)


class BothLoopbacks(trio.abc.HostnameResolver):
    """Resolves every name to ``::1``, then ``127.0.0.1``, as many machines do localhost.

    Install it with ``trio.socket.set_custom_hostname_resolver`` (see
    :func:`both_loopbacks`); numeric addresses never reach it.
    """

    async def getaddrinfo(
        self,
        host: bytes | None,
        port: bytes | str | int | None,
        family: int = 0,
        type: int = 0,
        proto: int = 0,
        flags: int = 0,
    ) -> list[Any]:
        number = int(port or 0)
        return [
            (socket.AF_INET6, socket.SOCK_STREAM, 6, "", ("::1", number, 0, 0)),
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", number)),
        ]

    async def getnameinfo(self, sockaddr: tuple[Any, ...], flags: int) -> tuple[str, str]:
        raise NotImplementedError


@contextmanager
def both_loopbacks() -> Iterator[None]:
    """Names resolve to both loopbacks for the block; skips the test without IPv6 here."""
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        pytest.skip("no IPv6 loopback on this machine")
    previous = trio.socket.set_custom_hostname_resolver(BothLoopbacks())
    try:
        yield
    finally:
        trio.socket.set_custom_hostname_resolver(previous)
