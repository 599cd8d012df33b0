"""Sessions over HTTP: list and read, execute, start and its run, runs, remove.

Each answer is checked with its status and body, through ``httpx.ASGITransport``.
"""

from __future__ import annotations

import threading

import trio
from support.engine import wait_until
from support.http import asgi_client, bearer

import spe_host
from spe_host._model import SessionInfo
from spe_host.auth import TokenTable
from spe_host.http._types import Session


def test_a_session_resource_is_every_field_of_session_info_and_links() -> None:
    info = list(SessionInfo.__dataclass_fields__)
    assert list(Session.__dataclass_fields__) == [*info, "links"]


async def test_list_and_read_sessions_with_their_run_and_links(
    host: spe_host.Host, tokens: TokenTable
) -> None:
    admin = bearer(tokens)
    with trio.fail_after(5):
        async with asgi_client(host, tokens) as client:
            assert (await client.get("/api/sessions", headers=admin)).json() == {"sessions": []}
            for name in ("etl-1", "etl-2", "report"):
                await client.post(
                    f"/api/sessions/{name}/execute", headers=admin, json={"code": "1"}
                )
            one = await client.get("/api/sessions/etl-1", headers=admin)
            assert one.status_code == 200
            body = one.json()
            assert body["id"] == "etl-1"
            assert body["state"] == "idle"
            assert body["run"] == "etl-1#1"
            assert body["last_status"] == "completed"
            assert body["created_at"].endswith("Z")
            assert body["links"] == {
                "self": "/api/sessions/etl-1",
                "stop": "/api/sessions/etl-1?action=stop",
                "output": "/api/sessions/etl-1/output",
                "runs": "/api/sessions/etl-1/runs",
            }
            listed = await client.get("/api/sessions?pattern=etl-*&pattern=report", headers=admin)
            assert [s["id"] for s in listed.json()["sessions"]] == ["etl-1", "etl-2", "report"]
            only = await client.get("/api/sessions?pattern=etl-2", headers=admin)
            assert [s["id"] for s in only.json()["sessions"]] == ["etl-2"]
            running = await client.get("/api/sessions?state=running", headers=admin)
            assert running.json() == {"sessions": []}
            bad = await client.get("/api/sessions?state=asleep", headers=admin)
            assert bad.status_code == 422
            assert bad.json()["error"] == {
                "code": "bad_request",
                "message": "the query parameter 'state' is 'asleep'; it is one of "
                "idle, running, stopping, closed",
            }
            missing = await client.get("/api/sessions/ghost", headers=admin)
            assert missing.status_code == 404
            assert missing.json()["error"] == {
                "code": "not_found",
                "message": "no session has the id 'ghost'; list the sessions to see which exist",
            }


async def test_execute_keeps_the_session_between_calls_and_409_while_busy(
    host: spe_host.Host, tokens: TokenTable, gate: threading.Event
) -> None:
    admin = bearer(tokens)
    host_ns = {"gate": gate}
    with trio.fail_after(5):
        async with asgi_client(host, tokens) as client:
            first = await client.post(
                "/api/sessions/calc/execute", headers=admin, json={"code": "x = 20"}
            )
            assert first.status_code == 200
            second = await client.post(
                "/api/sessions/calc/execute", headers=admin, json={"code": "print('hi')\nx * 2 + 2"}
            )
            result = second.json()
            assert result["status"] == "completed"
            assert result["value"] == "42"
            assert result["output"] == "hi\n"
            assert result["run"] == "calc#2"
            assert result["started_at"].endswith("Z")
            host.session("calc").namespace.update(host_ns)
            start = await client.post(
                "/api/sessions/calc?action=start", headers=admin, json={"code": "gate.wait()"}
            )
            assert start.status_code == 202
            busy = await client.post(
                "/api/sessions/calc/execute", headers=admin, json={"code": "1"}
            )
            assert busy.status_code == 409
            assert busy.json()["error"]["code"] == "busy"
            again = await client.post(
                "/api/sessions/calc?action=start", headers=admin, json={"code": "1"}
            )
            assert again.status_code == 409
            gate.set()
            await host.wait("calc")


async def test_start_then_receive_its_run_at_the_location(
    host: spe_host.Host, tokens: TokenTable
) -> None:
    admin = bearer(tokens)
    with trio.fail_after(5):
        async with asgi_client(host, tokens) as client:
            started = await client.post(
                "/api/sessions/job?action=start",
                headers=admin,
                json={"code": "print(n * 2)", "args": {"n": 21}, "name": "double"},
            )
            assert started.status_code == 202
            body = started.json()
            assert body["state"] == "running"
            assert body["name"] == "double"
            assert body["run"] == "job#1"
            location = started.headers["location"]
            assert location == "/api/sessions/job/runs/job%231"
            await host.wait("job")
            runs = await client.get("/api/sessions/job/runs", headers=bearer(tokens, "operator"))
            assert [r["run"] for r in runs.json()["runs"]] == ["job#1"]
            kept = await client.get(f"{location}?keep=true", headers=admin)
            assert kept.json()["output"] == "42\n"
            short = await client.get("/api/sessions/job/runs/1", headers=admin)
            assert short.json() == kept.json()
            gone = await client.get(location, headers=admin)
            assert gone.status_code == 404
            assert "keeps no result of run job#1" in gone.json()["error"]["message"]
            assert (await client.get("/api/sessions/job/runs", headers=admin)).json() == {
                "runs": []
            }
            other = await client.get("/api/sessions/job/runs/etl%231", headers=admin)
            assert other.status_code == 422
            neither = await client.post("/api/sessions/job?action=start", headers=admin, json={})
            assert neither.status_code == 422
            fresh = await client.post(
                "/api/sessions/ghost/execute", headers=admin, json={"code": "1"}
            )
            assert fresh.status_code == 200


async def test_delete_a_session_204_and_409_while_it_runs_without_force(
    host: spe_host.Host, tokens: TokenTable
) -> None:
    admin = bearer(tokens)
    with trio.fail_after(5):
        async with asgi_client(host, tokens) as client:
            await client.post("/api/sessions/a/execute", headers=admin, json={"code": "1"})
            deleted = await client.delete("/api/sessions/a", headers=admin)
            assert deleted.status_code == 204
            assert deleted.content == b""
            assert (await client.get("/api/sessions/a", headers=admin)).status_code == 404
            assert (await client.delete("/api/sessions/a", headers=admin)).status_code == 404
            loop = "while True:\n    pass\n"
            await client.post("/api/sessions/b?action=start", headers=admin, json={"code": loop})
            busy = await client.delete("/api/sessions/b", headers=admin)
            assert busy.status_code == 409
            assert busy.json()["error"] == {
                "code": "busy",
                "message": "session 'b' is running; stop it first or remove with force "
                "(force=True, --force, ?force=true over HTTP)",
            }
            assert (
                await client.delete("/api/sessions/b?force=true", headers=admin)
            ).status_code == 204
            await wait_until(lambda: not host.sessions("b"))
