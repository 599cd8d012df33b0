"""Long output over a real socket: every byte arrives, in order, whatever it holds.

And a pump's batch of chunks goes out as one write, whole or not at all.

An ``output`` frame of 4 KiB or more has its text escaped by ``wire._text`` (whole
buffer passes, not json's loop), or - to a client that asked for binary output - is
sent as the bytes themselves; this checks the text that comes out of the client is
the text the script printed, escapes, stray bytes and all, either way.
"""

from __future__ import annotations

import contextlib
import io

import pytest
import trio
import trio.testing
from support.server import served
from support.wire import begin, handshaken

from spe_host._model import OutputChunk, Progress
from spe_host.client import _dial
from spe_host.server._sending import Run, Sender
from spe_host.transport import FramedStream, _framed
from spe_host.wire import Connection, Message, Subscribe, _codec, _text
from spe_host.wire import Output as OutputEvent
from spe_host.wire import Progress as ProgressEvent

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


@pytest.mark.parametrize("binary", [True, False], ids=["binary frames", "json frames"])
async def test_long_output_with_every_escape_reaches_execute_and_subscriber_intact(
    monkeypatch: pytest.MonkeyPatch, binary: bool
) -> None:
    monkeypatch.setattr(_dial, "BINARY_OUTPUT", binary)
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
            if binary:
                assert not escaped  # the bytes went as they are
            else:
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


# -- a pump's batch leaves in one write ----------------------------------------------


class _Cursor:
    """An output cursor that hands out what a test gives it, then nothing."""

    closed = False

    def __init__(self, *batches: list[OutputChunk | Progress]) -> None:
        self.batches = list(batches)

    def pending(self, max_chunks: int | None = None) -> list[OutputChunk | Progress]:
        return self.batches.pop(0) if self.batches else []

    async def wait(self) -> None:
        await trio.sleep_forever()


def _batch(start: int, count: int) -> list[OutputChunk | Progress]:
    items: list[OutputChunk | Progress] = [Progress(percent=50.0, message="half")]
    for index in range(count):
        text = f"{start + index:05d} " + "é" * 3000 + "\n"
        items.append(OutputChunk(session="s", offset=start + index, text=text, dropped=0))
    return items


def _received(client: Connection, data: bytes) -> list[tuple[object, ...]]:
    client.receive_data(data)
    seen: list[tuple[object, ...]] = []
    while isinstance(event := client.next_event(), Message):
        if isinstance(event, OutputEvent):
            seen.append((event.offset, event.text))
        else:
            assert isinstance(event, ProgressEvent)
            seen.append((event.percent, event.message))
    return seen


def _sent(items: list[OutputChunk | Progress]) -> list[tuple[object, ...]]:
    return [
        (i.offset, i.text) if isinstance(i, OutputChunk) else (i.percent, i.message) for i in items
    ]


async def test_a_flush_of_several_chunks_is_one_write_in_order(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    client, server = handshaken()
    begin(client, server, Subscribe(id=7, session="s"))
    ours, theirs = trio.socket.socketpair()
    writes: list[int] = []
    real_write = _framed.os.write

    def counting(fd: int, data: bytes) -> int:
        if fd == ours.fileno():
            writes.append(len(data))
        return real_write(fd, data)

    monkeypatch.setattr(_framed.os, "write", counting)
    items = _batch(0, 3)
    run = Run(offset=0, follower=_Cursor(items))  # type: ignore[arg-type]
    with trio.fail_after(10), ours, theirs:
        sender = Sender(FramedStream(trio.SocketStream(ours), server), max_frame=1 << 24)
        assert await sender.flush(7, "s", run) == items
        assert len(writes) == 1  # four frames, one write (and one wake-up of the peer)
        data = b""
        while data.count(b"\n") < len(items):
            data += await theirs.recv(1 << 20)
    assert _received(client, data) == _sent(items)


async def test_a_flush_cancelled_while_the_outbox_is_full_loses_and_doubles_nothing() -> None:
    client, server = handshaken()
    begin(client, server, Subscribe(id=7, session="s"))
    ours, theirs = trio.testing.lockstep_stream_pair()  # a write waits for the reader
    first, second = _batch(0, 1), _batch(10, 3)
    run = Run(offset=0, follower=_Cursor(first, second))  # type: ignore[arg-type]
    framed = FramedStream(ours, server, outbox_bytes=1)
    sender = Sender(framed, max_frame=1 << 24)
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(framed.run_writer)
            await sender.flush(7, "s", run)  # queued: the writer waits for the reader
            await trio.testing.wait_all_tasks_blocked()
            with trio.CancelScope() as scope:
                nursery.start_soon(_cancel_when_blocked, scope)
                await sender.flush(7, "s", run)  # waits for room, and is cancelled
            assert scope.cancelled_caught
            assert run.backlog == second  # every item it took, in order
            data = b""
            while data.count(b"\n") < len(first):
                data += await theirs.receive_some()
            assert await sender.flush(7, "s", run) == second  # the backlog goes first
            while data.count(b"\n") < len(first) + len(second):
                data += await theirs.receive_some()
            framed.close_outbox()
    assert _received(client, data) == _sent(first) + _sent(second)  # each once, in order


async def _cancel_when_blocked(scope: trio.CancelScope) -> None:
    await trio.testing.wait_all_tasks_blocked()
    scope.cancel()
