"""Output offsets are bytes of the stream, exact whatever the script printed.

The reproduction from the reliability issue: a script prints what ``os.listdir``
gives for an undecodable file name (lone surrogates); resuming a subscription from the
end of that chunk must give exactly the next line. One rule for text -> offsets
(``spe_host._model.byte_length``) serves the engine, the server, the client and the REPL.
"""

from __future__ import annotations

import pytest
import trio
from support.server import TRANSPORTS, served

from spe_host._model import OutputChunk, byte_length, printable

pytestmark = pytest.mark.usefixtures("runtime")


@pytest.mark.parametrize("transport", [*TRANSPORTS, "memory"])
async def test_resuming_after_undecodable_bytes_loses_and_repeats_nothing(transport: str) -> None:
    with trio.fail_after(10):
        async with served(transport) as srv, srv.connect() as client:
            await client.execute("s", "print('name: b\\udcff\\udcfeh')")
            async with client.subscribe("s") as stream:
                async for first in stream:
                    assert isinstance(first, OutputChunk)
                    break
            assert first.offset == 0
            assert first.text == "name: b\udcff\udcfeh\n"
            assert first.end == stream.offset == len(b"name: b\xff\xfeh\n") == 11
            assert printable(first.text) == "name: b\ufffd\ufffdh\n"

            await client.execute("s", "print('next line')")
            async with client.subscribe("s", from_offset=first.end) as stream:
                async for after in stream:
                    assert isinstance(after, OutputChunk)
                    break
            assert (after.offset, after.text, after.dropped) == (11, "next line\n", 0)
            assert after.end == srv.host.session("s").output.end_offset


def test_byte_length_counts_escaped_bytes_once() -> None:
    assert byte_length("naïve ✓\n") == len("naïve ✓\n".encode())
    assert byte_length("b\udcff") == 2
