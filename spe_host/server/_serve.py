"""serve / serve_unix / serve_tcp / serve_stream: the entry points that put a Host on the wire.

Theory of operation
-------------------
A ``serve_*`` function opens its listener, calls ``task_status.started()`` with a
:class:`Listening` record, and then runs until it is cancelled (trio's
``serve_listeners`` shape). The host is an argument: it never imports this module,
and the server reaches it only through :class:`~spe_host.service.Service`. A listener
never owns sessions: when it ends, every session of the host goes on (see
:mod:`._core` for the shutdown).

The unix socket is mode 0600 in the private (0700) runtime directory, and every peer's
uid must be ours. A TCP listener binds loopback by default, needs TLS (or an explicit
``insecure``) for anything else, and writes its tokens to one 0600 connection file
per role, which clients of the same user find by the host's name.
"""

from __future__ import annotations

import logging
import os
import socket as stdlib_socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import trio

from .._errors import SpeError
from .._model import Role
from ..auth import (
    ConnectionInfo,
    FailureThrottle,
    TokenTable,
    connection_file_path,
    default_socket_path,
    write_connection_file,
)
from ..auth import (
    peer_uid as kernel_peer_uid,
)
from ..service import Host, Principal, Service
from ..transport import (
    TcpAddress,
    UnixAddress,
    bind_tcp,
    cert_fingerprint,
    check_bind,
    format_address,
    parse_address,
    server_ssl_context,
)
from ..wire import DEFAULT_MAX_FRAME, Hello
from ._admit import describe_peer, token_admit, unix_admit
from ._connection import ServerConnection
from ._core import HANDSHAKE_TIMEOUT, Admit, ServerCore
from ._housekeeping import (
    check_no_live_host,
    clear_stale_socket,
    remove_connection_file_if_ours,
    remove_socket_if_ours,
)
from ._limits import DEFAULT_LIMITS, Limits

__all__ = ["HANDSHAKE_TIMEOUT", "Listening", "serve", "serve_stream", "serve_tcp", "serve_unix"]

logger = logging.getLogger("spe_host.server")


@dataclass(frozen=True)
class Listening:
    """What ``serve_*`` reports through ``task_status.started()`` once it listens.

    Attributes:
        address: The address clients connect to, resolved: ``unix:/path`` or
            ``tcp://127.0.0.1:40123`` with the port actually bound.
        connection_files: The connection files written, by role (``"admin"``,
            ``"operator"``); empty for a unix socket, which clients find by its path.
        tokens: The tokens a TCP listener accepts; None for a unix socket.
    """

    address: str
    connection_files: dict[str, Path] = field(default_factory=dict)
    tokens: TokenTable | None = None


async def serve(
    host: Host,
    address: str | None = None,
    *,
    tls_cert: str | os.PathLike[str] | None = None,
    tls_key: str | os.PathLike[str] | None = None,
    insecure: bool = False,
    tokens: TokenTable | None = None,
    throttle: FailureThrottle | None = None,
    shutdown_timeout: float = 5.0,
    limits: Limits = DEFAULT_LIMITS,
    task_status: trio.TaskStatus[Listening] = trio.TASK_STATUS_IGNORED,
) -> NoReturn:
    """Serve ``host`` on an address given as text, until cancelled.

    Example::

        async with spe_host.open_host() as host, trio.open_nursery() as nursery:
            listening = await nursery.start(spe_host.serve, host, "tcp://127.0.0.1:0")
            print("clients connect to", listening.address)

    Args:
        host: The host to serve.
        address: ``unix:/path/to/socket``, ``tcp://HOST:PORT``, or None for the default
            unix socket of ``host.name`` in the private runtime directory.
        tls_cert: PEM certificate chain; makes a TCP listener speak TLS.
        tls_key: PEM private key (None: it is in ``tls_cert``).
        insecure: Allow a non-loopback TCP bind without TLS (logged as a warning).
        tokens: The tokens a TCP listener accepts (None: fresh ones); a unix socket
            needs none. Pass one table to several listeners (and the HTTP API) to
            share it.
        throttle: Slows down TCP peers that fail to authenticate (None: a fresh one);
            pass one to several listeners (and the HTTP API) to count their failures
            together.
        shutdown_timeout: Seconds a cancelled server waits for in-flight executions to
            report their end to their clients. Sessions are never stopped by it.
        limits: What peers may hold at once: connections, unauthenticated ones,
            requests and streams per connection (docs/security.md lists them).
        task_status: Receives a :class:`Listening` once clients can connect.

    Raises:
        SpeError: The address is malformed, TLS was asked for on a unix socket, or
            the listener cannot be opened (the message says why).
    """
    if address is None:
        if tls_cert is not None or tls_key is not None:
            raise SpeError(
                "TLS applies to tcp:// addresses only, and no address was given (the "
                "default is the host's private unix socket); pass a tcp:// address too"
            )
        await serve_unix(
            host, shutdown_timeout=shutdown_timeout, limits=limits, task_status=task_status
        )
    try:
        parsed = parse_address(address)
    except ValueError as exc:
        raise SpeError(str(exc)) from None
    if isinstance(parsed, UnixAddress):
        if tls_cert is not None or tls_key is not None:
            raise SpeError(
                f"TLS applies to tcp:// addresses only; {address} is a unix socket, which is "
                "private to your user already: drop --tls-cert/--tls-key"
            )
        await serve_unix(
            host,
            parsed.path,
            shutdown_timeout=shutdown_timeout,
            limits=limits,
            task_status=task_status,
        )
    if tls_key is not None and tls_cert is None:
        raise SpeError("a TLS key was given without a certificate; pass --tls-cert too")
    context = None
    fingerprint = None
    if tls_cert is not None:
        context = server_ssl_context(tls_cert, tls_key)
        fingerprint = cert_fingerprint(tls_cert)
    await serve_tcp(
        host,
        parsed.port,
        bind=parsed.host,
        ssl_context=context,
        tls_fingerprint=fingerprint,
        insecure=insecure,
        tokens=tokens,
        throttle=throttle,
        shutdown_timeout=shutdown_timeout,
        limits=limits,
        task_status=task_status,
    )


async def serve_unix(
    host: Host,
    path: str | os.PathLike[str] | None = None,
    *,
    peer_uid: Callable[[Any], int | None] = kernel_peer_uid,
    shutdown_timeout: float = 5.0,
    handshake_timeout: float = HANDSHAKE_TIMEOUT,
    max_frame: int = DEFAULT_MAX_FRAME,
    limits: Limits = DEFAULT_LIMITS,
    task_status: trio.TaskStatus[Listening] = trio.TASK_STATUS_IGNORED,
) -> NoReturn:
    """Serve ``host`` on a unix socket, until cancelled.

    The socket is made mode 0600 and, by default, lives in the private (0700) runtime
    directory. A stale socket left by a dead server is replaced; one that still
    answers is not. Every peer's uid must be ours (``SO_PEERCRED``); peers are admins.
    The socket is removed on exit.

    Args:
        host: The host to serve.
        path: The socket's path; None for ``<runtime dir>/<host.name>.sock``.
        peer_uid: Returns the uid of a connected socket's peer, or None if unknown
            (tests pass a fake).
        shutdown_timeout: Seconds a cancelled server waits for in-flight executions to
            report their end to their clients.
        handshake_timeout: Seconds a new connection has to send ``hello``.
        max_frame: The frame limit, in bytes.
        limits: What peers may hold at once (docs/security.md).
        task_status: Receives a :class:`Listening` once clients can connect.

    Raises:
        SpeError: The socket cannot be created, or another server answers on it.
    """
    sock_path = Path(path) if path is not None else default_socket_path(host.name)
    await clear_stale_socket(sock_path)
    sock = trio.socket.socket(stdlib_socket.AF_UNIX, stdlib_socket.SOCK_STREAM)
    inode: int | None = None
    try:
        try:
            await sock.bind(str(sock_path))
            # bind() honours the umask, so the socket may be group/world-connectable for
            # an instant; the peer-uid check covers that window.
            os.chmod(sock_path, 0o600)
            inode = os.stat(sock_path).st_ino
            sock.listen(trio.socket.SOMAXCONN)
        except OSError as exc:
            raise SpeError(
                f"cannot listen on the unix socket {sock_path}: {exc.strerror or exc}"
            ) from None
        # Only our own user can reach the socket, named by the kernel at connect: no
        # stranger's startups to cap.
        core = ServerCore(
            Service(host),
            handshake_timeout=handshake_timeout,
            max_frame=max_frame,
            limits=limits,
            count_startups=False,
        )
        listening = Listening(address=format_address(UnixAddress(str(sock_path))))
        await core.run(
            [trio.SocketListener(sock)],
            _handler(core, unix_admit(str(sock_path), peer_uid)),
            shutdown_timeout=shutdown_timeout,
            started=lambda: task_status.started(listening),
        )
    finally:
        sock.close()
        if inode is not None:
            remove_socket_if_ours(sock_path, inode)


async def serve_tcp(
    host: Host,
    port: int = 0,
    *,
    bind: str = "127.0.0.1",
    ssl_context: ssl.SSLContext | None = None,
    insecure: bool = False,
    tokens: TokenTable | None = None,
    tls_fingerprint: str | None = None,
    name: str | None = None,
    throttle: FailureThrottle | None = None,
    shutdown_timeout: float = 5.0,
    handshake_timeout: float = HANDSHAKE_TIMEOUT,
    max_frame: int = DEFAULT_MAX_FRAME,
    limits: Limits = DEFAULT_LIMITS,
    task_status: trio.TaskStatus[Listening] = trio.TASK_STATUS_IGNORED,
) -> NoReturn:
    """Serve ``host`` over TCP, until cancelled.

    Every ``hello`` must carry a token. The tokens, the address and the TLS
    fingerprint are written to one 0600 connection file per role in the runtime
    directory (``<name>.json`` for admin, ``<name>.operator.json``), which clients of
    the same user find by the host's name; the files are removed on exit.

    Args:
        host: The host to serve.
        port: The port; 0 lets the system choose (see :attr:`Listening.address`).
        bind: The address to listen on. Anything but loopback needs TLS, or
            ``insecure``.
        ssl_context: A server TLS context (see :func:`spe_host.transport.server_ssl_context`);
            None for plain TCP.
        insecure: Allow a non-loopback bind without TLS (logged as a warning).
        tokens: The tokens to accept; None makes fresh admin and operator tokens.
        tls_fingerprint: The SHA-256 fingerprint of the certificate in
            ``ssl_context``, for the connection files (clients pin it); :func:`serve`
            computes it from the certificate file.
        name: The connection name for the files (default: ``host.name``).
        throttle: Slows down peers that fail to authenticate (default: five failures
            in ten seconds, then one second, doubling).
        shutdown_timeout: Seconds a cancelled server waits for in-flight executions to
            report their end to their clients.
        handshake_timeout: Seconds a new connection has to finish TLS and ``hello``.
        max_frame: The frame limit, in bytes.
        limits: What peers may hold at once (docs/security.md).
        task_status: Receives a :class:`Listening` once clients can connect.

    Raises:
        SpeError: The bind is refused (non-loopback without TLS), the port cannot be
            opened, or a live host with the same name already has connection files.
    """
    check_bind(bind, ssl_context is not None, insecure)
    conn_name = name or host.name
    table = tokens if tokens is not None else TokenTable.generate()
    try:
        # Every address of the name, all on one port: the files name the first.
        bound = await bind_tcp(bind, port, backlog=trio.socket.SOMAXCONN)
    except OSError as exc:
        raise SpeError(
            f"cannot listen on {bind or 'every interface'} port {port}: {exc.strerror or exc}"
        ) from None
    sockets = [trio.SocketListener(trio.socket.from_stdlib_socket(sock)) for sock in bound]
    written: dict[str, Path] = {}
    address = ""
    try:
        bound_host, bound_port = sockets[0].socket.getsockname()[:2]
        # A wildcard bind is reached through loopback from this machine.
        connect_host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(bound_host, bound_host)
        address = format_address(TcpAddress(connect_host, bound_port))
        check_no_live_host(conn_name)
        for role in Role:
            try:
                token = table.token(role)
            except KeyError:
                continue
            path = connection_file_path(conn_name, role)
            info = ConnectionInfo(
                name=conn_name,
                address=address,
                token=token,
                role=role,
                pid=os.getpid(),
                tls_fingerprint=tls_fingerprint,
                tls=ssl_context is not None,
            )
            write_connection_file(path, info)
            written[role.value] = path
        listeners: list[trio.abc.Listener[trio.abc.Stream]] = list(sockets)
        if ssl_context is not None:
            # The TLS handshake itself happens in the connection, under its deadline.
            listeners = [trio.SSLListener(s, ssl_context, https_compatible=False) for s in sockets]
        core = ServerCore(
            Service(host), handshake_timeout=handshake_timeout, max_frame=max_frame, limits=limits
        )
        listening = Listening(address=address, connection_files=dict(written), tokens=table)
        admit = token_admit(table, throttle if throttle is not None else FailureThrottle())
        await core.run(
            listeners,
            _handler(core, admit),
            shutdown_timeout=shutdown_timeout,
            started=lambda: task_status.started(listening),
        )
    finally:
        for listener in sockets:
            listener.socket.close()
        for path in written.values():
            remove_connection_file_if_ours(path, address)


async def serve_stream(
    host: Host,
    stream: trio.abc.Stream,
    *,
    principal: Principal,
    max_frame: int = DEFAULT_MAX_FRAME,
    handshake_timeout: float = HANDSHAKE_TIMEOUT,
    limits: Limits = DEFAULT_LIMITS,
) -> None:
    """Serve one already-connected stream as ``principal``, until either side closes it.

    For tests and for embedding behind a transport of your own (the stream's peer is
    trusted to be ``principal``: its ``hello`` carries no credentials that matter).

    Args:
        host: The host to serve.
        stream: The connected stream (one end of ``trio.testing.memory_stream_pair()``).
        principal: Who the peer is.
        max_frame: The frame limit, in bytes.
        handshake_timeout: Seconds the peer has to send ``hello``.
        limits: What the peer may hold at once (requests, streams, queued answers).
    """
    core = ServerCore(
        Service(host), handshake_timeout=handshake_timeout, max_frame=max_frame, limits=limits
    )

    async def admit(_stream: trio.abc.Stream, _hello: Hello) -> Principal:
        return principal

    await ServerConnection(core, stream, admit, principal.peer).run()


def _handler(core: ServerCore, admit: Admit) -> Callable[[trio.abc.Stream], Any]:
    async def handle(stream: trio.abc.Stream) -> None:
        shown, peer_host = describe_peer(stream)
        await ServerConnection(core, stream, admit, shown, peer_host).run()

    return handle
