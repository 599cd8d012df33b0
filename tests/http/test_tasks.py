"""Stops as tasks: 202 and a task to poll, ``?wait=`` long-polls, the API's own tasks.

The flow of issue #11 runs on real loopback TCP: a looping script, ``POST
...?action=stop`` -> 202 with ``Location`` and ``Retry-After`` -> poll the task ->
Finished, success true, landed at the loop's line -> the run ABORTED.
"""

from __future__ import annotations

import httpx
import trio
from support.http import asgi_client, bearer, served_client

import spe_host
from spe_host._model import StopTicket
from spe_host.auth import TokenTable
from spe_host.http._types import Task

LOOP = "n = 0\nwhile True:\n    n += 1\n"


def test_a_task_is_every_field_of_a_stop_ticket_and_its_state_result_and_links() -> None:
    ticket = list(StopTicket.__dataclass_fields__)
    assert list(Task.__dataclass_fields__) == [
        "id",
        "state",
        "operation",
        *ticket[1:],
        "result",
        "links",
    ]


async def _running_at(client: httpx.AsyncClient, headers: dict[str, str], session: str) -> str:
    # The session's location once it runs a line of its script (the fail_after bounds it).
    while True:
        info = (await client.get(f"/api/sessions/{session}", headers=headers)).json()
        if info["state"] == "running" and info["location"] is not None:
            return str(info["location"])
        await trio.sleep(0.01)


async def test_stop_a_loop_poll_the_task_until_finished(
    host: spe_host.Host, tokens: TokenTable
) -> None:
    admin = bearer(tokens)
    with trio.fail_after(10):
        async with served_client(host, tokens) as (client, _):
            started = await client.post(
                "/api/sessions/etl?action=start", headers=admin, json={"code": LOOP}
            )
            assert started.status_code == 202
            assert started.headers["location"] == "/api/sessions/etl/runs/etl%231"
            where = await _running_at(client, admin, "etl")
            stop = await client.post(
                "/api/sessions/etl?action=stop&reason=maintenance",
                headers=bearer(tokens, "operator"),
            )
            assert stop.status_code == 202
            task = stop.json()
            assert stop.headers["location"] == f"/api/tasks/{task['id']}"
            assert stop.headers["retry-after"] == "1"
            assert task["operation"] == "StopSession"
            assert task["session"] == "etl"
            assert task["run"] == "etl#1"
            assert task["reason"] == "maintenance"
            assert task["requested_by"].startswith("operator at 127.0.0.1:")
            assert task["requested_by"].endswith(" (http)")
            assert task["links"] == {
                "self": f"/api/tasks/{task['id']}",
                "session": "/api/sessions/etl",
            }
            while task["state"] == "Running":
                assert task["result"] is None
                await trio.sleep(0.02)
                task = (await client.get(stop.headers["location"], headers=admin)).json()
            assert task["phase"] == "finished"
            assert task["status"] == "aborted"
            filename, _, _ = where.rpartition(":")
            assert task["landed_at"] in {f"{filename}:2", f"{filename}:3"}
            assert task["result"] == {
                "success": True,
                "message": f"stopped etl#1 ({task['landed_at']})",
            }
            run = await client.get(started.headers["location"], headers=admin)
            assert run.status_code == 200
            assert run.json()["status"] == "aborted"
            assert "maintenance" in run.json()["error"]


async def test_wait_returns_on_the_tasks_next_change_not_after_its_timeout(
    host: spe_host.Host, tokens: TokenTable
) -> None:
    admin = bearer(tokens)
    with trio.fail_after(5):
        async with served_client(host, tokens) as (client, _):
            await client.post("/api/sessions/w?action=start", headers=admin, json={"code": LOOP})
            await _running_at(client, admin, "w")
            task = (await client.post("/api/sessions/w?action=stop", headers=admin)).json()
            before = trio.current_time()
            waited = (await client.get(f"/api/tasks/{task['id']}?wait=5", headers=admin)).json()
            if waited["state"] == "Running":
                # It landed first (a change too); the next wait sees the run end.
                waited = (await client.get(f"/api/tasks/{task['id']}?wait=5", headers=admin)).json()
            assert waited["state"] == "Finished"
            assert trio.current_time() - before < 2.0
            # A Finished task will not change again: wait answers at once.
            before = trio.current_time()
            again = await client.get(f"/api/tasks/{task['id']}?wait=5", headers=admin)
            assert again.json() == waited
            assert trio.current_time() - before < 1.0


async def test_a_stop_pending_in_time_sleep_shows_blocked_in(
    host: spe_host.Host, tokens: TokenTable
) -> None:
    admin = bearer(tokens)
    with trio.fail_after(10):
        async with asgi_client(host, tokens) as client:
            code = "import time\ntime.sleep(2)\nprint('not reached')\n"
            await client.post("/api/sessions/nap?action=start", headers=admin, json={"code": code})
            where = await _running_at(client, admin, "nap")
            assert where.endswith(":2")
            task = (await client.post("/api/sessions/nap?action=stop", headers=admin)).json()
            while task["blocked_in"] is None:
                await trio.sleep(0.02)
                task = (await client.get(f"/api/tasks/{task['id']}", headers=admin)).json()
            assert task["state"] == "Running"
            assert "time.sleep()" in task["blocked_in"]
            assert where in task["blocked_in"]
            waited = (await client.get(f"/api/tasks/{task['id']}?wait=5", headers=admin)).json()
            while waited["state"] == "Running":
                waited = (await client.get(f"/api/tasks/{task['id']}?wait=5", headers=admin)).json()
            assert waited["result"]["success"] is True


async def test_a_stop_of_an_idle_session_is_a_finished_task_that_failed(
    host: spe_host.Host, tokens: TokenTable
) -> None:
    admin = bearer(tokens)
    with trio.fail_after(5):
        async with asgi_client(host, tokens) as client:
            await client.post("/api/sessions/idle/execute", headers=admin, json={"code": "1"})
            stop = await client.post("/api/sessions/idle?action=stop", headers=admin)
            assert stop.status_code == 202
            task = stop.json()
            assert task["state"] == "Finished"
            assert task["run"] == "idle#1"
            assert task["result"] == {"success": False, "message": "session 'idle' was not running"}
            assert (await client.get(stop.headers["location"], headers=admin)).json() == task
            listed = (await client.get("/api/tasks", headers=admin)).json()
            assert listed == {"tasks": [task], "not_found": []}
            unknown = await client.post("/api/sessions/ghost?action=stop", headers=admin)
            assert unknown.status_code == 404
            assert unknown.json()["error"]["code"] == "not_found"


async def test_stop_many_by_ids_and_wildcards(host: spe_host.Host, tokens: TokenTable) -> None:
    admin = bearer(tokens)
    with trio.fail_after(5):
        async with asgi_client(host, tokens) as client:
            for name in ("w-1", "w-2"):
                await client.post(
                    f"/api/sessions/{name}?action=start", headers=admin, json={"code": LOOP}
                )
            await client.post("/api/sessions/other/execute", headers=admin, json={"code": "1"})
            stop = await client.post(
                "/api/sessions/stop",
                headers=admin,
                json={"ids": ["w-*", "other", "ghost", "none-*"], "reason": "bulk"},
            )
            assert stop.status_code == 202
            assert stop.headers["retry-after"] == "1"
            body = stop.json()
            assert sorted(body["not_found"]) == ["ghost", "none-*"]
            by_session = {task["session"]: task for task in body["tasks"]}
            assert set(by_session) == {"w-1", "w-2", "other"}
            assert by_session["w-1"]["reason"] == "bulk"
            assert by_session["other"]["result"]["success"] is False
            empty = await client.post("/api/sessions/stop", headers=admin, json={"ids": []})
            assert empty.status_code == 422
            await host.wait("w-*")


async def test_delete_a_task_forgets_it_in_the_api_only(
    host: spe_host.Host, tokens: TokenTable
) -> None:
    admin = bearer(tokens)
    with trio.fail_after(5):
        async with asgi_client(host, tokens) as client:
            await client.post("/api/sessions/d?action=start", headers=admin, json={"code": LOOP})
            task = (await client.post("/api/sessions/d?action=stop", headers=admin)).json()
            await host.wait("d")
            deleted = await client.delete(f"/api/tasks/{task['id']}", headers=admin)
            assert deleted.status_code == 204
            gone = await client.get(f"/api/tasks/{task['id']}", headers=admin)
            assert gone.status_code == 404
            assert gone.json()["error"]["code"] == "not_found"
            assert (await client.get("/api/tasks", headers=admin)).json()["tasks"] == []
            assert (
                await client.delete(f"/api/tasks/{task['id']}", headers=admin)
            ).status_code == 404
            # The host still keeps the ticket with its run.
            assert host.ticket(task["id"]).status == "aborted"
            bad_wait = await client.get("/api/tasks/x?wait=soon", headers=admin)
            assert bad_wait.status_code == 422
            assert "'wait'" in bad_wait.json()["error"]["message"]
