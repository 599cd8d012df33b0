"""``GET /api/events``: the session table as an event stream, over real loopback TCP.

It leads with every matching session, then sends each change (a started job's
state, its progress) and each removal; bad patterns are refused before it starts.
"""

from __future__ import annotations

import httpx
import trio
from support.sse import live_http, open_events


async def test_the_table_leads_then_follows_a_job_and_its_removal() -> None:
    gate = trio.Event()
    with trio.fail_after(10):
        async with live_http(namespace={"gate": gate}) as live:
            await live.host.execute("old", "x = 1")
            await live.host.execute("other", "x = 1")
            async with open_events(
                live.url, "/api/events?pattern=o*&pattern=job", live.operator
            ) as stream:
                assert stream.status == 200
                lead = [await anext(stream), await anext(stream)]
                assert {(e.event, e.data["id"], e.data["state"]) for e in lead} == {
                    ("session", "old", "idle"),
                    ("session", "other", "idle"),
                }
                assert lead[0].data["links"]["self"] == f"/api/sessions/{lead[0].data['id']}"
                live.host.start("job", "spe.progress(10, 'warming up')\nawait gate.wait()")
                states = []
                async for event in stream:
                    if event.event == "removed":
                        assert event.data == {"id": "job"}
                        break
                    assert event.event == "session"
                    assert event.data["id"] == "job"
                    states.append((event.data["state"], event.data["progress_message"]))
                    if event.data["progress_message"] == "warming up" and not gate.is_set():
                        gate.set()
                    if event.data["state"] == "idle":
                        await live.host.remove("job")
                assert states[0][0] == "running"
                assert ("running", "warming up") in states
                assert states[-1] == ("idle", "warming up")


async def test_bad_patterns_and_credentials_are_refused_before_the_stream() -> None:
    with trio.fail_after(10):
        async with live_http() as live, httpx.AsyncClient(base_url=live.url) as client:
            too_long = await client.get(
                "/api/events", params={"pattern": "x" * 5000}, headers=live.admin
            )
            assert too_long.status_code == 422
            assert too_long.json()["error"]["code"] == "bad_request"
            anonymous = await client.get("/api/events")
            assert anonymous.status_code == 401
            assert anonymous.headers["www-authenticate"].startswith("Bearer")
