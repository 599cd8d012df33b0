"""serve_tcp on a name with two addresses: clients reach it by either, on one port."""

from __future__ import annotations

from functools import partial

import trio
from support.transport import both_loopbacks

import spe_host
from spe_host.server import serve_tcp


async def test_localhost_with_two_addresses_answers_on_both_with_one_port() -> None:
    with both_loopbacks(), trio.fail_after(10):
        async with spe_host.open_host() as host, trio.open_nursery() as nursery:
            listening = await nursery.start(partial(serve_tcp, host, bind="localhost"))
            assert listening.tokens is not None
            token = listening.tokens.token("admin")
            port = listening.address.rpartition(":")[2]
            assert listening.address == f"tcp://[::1]:{port}"
            for address in (f"tcp://[::1]:{port}", f"tcp://127.0.0.1:{port}"):
                async with spe_host.connect(address, token=token) as client:
                    assert (await client.execute("s", "6 * 7")).value == "42"
            nursery.cancel_scope.cancel()
