"""serve_http: the HTTP API on hypercorn's trio worker, in the host's own trio loop.

Theory of operation
-------------------
The trio ``serve_*`` shape, as :func:`spe_host.serve`: ``task_status.started()`` once
the socket is bound (with an :class:`HttpListening`: the URL and the tokens), then
serve until cancelled. Same bind policy as the socket server (loopback by default,
TLS or an explicit ``insecure`` for anything else, :func:`~spe_host.transport.check_bind`).

Hypercorn shuts down gracefully when its ``shutdown_trigger`` returns: it stops
accepting, lets requests in flight finish for ``graceful_timeout`` and then cancels
them (an open SSE stream too). A cancelled task cannot wait for that by itself, so
the server runs in a shielded scope beside a task that only sleeps: when the caller
cancels, the sleeper's ``finally`` pulls the trigger and puts a deadline on the
shield (the graceful time and one second more), so shutdown never outlasts
``shutdown_timeout`` by more than that second, whatever a client does.

Hypercorn logs through ``logging.getLogger("spe_host.http")``; there is no access
log unless the embedding program sets one up on that logger.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import NoReturn, cast

import trio
from hypercorn.config import Config
from hypercorn.trio import serve as hypercorn_serve
from hypercorn.typing import ASGIFramework

from .._errors import SpeError
from ..auth import FailureThrottle, TokenTable
from ..service import Host
from ..transport import UnixAddress, bind_tcp, check_bind, parse_address, server_ssl_context
from ._app import create_app
from ._capacity import DEFAULT_HTTP_LIMITS, HttpLimits
from ._sse import end_streams

__all__ = ["HttpListening", "serve_http"]

logger = logging.getLogger("spe_host.http")

#: What shutdown may take beyond ``shutdown_timeout`` before everything is cancelled.
_SHUTDOWN_MARGIN = 1.0


@dataclass(frozen=True)
class HttpListening:
    """What :func:`serve_http` reports through ``task_status.started()``.

    Attributes:
        url: Where the API is, with the port actually bound
            (``http://127.0.0.1:8080``, ``https://...`` with TLS).
        tokens: The bearer tokens it accepts.
        urls: Every address it listens on, ``url`` first: one per address the
            host name resolves to (``localhost``: often ``[::1]`` and
            ``127.0.0.1``), all on the same port.
    """

    url: str
    tokens: TokenTable
    urls: tuple[str, ...] = ()


async def serve_http(
    host: Host,
    address: str = "tcp://127.0.0.1:8080",
    *,
    tokens: TokenTable | None = None,
    tls_cert: str | os.PathLike[str] | None = None,
    tls_key: str | os.PathLike[str] | None = None,
    insecure: bool = False,
    shutdown_timeout: float = 5.0,
    throttle: FailureThrottle | None = None,
    logon_idle_timeout: float = 900.0,
    limits: HttpLimits = DEFAULT_HTTP_LIMITS,
    task_status: trio.TaskStatus[HttpListening] = trio.TASK_STATUS_IGNORED,
) -> NoReturn:
    """Serve the HTTP API of ``host`` on ``address``, until cancelled.

    Example::

        async with spe_host.open_host() as host, trio.open_nursery() as nursery:
            listening = await nursery.start(serve_http, host, "tcp://127.0.0.1:0")
            print("the API is at", listening.url)

    Args:
        host: The host to serve.
        address: ``tcp://HOST:PORT`` (port 0: the system picks one).
        tokens: The bearer tokens to accept; None makes fresh admin and operator
            tokens (see :attr:`HttpListening.tokens`). Pass the socket listeners'
            table to share it.
        tls_cert: PEM certificate chain: serve HTTPS.
        tls_key: PEM private key (None: it is in ``tls_cert``).
        insecure: Allow a non-loopback address without TLS (logged as a warning).
        shutdown_timeout: Seconds a cancelled server gives requests in flight (and
            open event streams) before it cancels them.
        throttle: Slows down clients that fail to authenticate.
        logon_idle_timeout: Seconds a logon session lives without use.
        limits: Requests, and event streams and long-polls, held at once (503 beyond).
        task_status: Receives an :class:`HttpListening` once clients can connect.

    Raises:
        SpeError: The address is malformed or a unix socket, the bind is refused,
            TLS was half given, or the port cannot be opened.
    """
    try:
        parsed = parse_address(address)
    except ValueError as exc:
        raise SpeError(str(exc)) from None
    if isinstance(parsed, UnixAddress):
        raise SpeError(
            f"the HTTP API listens on tcp:// addresses only, not {address}; "
            "write tcp://127.0.0.1:PORT"
        )
    if tls_key is not None and tls_cert is None:
        raise SpeError("a TLS key was given without a certificate; pass --tls-cert too")
    check_bind(parsed.host, tls_cert is not None, insecure)
    table = tokens if tokens is not None else TokenTable.generate()
    config = Config()
    if tls_cert is not None:
        # Loaded once here for its sentence when the files are bad; hypercorn loads them
        # again for its own context (ALPN).
        server_ssl_context(tls_cert, tls_key)
        config.certfile = os.fspath(tls_cert)
        config.keyfile = os.fspath(tls_key if tls_key is not None else tls_cert)
    # Bound here, not by hypercorn, so that a port in use is a sentence from this call
    # rather than an error deep inside the server's nursery.
    try:
        sockets = await bind_tcp(parsed.host, parsed.port)
    except OSError as exc:
        raise SpeError(f"cannot serve HTTP on {address}: {exc.strerror or exc}") from None
    # detach(): hypercorn's socket objects own the descriptors from now on.
    config.bind = [f"fd://{sock.detach()}" for sock in sockets]
    config.graceful_timeout = shutdown_timeout
    config.errorlog = logger
    config.accesslog = None
    config.include_server_header = False
    # Starlette's ASGI types and hypercorn's describe the same protocol, each its own way.
    api = create_app(
        host, table, throttle=throttle, logon_idle_timeout=logon_idle_timeout, limits=limits
    )
    app = cast(ASGIFramework, api)
    stopping = trio.Event()
    shield = trio.CancelScope(shield=True)

    async def run(task_status: trio.TaskStatus[list[str]]) -> None:
        with shield:
            await hypercorn_serve(
                app, config, shutdown_trigger=stopping.wait, task_status=task_status
            )

    async with trio.open_nursery() as nursery:
        urls = await nursery.start(run)
        listening = HttpListening(url=urls[0], tokens=table, urls=tuple(urls))
        logger.info("the HTTP API of host %r is at %s", host.name, ", ".join(urls))
        task_status.started(listening)
        try:
            await trio.sleep_forever()
        finally:
            # Event streams never end by themselves: end them first, cleanly.
            end_streams(api)
            stopping.set()
            shield.deadline = trio.current_time() + shutdown_timeout + _SHUTDOWN_MARGIN
