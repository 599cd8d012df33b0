"""No request from any role stalls the API or grows it without bound; bad numbers are 4xx.

Requests in flight and long-lived ones (event streams, ``?wait=`` long-polls) are
capped, with 503 ``busy`` and ``Retry-After`` beyond; a guesser's throttle penalty does
not hold up a valid token; a receive that clears a result needs the cookie's CSRF
token like any other change; numbers too long to convert are answered 4xx, never 500.
"""

from __future__ import annotations

import httpx
import pytest
import trio
import trio.testing
from starlette.types import Message, Receive, Scope, Send
from support.http import asgi_client, bearer
from support.sse import live_http, open_events

import spe_host
from spe_host.auth import FailureThrottle, TokenTable
from spe_host.http import HttpLimits
from spe_host.http._capacity import RequestCap, StreamSlots, TooBusy

HUGE = "9" * 5000  # past int()'s 4300-digit limit


def _busy(response: httpx.Response) -> None:
    assert response.status_code == 503
    assert response.headers["retry-after"] == "1"
    assert response.json()["error"]["code"] == "busy"


async def test_requests_past_the_cap_are_answered_503_at_once() -> None:
    release = trio.Event()
    sent: list[list[Message]] = []

    async def slow_app(scope: Scope, receive: Receive, send: Send) -> None:
        await release.wait()

    cap = RequestCap(slow_app, max_requests=2)

    async def call() -> None:
        messages: list[Message] = []
        sent.append(messages)

        async def send(message: Message) -> None:
            messages.append(message)

        async def receive() -> Message:
            return {"type": "http.request", "body": b""}

        await cap({"type": "http", "method": "GET", "path": "/"}, receive, send)

    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(call)
            nursery.start_soon(call)
            await trio.testing.wait_all_tasks_blocked()
            await call()  # the third: refused without waiting
            assert sent[2][0]["status"] == 503
            assert (b"retry-after", b"1") in sent[2][0]["headers"]
            assert sent[0] == sent[1] == []
            release.set()
        await call()  # the two ended: room again
        assert sent[3] == []


def test_stream_slots_are_taken_before_the_answer_and_given_back_once() -> None:
    slots = StreamSlots(2)
    first, second = slots.take(), slots.take()
    with pytest.raises(TooBusy, match="2 event streams and long-polls are open already"):
        slots.take()
    with first:
        pass
    first.release()  # again: nothing
    assert slots.open == 1
    second.release()
    assert slots.open == 0


async def _stream_opens(url: str, headers: dict[str, str]) -> bool:
    async with open_events(url, "/api/events?pattern=none-*", headers) as probe:
        return probe.status == 200


async def test_event_streams_past_the_limit_are_503_and_a_closed_one_makes_room() -> None:
    with trio.fail_after(10):
        async with live_http(http_limits=HttpLimits(max_requests=8, max_streams=2)) as live:
            await live.host.execute("x", "1")
            client = httpx.AsyncClient(base_url=live.url, headers=live.admin)
            async with client:
                for _ in range(3):  # a stream that ended gave its slot back, every time
                    async with (
                        open_events(live.url, "/api/events", live.admin) as one,
                        open_events(live.url, "/api/events", live.admin) as two,
                    ):
                        assert one.status == two.status == 200
                        _busy(await client.get("/api/events"))
                        _busy(await client.get("/api/sessions/x/output?follow=true"))
                        # Short requests still have room.
                        assert (await client.get("/api/sessions")).status_code == 200
                    # The server sees the two go when their connections close.
                    while not await _stream_opens(live.url, live.admin):
                        await trio.sleep(0.01)


async def test_a_guessers_penalty_does_not_hold_up_a_valid_token(
    host: spe_host.Host, tokens: TokenTable, autojump_clock: trio.testing.MockClock
) -> None:
    throttle = FailureThrottle(limit=1, penalty=5.0, clock=trio.current_time)
    with trio.fail_after(100):
        async with asgi_client(host, tokens, throttle=throttle) as client:
            wrong = {"Authorization": "Bearer wrong"}
            statuses: list[int] = []

            async def guess() -> None:
                statuses.append((await client.get("/api/sessions", headers=wrong)).status_code)

            async with trio.open_nursery() as nursery:
                for _ in range(4):
                    nursery.start_soon(guess)
                await trio.testing.wait_all_tasks_blocked()
                before = trio.current_time()
                valid = await client.get("/api/sessions", headers=bearer(tokens))
                assert valid.status_code == 200
                assert trio.current_time() == before
            # The guesses were answered one at a time, each after its penalty.
            assert statuses == [401] * 4
            assert trio.current_time() - before >= 5.0


async def test_receiving_with_the_cookie_needs_the_csrf_token_unless_it_keeps(
    host: spe_host.Host, tokens: TokenTable
) -> None:
    with trio.fail_after(5):
        async with asgi_client(host, tokens) as client:
            await host.execute("s", "1")
            host.start("s", "2 + 2")
            await host.wait("s")
            opened = await client.post("/api/logon?cookie=true", headers=bearer(tokens))
            csrf = {"X-CSRF-Token": opened.json()["csrf_token"]}
            kept = await client.get("/api/sessions/s/runs/2?keep=true")
            assert kept.status_code == 200
            refused = await client.get("/api/sessions/s/runs/2")
            assert refused.status_code == 403
            assert "X-CSRF-Token" in refused.json()["error"]["message"]
            kept_runs = (await client.get("/api/sessions/s/runs")).json()["runs"]
            assert [r["run"] for r in kept_runs] == ["s#2"]  # the refused receive cleared nothing
            received = await client.get("/api/sessions/s/runs/2", headers=csrf)
            assert received.status_code == 200
            assert received.json()["run"] == "s#2"


async def test_numbers_too_long_to_convert_are_refused_not_500(
    host: spe_host.Host, tokens: TokenTable
) -> None:
    with trio.fail_after(5):
        async with asgi_client(host, tokens) as client:
            admin = bearer(tokens) | {"Content-Type": "application/json"}
            body = await client.post(
                "/api/sessions/stop", headers=admin, content=f'{{"ids": ["a"], "force": {HUGE}}}'
            )
            assert body.status_code == 400
            assert "not valid JSON" in body.json()["error"]["message"]
            await host.execute("s", "1")
            offset = await client.get(f"/api/sessions/s/output?offset={HUGE}", headers=admin)
            assert offset.status_code == 422
            assert "not a byte offset" in offset.json()["error"]["message"]
            run = await client.get(f"/api/sessions/s/runs/{HUGE}", headers=admin)
            assert run.status_code in (404, 422)
            assert run.json()["error"]["code"] in ("not_found", "bad_request")
            length = await client.post(
                "/api/sessions/s/execute",
                headers=admin | {"Content-Length": HUGE[:40]},
                content=b"{}",
            )
            assert length.status_code in (400, 413)
