"""serve_http: the trio serve_* shape on real loopback TCP, the bind policy, TLS, shutdown.

A cancelled server shuts down within its deadline even with a long-poll in flight,
and the host's sessions go on.
"""

from __future__ import annotations

import ssl
import threading
from functools import partial
from pathlib import Path

import httpx
import pytest
import trio
import trustme
from support.engine import wait_until
from support.http import bearer, served_client
from support.transport import both_loopbacks

import spe_host
from spe_host.auth import TokenTable
from spe_host.http import HttpListening, serve_http


async def test_serve_http_reports_its_url_and_generates_tokens(host: spe_host.Host) -> None:
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            listening = await nursery.start(serve_http, host, "tcp://127.0.0.1:0")
            assert isinstance(listening, HttpListening)
            assert listening.url.startswith("http://127.0.0.1:")
            async with httpx.AsyncClient(base_url=listening.url) as client:
                answer = await client.get("/api/sessions", headers=bearer(listening.tokens))
                assert answer.status_code == 200
                assert answer.headers["content-type"] == "application/json"
                assert "server" not in answer.headers
            nursery.cancel_scope.cancel()


@pytest.mark.parametrize(
    ("address", "options", "words"),
    [
        ("tcp://0.0.0.0:0", {}, "refusing to listen on 0.0.0.0 without TLS"),
        ("unix:/tmp/x.sock", {}, "tcp:// addresses only"),
        ("http://127.0.0.1:80", {}, "is not an address"),
        ("tcp://127.0.0.1:0", {"tls_key": "key.pem"}, "without a certificate"),
    ],
)
async def test_serve_http_refuses_what_it_must_not_serve(
    host: spe_host.Host, address: str, options: dict[str, str], words: str
) -> None:
    with trio.fail_after(5), pytest.raises(spe_host.SpeError, match=words):
        await serve_http(host, address, **options)


async def test_a_port_in_use_is_a_sentence(host: spe_host.Host, tokens: TokenTable) -> None:
    with trio.fail_after(5):
        async with served_client(host, tokens) as (_, listening):
            port = listening.url.rpartition(":")[2]
            with pytest.raises(
                spe_host.SpeError, match=f"cannot serve HTTP on tcp://127.0.0.1:{port}"
            ):
                await serve_http(host, f"tcp://127.0.0.1:{port}")


async def test_a_name_with_two_addresses_is_served_on_both_with_one_port(
    host: spe_host.Host, tokens: TokenTable
) -> None:
    with both_loopbacks():
        with trio.fail_after(5):
            async with trio.open_nursery() as nursery:
                listening = await nursery.start(
                    partial(serve_http, host, "tcp://localhost:0", tokens=tokens)
                )
                ports = {url.rpartition(":")[2] for url in listening.urls}
                assert len(listening.urls) == 2
                assert len(ports) == 1
                assert listening.url == listening.urls[0]
                port = ports.pop()
                for base in (f"http://[::1]:{port}", f"http://127.0.0.1:{port}"):
                    async with httpx.AsyncClient(base_url=base) as client:
                        answer = await client.get("/api/sessions", headers=bearer(tokens))
                        assert answer.status_code == 200
                nursery.cancel_scope.cancel()


async def test_shutdown_ends_requests_in_flight_within_the_deadline_and_keeps_sessions(
    host: spe_host.Host, tokens: TokenTable, gate: threading.Event
) -> None:
    admin = bearer(tokens)
    host_namespace = {"gate": gate}
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            listening = await nursery.start(
                partial(serve_http, host, "tcp://127.0.0.1:0", tokens=tokens, shutdown_timeout=0.2)
            )
            async with httpx.AsyncClient(base_url=listening.url) as client:
                await client.post("/api/sessions/s/execute", headers=admin, json={"code": "1"})
                host.session("s").namespace.update(host_namespace)
                failures: list[BaseException] = []

                async def in_flight(path: str, body: dict[str, str] | None) -> None:
                    try:
                        await client.request(
                            "GET" if body is None else "POST", path, headers=admin, json=body
                        )
                    except httpx.HTTPError as exc:
                        failures.append(exc)

                # An execute that never ends, and an event stream that never ends.
                nursery.start_soon(in_flight, "/api/sessions/s/execute", {"code": "gate.wait()"})
                nursery.start_soon(in_flight, "/api/sessions/s/output?follow=true", None)
                await wait_until(lambda: host.session("s").state == "running")
                before = trio.current_time()
                nursery.cancel_scope.cancel()
        # The deadline (0.2 s) and its margin (1 s): never longer, whatever clients do.
        assert trio.current_time() - before < 1.5
        # A listener never owns sessions: the run goes on.
        assert host.session("s").state == "running"
        gate.set()
        await host.wait("s")


async def test_serve_https_with_a_certificate_file(
    host: spe_host.Host, tokens: TokenTable, tmp_path: Path
) -> None:
    ca = trustme.CA()
    pem = tmp_path / "server.pem"
    ca.issue_cert("127.0.0.1").private_key_and_cert_chain_pem.write_to_path(str(pem))
    verify = ssl.create_default_context()
    ca.configure_trust(verify)
    with trio.fail_after(10):
        async with served_client(host, tokens, tls_cert=str(pem)) as (_, listening):
            assert listening.url.startswith("https://127.0.0.1:")
            async with httpx.AsyncClient(base_url=listening.url, verify=verify) as client:
                logon = await client.post("/api/logon?cookie=true", headers=bearer(tokens))
                assert logon.status_code == 201
                assert "Secure" in logon.headers["set-cookie"]
