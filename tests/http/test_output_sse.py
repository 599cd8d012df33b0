"""``GET /api/sessions/{id}/output``: pages of JSON, and the event stream over real loopback TCP.

A client that disconnects midway and resumes with ``Last-Event-ID`` gets exactly the
missing bytes; the stream shows state changes and ends when the session is removed
or the server shuts down; a peer that never reads costs the host a bounded amount.
"""

from __future__ import annotations

import tracemalloc
from contextlib import AsyncExitStack

import httpx
import pytest
import trio
import trio.testing
from starlette.types import Message
from support.engine import wait_until
from support.sse import Event, live_http, open_events, parse

from spe_host.http._sse import KEEPALIVE, Emitter, EventStream, frame

GATED = """\
for i in range(40):
    print(f"line {i:03d} " + "é" * 10)
await gate.wait()
for i in range(40, 80):
    print(f"line {i:03d} " + "é" * 10)
"""
EXPECTED = "".join(f"line {i:03d} {'é' * 10}\n" for i in range(80))


def test_an_event_is_one_line_of_ascii_json_per_field() -> None:
    raw = frame("output", {"text": "a\nb\udcff é"}, id=42)
    assert raw == (b'event: output\nid: 42\ndata: {"text":"a\\nb\\udcff \\u00e9"}\n\n')
    assert parse(raw.decode().rstrip("\n")) == Event("output", "42", {"text": "a\nb\udcff é"})
    assert frame("end", None) == b"event: end\ndata: null\n\n"


async def test_a_silent_stream_sends_keepalives_and_ends_cleanly_when_closing(
    autojump_clock: trio.testing.MockClock,
) -> None:
    sent: list[tuple[float, bytes, bool]] = []
    closing = trio.Event()

    async def send(message: Message) -> None:
        if message["type"] == "http.response.body":
            sent.append((trio.current_time(), message["body"], message["more_body"]))

    async def receive() -> Message:
        await trio.sleep_forever()
        raise AssertionError("unreachable")

    async def produce(emitter: Emitter) -> None:
        await emitter.emit("hello", 1)
        await trio.sleep(40)
        await emitter.emit("late", 2)
        await trio.sleep_forever()

    async def shut_down() -> None:
        await trio.sleep(50)
        closing.set()

    with trio.fail_after(100):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(shut_down)
            await EventStream(produce, closing=closing)({"type": "http"}, receive, send)
    start = sent[0][0]
    assert [(round(at - start), body, more) for at, body, more in sent] == [
        (0, frame("hello", 1), True),
        (15, KEEPALIVE, True),
        (30, KEEPALIVE, True),
        (40, frame("late", 2), True),
        (50, b"", False),
    ]


async def test_a_page_of_output_from_an_offset() -> None:
    with trio.fail_after(10):
        async with (
            live_http() as live,
            httpx.AsyncClient(base_url=live.url, headers=live.operator) as client,
        ):
            session = live.host.start("job", "print('héllo')\nprint('world')")
            await wait_until(lambda: session.state == "idle")
            whole = (await client.get("/api/sessions/job/output")).json()
            assert whole == {
                "session": "job",
                "offset": 0,
                "end": len("héllo\nworld\n".encode()),
                "text": "héllo\nworld\n",
                "dropped": 0,
                "more": False,
            }
            rest = (await client.get("/api/sessions/job/output?offset=7")).json()
            assert (rest["offset"], rest["text"]) == (7, "world\n")
            past = (await client.get("/api/sessions/job/output?offset=999")).json()
            assert (past["offset"], past["end"], past["text"]) == (13, 13, "")

            bad = await client.get("/api/sessions/job/output?offset=-1")
            assert bad.status_code == 422
            assert "not a byte offset" in bad.json()["error"]["message"]
            bad = await client.get("/api/sessions/job/output", headers={"Last-Event-ID": "x"})
            assert bad.status_code == 422
            assert "Last-Event-ID is 'x'" in bad.json()["error"]["message"]
            missing = await client.get("/api/sessions/nope/output?follow=true")
            assert missing.status_code == 404
            assert missing.json()["error"]["code"] == "not_found"
            anonymous = await client.get("/api/sessions/job/output", headers={"Authorization": ""})
            assert anonymous.status_code == 401


async def test_a_client_that_resumes_with_last_event_id_gets_exactly_the_missing_bytes() -> None:
    gate = trio.Event()
    with trio.fail_after(10):
        async with live_http(namespace={"gate": gate}) as live:
            session = live.host.start("job", GATED)
            first = ""
            target = "/api/sessions/job/output?follow=true"
            async with open_events(live.url, target, live.admin) as stream:
                assert stream.status == 200
                assert stream.headers["content-type"].startswith("text/event-stream")
                async for event in stream:
                    if event.event == "output":
                        assert event.data["offset"] == len(first.encode())
                        first += event.data["text"]
                        last_id = event.id
                        break  # and drop the connection, midway
            assert last_id == str(len(first.encode()))
            gate.set()
            await wait_until(lambda: session.state == "idle")

            resumed = ""
            states = []
            # ?offset=0 too: Last-Event-ID takes precedence.
            target += "&offset=0"
            async with open_events(
                live.url, target, live.admin | {"Last-Event-ID": last_id}
            ) as stream:
                async for event in stream:
                    if event.event == "state":
                        states.append(event.data["state"])
                    elif event.event == "output":
                        resumed += event.data["text"]
                        if len((first + resumed).encode()) == session.output.end_offset:
                            break
            assert first + resumed == EXPECTED
            assert states == ["idle"]


async def test_the_stream_shows_state_and_progress_and_ends_when_the_session_is_removed() -> None:
    gate = trio.Event()
    code = "spe.progress(50, 'half')\nprint('a')\nawait gate.wait()\nprint('b')"
    with trio.fail_after(10):
        async with live_http(namespace={"gate": gate}) as live:
            live.host.start("job", code)
            seen: list[tuple[str, object]] = []
            accept = live.admin | {"Accept": "text/event-stream"}
            async with open_events(live.url, "/api/sessions/job/output", accept) as stream:
                async for event in stream:
                    if event.event == "state":
                        seen.append(("state", event.data["state"]))
                        assert event.data["links"]["output"] == "/api/sessions/job/output"
                        if event.data["state"] == "idle":
                            await live.host.remove("job")
                    elif event.event == "progress":
                        seen.append(("progress", event.data["message"]))
                    elif event.event == "output":
                        seen.append(("output", event.data["text"]))
                        if event.data["text"].endswith("a\n"):
                            gate.set()
                    else:
                        seen.append((event.event, event.data))
            # The response ended by itself after `end`.
            assert seen[0] == ("state", "running")
            assert ("progress", "half") in seen
            texts = "".join(str(what) for kind, what in seen if kind == "output")
            assert texts == "a\nb\n"
            assert seen[-2:] == [("state", "idle"), ("end", {"session": "job", "offset": 4})]


async def test_the_stream_ends_cleanly_at_server_shutdown() -> None:
    with trio.fail_after(10):
        async with live_http() as live:
            live.host.start("quiet", "import trio\nawait trio.sleep(60)")
            ended = trio.Event()

            async def follow() -> None:
                target = "/api/sessions/quiet/output?follow=true"
                async with open_events(live.url, target, live.admin) as stream:
                    async for _ in stream:
                        pass
                ended.set()

            async with trio.open_nursery() as nursery:
                nursery.start_soon(follow)
                await trio.testing.wait_all_tasks_blocked(0.05)
                started = trio.current_time()
                live.shutdown()
                await ended.wait()
                # Well inside the server's 5 s graceful deadline: the stream was ended,
                # not waited for and cut.
                assert trio.current_time() - started < 2


async def test_a_peer_that_never_reads_holds_a_bounded_amount(
    capsys: pytest.CaptureFixture[str],
) -> None:
    mib = 1024 * 1024
    peers = 4
    with trio.fail_after(20):
        async with live_http(output_limit=32 * mib) as live:
            # More than loopback's socket buffers can take (at most 4 MiB to send here,
            # and a receive buffer that does not grow while nobody reads).
            code = "for _ in range(16 * 1024):\n    print('x' * 1023)"
            session = live.host.start("big", code)
            await wait_until(lambda: session.state == "idle")
            target = "/api/sessions/big/output?follow=true"
            async with AsyncExitStack() as held:
                tracemalloc.start()
                try:
                    base = tracemalloc.get_traced_memory()[0]
                    sockets = [
                        (await held.enter_async_context(open_events(live.url, target, live.admin)))
                        for _ in range(peers)
                    ]
                    # Every server task blocked: each stream waits on a socket that is full.
                    await trio.testing.wait_all_tasks_blocked(0.2)
                    each = (tracemalloc.get_traced_memory()[0] - base) / peers
                finally:
                    tracemalloc.stop()
                queued = [s.queued() for s in sockets]
                with capsys.disabled():
                    print(
                        f"\nbounds: memory per HTTP follower that never reads: {each / 1024:.0f}"
                        f" KiB (16 MiB of output; {max(queued) / mib:.1f} MiB reached the peer)"
                    )
                # The streams stalled: most of the output never left the host...
                assert max(queued) < 8 * mib
                # ...and the host holds about one chunk (64 KiB) per peer, not the rest.
                assert each < 512 * 1024


async def test_every_event_id_is_the_end_of_the_output_sent_before_it() -> None:
    # Progress and output reported together come out of the cursor in one batch; an id
    # past output not sent yet would make a reconnect from that event skip it.
    code = "print('a')\nspe.progress(50, 'half')\nprint('b')\nspe.progress(99, 'almost')"
    with trio.fail_after(10):
        async with live_http() as live:
            session = live.host.start("job", code)
            await wait_until(lambda: session.state == "idle")
            sent, ids = 0, []
            target = "/api/sessions/job/output?follow=true"
            async with open_events(live.url, target, live.admin) as stream:
                async for event in stream:
                    if event.event == "output":
                        sent = event.data["offset"] + len(event.data["text"].encode())
                    ids.append((event.event, event.id, str(sent)))
                    if sent == session.output.end_offset:
                        break
            assert {kind for kind, _, _ in ids} >= {"state", "output", "progress"}
            assert all(got == expected for _, got, expected in ids), ids
