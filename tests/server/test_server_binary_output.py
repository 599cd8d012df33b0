"""A real host's output frames, binary (1.5) or JSON, as the client's hello asked.

A client whose hello asks for binary output gets each chunk as a JSON header and
the session's bytes themselves; one that does not (every 1.4 client) gets the JSON
frames it always got. Either way the chunks are cut between characters, their
offsets follow on, and the text is what the script printed.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import trio
from support.server import encode, served

from spe_host._model import OutputChunk, encode_output
from spe_host.client import _dial

pytestmark = pytest.mark.usefixtures("runtime")

# 3- and 4-byte characters, so the 64 KiB cuts fall next to (never inside) them, and a
# stray byte (a script's "\udcff" stands for 0xff).
SCRIPT = r"""
for i in range(6000):
    print(f"{i:05d}", "€" * 7, "😀" * 3, "\udcff" if i == 3000 else "")
"""
EXPECTED = "".join(
    f"{i:05d} {'€' * 7} {'😀' * 3} {chr(0xDCFF) if i == 3000 else ''}\n" for i in range(6000)
)


async def _raw_frames(stream: trio.abc.Stream, until: int) -> list[tuple[dict[str, Any], bytes]]:
    # Every frame until output reaches offset ``until``: (header, payload or b"").
    buffer = b""
    frames: list[tuple[dict[str, Any], bytes]] = []
    end = 0
    while end < until:
        while b"\n" not in buffer:
            buffer += await stream.receive_some(1 << 20)
        line, buffer = buffer.split(b"\n", 1)
        header = json.loads(line)
        payload = b""
        if "bytes" in header:
            while len(buffer) < header["bytes"]:
                buffer += await stream.receive_some(1 << 20)
            payload, buffer = buffer[: header["bytes"]], buffer[header["bytes"] :]
        frames.append((header, payload))
        if header["type"] == "output":
            size = len(payload) if "bytes" in header else len(encode_output(header["text"]))
            end = header["offset"] + size
    return frames


@pytest.mark.parametrize("binary", [True, False], ids=["asks for binary", "a 1.4 hello"])
async def test_a_raw_subscriber_gets_the_frames_its_hello_asked_for(binary: bool) -> None:
    raw = encode_output(EXPECTED)
    with trio.fail_after(20):
        async with served("unix") as srv:
            await srv.host.execute("s", SCRIPT)
            stream, conn = await srv.raw_hello(binary_output=binary)
            assert conn.binary_output is binary
            await stream.send_all(encode({"type": "subscribe", "id": 1, "session": "s"}))
            frames = await _raw_frames(stream, len(raw))
    outputs = [(header, payload) for header, payload in frames if header["type"] == "output"]
    assert len(outputs) > 2  # several chunks, cut at 64 KiB
    offset = 0
    for header, payload in outputs:
        assert header["offset"] == offset
        if binary:
            assert list(header) == ["type", "id", "session", "offset", "dropped", "bytes"]
            assert payload == raw[offset : offset + len(payload)]  # the bytes themselves
            offset += len(payload)
        else:
            assert "bytes" not in header
            assert list(header)[:5] == ["type", "id", "session", "offset", "text"]
            offset += len(encode_output(header["text"]))
        assert offset == len(raw) or raw[offset] & 0xC0 != 0x80  # cut between characters
    assert offset == len(raw)


@pytest.mark.parametrize("binary", [True, False], ids=["binary frames", "json frames"])
async def test_execute_and_subscribe_give_the_same_chunks_either_way(
    monkeypatch: pytest.MonkeyPatch, binary: bool
) -> None:
    monkeypatch.setattr(_dial, "BINARY_OUTPUT", binary)
    with trio.fail_after(20):
        async with served("unix") as srv, srv.connect() as client:
            streamed: list[OutputChunk] = []
            result = await client.execute("s", SCRIPT, on_output=streamed.append)
            assert result.output == EXPECTED
            assert "".join(chunk.text for chunk in streamed) == EXPECTED
            subscribed: list[OutputChunk] = []
            async with client.subscribe("s") as events:
                async for event in events:
                    assert isinstance(event, OutputChunk)
                    subscribed.append(event)
                    if event.end == len(encode_output(EXPECTED)):
                        break
    assert "".join(chunk.text for chunk in subscribed) == EXPECTED
    ends = [0] + [chunk.end for chunk in subscribed[:-1]]
    assert [chunk.offset for chunk in subscribed] == ends
    # Cut between characters: no chunk starts with the rest of one (a lone surrogate).
    assert all(encode_output(chunk.text)[0] & 0xC0 != 0x80 for chunk in subscribed)
    assert sum(chunk.text.count("\udcff") for chunk in subscribed) == 1
