"""Who may call the HTTP API: bearer tokens, logon sessions, the cookie and its CSRF rule.

Every refusal has its status and body: 401 ``unauthorized`` with ``WWW-Authenticate``
for missing, wrong or expired credentials, 403 ``forbidden`` for the operator role and
for a cookie request without its CSRF token. Logons expire on trio's clock.
"""

from __future__ import annotations

import logging

import httpx
import pytest
import trio
import trio.testing
from support.http import asgi_client, bearer

import spe_host
from spe_host._model import Role
from spe_host.auth import FailureThrottle, TokenTable
from spe_host.http._auth import Logons


def _unauthorized(response: httpx.Response) -> None:
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Bearer realm="spe_host"'
    assert response.json()["error"]["code"] == "unauthorized"


async def test_missing_wrong_and_malformed_credentials_are_401(
    host: spe_host.Host, tokens: TokenTable
) -> None:
    with trio.fail_after(5):
        async with asgi_client(host, tokens) as client:
            missing = await client.get("/api/sessions")
            _unauthorized(missing)
            assert "Authorization: Bearer" in missing.json()["error"]["message"]
            wrong = await client.get("/api/sessions", headers={"Authorization": "Bearer nope"})
            _unauthorized(wrong)
            assert "not valid for this host" in wrong.json()["error"]["message"]
            basic = await client.get("/api/sessions", headers={"Authorization": "Basic eDp5"})
            _unauthorized(basic)
            unknown = await client.get("/api/sessions", headers={"X-Session-Id": "nope"})
            _unauthorized(unknown)
            assert (await client.get("/api/sessions", headers=bearer(tokens))).status_code == 200


async def test_wrong_tokens_are_throttled_and_logged_per_client_host(
    host: spe_host.Host, tokens: TokenTable, caplog: pytest.LogCaptureFixture
) -> None:
    throttle = FailureThrottle(limit=1, penalty=0.0)
    with trio.fail_after(5), caplog.at_level(logging.WARNING, "spe_host.auth"):
        async with asgi_client(host, tokens, throttle=throttle) as client:
            for _ in range(2):
                _unauthorized(
                    await client.get("/api/tasks", headers={"Authorization": "Bearer nope"})
                )
            # No credentials at all is not a guess: not counted.
            _unauthorized(await client.get("/api/tasks"))
    assert len(throttle) == 1
    failures = [r.getMessage() for r in caplog.records if "authentication failed" in r.message]
    assert len(failures) == 2
    assert "http request from 127.0.0.1:" in failures[-1]
    assert "2 failure(s)" in failures[-1]
    assert tokens.token("admin") not in caplog.text


async def test_the_operator_may_look_and_stop_but_not_run_code(
    host: spe_host.Host, tokens: TokenTable
) -> None:
    operator = bearer(tokens, "operator")
    with trio.fail_after(5):
        async with asgi_client(host, tokens) as client:
            await client.post("/api/sessions/s/execute", headers=bearer(tokens), json={"code": "1"})
            assert (await client.get("/api/sessions/s", headers=operator)).status_code == 200
            stop = await client.post("/api/sessions/s?action=stop", headers=operator)
            assert stop.status_code == 202
            for method, path, body in [
                ("POST", "/api/sessions/s/execute", {"code": "1"}),
                ("POST", "/api/sessions/s?action=start", {"code": "1"}),
                ("DELETE", "/api/sessions/s", None),
            ]:
                refused = await client.request(method, path, headers=operator, json=body)
                assert refused.status_code == 403, path
                error = refused.json()["error"]
                assert error["code"] == "forbidden"
                assert "needs the admin role" in error["message"]
            assert (await client.get("/api/sessions/s", headers=operator)).status_code == 200


async def test_a_logon_session_works_until_it_is_deleted(
    host: spe_host.Host, tokens: TokenTable
) -> None:
    with trio.fail_after(5):
        async with asgi_client(host, tokens) as client:
            opened = await client.post("/api/logon", headers=bearer(tokens, "operator"))
            assert opened.status_code == 201
            logon = opened.json()
            assert set(logon) == {"id", "role", "csrf_token", "expires_at", "idle_timeout"}
            assert logon["role"] == "operator"
            assert logon["idle_timeout"] == 900.0
            assert logon["expires_at"].endswith("Z")
            assert opened.headers["x-session-id"] == logon["id"]
            session = {"X-Session-Id": logon["id"]}
            assert (await client.get("/api/sessions", headers=session)).status_code == 200
            # Its role is the token's: an operator logon may not run code.
            refused = await client.post("/api/sessions/s/execute", headers=session, json={})
            assert refused.status_code == 403
            closed = await client.delete(f"/api/logon/{logon['id']}")
            assert closed.status_code == 204
            assert closed.content == b""
            _unauthorized(await client.get("/api/sessions", headers=session))
            _unauthorized(await client.delete(f"/api/logon/{logon['id']}"))
            # A logon is opened with a token, never with another logon.
            _unauthorized(await client.post("/api/logon", headers=session))


async def test_a_logon_expires_after_its_idle_time_and_each_use_extends_it(
    host: spe_host.Host, tokens: TokenTable, autojump_clock: trio.testing.MockClock
) -> None:
    with trio.fail_after(5000):
        async with asgi_client(host, tokens, logon_idle_timeout=60.0) as client:
            logon = (await client.post("/api/logon", headers=bearer(tokens))).json()
            session = {"X-Session-Id": logon["id"]}
            for _ in range(3):
                await trio.sleep(50)
                assert (await client.get("/api/tasks", headers=session)).status_code == 200
            await trio.sleep(61)
            expired = await client.get("/api/tasks", headers=session)
            _unauthorized(expired)
            assert "expired" in expired.json()["error"]["message"]


async def test_a_cookie_request_that_changes_state_needs_the_csrf_token(
    host: spe_host.Host, tokens: TokenTable
) -> None:
    with trio.fail_after(5):
        async with asgi_client(host, tokens) as client:
            await client.post("/api/sessions/s/execute", headers=bearer(tokens), json={"code": "1"})
            opened = await client.post("/api/logon?cookie=true", headers=bearer(tokens))
            cookie = opened.headers["set-cookie"]
            assert cookie.startswith(f"spe_session={opened.json()['id']};")
            assert "HttpOnly" in cookie
            assert "SameSite=strict" in cookie
            assert "Path=/" in cookie
            assert "Secure" not in cookie  # plain HTTP here; set over TLS
            csrf = {"X-CSRF-Token": opened.json()["csrf_token"]}
            assert client.cookies["spe_session"] == opened.json()["id"]
            assert (await client.get("/api/sessions")).status_code == 200
            refused = await client.post("/api/sessions/s?action=stop")
            assert refused.status_code == 403
            assert refused.json()["error"]["code"] == "forbidden"
            assert "X-CSRF-Token" in refused.json()["error"]["message"]
            wrong = await client.post("/api/sessions/s?action=stop", headers={"X-CSRF-Token": "x"})
            assert wrong.status_code == 403
            assert (
                await client.post("/api/sessions/s?action=stop", headers=csrf)
            ).status_code == 202
            assert (await client.delete("/api/logon/current")).status_code == 403
            closed = await client.delete("/api/logon/current", headers=csrf)
            assert closed.status_code == 204
            assert 'spe_session=""' in closed.headers["set-cookie"]
            _unauthorized(await client.get("/api/sessions"))


def test_one_roles_logons_never_push_out_the_other_roles() -> None:
    logons = Logons(idle_timeout=10.0, max_logons=3, clock=lambda: 0.0)
    admin = logons.open(Role.ADMIN)
    operators = [logons.open(Role.OPERATOR) for _ in range(5)]
    assert len(logons) == 3
    assert logons.use(admin.id) is admin
    assert [logons.use(o.id) for o in operators[-2:]] == operators[-2:]
    with pytest.raises(spe_host.AuthenticationError):
        logons.use(operators[0].id)


def test_logons_are_bounded_and_the_least_recently_used_goes_first() -> None:
    now = [0.0]
    logons = Logons(idle_timeout=10.0, max_logons=2, clock=lambda: now[0])
    first = logons.open(Role.ADMIN)
    second = logons.open(Role.OPERATOR)
    logons.use(first.id)
    logons.open(Role.OPERATOR)  # pushes out the least recently used operator logon
    assert len(logons) == 2
    assert logons.use(first.id) is first
    with pytest.raises(spe_host.AuthenticationError):
        logons.use(second.id)
    now[0] = 10.0
    with pytest.raises(spe_host.AuthenticationError):
        logons.use(first.id)
    assert len(logons) == 0
