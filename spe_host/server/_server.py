"""serve_unix / serve_tcp / serve: the listeners that put a Host on the wire.

Theory of operation
-------------------
A ``serve_*`` function opens its listener, calls ``task_status.started()`` with a
:class:`Listening` record, and then runs until it is cancelled (trio's
``serve_listeners`` shape). The host is an argument: it never imports this module.

**Connections.** Every accepted stream gets a task of its own, and that task a
nursery. The first thing a connection must do is authenticate within the handshake
deadline (5 s): on a unix socket the kernel names the peer's uid (``SO_PEERCRED``),
which must be ours; over TCP the ``hello`` must carry a token from the
:class:`~spe_host._auth.TokenTable`, compared in constant time, and failures are
logged and slowed down per peer IP (:class:`~spe_host._auth.FailureThrottle`).
Until then frames are limited to 64 KiB, so a stranger cannot make us buffer the full
frame limit per connection.
After ``welcome`` the connection reads frames in a loop and starts one task per
request, so an ``input_reply``, a ``stop`` or a ``cancel`` is handled while an
``execute`` of the same connection is still running. ``input_reply`` and ``cancel``
are answered inline by the reader, because they only poke a waiting task.

**One writer.** Requests answer concurrently, but frames must never interleave on
the wire, and a task cancelled in the middle of ``send_all`` would leave half a frame
behind. So handlers never touch the stream: they serialise a message and hand the
frame to a bounded memory channel (a hand-off that is either complete or did not
happen), and a single writer task drains it, coalescing small frames into one write.
The bound is the backpressure: a client that stops reading stalls its own handlers
and nothing else. Output is never queued beyond that - handlers pull it from the
session's bounded buffer at the pace the client reads, and what the buffer dropped in
the meantime is reported as ``dropped``.

**Execute.** The execution runs in the host's nursery (``Host.execute``), never in
the connection's, so a client that goes away does not stop it. Next to it, the
handler follows the session's output from the offset it had when the execution was
submitted, and its progress, as ``output`` and ``progress`` events; when the
execution ends, the rest of the output is flushed, then ``done``. ``input()`` sends
``input_request`` and waits for the matching ``input_reply``; a connection that is
gone answers end-of-file. A stop while the script waits for input cancels that wait
(the engine owns the cancel scope).

**Errors.** A malformed frame is answered with ``bad_request`` (carrying the frame's
id when it could be read) and closes that connection only. A request that fails with
an :class:`~spe_host.SpeError` is answered with its code, and the connection stays
open; any other exception is logged and answered ``internal`` without details.

**Shutdown** (hypercorn's shape). When ``serve_*`` is cancelled it stops accepting,
asks every running session to stop, and waits - at most ``shutdown_timeout`` seconds
- until every in-flight ``execute`` has written its ``done`` (status aborted) to its
client. Then it closes the remaining connections and removes its socket or its
connection files. Connection tasks run under a shielded cancel scope so that the
caller's cancellation does not cut them off before they have said goodbye; that
scope carries the deadline, so shutdown always ends in time.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import itertools
import json
import keyword
import logging
import os
import re
import socket as stdlib_socket
import ssl
import stat
import struct
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Final, NoReturn, TypeAlias

import trio

from .. import auth as _auth
from .. import wire as _protocol
from .._errors import (
    AuthenticationError,
    LocalProtocolError,
    RemoteProtocolError,
    SessionBusy,
    SessionNotFound,
    SpeError,
)
from .._model import Completion, ExecutionResult, Role, SessionState
from .._model import Progress as SessionProgress
from ..auth import TokenTable
from ..engine import Host, InputHandler, ScriptSession
from ..engine._streams import dropped_marker
from ..wire import (
    CLOSED,
    DEFAULT_MAX_FRAME,
    NEED_DATA,
    PROTOCOL_VERSION,
    Cancel,
    Complete,
    Done,
    Error,
    Execute,
    Hello,
    InputReply,
    InputRequest,
    ListSessions,
    Message,
    Output,
    Progress,
    Receive,
    Remove,
    Result,
    Start,
    Stop,
    Subscribe,
    Wait,
    Welcome,
)

__all__ = [
    "HANDSHAKE_TIMEOUT",
    "Listening",
    "serve",
    "serve_tcp",
    "serve_unix",
]

logger = logging.getLogger("spe_host.server")

#: Seconds a new connection has to complete its ``hello`` (and its TLS handshake).
HANDSHAKE_TIMEOUT: Final = 5.0
# The frame limit before authentication: a hello is a few hundred bytes, and a peer we
# do not know yet must not make us buffer max_frame bytes per connection.
_HELLO_MAX_FRAME: Final = 64 * 1024
# Requests one connection may have in flight; more are refused with `busy`, as OpenSSH
# refuses channels beyond MaxSessions. Far above what a REPL or a CLI needs.
_MAX_IN_FLIGHT: Final = 256
# Frames queued for the writer before handlers wait for the client to read.
_OUTBOX_FRAMES: Final = 64
# Frames the writer joins into one send_all, up to this many bytes.
_WRITE_BATCH: Final = 64 * 1024
# Characters of output per `output` event: small enough to interleave with other
# answers, and far below the frame limit even if every character had to be escaped.
_OUTPUT_CHUNK: Final = 64 * 1024
# How long `complete` may take before it answers an empty list.
_COMPLETE_TIMEOUT: Final = 5.0
_MAX_COMPLETIONS: Final = 1000
# After refusing a connection: how long to keep reading (and discarding) what the
# client still sends, so that closing does not reset the connection and destroy the
# error frame before the client has read it.
_LINGER: Final = 1.0
_LINGER_BYTES: Final = 64 * 1024
# accept() errors that mean "out of resources right now": wait and try again, as
# trio.serve_listeners does, instead of crashing the server.
_ACCEPT_CAPACITY_ERRNOS: Final = frozenset(
    {errno.EMFILE, errno.ENFILE, errno.ENOMEM, errno.ENOBUFS}
)
_RESERVED_PREFIX: Final = "__spe_"

Admit: TypeAlias = Callable[["_ServerConnection", Hello], Awaitable[Role]]


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


# --- public entry points ----------------------------------------------------------------


async def serve(
    host: Host,
    address: str | None = None,
    *,
    tls_cert: str | os.PathLike[str] | None = None,
    tls_key: str | os.PathLike[str] | None = None,
    insecure: bool = False,
    shutdown_timeout: float = 5.0,
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
        shutdown_timeout: Seconds a cancelled server waits for running executions to
            report their end to their clients.
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
        await serve_unix(host, shutdown_timeout=shutdown_timeout, task_status=task_status)
    try:
        parsed = _auth.parse_address(address)
    except ValueError as exc:
        raise SpeError(str(exc)) from None
    if isinstance(parsed, _auth.UnixAddress):
        if tls_cert is not None or tls_key is not None:
            raise SpeError(
                f"TLS applies to tcp:// addresses only; {address} is a unix socket, which is "
                "private to your user already: drop --tls-cert/--tls-key"
            )
        await serve_unix(
            host, parsed.path, shutdown_timeout=shutdown_timeout, task_status=task_status
        )
    if tls_key is not None and tls_cert is None:
        raise SpeError("a TLS key was given without a certificate; pass --tls-cert too")
    context = None
    fingerprint = None
    if tls_cert is not None:
        context = _auth.server_ssl_context(tls_cert, tls_key)
        fingerprint = _auth.cert_fingerprint(tls_cert)
    await serve_tcp(
        host,
        parsed.port,
        bind=parsed.host,
        ssl_context=context,
        tls_fingerprint=fingerprint,
        insecure=insecure,
        shutdown_timeout=shutdown_timeout,
        task_status=task_status,
    )


async def serve_unix(
    host: Host,
    path: str | os.PathLike[str] | None = None,
    *,
    peer_uid: Callable[[Any], int | None] = _auth.peer_uid,
    shutdown_timeout: float = 5.0,
    handshake_timeout: float = HANDSHAKE_TIMEOUT,
    max_frame: int = DEFAULT_MAX_FRAME,
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
        shutdown_timeout: Seconds a cancelled server waits for running executions to
            report their end to their clients.
        handshake_timeout: Seconds a new connection has to send ``hello``.
        max_frame: The frame limit, in bytes.
        task_status: Receives a :class:`Listening` once clients can connect.

    Raises:
        SpeError: The socket cannot be created, or another server answers on it.
    """
    sock_path = Path(path) if path is not None else _auth.default_socket_path(host.name)
    await _clear_stale_socket(sock_path)
    sock = trio.socket.socket(stdlib_socket.AF_UNIX, stdlib_socket.SOCK_STREAM)
    inode: int | None = None
    try:
        try:
            await sock.bind(str(sock_path))
            # bind() honours the umask, so the socket may be group/world-connectable for
            # an instant; the peer-uid check below covers that window.
            os.chmod(sock_path, 0o600)
            inode = os.stat(sock_path).st_ino
            sock.listen(trio.socket.SOMAXCONN)
        except OSError as exc:
            raise SpeError(
                f"cannot listen on the unix socket {sock_path}: {exc.strerror or exc}"
            ) from None
        me = os.getuid()

        async def admit(conn: _ServerConnection, hello: Hello) -> Role:
            try:
                _auth.check_peer_uid(peer_uid(conn.socket), me)
            except AuthenticationError as exc:
                logger.warning(
                    "refused a unix-socket peer on %s (client %r, pid %s): %s",
                    sock_path,
                    hello.client,
                    _peer_pid(conn.socket),
                    exc,
                )
                raise
            return Role.ADMIN

        address = _auth.format_address(_auth.UnixAddress(str(sock_path)))
        server = _Server(
            host, handshake_timeout=handshake_timeout, max_frame=max_frame, tls_context=None
        )
        await server.run(
            [trio.SocketListener(sock)],
            admit,
            shutdown_timeout,
            lambda: task_status.started(Listening(address=address)),
        )
    finally:
        sock.close()
        if inode is not None:
            _remove_if_ours(sock_path, inode)


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
    throttle: _auth.FailureThrottle | None = None,
    shutdown_timeout: float = 5.0,
    handshake_timeout: float = HANDSHAKE_TIMEOUT,
    max_frame: int = DEFAULT_MAX_FRAME,
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
        ssl_context: A server TLS context (see :func:`spe_host._auth.server_ssl_context`);
            None for plain TCP.
        insecure: Allow a non-loopback bind without TLS (logged as a warning).
        tokens: The tokens to accept; None makes fresh admin and operator tokens.
        tls_fingerprint: The SHA-256 fingerprint of the certificate in
            ``ssl_context``, for the connection files (clients pin it); :func:`serve`
            computes it from the certificate file.
        name: The connection name for the files (default: ``host.name``).
        throttle: Slows down peers that fail to authenticate (default: five failures
            in ten seconds, then one second, doubling).
        shutdown_timeout: Seconds a cancelled server waits for running executions to
            report their end to their clients.
        handshake_timeout: Seconds a new connection has to finish TLS and ``hello``.
        max_frame: The frame limit, in bytes.
        task_status: Receives a :class:`Listening` once clients can connect.

    Raises:
        SpeError: The bind is refused (non-loopback without TLS), the port cannot be
            opened, or a live host with the same name already has connection files.
    """
    _auth.check_bind(bind, ssl_context is not None, insecure)
    conn_name = name or host.name
    table = tokens if tokens is not None else TokenTable.generate()
    guard = throttle if throttle is not None else _auth.FailureThrottle()
    try:
        listeners = await trio.open_tcp_listeners(port, host=bind or None)
    except OSError as exc:
        raise SpeError(
            f"cannot listen on {bind or 'every interface'} port {port}: {exc.strerror or exc}"
        ) from None
    if port == 0 and len(listeners) > 1:
        # "localhost" may give an IPv4 and an IPv6 listener, each on its own random
        # port; clients learn only the first address, so the others would be dead ends.
        for extra in listeners[1:]:
            extra.socket.close()
        listeners = listeners[:1]
    written: dict[str, Path] = {}
    address = ""
    try:
        bound_host, bound_port = listeners[0].socket.getsockname()[:2]
        # A wildcard bind is reached through loopback from this machine.
        connect_host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(bound_host, bound_host)
        address = _auth.format_address(_auth.TcpAddress(connect_host, bound_port))
        _check_no_live_host(conn_name)
        for role in Role:
            try:
                token = table.token(role)
            except KeyError:
                continue
            path = _auth.connection_file_path(conn_name, role)
            info = _auth.ConnectionInfo(
                name=conn_name,
                address=address,
                token=token,
                role=role,
                pid=os.getpid(),
                tls_fingerprint=tls_fingerprint,
                tls=ssl_context is not None,
            )
            _auth.write_connection_file(path, info)
            written[role.value] = path
        locks = _PeerLocks()

        async def admit(conn: _ServerConnection, hello: Hello) -> Role:
            # The token is checked first, so a right token is never delayed by
            # somebody else's failures from the same address (every local user
            # shares 127.0.0.1). A wrong one is answered only after the peer's
            # penalty, one failure at a time per peer, so parallel connections do
            # not multiply a guesser's attempts. The caller bounds all of it by the
            # handshake deadline.
            try:
                role = table.role_for(hello.token)
            except AuthenticationError as exc:
                # Keyed by host only: a client gets a new port for every connection.
                guard.record_failure(conn.peer_host, f"{exc} (connection from {conn.peer})")
                async with locks.hold(conn.peer_host):
                    delay = guard.delay_for(conn.peer_host)
                    if delay > 0:
                        await trio.sleep(delay)
                raise
            guard.reset(conn.peer_host)
            return role

        listening = Listening(address=address, connection_files=dict(written), tokens=table)
        server = _Server(
            host,
            handshake_timeout=handshake_timeout,
            max_frame=max_frame,
            tls_context=ssl_context,
        )
        await server.run(listeners, admit, shutdown_timeout, lambda: task_status.started(listening))
    finally:
        for listener in listeners:
            listener.socket.close()
        for path in written.values():
            _remove_connection_file_if_ours(path, address)


# --- listener housekeeping --------------------------------------------------------------


async def _clear_stale_socket(path: Path) -> None:
    # A socket file outlives a server that crashed. Replace it only if nothing answers
    # on it: unlinking a live server's socket would orphan that server silently.
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(st.st_mode):
        raise SpeError(
            f"{path} exists and is not a socket; refusing to replace it: remove it or "
            "choose another path"
        )
    probe = trio.socket.socket(stdlib_socket.AF_UNIX, stdlib_socket.SOCK_STREAM)
    try:
        with trio.move_on_after(1.0):
            await probe.connect(str(path))
        # Connected, or still connecting after a second: either way somebody is there.
        raise SpeError(
            f"another server is listening on {path}; stop it first, or choose another "
            "path or host name"
        )
    except (ConnectionRefusedError, FileNotFoundError):
        pass  # stale: nobody accepts on it any more
    except PermissionError:
        raise SpeError(
            f"{path} is a socket you may not connect to, so it is not yours; choose another path"
        ) from None
    finally:
        probe.close()
    logger.info("replacing the stale socket %s", path)
    os.unlink(path)


def _remove_if_ours(path: Path, inode: int) -> None:
    # A successor may have replaced the socket in the meantime; leave its socket alone.
    try:
        if os.lstat(path).st_ino == inode:
            path.unlink()
    except FileNotFoundError:
        pass


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # alive, but another user's
    return True


def _check_no_live_host(name: str) -> None:
    # Two live hosts with one name would overwrite each other's connection files, and
    # clients would reach whichever wrote last.
    for role in Role:
        path = _auth.connection_file_path(name, role)
        if not path.exists():
            continue
        try:
            info = _auth.read_connection_file(path)
        except SpeError:
            continue  # not usable by any client anyway; ours replaces it
        if info.pid == os.getpid() or _pid_alive(info.pid):
            raise SpeError(
                f"a host named {name!r} is already serving at {info.address} (pid "
                f"{info.pid}, connection file {path}); stop it, or serve under another name"
            )


def _remove_connection_file_if_ours(path: Path, address: str) -> None:
    try:
        info = _auth.read_connection_file(path)
    except SpeError:
        return
    if info.pid == os.getpid() and info.address == address:
        _auth.remove_connection_file(path)


class _PeerLocks:
    """One lock per peer host, kept only while somebody holds or waits for it."""

    def __init__(self) -> None:
        self._locks: dict[str, tuple[trio.Lock, int]] = {}

    def hold(self, key: str) -> _HeldLock:
        return _HeldLock(self, key)

    def _enter(self, key: str) -> trio.Lock:
        lock, users = self._locks.get(key, (None, 0))
        if lock is None:
            lock = trio.Lock()
        self._locks[key] = (lock, users + 1)
        return lock

    def _exit(self, key: str) -> None:
        lock, users = self._locks[key]
        if users <= 1:
            del self._locks[key]
        else:
            self._locks[key] = (lock, users - 1)


class _HeldLock:
    def __init__(self, locks: _PeerLocks, key: str) -> None:
        self._locks = locks
        self._key = key
        self._lock: trio.Lock | None = None

    async def __aenter__(self) -> None:
        lock = self._locks._enter(self._key)
        try:
            await lock.acquire()
        except BaseException:
            self._locks._exit(self._key)
            raise
        self._lock = lock

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._lock is not None
        self._lock.release()
        self._locks._exit(self._key)


# --- the server ---------------------------------------------------------------------------


class _ConnectionGone(Exception):
    """The client went away (or the connection was closed) while we were answering."""


class _Server:
    """State shared by every connection of one listener (or group of listeners)."""

    def __init__(
        self,
        host: Host,
        *,
        handshake_timeout: float,
        max_frame: int,
        tls_context: ssl.SSLContext | None,
    ) -> None:
        self.host = host
        self.handshake_timeout = handshake_timeout
        self.max_frame = max_frame
        self.tls_context = tls_context
        self.closing = False
        # Characters per `output` event: a frame must hold a chunk even if every
        # character had to be escaped as \u00XX (6 bytes), plus the other fields.
        self.output_chunk = max(16, min(_OUTPUT_CHUNK, (max_frame - 1024) // 6))
        # Bounds the worker threads completion may hold, including abandoned ones.
        self.complete_limiter = trio.CapacityLimiter(4)
        self._ids = itertools.count(1)
        self._executes = 0
        self._executes_changed = trio.Event()

    def execute_started(self) -> None:
        self._executes += 1

    def execute_finished(self) -> None:
        self._executes -= 1
        self._executes_changed.set()
        self._executes_changed = trio.Event()

    async def run(
        self,
        listeners: list[trio.SocketListener],
        admit: Admit,
        shutdown_timeout: float,
        started: Callable[[], None],
    ) -> NoReturn:
        accept_scope = trio.CancelScope()
        # Shielded: cancelling serve_* must not cut connections off before shutdown has
        # let running executes send their `done`; _shutdown cancels this scope itself.
        connections_scope = trio.CancelScope(shield=True)
        finished = trio.Event()

        async def connections() -> None:
            try:
                with connections_scope:
                    async with trio.open_nursery() as handlers:
                        with accept_scope:
                            async with trio.open_nursery() as acceptors:
                                for listener in listeners:
                                    acceptors.start_soon(
                                        self._accept_loop, listener, handlers, admit
                                    )
            finally:
                finished.set()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(connections)
            started()
            try:
                await trio.sleep_forever()
            finally:
                with trio.CancelScope(shield=True):
                    await self._shutdown(
                        accept_scope, connections_scope, finished, shutdown_timeout
                    )

    async def _shutdown(
        self,
        accept_scope: trio.CancelScope,
        connections_scope: trio.CancelScope,
        finished: trio.Event,
        timeout: float,
    ) -> None:
        deadline = trio.current_time() + timeout
        # Whatever happens below, the connections end by the deadline.
        connections_scope.deadline = deadline
        self.closing = True
        accept_scope.cancel()
        running = [s.id for s in self.host.sessions() if s.is_active()]
        if running:
            logger.info("shutting down: stopping session(s) %s", ", ".join(running))
            self.host.stop(*running)
        with trio.move_on_at(deadline) as waited:
            while self._executes:
                await self._executes_changed.wait()
        if waited.cancelled_caught:
            logger.warning(
                "shutting down: %d execute request(s) did not finish within %g s; "
                "closing their connections anyway",
                self._executes,
                timeout,
            )
        connections_scope.cancel()
        with trio.move_on_at(deadline + 1.0):
            await finished.wait()

    async def _accept_loop(
        self, listener: trio.SocketListener, handlers: trio.Nursery, admit: Admit
    ) -> None:
        while True:
            try:
                stream = await listener.accept()
            except OSError as exc:
                if exc.errno not in _ACCEPT_CAPACITY_ERRNOS:
                    raise
                logger.error(  # noqa: TRY400 - a known condition; no traceback needed
                    "cannot accept a connection (%s); trying again in 0.1 s",
                    os.strerror(exc.errno or 0),
                )
                await trio.sleep(0.1)
                continue
            handlers.start_soon(self._handle_connection, stream, admit)

    async def _handle_connection(self, stream: trio.SocketStream, admit: Admit) -> None:
        conn = _ServerConnection(self, stream, admit, next(self._ids))
        try:
            await conn.run()
        except Exception:
            # Nothing a client does may take the server down; this is a bug in here.
            logger.exception("connection %d from %s failed", conn.number, conn.peer)


@dataclass
class _Cursor:
    """How far one request has forwarded a session's output and progress."""

    offset: int
    session: ScriptSession | None = None
    progress: SessionProgress = field(default_factory=SessionProgress)
    lock: trio.Lock = field(default_factory=trio.Lock)


class _PendingInput:
    """An ``input()`` waiting for its ``input_reply`` (or for the connection to end)."""

    def __init__(self) -> None:
        self._event = trio.Event()
        self._text: str | None = None

    def answer(self, text: str | None) -> None:
        if not self._event.is_set():
            self._text = text
            self._event.set()

    async def wait(self) -> str | None:
        await self._event.wait()
        return self._text


def _peer_pid(sock: Any) -> int | str:
    try:
        pid, _uid, _gid = struct.unpack(
            "3i", sock.getsockopt(stdlib_socket.SOL_SOCKET, stdlib_socket.SO_PEERCRED, 12)
        )
    except (OSError, AttributeError, struct.error):
        return "unknown"
    return int(pid)


def _describe_peer(stream: trio.SocketStream) -> tuple[str, str]:
    sock = stream.socket
    if sock.family == getattr(stdlib_socket, "AF_UNIX", None):
        return "a unix-socket peer", "unix"
    try:
        host, port = sock.getpeername()[:2]
    except OSError:
        return "an unknown peer", "unknown"
    shown = f"[{host}]" if ":" in host else host
    return f"{shown}:{port}", host


def _bad_value(exc: ValueError) -> RemoteProtocolError:
    # The engine says ValueError for values it refuses (an invalid session id, a script
    # path it cannot read): the client's mistake, so bad_request - but the frame was
    # fine, so the connection stays open.
    return RemoteProtocolError(str(exc))


class _ServerConnection:
    """One client connection: handshake, reader, request tasks and the writer."""

    def __init__(
        self, server: _Server, stream: trio.SocketStream, admit: Admit, number: int
    ) -> None:
        self.server = server
        self.host = server.host
        self.number = number
        self.socket = stream.socket
        self.stream: trio.abc.Stream = stream
        self.peer, self.peer_host = _describe_peer(stream)
        self.role = Role.OPERATOR
        self._raw = stream
        self._admit = admit
        self._proto = _protocol.Connection(
            "server", max_frame=min(server.max_frame, _HELLO_MAX_FRAME)
        )
        self._outbox, self._outbox_recv = trio.open_memory_channel[tuple[bytes, trio.Event | None]](
            _OUTBOX_FRAMES
        )
        self._writer_done = trio.Event()
        self._nursery: trio.Nursery | None = None
        self._eof = False
        self.gone = False
        self._in_flight: set[int] = set()
        self._inputs: dict[int, _PendingInput] = {}
        self._subscriptions: dict[int, trio.CancelScope] = {}
        self._handlers: dict[type[Message], Callable[[Any], Awaitable[None]]] = {
            Execute: self._execute,
            Start: self._start,
            ListSessions: self._list,
            Stop: self._stop,
            Wait: self._wait,
            Receive: self._receive,
            Remove: self._remove,
            Complete: self._complete,
            Subscribe: self._subscribe,
        }

    # -- lifetime ------------------------------------------------------------------------

    async def run(self) -> None:
        try:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                deadline = trio.current_time() + self.server.handshake_timeout
                if await self._tls_handshake(deadline):
                    nursery.start_soon(self._write_loop)
                    if await self._handshake(deadline):
                        await self._read_loop()
                nursery.cancel_scope.cancel()
        finally:
            self._teardown()
            await trio.aclose_forcefully(self.stream)
            logger.debug("connection %d from %s closed", self.number, self.peer)

    def _teardown(self) -> None:
        self.gone = True
        # Input handlers run in the host's tasks, not in our nursery: end their waits
        # (end-of-file) and make their sends fail instead of blocking.
        self._outbox.close()
        for pending in list(self._inputs.values()):
            pending.answer(None)

    def _lost(self) -> None:
        self.gone = True
        if self._nursery is not None:
            self._nursery.cancel_scope.cancel()

    async def _tls_handshake(self, deadline: float) -> bool:
        context = self.server.tls_context
        if context is None:
            return True
        ssl_stream = trio.SSLStream(self._raw, context, server_side=True)
        self.stream = ssl_stream
        with trio.move_on_at(deadline):
            try:
                await ssl_stream.do_handshake()
            except trio.BrokenResourceError as exc:
                logger.info("TLS handshake with %s failed: %s", self.peer, exc.__cause__ or exc)
                return False
            return True
        logger.info("TLS handshake with %s timed out", self.peer)
        return False

    async def _handshake(self, deadline: float) -> bool:
        hello: Message | None = None
        problem: RemoteProtocolError | None = None
        with trio.move_on_at(deadline):
            try:
                hello = await self._receive_message()
            except RemoteProtocolError as exc:
                problem = exc
            else:
                if hello is None:
                    return False  # closed before saying anything
        if problem is not None:
            if not self._eof:
                logger.info("bad handshake from %s: %s", self.peer, problem)
                await self._refuse(
                    _protocol.request_id_of(problem), problem.error_code, str(problem)
                )
            return False
        if hello is None:
            logger.info(
                "no hello from %s within %g s; closing", self.peer, self.server.handshake_timeout
            )
            await self._refuse(
                None,
                "unauthorized",
                f"no hello arrived within {self.server.handshake_timeout:g} seconds of "
                "connecting; a client must start with hello",
            )
            return False
        assert isinstance(hello, Hello)  # the protocol allows nothing else first
        role: Role | None = None
        try:
            # Authentication is part of the handshake and keeps its deadline.
            with trio.move_on_at(deadline):
                role = await self._admit(self, hello)
        except AuthenticationError as exc:
            await self._refuse(None, "unauthorized", str(exc))
            return False
        if role is None:
            await self._refuse(
                None,
                "unauthorized",
                "authentication did not finish within the handshake deadline; too many "
                "failed attempts came from your address, so wait a few seconds and retry",
            )
            return False
        self.role = role
        self._proto.max_frame = self.server.max_frame  # authenticated: the full limit
        await self._send(
            Welcome(
                version=PROTOCOL_VERSION,
                server=self.host.name,
                role=self.role.value,
                pid=os.getpid(),
            )
        )
        logger.info(
            "connection %d: %s (%s) connected as %s",
            self.number,
            self.peer,
            hello.client,
            self.role.value,
        )
        return True

    async def _refuse(self, request_id: int | None, code: str, message: str) -> None:
        """Send a last ``error``, let the client read it, and return to close."""
        try:
            await self._send(Error(id=request_id, code=code, message=message))
        except _ConnectionGone:
            return
        self._outbox.close()  # the writer drains what is queued, then stops
        with trio.move_on_after(_LINGER):
            await self._writer_done.wait()
            # Closing with unread input makes TCP reset the connection, which can
            # destroy the error frame in flight: say we are done, then read and
            # discard until the client hangs up (or a second has passed).
            if isinstance(self.stream, trio.abc.HalfCloseableStream):
                try:
                    await self.stream.send_eof()
                except (trio.BrokenResourceError, trio.ClosedResourceError):
                    return
            discarded = 0
            while discarded < _LINGER_BYTES:
                try:
                    data = await self.stream.receive_some(4096)
                except (trio.BrokenResourceError, trio.ClosedResourceError):
                    return
                if not data:
                    return
                discarded += len(data)

    # -- reading -------------------------------------------------------------------------

    async def _receive_message(self) -> Message | None:
        """The next message from the client, or None once it has closed."""
        while True:
            event = self._proto.next_event()
            if event is NEED_DATA:
                if self._eof:
                    return None
                try:
                    data = bytes(await self.stream.receive_some(65536))
                except (trio.BrokenResourceError, trio.ClosedResourceError):
                    data = b""
                if not data:
                    self._eof = True
                self._proto.receive_data(data)
                continue
            if event is CLOSED:
                return None
            assert isinstance(event, Message)
            return event

    async def _read_loop(self) -> None:
        while True:
            try:
                message = await self._receive_message()
            except RemoteProtocolError as exc:
                if self._eof:
                    # Hung up in the middle of a frame: nobody is left to answer.
                    logger.debug("%s closed in the middle of a frame", self.peer)
                    return
                logger.info("closing the connection from %s: %s", self.peer, exc)
                await self._refuse(_protocol.request_id_of(exc), exc.error_code, str(exc))
                return
            if message is None:
                return
            await self._dispatch(message)

    async def _dispatch(self, message: Message) -> None:
        request_id: int = getattr(message, "id")  # noqa: B009 - every request has one
        try:
            _auth.check_permission(self.role, message.TYPE)
        except SpeError as exc:
            await self._send_error(request_id, exc)
            return
        if isinstance(message, InputReply):
            pending = self._inputs.get(message.id)
            if pending is not None:
                pending.answer(message.text)
            return  # a late reply (after a stop, say) is ignored, as documented
        if isinstance(message, Cancel):
            scope = self._subscriptions.get(message.target)
            if scope is not None:
                scope.cancel()
            await self._reply(message.id, scope is not None)
            return
        if request_id in self._in_flight:
            await self._send_error(
                request_id,
                RemoteProtocolError(
                    f"request id {request_id} is already in flight on this connection; "
                    "give every request a new id"
                ),
            )
            return
        if len(self._in_flight) >= _MAX_IN_FLIGHT:
            await self._send_error(
                request_id,
                SessionBusy(
                    f"this connection already has {_MAX_IN_FLIGHT} requests in flight; "
                    "wait for some to finish, or open another connection"
                ),
            )
            return
        handler = self._handlers[type(message)]
        self._in_flight.add(request_id)
        assert self._nursery is not None
        self._nursery.start_soon(self._run_request, handler, message, request_id)

    async def _run_request(
        self, handler: Callable[[Any], Awaitable[None]], message: Message, request_id: int
    ) -> None:
        try:
            await handler(message)
        except _ConnectionGone:
            pass
        except SpeError as exc:
            await self._send_error(request_id, exc)
        except Exception:
            logger.exception("%s request %d from %s failed", message.TYPE, request_id, self.peer)
            await self._send_error(request_id, RuntimeError("internal"))
        finally:
            self._in_flight.discard(request_id)

    # -- writing -------------------------------------------------------------------------

    async def _write_loop(self) -> None:
        try:
            async for frame, written in self._outbox_recv:
                batch = [frame]
                events = [written]
                size = len(frame)
                while size < _WRITE_BATCH:
                    try:
                        frame, written = self._outbox_recv.receive_nowait()
                    except (trio.WouldBlock, trio.EndOfChannel):
                        break
                    batch.append(frame)
                    events.append(written)
                    size += len(frame)
                await self.stream.send_all(b"".join(batch))
                for event in events:
                    if event is not None:
                        event.set()
        except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
            logger.debug("writing to %s failed: %s", self.peer, exc)
            self._lost()
        finally:
            self._outbox_recv.close()
            self._writer_done.set()

    async def _queue(self, frame: bytes, written: trio.Event | None = None) -> None:
        try:
            await self._outbox.send((frame, written))
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            raise _ConnectionGone from None

    async def _send(self, message: Message, written: trio.Event | None = None) -> None:
        if self.gone:
            raise _ConnectionGone
        await self._queue(self._proto.send(message), written)

    async def _send_error(self, request_id: int | None, exc: BaseException) -> None:
        code, text = _protocol.error_for(exc)
        with contextlib.suppress(_ConnectionGone):
            await self._send(Error(id=request_id, code=code, message=text))

    async def _reply(self, request_id: int, value: _protocol.JSON) -> None:
        try:
            frame = self._proto.send(Result(id=request_id, value=value))
        except LocalProtocolError as exc:
            if exc.error_code != "too_large":
                raise
            frame = self._proto.send(
                Error(
                    id=request_id,
                    code="too_large",
                    message=f"the answer to request {request_id} does not fit in a frame of "
                    f"{self.server.max_frame} bytes; ask for less at a time",
                )
            )
        if self.gone:
            raise _ConnectionGone
        await self._queue(frame)

    async def _send_execution(
        self,
        make: Callable[[ExecutionResult], Message],
        info: ExecutionResult,
        written: trio.Event | None = None,
    ) -> None:
        """Send a message carrying an ExecutionResult, trimming its output to fit a frame."""
        try:
            frame = self._proto.send(make(info))
        except LocalProtocolError as exc:
            if exc.error_code != "too_large":
                raise
            frame = self._proto.send(make(self._trimmed(make, info)))
        if self.gone:
            raise _ConnectionGone
        await self._queue(frame, written)

    def _trimmed(
        self, make: Callable[[ExecutionResult], Message], info: ExecutionResult
    ) -> ExecutionResult:
        # The output was streamed already (and stays replayable by offset): keep its
        # newest part, led by the same marker the output buffer uses for dropped text.
        empty = dataclasses.replace(info, output="")
        budget = self.server.max_frame - len(self._proto.send(make(empty))) - 64
        output = info.output
        total = len(output.encode("utf-8", "surrogatepass"))

        def size(text: str) -> int:
            return len(json.dumps(text, ensure_ascii=False).encode("utf-8", "surrogatepass"))

        keep = max(0, budget)
        tail = output[-keep:] if keep else ""
        while tail:
            marker = dropped_marker(total - len(tail.encode("utf-8", "surrogatepass")))
            excess = size(marker + tail) - budget
            if excess <= 0:
                return dataclasses.replace(info, output=marker + tail)
            tail = tail[excess:]
        return dataclasses.replace(info, output=dropped_marker(total))

    # -- output and progress -------------------------------------------------------------

    async def _flush_output(self, request_id: int, session: ScriptSession, cursor: _Cursor) -> None:
        """Send the session's output from ``cursor`` to its end, in chunks."""
        async with cursor.lock:
            piece = session.output.read(cursor.offset)
            if not piece.text and not piece.dropped:
                cursor.offset = piece.end
                return
            offset = piece.offset
            dropped = piece.dropped
            text = piece.text
            step = self.server.output_chunk
            for start in range(0, max(len(text), 1), step):
                chunk = text[start : start + step]
                await self._send(
                    Output(
                        id=request_id,
                        session=session.id,
                        offset=offset,
                        text=chunk,
                        dropped=dropped,
                    )
                )
                dropped = 0
                offset += len(chunk.encode("utf-8", "surrogatepass"))
                cursor.offset = offset
            # Authoritative, even where decoding replaced undecodable bytes.
            cursor.offset = piece.end

    async def _pump_output(self, request_id: int, session: ScriptSession, cursor: _Cursor) -> None:
        try:
            while True:
                await session.output.wait_beyond(cursor.offset)
                await self._flush_output(request_id, session, cursor)
        except _ConnectionGone:
            return

    async def _send_progress(
        self, request_id: int, session: ScriptSession, cursor: _Cursor
    ) -> None:
        """Send the session's progress if it differs from what was sent last."""
        progress = session.progress
        if progress != cursor.progress:
            await self._send(
                Progress(
                    id=request_id,
                    session=session.id,
                    percent=progress.percent,
                    message=progress.message,
                )
            )
            cursor.progress = progress

    async def _pump_progress(
        self, request_id: int, session: ScriptSession, cursor: _Cursor
    ) -> None:
        """Send progress changes until the session is closed (removed)."""
        try:
            while True:
                await self._send_progress(request_id, session, cursor)
                if session.state is SessionState.CLOSED:
                    return
                await session.wait_changed()
        except _ConnectionGone:
            return

    # -- requests ------------------------------------------------------------------------

    def _refuse_new_work(self) -> None:
        if self.server.closing:
            raise SessionBusy(
                "the host is shutting down and takes no new work; connect again once it is back"
            )

    async def _execute(self, request: Execute) -> None:
        self._refuse_new_work()
        try:
            existing: ScriptSession | None = self.host.session(request.session)
        except SessionNotFound:
            existing = None
        # host.execute starts the run without yielding, so nothing can be written
        # between reading this offset and the run's first output.
        cursor = _Cursor(existing.output.end_offset if existing is not None else 0, existing)
        handler = self._input_handler(request, cursor)
        self.server.execute_started()
        try:
            result: ExecutionResult | None = None
            failure: Exception | None = None
            async with trio.open_nursery() as followers:
                followers.start_soon(self._follow_execution, request, cursor)
                try:
                    result = await self.host.execute(
                        request.session,
                        request.code,
                        interactive=request.interactive,
                        input_handler=handler,
                    )
                except (SpeError, ValueError) as exc:
                    failure = exc
                followers.cancel_scope.cancel()
            if isinstance(failure, ValueError):
                raise _bad_value(failure)
            if failure is not None:
                raise failure
            assert result is not None
            session = cursor.session
            if session is not None:
                # What the followers had no time to forward before they were cancelled.
                await self._send_progress(request.id, session, cursor)
                await self._flush_output(request.id, session, cursor)
            written = trio.Event()
            await self._send_execution(
                lambda info: Done(id=request.id, result=info), result, written
            )
            # Shutdown waits for this: `done` has reached the socket, not just a queue.
            await written.wait()
        finally:
            self.server.execute_finished()

    async def _follow_execution(self, request: Execute, cursor: _Cursor) -> None:
        # Runs once host.execute has yielded, so a new session exists by now; and if
        # host.execute failed, this checkpoint is where we are cancelled.
        await trio.lowlevel.checkpoint()
        if cursor.session is None:
            try:
                cursor.session = self.host.session(request.session)
            except SessionNotFound:
                return
        session = cursor.session
        # The run starts with no progress; only what the script reports is news.
        cursor.progress = SessionProgress()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._pump_output, request.id, session, cursor)
            nursery.start_soon(self._pump_progress, request.id, session, cursor)

    def _input_handler(self, request: Execute, cursor: _Cursor) -> InputHandler:
        async def answer(prompt: str) -> str | None:
            if self.gone:
                return None  # nobody to ask: input() sees end-of-file
            pending = _PendingInput()
            self._inputs[request.id] = pending
            try:
                session = cursor.session
                if session is None:
                    session = cursor.session = self.host.session(request.session)
                # The prompt and everything printed before it go out first.
                await self._flush_output(request.id, session, cursor)
                await self._send(
                    InputRequest(id=request.id, session=request.session, prompt=prompt)
                )
                return await pending.wait()
            except (_ConnectionGone, SessionNotFound):
                return None
            finally:
                if self._inputs.get(request.id) is pending:
                    del self._inputs[request.id]

        return answer

    async def _start(self, request: Start) -> None:
        self._refuse_new_work()
        try:
            session = self.host.start(
                request.session,
                request.code,
                path=request.path,
                args=dict(request.args) if request.args is not None else None,
                name=request.name,
                autodispose=request.autodispose,
            )
        except ValueError as exc:
            raise _bad_value(exc) from None
        await self._reply(request.id, _protocol.to_json(session.info()))

    async def _list(self, request: ListSessions) -> None:
        sessions = self.host.sessions(*request.patterns, state=request.state)
        await self._reply(request.id, [_protocol.to_json(s.info()) for s in sessions])

    async def _stop(self, request: Stop) -> None:
        outcomes = self.host.stop(*request.targets)
        await self._reply(request.id, {key: value.value for key, value in outcomes.items()})

    async def _wait(self, request: Wait) -> None:
        finished = await self.host.wait(*request.sessions, timeout=request.timeout, any=request.any)
        await self._reply(request.id, [_protocol.to_json(s.info()) for s in finished])

    async def _receive(self, request: Receive) -> None:
        result = self.host.receive(request.session, keep=request.keep)
        await self._send_execution(
            lambda info: Result(id=request.id, value=_protocol.to_json(info)), result
        )

    async def _remove(self, request: Remove) -> None:
        targets = self.host.sessions(*request.sessions)
        await self.host.remove(*request.sessions, force=request.force)
        removed = [s.id for s in targets if s.state is SessionState.CLOSED]
        await self._reply(request.id, removed)

    async def _complete(self, request: Complete) -> None:
        session = self.host.session(request.session)
        session.touch()  # completing is using the session: idle expiry slides
        found: list[Completion] = []
        with trio.move_on_after(_COMPLETE_TIMEOUT) as scope:
            found = await trio.to_thread.run_sync(
                partial(_completions, session.namespace, request.text, request.cursor),
                abandon_on_cancel=True,
                limiter=self.server.complete_limiter,
            )
        if scope.cancelled_caught:
            logger.warning(
                "completion in session %r took longer than %g s; answered no candidates",
                session.id,
                _COMPLETE_TIMEOUT,
            )
        await self._reply(request.id, [_protocol.to_json(c) for c in found])

    async def _subscribe(self, request: Subscribe) -> None:
        session = self.host.session(request.session)
        # A from_offset past the end starts at the end (documented).
        cursor = _Cursor(min(request.from_offset, session.output.end_offset), session)
        removed = False
        # An attached client holds the session: it does not expire under a REPL
        # that sits at its prompt.
        with session.hold(), trio.CancelScope() as scope:
            self._subscriptions[request.id] = scope
            try:
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(self._pump_output, request.id, session, cursor)
                    # An attaching client wants to see where a running job stands, so
                    # the cursor starts with no progress and the current one is news.
                    await self._pump_progress(request.id, session, cursor)
                    removed = session.state is SessionState.CLOSED
                    nursery.cancel_scope.cancel()
            finally:
                del self._subscriptions[request.id]
        if removed:
            await self._flush_output(request.id, session, cursor)
        await self._reply(request.id, None)


# --- completion (runs in a worker thread) -----------------------------------------------

_WORD = re.compile(r"[\w.]*$")


def _completions(namespace: dict[str, Any], text: str, cursor: int) -> list[Completion]:
    # dict() copies in one C call, so a script mutating its namespace in another thread
    # cannot make the copy fail halfway; completion then reads the copy.
    snapshot = dict(namespace)
    found: list[Completion] | None = None
    try:
        found = _jedi_completions(snapshot, text, cursor)
    except ImportError:
        found = None
    except Exception:
        logger.debug("jedi failed to complete; falling back to rlcompleter", exc_info=True)
        found = None
    if found is None:
        try:
            found = _rl_completions(snapshot, text, cursor)
        except Exception:
            logger.debug("rlcompleter failed to complete", exc_info=True)
            found = []
    seen: set[tuple[str, int]] = set()
    result: list[Completion] = []
    for completion in found:
        name = completion.text.rsplit(".", 1)[-1]
        key = (completion.text, completion.start)
        if name.startswith(_RESERVED_PREFIX) or key in seen:
            continue
        seen.add(key)
        result.append(completion)
        if len(result) >= _MAX_COMPLETIONS:
            break
    return result


def _jedi_completions(namespace: dict[str, Any], text: str, cursor: int) -> list[Completion]:
    import jedi

    lines = text[:cursor].split("\n")
    script = jedi.Interpreter(text, [namespace])
    return [
        Completion(
            text=c.name,
            start=cursor - c.get_completion_prefix_length(),
            display=c.name,
            kind=c.type,
        )
        for c in script.complete(len(lines), len(lines[-1]))
    ]


def _rl_completions(namespace: dict[str, Any], text: str, cursor: int) -> list[Completion]:
    import rlcompleter

    match = _WORD.search(text[:cursor])
    word = match.group() if match else ""
    if word[:1].isdigit():
        return []
    completer = rlcompleter.Completer(namespace)
    # attr_matches/global_matches directly: complete() would poke the readline module.
    matches: Iterable[str] = (
        completer.attr_matches(word) if "." in word else completer.global_matches(word)
    )
    # Like jedi: the candidate replaces the last name only (after the last dot).
    start = cursor - len(word.rsplit(".", 1)[-1])
    result = []
    for match_text in matches:
        # rlcompleter appends "(" or "()" to callables and " " or ":" to keywords;
        # the candidate is the bare name, and its kind says what it is.
        name = match_text.removesuffix("()").rstrip("(: ").rsplit(".", 1)[-1]
        if keyword.iskeyword(name) or keyword.issoftkeyword(name):
            kind = "keyword"
        elif match_text.endswith(("(", "()")):
            kind = "function"
        else:
            kind = "name"
        result.append(Completion(text=name, start=start, display=name, kind=kind))
    return result
