"""Long output over a real socket: every byte arrives, in order, whatever it holds.

An ``output`` frame of 4 KiB or more has its text escaped by ``wire._text`` (whole
buffer passes, not json's loop); this checks the text that comes out of the client
is the text the script printed, escapes, stray bytes and all.
"""

from __future__ import annotations

import contextlib
import io

import pytest
import trio
from support.server import served

from spe_host._model import OutputChunk
from spe_host.wire import _codec, _text

pytestmark = pytest.mark.usefixtures("runtime")

# Every character JSON escapes, its neighbours, non-ASCII, and a stray byte 0xff
# (a script's lone surrogate \udcff stands for it).
SCRIPT = r"""
special = "".join(chr(c) for c in range(32)) + '"\\/\x7f\u2028é\U0001f600'
for i in range(300):
    print(i, special * 20, "\udcff" if i == 150 else "")
"""


def _expected() -> str:
    # What the script prints, printed here.
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(SCRIPT, {})
    return out.getvalue()


async def test_long_output_with_every_escape_reaches_execute_and_subscriber_intact(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    expected = _expected()
    escaped: list[int] = []  # the frames whose text took the fast path, and their lengths

    def counting(text: str) -> bytes:
        data = _text.escaped(text)
        escaped.append(len(text))
        return data

    monkeypatch.setattr(_codec, "escaped", counting)
    with trio.fail_after(20):
        async with served("unix") as srv, srv.connect() as client:
            await client.execute("s", "pass")
            streamed: list[OutputChunk] = []
            result = await client.execute("s", SCRIPT, on_output=streamed.append)
            assert result.status == "completed", result.error
            assert result.output == expected
            assert len(escaped) >= 2  # the fast path ran (the chunk with 0xff did not)
            assert "".join(chunk.text for chunk in streamed) == expected
            subscribed: list[str] = []
            async with client.subscribe("s") as events:
                offset = 0
                async for event in events:
                    assert isinstance(event, OutputChunk)
                    assert (event.offset, event.dropped) == (offset, 0)  # in order, none lost
                    subscribed.append(event.text)
                    offset = event.end
                    if "".join(subscribed) == expected:
                        break
            assert "".join(subscribed) == expected
