"""The handshake of open_client over a memory stream: timeouts, refusals, hang-ups."""

from __future__ import annotations

import pytest
import trio
import trio.testing
from support.client import ScriptedHost

from spe_host._errors import AuthenticationError, ConnectError, HandshakeTimeout
from spe_host.client import open_client
from spe_host.wire import Error, Hello


async def test_no_welcome_in_time_is_a_handshake_timeout(autojump_clock: object) -> None:
    with trio.fail_after(60):
        client_end, host_end = trio.testing.memory_stream_pair()
        began = trio.current_time()
        with pytest.raises(HandshakeTimeout, match="did not complete the handshake within 3 s"):
            async with open_client(client_end, address="memory", timeout=3):
                pass
        assert trio.current_time() - began == pytest.approx(3)
        # The client gave up on the stream: the host's end sees it closed.
        assert await host_end.receive_some() != b""  # the hello
        assert await host_end.receive_some() == b""


async def test_a_refused_or_abandoned_handshake_says_why() -> None:
    with trio.fail_after(5):
        client_end, host_end = trio.testing.memory_stream_pair()
        host = ScriptedHost(host_end)

        async def refuse() -> None:
            assert isinstance(await host.next(), Hello)
            await host.send(Error(id=None, code="unauthorized", message="the token is wrong"))

        async with trio.open_nursery() as nursery:
            nursery.start_soon(refuse)
            with pytest.raises(AuthenticationError, match="the token is wrong"):
                async with open_client(client_end, address="memory", token="t"):
                    pass

        client_end, host_end = trio.testing.memory_stream_pair()
        host = ScriptedHost(host_end)

        async def hang_up() -> None:
            assert isinstance(await host.next(), Hello)
            await host_end.aclose()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(hang_up)
            with pytest.raises(ConnectError, match="closed the connection during the handshake"):
                async with open_client(client_end, address="memory"):
                    pass

        client_end, host_end = trio.testing.memory_stream_pair()
        await host_end.aclose()
        with pytest.raises(ConnectError, match="broke during the handshake"):
            async with open_client(client_end, address="memory"):
                pass
