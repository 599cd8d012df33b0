"""``spe-host serve --http``: one token table for the socket and the HTTP listeners.

The tokens in the TCP connection files work over HTTP, and the HTTP API's URL and
tokens are in 0600 files of their own (never on the terminal), removed at exit.
"""

from __future__ import annotations

import json
import stat
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio

import spe_host
from spe_host.auth import read_connection_file
from spe_host.cli._parser import build_parser
from spe_host.cli._serve import run_host

SOCKET_AND_HTTP = [
    "serve",
    "--json",
    "--listen",
    "tcp://127.0.0.1:0",
    "--http",
    "tcp://127.0.0.1:0",
]


@asynccontextmanager
async def _served(capsys: pytest.CaptureFixture[str]) -> AsyncIterator[dict[str, Any]]:
    """``spe-host serve`` on TCP and HTTP; yields its --json line, shuts down after."""
    shutdown = trio.Event()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(run_host, build_parser().parse_args(SOCKET_AND_HTTP), shutdown.wait)
        # The verb's one JSON line, once it is printed (the caller's fail_after bounds it).
        while not (out := capsys.readouterr().out):
            await trio.sleep(0.01)
        announced = json.loads(out)
        assert isinstance(announced, dict)
        yield announced
        shutdown.set()


async def test_serve_http_shares_the_tokens_and_writes_private_token_files(
    runtime: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with trio.fail_after(10):
        async with _served(capsys) as announced:
            http = announced["http"]
            assert isinstance(http, dict)
            url = http["url"]
            assert url.startswith("http://127.0.0.1:")
            files = {role: Path(path) for role, path in http["token_files"].items()}
            assert files == {
                "admin": runtime / "default.http.json",
                "operator": runtime / "default.http.operator.json",
            }
            assert all(stat.S_IMODE(path.stat().st_mode) == 0o600 for path in files.values())
            socket_file = read_connection_file(runtime / "default.operator.json")
            # Its address is a URL: a JSON file for scripts (jq -r .token), not a socket's.
            info = json.loads(files["operator"].read_text())
            assert info["address"] == url
            assert info["token"] == socket_file.token
            headers = {"Authorization": f"Bearer {socket_file.token}"}
            async with httpx.AsyncClient(base_url=url, headers=headers) as client:
                assert (await client.get("/api/sessions")).status_code == 200
    assert not any(path.exists() for path in files.values())


async def test_serve_http_alone_keeps_the_default_unix_socket(
    runtime: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["serve", "--http", "tcp://127.0.0.1:0"]
    shutdown = trio.Event()
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(run_host, build_parser().parse_args(argv), shutdown.wait)
            while "HTTP API at" not in (out := capsys.readouterr().out):
                await trio.sleep(0.01)
            assert f"listening on unix:{runtime / 'default.sock'}" in out
            assert f"admin token file: {runtime / 'default.http.json'}" in out
            token = json.loads((runtime / "default.http.json").read_text())["token"]
            assert token not in out
            shutdown.set()


async def test_a_guessers_failures_count_on_the_socket_and_over_http_together(
    runtime: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with trio.fail_after(15):
        async with _served(capsys) as announced:
            http = announced["http"]
            assert isinstance(http, dict)
            listening = announced["listening"]
            assert isinstance(listening, list)
            # Five failures are free (the default throttle); make them all on the socket.
            for _ in range(5):
                with pytest.raises(spe_host.AuthenticationError):
                    async with spe_host.connect(listening[0]["address"], token="wrong"):
                        pass
            wrong = {"Authorization": "Bearer wrong"}
            async with httpx.AsyncClient(base_url=http["url"], headers=wrong) as client:
                started = trio.current_time()
                assert (await client.get("/api/sessions")).status_code == 401
                # The sixth failure, over HTTP, waits out the socket's penalty.
                assert trio.current_time() - started >= 0.9
