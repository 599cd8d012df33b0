"""The client asks for binary output frames (1.5), and reads output the same either way.

Against a scripted host (support.client): a 1.5 host sends a chunk's bytes after a
header, a 1.4 host ignores the request and sends JSON frames; the subscription
yields the same :class:`~spe_host.OutputChunk` values from both. A host that breaks
off inside a payload breaks the connection, with a sentence that says so.
"""

from __future__ import annotations

import pytest
import trio
from support.client import scripted

from spe_host._errors import ConnectionLost
from spe_host._model import OutputChunk, decode_output
from spe_host.client import Client
from spe_host.wire import Output, Result, Subscribe

# Multi-byte characters, and bytes that are not UTF-8 (they read as lone surrogates).
PIECES = [b"caf\xc3\xa9 \xe2\x82\xac", b"\xf0\x9f\x98\x80\n", b"stray \xff\xfe\n", b""]


async def _subscribed(version: str) -> tuple[list[OutputChunk], bool]:
    # What a subscription yields from a host announcing ``version`` that sends PIECES,
    # and whether the host's side of the connection sent binary frames.
    with trio.fail_after(5):
        async with scripted(version) as (client, host):
            assert host.hello is not None
            assert host.hello.binary_output  # asked for, whatever the host
            got: list[OutputChunk] = []

            async def subscriber() -> None:
                async with client.subscribe("s") as events:
                    async for event in events:
                        assert isinstance(event, OutputChunk)
                        got.append(event)

            async with trio.open_nursery() as nursery:
                nursery.start_soon(subscriber)
                request = await host.next()
                assert isinstance(request, Subscribe)
                offset = 0
                data = b""
                for raw in PIECES:
                    frame = host.conn.send_output(
                        id=request.id, session="s", offset=offset, data=raw
                    )
                    data += b"".join(frame)
                    offset += len(raw)
                await host.stream.send_all(data)
                await host.send(Result(id=request.id, value=None))
            return got, host.conn.binary_output


@pytest.mark.parametrize("version", ["1.5", "1.4"])
async def test_a_subscription_reads_the_same_chunks_from_a_1_5_and_a_1_4_host(
    version: str,
) -> None:
    got, binary = await _subscribed(version)
    assert binary is (version == "1.5")
    offset, expected = 0, []
    for raw in PIECES:
        expected.append(OutputChunk(session="s", offset=offset, text=decode_output(raw)))
        offset += len(raw)
    assert got == expected
    assert [chunk.end for chunk in got] == [chunk.offset for chunk in got[1:]] + [offset]


async def _read_all(client: Client) -> None:
    async with client.subscribe("s") as events:
        async for _ in events:
            pass


async def test_a_host_that_stops_inside_a_payload_breaks_the_connection() -> None:
    with trio.fail_after(5):
        async with scripted() as (client, host), trio.open_nursery() as nursery:

            async def subscriber() -> None:
                with pytest.raises(ConnectionLost, match="middle of an output payload"):
                    await _read_all(client)

            nursery.start_soon(subscriber)
            request = await host.next()
            frame = host.conn.send(Output(id=request.id, session="s", offset=0, text="x" * 99))
            await host.stream.send_all(frame[:-9])
            await host.stream.aclose()
