"""Test helpers for programs that embed spe_host, in the shape of :mod:`trio.testing`.

:func:`open_test_client` connects a real :class:`~spe_host.Client` to a real
:class:`~spe_host.Host` over :func:`trio.testing.memory_stream_pair`: the whole stack
(client, wire protocol, server connection, service, engine) runs, with no socket, no
runtime directory and no authentication, and with the peer identity the test chooses.
Tests of what a client sees therefore need neither a port nor a fake host::

    async with spe_host.open_host() as host:
        async with open_test_client(host, role=Role.OPERATOR) as client:
            with pytest.raises(spe_host.PermissionDenied):
                await client.execute("s", "1 + 1")
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import trio
import trio.testing

from ._groups import sole_exception
from ._model import Role
from .client import Client, open_client
from .engine import Host
from .server import serve_stream
from .service import Principal
from .wire import DEFAULT_MAX_FRAME

__all__ = ["open_test_client"]


@asynccontextmanager
async def open_test_client(
    host: Host,
    *,
    role: Role = Role.ADMIN,
    peer: str = "test client",
    timeout: float = 5.0,
    max_frame: int = DEFAULT_MAX_FRAME,
) -> AsyncIterator[Client]:
    """A client connected to ``host`` over an in-memory stream, as ``role``.

    Args:
        host: The host to serve.
        role: The role the connection has (no token is checked).
        peer: How the server names the peer (in logs, stop tickets and the journal).
        timeout: Seconds the client's handshake may take.
        max_frame: The frame limit, in bytes, of both ends.

    Yields:
        The connected client; the connection closes when the block ends. An exception
        raised in the block comes out as itself, not wrapped in an exception group.
    """
    client_stream, server_stream = trio.testing.memory_stream_pair()
    principal = Principal(role, peer)
    served = trio.Event()

    async def serve() -> None:
        try:
            await serve_stream(host, server_stream, principal=principal, max_frame=max_frame)
        finally:
            served.set()

    # The server's task is plumbing that does not raise, so a group out of this
    # nursery holds what the block raised.
    with sole_exception():
        async with trio.open_nursery() as nursery:
            nursery.start_soon(serve)
            async with open_client(
                client_stream, address=f"memory:{host.name}", timeout=timeout, max_frame=max_frame
            ) as client:
                yield client
            # The client closed its end: the server reads the end of the stream and
            # closes the connection as it would a socket's. Cancelling it is the
            # backstop, not the way it ends.
            with trio.move_on_after(timeout):
                await served.wait()
            nursery.cancel_scope.cancel()
