"""Binary output frames (1.5) over a real byte stream: read whole, however the bytes come.

The framed stream only reads; the connection finds where a payload ends. These
check the two together over a socket pair and a memory stream that hands the
bytes over a few at a time: every event comes out whole, in order, and a stream
that ends inside a payload is a protocol error, not a clean close.
"""

from __future__ import annotations

import pytest
import trio
import trio.testing

from spe_host._errors import RemoteProtocolError
from spe_host.transport import FramedStream
from spe_host.wire import (
    PROTOCOL_VERSION,
    Connection,
    Hello,
    Output,
    Result,
    Subscribe,
    Welcome,
)


def _pair() -> tuple[Connection, Connection]:
    # A client that asked for binary output and a 1.5 server, with subscribe 1 in flight.
    client, server = Connection("client"), Connection("server")
    server.receive_data(client.send(Hello(version=PROTOCOL_VERSION, binary_output=True)))
    server.next_event()
    client.receive_data(server.send(Welcome(version="1.5", server="h", role="admin", pid=1)))
    client.next_event()
    server.receive_data(client.send(Subscribe(id=1, session="s")))
    server.next_event()
    assert client.binary_output
    return client, server


def _frames(server: Connection) -> tuple[bytes, list[object]]:
    # A long output in chunks of at most 64 KiB, each cut between characters (as a
    # follower cuts them), then the end of the stream.
    raw = "".join(f"{n:06d} €😀é\n" for n in range(20_000)).encode()
    data, events, offset = b"", [], 0
    while offset < len(raw):
        end = min(offset + 65_536, len(raw))
        while end < len(raw) and raw[end] & 0xC0 == 0x80:  # inside a character
            end -= 1
        piece = raw[offset:end]
        data += b"".join(server.send_output(id=1, session="s", offset=offset, data=piece))
        events.append(Output(id=1, session="s", offset=offset, text=piece.decode()))
        offset = end
    data += server.send(Result(id=1, value=None))
    events.append(Result(id=1, value=None))
    return data, events


async def _receive_all(framed: FramedStream) -> list[object]:
    events: list[object] = []
    while (event := await framed.receive()) is not None:
        events.append(event)
    return events


async def test_binary_output_over_a_socket_reads_every_event_whole_and_in_order() -> None:
    client, server = _pair()
    data, expected = _frames(server)
    ours, theirs = trio.socket.socketpair()
    with trio.fail_after(10), ours, theirs:
        framed = FramedStream(trio.SocketStream(ours), client)
        async with trio.open_nursery() as nursery:

            async def write() -> None:
                stream = trio.SocketStream(theirs)
                await stream.send_all(data)
                await stream.send_eof()

            nursery.start_soon(write)
            assert await _receive_all(framed) == expected


@pytest.mark.parametrize("size", [1, 7, 997, 4096])
async def test_binary_output_fed_a_few_bytes_at_a_time(size: int) -> None:
    client, server = _pair()
    data, expected = _frames(server)
    if size < 10:
        data, expected = data[:3000], None  # a few bytes at a time: into the first payload
    ours, theirs = trio.testing.memory_stream_pair()
    framed = FramedStream(ours, client)
    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:

            async def write() -> None:
                for start in range(0, len(data), size):
                    await theirs.send_all(data[start : start + size])
                await theirs.aclose()

            nursery.start_soon(write)
            if expected is not None:
                assert await _receive_all(framed) == expected
            else:
                with pytest.raises(RemoteProtocolError, match="middle of an output payload"):
                    await _receive_all(framed)


async def test_a_stream_that_ends_inside_a_payload_is_a_protocol_error() -> None:
    client, server = _pair()
    frame = server.send(Output(id=1, session="s", offset=0, text="x" * 1000))
    ours, theirs = trio.testing.memory_stream_pair()
    framed = FramedStream(ours, client)
    with trio.fail_after(5):
        await theirs.send_all(frame[:-1])
        await theirs.aclose()
        with pytest.raises(RemoteProtocolError, match=r"\(999 of its 1000 bytes came\)"):
            await framed.receive()
