"""Helpers for transport tests: a connected pair of real sockets, and exact reads."""

from __future__ import annotations

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
