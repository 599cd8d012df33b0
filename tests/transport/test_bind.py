"""bind_tcp: every address a name resolves to gets a socket, all on one port."""

from __future__ import annotations

import socket

import pytest
import trio
from support.transport import both_loopbacks

from spe_host.transport import bind_tcp


async def test_both_loopbacks_share_the_port_the_first_bind_picked() -> None:
    with both_loopbacks(), trio.fail_after(5):
        sockets = await bind_tcp("localhost", 0, backlog=8)
        try:
            assert [sock.family for sock in sockets] == [socket.AF_INET6, socket.AF_INET]
            ports = {sock.getsockname()[1] for sock in sockets}
            assert len(ports) == 1
            port = ports.pop()
            for family, address in ((socket.AF_INET6, "::1"), (socket.AF_INET, "127.0.0.1")):
                with socket.socket(family) as client:
                    client.connect((address, port))  # listening: the backlog was given
        finally:
            for sock in sockets:
                sock.close()


async def test_a_port_in_use_on_one_address_closes_the_sockets_already_bound() -> None:
    with both_loopbacks(), socket.socket(socket.AF_INET) as taken, trio.fail_after(5):
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        opened: list[socket.socket] = []
        real = socket.socket

        def recording(*args: object, **kwargs: object) -> socket.socket:
            sock = real(*args, **kwargs)  # type: ignore[arg-type]
            opened.append(sock)
            return sock

        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(socket, "socket", recording)
            with pytest.raises(OSError, match="in use"):
                await bind_tcp("localhost", port)
        # The ::1 socket bound before the refusal is closed, not leaked.
        assert [sock.fileno() for sock in opened] == [-1, -1]
