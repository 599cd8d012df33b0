"""One host, two front ends: a socket client and an HTTP client see the same things.

Both listeners share one token table (``serve(..., tokens=)``), and both call the
same service: a job started over HTTP is listed by the socket client, the socket
client's stop is the HTTP API's task, and the run's result is the same result.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

import httpx
import trio
from support.http import bearer

import spe_host
from spe_host.auth import TokenTable
from spe_host.client import connect
from spe_host.http import serve_http
from spe_host.http._encode import to_json

LOOP = "n = 0\nwhile True:\n    n += 1\n"


async def test_a_socket_client_and_an_http_client_see_the_same_sessions_runs_and_tickets(
    host: spe_host.Host, tokens: TokenTable, runtime: Path
) -> None:
    admin = bearer(tokens)
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            socket = await nursery.start(
                partial(spe_host.serve, host, "tcp://127.0.0.1:0", tokens=tokens)
            )
            web = await nursery.start(partial(serve_http, host, "tcp://127.0.0.1:0", tokens=tokens))
            async with (
                httpx.AsyncClient(base_url=web.url, headers=admin) as http,
                connect(socket.address, token=tokens.token("operator")) as client,
            ):
                started = await http.post("/api/sessions/p?action=start", json={"code": LOOP})
                assert started.status_code == 202
                [seen] = await client.sessions("p")
                assert (seen.run, seen.state) == ("p#1", "running")
                assert [s["id"] for s in (await http.get("/api/sessions")).json()["sessions"]] == [
                    s.id for s in await client.sessions()
                ]
                # The socket client stops; the HTTP API shows its ticket as a task.
                assert await client.stop("p", reason="parity") == {"p": "requested"}
                ticket = await client.stop_ticket("p")
                assert ticket is not None
                task = (await http.get(f"/api/tasks/{ticket.id}")).json()
                assert task["reason"] == "parity"
                assert task["requested_by"] == ticket.requested_by
                assert task["requested_by"].startswith("operator at 127.0.0.1:")
                while task["state"] == "Running":
                    task = (await http.get(f"/api/tasks/{ticket.id}?wait=5")).json()
                finished = await client.ticket(ticket.id)
                ticket_json = to_json(finished)
                assert isinstance(ticket_json, dict)
                assert {key: task[key] for key in ticket_json} == ticket_json
                assert [t["id"] for t in (await http.get("/api/tasks")).json()["tasks"]] == [
                    t.id for t in await client.tickets()
                ]
                # One result, seen by both: kept by the HTTP read, then received over the socket.
                over_http = (await http.get("/api/sessions/p/runs/p%231?keep=true")).json()
                received = await client.receive("p", "p#1")
                assert over_http == to_json(received)
                assert (await http.get("/api/sessions/p/runs")).json() == {"runs": []}
            nursery.cancel_scope.cancel()
