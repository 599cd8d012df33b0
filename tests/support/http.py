"""Helpers for the HTTP API's tests: an httpx client on the app, in memory or on loopback.

``asgi_client`` drives the app through ``httpx.ASGITransport`` (no socket: for units);
``served_client`` serves it with :func:`spe_host.http.serve_http` on a real loopback
port. Both are async context managers bounded by the caller's ``trio.fail_after``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import trio

import spe_host
from spe_host.auth import TokenTable
from spe_host.http import HttpListening, create_app, serve_http


def bearer(tokens: TokenTable, role: str = "admin") -> dict[str, str]:
    """The Authorization header of ``role``'s token."""
    return {"Authorization": f"Bearer {tokens.token(role)}"}


@asynccontextmanager
async def asgi_client(
    host: spe_host.Host, tokens: TokenTable, **app_options: Any
) -> AsyncIterator[httpx.AsyncClient]:
    """A client of ``create_app(host, tokens)`` over ``httpx.ASGITransport``."""
    app = create_app(host, tokens, **app_options)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


@asynccontextmanager
async def served_client(
    host: spe_host.Host, tokens: TokenTable, **serve_options: Any
) -> AsyncIterator[tuple[httpx.AsyncClient, HttpListening]]:
    """A client of ``serve_http(host)`` on a loopback port the system picks."""
    async with trio.open_nursery() as nursery:
        listening: HttpListening = await nursery.start(
            lambda task_status: serve_http(
                host, "tcp://127.0.0.1:0", tokens=tokens, task_status=task_status, **serve_options
            )
        )
        async with httpx.AsyncClient(base_url=listening.url) as client:
            yield client, listening
        nursery.cancel_scope.cancel()
