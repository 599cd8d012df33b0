"""No byte of output shifts, whatever the script prints, from the engine to the client.

Over a real socket: a run that prints undecodable bytes (lone surrogates U+DC80-DCFF,
what ``os.listdir`` gives) and surrogates that stand for no byte (``\\ud800``) ends
with its whole output in the result, and resuming a subscription from the end of a
chunk gives exactly what came after it.
"""

from __future__ import annotations

import pytest
import trio
from support.server import served

from spe_host._model import OutputChunk, byte_length

pytestmark = pytest.mark.usefixtures("runtime")


async def test_results_and_resumed_output_keep_every_byte() -> None:
    with trio.fail_after(10):
        async with served("tcp") as srv, srv.connect() as client:
            result = await client.execute("s", "print('name: b\\udcff\\udcfeh')\nprint('a\\ud800')")
            assert result.output == "name: b\udcff\udcfeh\na\ufffd\n"
            assert result.error is None
            await client.execute("s", "print('next line')")
            async with client.subscribe("s", from_offset=11) as stream:
                async for chunk in stream:
                    assert isinstance(chunk, OutputChunk)
                    break
            assert (chunk.offset, chunk.text) == (11, "a\ufffd\nnext line\n")
            assert (
                chunk.end == 11 + byte_length(chunk.text) == srv.host.session("s").output.end_offset
            )
