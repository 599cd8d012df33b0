"""Bad input gets its status and a sentence, never a 500: 400, 404, 405, 413, 422.

And the JSON codec under them: times out as ISO 8601 UTC, bodies in checked field by
field against their dataclass.
"""

from __future__ import annotations

import json

import pytest
import trio
from starlette.types import Message
from support.http import asgi_client, bearer

import spe_host
from spe_host._model import ExecutionResult, ExecutionStatus
from spe_host.auth import TokenTable
from spe_host.http import create_app
from spe_host.http._encode import from_json, iso_time, to_json
from spe_host.http._types import ExecuteRequest, StartRequest, StopManyRequest
from spe_host.service import InvalidArgument


async def test_bad_bodies_and_routes_answer_with_their_status_and_a_sentence(
    host: spe_host.Host, tokens: TokenTable
) -> None:
    admin = bearer(tokens)
    cases: list[tuple[str, str, bytes | None, int, str, str]] = [
        ("POST", "/api/sessions/s/execute", b"{not json", 400, "bad_request", "not valid JSON"),
        ("POST", "/api/sessions/s/execute", b"[" * 100_000, 400, "bad_request", "not valid JSON"),
        ("POST", "/api/sessions/s/execute", b"\xff\xfe", 400, "bad_request", "not valid JSON"),
        ("POST", "/api/sessions/s/execute", b"[1]", 422, "bad_request", "must be a JSON object"),
        ("POST", "/api/sessions/s/execute", b"{}", 422, "bad_request", "needs the field 'code'"),
        (
            "POST",
            "/api/sessions/s/execute",
            b'{"code": 1}',
            422,
            "bad_request",
            "the field 'code' must be str, not the number 1",
        ),
        (
            "POST",
            "/api/sessions/s/execute",
            b'{"code": "1", "cwd": "/"}',
            422,
            "bad_request",
            "unknown field(s) 'cwd'",
        ),
        ("POST", "/api/sessions/s", None, 400, "bad_request", "needs action=stop or action=start"),
        ("POST", "/api/sessions/s?action=nap", None, 400, "bad_request", "not action='nap'"),
        ("GET", "/api/nowhere", None, 404, "not_found", "there is no resource at /api/nowhere"),
        ("PUT", "/api/sessions", None, 405, "bad_request", "does not take PUT"),
        (
            "POST",
            "/api/sessions/bad%20id/execute",
            b'{"code": "1"}',
            422,
            "bad_request",
            "not a valid session id",
        ),
        ("POST", "/api/sessions/s?action=stop&force=maybe", None, 422, "bad_request", "'force'"),
        (
            "POST",
            "/api/sessions/stop",
            json.dumps({"ids": ["s"], "reason": "x" * 1001}).encode(),
            422,
            "bad_request",
            "'reason' must be at most 1000 characters, not 1001",
        ),
    ]
    with trio.fail_after(5):
        async with asgi_client(host, tokens) as client:
            for method, path, body, status, code, words in cases:
                answer = await client.request(method, path, headers=admin, content=body)
                assert answer.status_code == status, (path, body, answer.text)
                error = answer.json()["error"]
                assert error["code"] == code
                assert words in error["message"], error
            assert host.sessions() == []


async def test_a_body_over_the_bound_is_413_before_or_while_it_is_read(
    host: spe_host.Host, tokens: TokenTable
) -> None:
    admin = bearer(tokens)
    big = json.dumps({"code": "x" * 2000}).encode()
    with trio.fail_after(5):
        async with asgi_client(host, tokens, max_body=1000) as client:
            declared = await client.post("/api/sessions/s/execute", headers=admin, content=big)
            assert declared.status_code == 413
            assert declared.json()["error"]["code"] == "too_large"
            assert "larger than 1000 bytes" in declared.json()["error"]["message"]
            fits = await client.post("/api/sessions/s/execute", headers=admin, json={"code": "1"})
            assert fits.status_code == 200
        # A chunked body (no Content-Length) is refused once it grows past the bound;
        # driven as raw ASGI, since httpx cannot leave a streamed body half sent.
        app = create_app(host, tokens, max_body=1000)
        chunks = [big[i : i + 500] for i in range(0, len(big), 500)]
        sent: list[Message] = []

        async def receive() -> Message:
            body = chunks.pop(0)
            return {"type": "http.request", "body": body, "more_body": bool(chunks)}

        async def send(message: Message) -> None:
            sent.append(message)

        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": "/api/sessions/s/execute",
            "raw_path": b"/api/sessions/s/execute",
            "query_string": b"",
            "root_path": "",
            "headers": [(b"authorization", admin["Authorization"].encode())],
            "client": ("127.0.0.1", 5555),
            "server": ("testserver", 80),
            "state": {},
        }
        await app(scope, receive, send)
        assert sent[0]["status"] == 413
        assert json.loads(sent[1]["body"])["error"]["code"] == "too_large"
        assert len(chunks) == 2  # refused at the 3rd of 5 chunks, the rest never read


async def test_output_that_is_not_utf8_still_answers_valid_json(
    host: spe_host.Host, tokens: TokenTable
) -> None:
    code = "print('caf\\udce9')"
    with trio.fail_after(5):
        async with asgi_client(host, tokens) as client:
            answer = await client.post(
                "/api/sessions/s/execute", headers=bearer(tokens), json={"code": code}
            )
            assert answer.status_code == 200
            assert answer.json()["output"] == "caf\udce9\n"


def test_to_json_writes_times_as_iso_utc_and_enums_as_strings() -> None:
    result = ExecutionResult(
        session="s",
        status=ExecutionStatus.COMPLETED,
        value=None,
        error=None,
        output="",
        started_at=0.5,
        finished_at=1_796_166_301.123456,
        run="s#1",
    )
    encoded = to_json(result)
    assert encoded == {
        "session": "s",
        "status": "completed",
        "value": None,
        "error": None,
        "output": "",
        "started_at": "1970-01-01T00:00:00.500000Z",
        "finished_at": iso_time(1_796_166_301.123456),
        "run": "s#1",
    }
    assert iso_time(1_796_166_301.123456).startswith("2026-12-01T")


def test_from_json_builds_a_request_and_names_the_field_it_refuses() -> None:
    assert from_json(StartRequest, {"code": "1", "args": {"n": [1]}}) == StartRequest(
        code="1", args={"n": [1]}
    )
    assert from_json(StopManyRequest, {"ids": ["a*"], "force": True}).force is True
    with pytest.raises(InvalidArgument, match=r"'ids\[1\]' must be str, not the number 2"):
        from_json(StopManyRequest, {"ids": ["a", 2]})
    with pytest.raises(InvalidArgument, match="'interactive' must be bool, not a string"):
        from_json(ExecuteRequest, {"code": "1", "interactive": "yes"})
    with pytest.raises(InvalidArgument, match="'args' must be"):
        from_json(StartRequest, {"args": [1]})
