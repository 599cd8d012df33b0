"""A barrage of malformed frames over unix and TCP, before and after ``hello``.

Each input goes on a fresh connection (a malformed frame closes the connection it
came on): before ``hello`` on a bare one, after it on one that has shaken hands.
Inputs come from a seeded generator - random bytes, broken and truncated JSON,
invalid UTF-8, wrong types, unknown and missing fields, huge numbers and deep
nesting, lone surrogates, real messages with one field spoiled. Meanwhile a
background session counts. Afterwards the host still answers, nothing it logged is
an error, and the count has no gap.

``SPE_BARRAGE`` sets the number of inputs (default 5,000, e.g. 1000000 for the big
run); the figure printed is inputs per second and the count's length.
"""

from __future__ import annotations

import json
import logging
import os
import random
from collections.abc import Iterator

import pytest
import trio
from support.server import Served, served

from spe_host import SessionState
from spe_host.wire import PROTOCOL_VERSION, Connection, Hello

pytestmark = pytest.mark.usefixtures("runtime")

INPUTS = int(os.environ.get("SPE_BARRAGE", "5000"))
WORKERS = 24
WAITING = 0.1  # seconds to wait for the close of a connection that sent junk
COUNTER = "import time\ni = 0\nwhile True:\n    print(i)\n    i += 1\n    time.sleep(0.001)\n"

_REQUESTS = ["execute", "start", "list", "stop", "wait", "receive", "remove", "complete"]
_VALUES: list[object] = [
    None,
    True,
    -1,
    0,
    2**70,
    1e308,
    "",
    "x" * 5000,
    "\ud800",
    [],
    {},
    [[[[[]]]]],
    {"a": {"b": {"c": []}}},
    "*" * 3000,
    "a*" * 2000,
    -(2**63),
]


# Valid requests, each to be sent with one field spoiled: what a confused client or
# an attacker with a token sends. Sessions named "b..." are the barrage's own.
_TEMPLATES: list[dict[str, object]] = [
    {"type": "execute", "session": "b1", "code": "pass"},
    {"type": "start", "session": "b2", "code": "pass"},
    {"type": "list", "patterns": ["b*"]},
    {"type": "stop", "targets": ["b*"]},
    {"type": "wait", "sessions": ["b1"], "timeout": 0},
    {"type": "receive", "session": "b1"},
    {"type": "remove", "sessions": ["b2"]},
    {"type": "complete", "session": "b1", "text": "pa", "cursor": 2},
    {"type": "subscribe", "session": "b1"},
    {"type": "watch", "patterns": ["b*"]},
]
_HOSTILE: list[object] = ["\ud800", "b\udcff", "\x00", "a*" * 600, "[" * 500, "é" * 200, -1]


def _spoiled(rng: random.Random) -> bytes:
    message = dict(rng.choice(_TEMPLATES), id=rng.randrange(1, 9))
    field = rng.choice([key for key in message if key != "type"])
    spoil = rng.choice(_HOSTILE)
    message[field] = [spoil] if isinstance(message[field], list) else spoil
    return json.dumps(message).encode() + b"\n"


def _junk(rng: random.Random) -> bytes:
    kind = rng.randrange(10)
    if kind == 9:
        return _spoiled(rng)
    if kind == 0:
        return rng.randbytes(rng.randrange(1, 200)).replace(b"\n", b" ") + b"\n"
    if kind == 1:
        return b"{" * rng.randrange(1, 3000) + b"\n"
    if kind == 2:
        return b'{"type": "hello", "version": 1, "token": "\xff\xfe"}\n'
    if kind == 3:
        return json.dumps(rng.choice(_VALUES)).encode() + b"\n"
    if kind == 4:
        message = {"type": rng.choice(_REQUESTS), "id": rng.choice(_VALUES)}
        return json.dumps(message).encode() + b"\n"
    if kind == 5:
        message = {"type": rng.choice(_REQUESTS), "id": rng.randrange(1, 9)}
        for field in ("session", "code", "patterns", "timeout", "cursor", "text", "path"):
            if rng.random() < 0.5:
                message[field] = rng.choice(_VALUES)
        return json.dumps(message).encode() + b"\n"
    if kind == 6:
        good = json.dumps({"type": "list", "id": 1, "patterns": ["*"]}).encode()
        return good[: rng.randrange(1, len(good))] + b"\n"
    if kind == 7:
        return b'{"type": "list", "id": 1, "patterns": ["\\ud800\\udfff"], "x": NaN}\n'
    return b"[" * 100 + b"]" * 99 + b"\n"


def _inputs(count: int) -> Iterator[tuple[bool, bytes]]:
    rng = random.Random(20261201)
    for _ in range(count):
        yield rng.random() < 0.5, _junk(rng)


async def _send(srv: Served, after_hello: bool, data: bytes) -> None:
    stream = await srv.open_raw()
    srv.raw_streams.remove(stream)
    async with stream:
        try:
            if after_hello and not await _hello(stream, srv.token()):
                return  # turned away before hello (the server's startup limits)
            await stream.send_all(data)
            # The answer, then the close; a junk frame that happens to be a valid
            # request that waits (a `wait` with no timeout) is left at the deadline.
            with trio.move_on_after(WAITING):
                while await stream.receive_some(65536):
                    pass
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass  # the server closed first: as good as an answer


async def _hello(stream: trio.abc.Stream, token: str | None) -> bool:
    """Shake hands; False if the server closed first (it may shed unauthenticated load)."""
    hello = Connection("client").send(Hello(version=PROTOCOL_VERSION, token=token, client="b"))
    await stream.send_all(hello)
    answer = b""
    while b"\n" not in answer:
        data = await stream.receive_some(65536)
        if not data:
            return False
        answer += data
    assert json.loads(answer.split(b"\n", 1)[0])["type"] == "welcome"
    return True


async def _barrage(srv: Served, inputs: list[tuple[bool, bytes]]) -> None:
    send, receive = trio.open_memory_channel[tuple[bool, bytes]](0)

    async def worker() -> None:
        async for after_hello, data in receive:
            with trio.fail_after(10):
                await _send(srv, after_hello, data)

    async with trio.open_nursery() as nursery:
        for _ in range(WORKERS):
            nursery.start_soon(worker)
        async with send:
            for item in inputs:
                await send.send(item)


@pytest.mark.parametrize("transport", ["unix", "tcp"])
async def test_a_barrage_of_malformed_frames_crashes_nothing_and_loses_no_line(
    transport: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR)
    inputs = list(_inputs(INPUTS // 2))
    with trio.fail_after(60 + INPUTS / 100):
        async with served(transport) as srv:
            counter = srv.host.start("counter", COUNTER)
            began = trio.current_time()
            await _barrage(srv, inputs)
            took = trio.current_time() - began
            async with srv.connect() as client:
                listed = await client.sessions()
                states = {s.id: s.state for s in listed}
                assert states["counter"] is SessionState.RUNNING
            srv.host.stop("counter")
            await srv.host.wait("counter")
            lines = counter.output.read(0).text.splitlines()
    assert lines == [str(i) for i in range(len(lines))]
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == []
    print(
        f"\nbarrage over {transport}: {len(inputs)} inputs in {took:.2f} s "
        f"({len(inputs) / took:.0f}/s), 0 crashes, counter at {len(lines)} lines, 0 lost"
    )
