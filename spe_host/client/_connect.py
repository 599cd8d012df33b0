"""Connecting: find the host, open the socket, speak TLS, greet, and yield a Client.

Theory of operation
-------------------
:func:`connect` finds the host (an address, a connection file, or a host name looked
up in the runtime directory by :func:`spe_host.auth.find_connection`), opens the
socket, speaks TLS if the connection file says so - pinning the certificate's
fingerprint the way OpenSSH pins a host key - and then greets the host with the
handshake :func:`open_client` does over a stream the caller opened: ``hello``, then
wait for ``welcome``. One deadline covers all of it.

Everything that keeps a host from being reached is a :class:`~spe_host.ConnectError`
(a :class:`~spe_host.HandshakeTimeout` when the deadline passed first), and refused
credentials are an :class:`~spe_host.AuthenticationError`, each with a sentence that
says what to do. Once the welcome is in, the client runs two tasks for the block:
the framed stream's writer and the multiplexer's reader; leaving the block fails
whatever is still waiting with :class:`~spe_host.ConnectionLost` and closes the
stream.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import trio

from .. import transport
from .._errors import AuthenticationError, ConnectError, RemoteProtocolError, SpeError
from .._groups import sole_exception
from ..auth import ConnectionInfo
from ..transport._framed import FramedStream
from ..wire import DEFAULT_MAX_FRAME, Connection, Hello, Welcome
from ._client import Client
from ._dial import (
    HOST_ENV,
    broke,
    cannot_connect,
    find_host,
    hello_for,
    not_spe,
    plan_dial,
    timed_out,
    welcome_of,
)
from ._mux import Multiplexer

__all__ = ["HOST_ENV", "connect", "open_client"]


@asynccontextmanager
async def connect(
    address_or_name: str | None = None,
    *,
    token: str | None = None,
    cafile: str | None = None,
    client_name: str = "spe-host",
    timeout: float = 5.0,
    tls: bool | None = None,
    max_frame: int = DEFAULT_MAX_FRAME,
    insecure: bool = False,
) -> AsyncIterator[Client]:
    """Connect to an spe_host server; the connection closes when the block ends.

    Example::

        async with spe_host.connect("myapp") as client:
            info = await client.execute("work", "print(2 + 2)", on_output=show)

    Args:
        address_or_name: ``unix:/path``, ``tcp://host:port``, a connection file's
            path, or a host name to look up in the runtime directory. None uses
            ``$SPE_HOST`` if set, else the host named ``"default"``.
        token: The token to present; None takes it from the connection file (unix
            sockets need none).
        cafile: PEM file of the CA that signed the server's certificate; giving it
            turns TLS on. Without it, a TLS connection trusts the certificate whose
            fingerprint the connection file names.
        client_name: How this client introduces itself (the server logs it).
        timeout: Seconds to connect, set up TLS and complete the handshake.
        tls: Force TLS on or off; None decides from the connection file and
            ``cafile``.
        max_frame: The frame limit, in bytes.
        insecure: Allow sending a token without TLS to a host that is not on this
            machine's loopback (anyone on the path could read it).

    Yields:
        The connected :class:`Client`.

    Raises:
        ConnectError: The host cannot be found or reached, or refused to talk, or
            the token would go in clear text off this machine; the message says why
            and what to do.
        HandshakeTimeout: The host did not complete the handshake in time.
        AuthenticationError: The server refused the credentials.
    """
    info = find_host(address_or_name)
    stream, connection, welcome = await _open(
        info,
        token=token if token is not None else info.token,
        cafile=cafile,
        client_name=client_name,
        timeout=timeout,
        tls=tls,
        max_frame=max_frame,
        insecure=insecure,
    )
    async with _running(
        stream, connection, welcome, address=info.address, timeout=timeout
    ) as client:
        yield client


def open_client(
    stream: trio.abc.Stream,
    *,
    token: str | None = None,
    address: str = "stream",
    client_name: str = "spe-host",
    timeout: float = 5.0,
    max_frame: int = DEFAULT_MAX_FRAME,
) -> AbstractAsyncContextManager[Client]:
    """Greet a host over a stream that is already open, and yield a Client over it.

    The stream is the client's from now on: it is closed when the block ends (or
    when the handshake fails).

    Example::

        client_end, host_end = trio.testing.memory_stream_pair()
        async with open_client(client_end, address="memory") as client:
            ...

    Args:
        stream: A byte stream whose other end speaks the server's side.
        token: The token to present, or None.
        address: How to name the host in messages.
        client_name: How this client introduces itself.
        timeout: Seconds to complete the handshake.
        max_frame: The frame limit, in bytes.

    Returns:
        A context manager yielding the connected :class:`Client`.

    Raises:
        HandshakeTimeout: No welcome came within ``timeout``.
        ConnectError: The host closed the stream or answered with nonsense.
        AuthenticationError: The host refused the credentials.
    """
    return _greeted(
        stream,
        hello_for(token, client_name),
        address=address,
        timeout=timeout,
        max_frame=max_frame,
    )


@asynccontextmanager
async def _greeted(
    stream: trio.abc.Stream, hello: Hello, *, address: str, timeout: float, max_frame: int
) -> AsyncIterator[Client]:
    connection = Connection("client", max_frame=max_frame)
    try:
        welcome = await _handshake(
            stream,
            connection,
            hello,
            shown=address,
            timeout=timeout,
            deadline=trio.current_time() + timeout,
        )
    except BaseException:
        await trio.aclose_forcefully(stream)
        raise
    async with _running(stream, connection, welcome, address=address, timeout=timeout) as client:
        yield client


@asynccontextmanager
async def _running(
    stream: trio.abc.Stream,
    connection: Connection,
    welcome: Welcome,
    *,
    address: str,
    timeout: float,
) -> AsyncIterator[Client]:
    """A Client over a greeted connection, with its reader and writer, for the block."""
    try:
        mux = Multiplexer(stream, connection, address=address)
        client = Client(mux, welcome, timeout=timeout)
        with sole_exception():
            async with trio.open_nursery() as nursery:
                nursery.start_soon(mux.framed.run_writer)
                nursery.start_soon(mux.run)
                try:
                    yield client
                finally:
                    mux.close("the connection was closed by this client")
                    nursery.cancel_scope.cancel()
    finally:
        await trio.aclose_forcefully(stream)


async def _handshake(
    stream: trio.abc.Stream,
    connection: Connection,
    hello: Hello,
    *,
    shown: str,
    timeout: float,
    deadline: float,
) -> Welcome:
    """Send ``hello`` and wait for the welcome, until ``deadline``."""
    # The writer does not run yet, so the hello goes to the stream directly. The reply
    # is read through a framed stream of its own: once the welcome is in, it holds
    # nothing (bytes read past the welcome stay in the connection), so the client's
    # multiplexer takes over with a fresh one.
    framed = FramedStream(stream, connection, peer=f"the host at {shown}")
    try:
        with trio.fail_at(deadline):
            await stream.send_all(connection.send(hello))
            reply = await framed.receive()
    except trio.TooSlowError:
        raise timed_out(shown, timeout) from None
    except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
        raise broke(shown, exc.__cause__ or exc) from None
    except RemoteProtocolError as exc:
        raise not_spe(shown, exc) from None
    return welcome_of(reply, shown)


async def _open(
    info: ConnectionInfo,
    *,
    token: str | None,
    cafile: str | None,
    client_name: str,
    timeout: float,
    tls: bool | None,
    max_frame: int,
    insecure: bool,
) -> tuple[trio.abc.Stream, Connection, Welcome]:
    """Open the socket (and TLS) to the host ``info`` names and greet it, in ``timeout``."""
    deadline = trio.current_time() + timeout
    dial = plan_dial(
        info, token=token, cafile=cafile, client_name=client_name, tls=tls, insecure=insecure
    )
    address, shown = dial.address, dial.shown
    stream: trio.abc.Stream | None = None
    try:
        with trio.fail_at(deadline):
            if isinstance(address, transport.UnixAddress):
                stream = await trio.open_unix_socket(address.path)
            else:
                stream = await trio.open_tcp_stream(address.host, address.port)
                if dial.tls:
                    stream = await _start_tls(stream, address.host, cafile, info.tls_fingerprint)
        connection = Connection("client", max_frame=max_frame)
        welcome = await _handshake(
            stream, connection, dial.hello, shown=shown, timeout=timeout, deadline=deadline
        )
    except BaseException as exc:
        if stream is not None:
            await trio.aclose_forcefully(stream)
        failure = _open_failure(exc, shown, timeout)
        if failure is exc:
            raise
        raise failure from None
    return stream, connection, welcome


def _open_failure(exc: BaseException, shown: str, timeout: float) -> BaseException:
    """What to raise for ``exc``, which ended the opening of the stream."""
    if isinstance(exc, trio.TooSlowError):
        return timed_out(shown, timeout)
    if isinstance(exc, OSError):
        return cannot_connect(shown, exc)
    if isinstance(exc, trio.BrokenResourceError):
        return broke(shown, exc.__cause__ or exc)
    if isinstance(exc, SpeError) and not isinstance(exc, AuthenticationError | ConnectError):
        # A certificate that is not the one pinned, say: this host was not reached.
        return ConnectError(str(exc))
    return exc


async def _start_tls(
    stream: trio.abc.Stream, hostname: str, cafile: str | None, fingerprint: str | None
) -> trio.SSLStream[trio.abc.Stream]:
    context = transport.pinning_ssl_context(cafile, fingerprint)
    ssl_stream = trio.SSLStream(stream, context, server_hostname=hostname)
    await ssl_stream.do_handshake()
    if fingerprint:
        transport.check_fingerprint(ssl_stream.getpeercert(binary_form=True), fingerprint)
    return ssl_stream
