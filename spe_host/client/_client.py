"""The async client library: talk to an spe_host server from another process.

Theory of operation
-------------------
:func:`connect` finds the host (an address, a connection file, or a host name looked
up in the runtime directory by :func:`spe_host._auth.find_connection`), opens the
socket, speaks TLS if the connection file says so - pinning the certificate's
fingerprint the way OpenSSH pins a host key - and does the ``hello``/``welcome``
handshake under one deadline. It yields a :class:`Client`, whose methods mirror the
:class:`~spe_host.Host` API and return the protocol's typed records.

A client runs two background tasks. The *reader* parses frames and hands every event
to the request it belongs to, by id, through an unbounded memory channel per
request; so any number of tasks may use one client at once, and a slow consumer of
one request never stalls another. The *writer* is the only task that writes to the
socket: requests hand it whole frames through a channel, so a request cancelled
halfway through can never leave half a frame on the wire.

Errors the server reports are raised as the same exception classes the host raises
in-process (:func:`spe_host._protocol.exception_for`): ``SessionNotFound``,
``SessionBusy``, ``PermissionDenied``, ``AuthenticationError``, ... A connection that
breaks fails every request in flight with an :class:`~spe_host.SpeError` that says
so. Cancelling a request only stops waiting for it: to stop code running in a
session, call :meth:`Client.stop`.
"""

from __future__ import annotations

import copy
import inspect
import itertools
import math
import os
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import (
    AbstractAsyncContextManager,
    asynccontextmanager,
    contextmanager,
    suppress,
)
from typing import Any, TypeVar

import trio

from .. import auth as _auth
from .._errors import RemoteProtocolError, SpeError
from .._model import Completion, ExecutionResult, SessionInfo
from ..wire import (
    CLOSED,
    DEFAULT_MAX_FRAME,
    JSON,
    NEED_DATA,
    PROTOCOL_VERSION,
    Cancel,
    Complete,
    Connection,
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
    exception_for,
    from_json,
)

__all__ = ["HOST_ENV", "Client", "Subscription", "connect"]

#: The environment variable naming the host to connect to when none is given.
HOST_ENV = "SPE_HOST"

_T = TypeVar("_T")
# Frames queued for the writer before a request waits for the socket.
_OUTBOX_FRAMES = 64
_WRITE_BATCH = 64 * 1024


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
        AuthenticationError: The server refused the credentials.
        SpeError: The host cannot be found or reached, or the handshake failed; the
            message says why and what to do.
    """
    target = address_or_name or os.environ.get(HOST_ENV) or None
    info = _auth.find_connection(target)
    stream, proto, welcome = await _open(
        info,
        token=token if token is not None else info.token,
        cafile=cafile,
        client_name=client_name,
        timeout=timeout,
        tls=tls,
        max_frame=max_frame,
        insecure=insecure,
    )
    client = Client(stream, proto, welcome, address=info.address, timeout=timeout)
    try:
        with _sole_exception():
            async with trio.open_nursery() as nursery:
                nursery.start_soon(client._read_loop)
                nursery.start_soon(client._write_loop)
                try:
                    yield client
                finally:
                    client._shut(SpeError("the connection was closed by this client"))
                    nursery.cancel_scope.cancel()
    finally:
        await trio.aclose_forcefully(stream)


class Client:
    """A connection to an spe_host server; make one with :func:`connect`.

    Every method may be called from several tasks at once.

    Attributes:
        address: The address connected to (``unix:...`` or ``tcp://...``).
        role: What the credentials may do: ``"admin"`` or ``"operator"``.
        server: The server's name (the host's name).
        pid: The server's process id.
        version: The protocol version the server speaks.
    """

    def __init__(
        self,
        stream: trio.abc.Stream,
        proto: Connection,
        welcome: Welcome,
        *,
        address: str,
        timeout: float = 5.0,
    ) -> None:
        self.address = address
        self.role = welcome.role
        self.server = welcome.server
        self.pid = welcome.pid
        self.version = welcome.version
        self._stream = stream
        self._proto = proto
        self._timeout = timeout
        self._ids = itertools.count(1)
        self._pending: dict[int, trio.MemorySendChannel[Message]] = {}
        self._outbox, self._outbox_recv = trio.open_memory_channel[bytes](_OUTBOX_FRAMES)
        self._closed: SpeError | None = None

    def __repr__(self) -> str:
        return f"<spe_host.Client {self.address} as {self.role}>"

    @property
    def closed(self) -> bool:
        """Whether the connection has ended (requests then raise SpeError)."""
        return self._closed is not None

    # -- the cmdlet family ---------------------------------------------------------------

    async def execute(
        self,
        session: str,
        code: str,
        *,
        interactive: bool = True,
        on_output: Callable[[Output], object] | None = None,
        on_input: Callable[[str], Awaitable[str | None] | str | None] | None = None,
        on_progress: Callable[[Progress], object] | None = None,
    ) -> ExecutionResult:
        """Run code in a session (created if missing) and wait for it to end.

        Callbacks may be plain functions or coroutine functions. Output events come in
        order; ``done`` repeats the output in :attr:`ExecutionResult.output`, so a
        caller that showed the events need not show it again.

        Args:
            session: The session id.
            code: The source to run.
            interactive: Show and bind ``_`` to expression values, like the REPL.
            on_output: Called with every :class:`~spe_host._protocol.Output` event.
            on_input: Called with the prompt when the script calls ``input()``;
                returns the line, or None (or raises ``EOFError``) for end-of-file.
                It runs in a task of its own and is cancelled if the execution ends
                first (a stop while waiting for input). Without it, ``input()`` in
                the script raises ``EOFError``.
            on_progress: Called with every :class:`~spe_host._protocol.Progress`.

        Returns:
            How the execution ended; a script error or a stop is a status
            (``failed``, ``aborted``), not an exception.

        Raises:
            SessionBusy: The session is running.
            PermissionDenied: The connection's role is operator.
            SpeError: The connection broke.
        """

        def make(request_id: int) -> Message:
            return Execute(id=request_id, session=session, code=code, interactive=interactive)

        async with self._exchange(make) as (request_id, events):
            with _sole_exception():
                async with trio.open_nursery() as prompts:
                    while True:
                        event = await self._next(events)
                        if isinstance(event, Output):
                            if on_output is not None:
                                await _call(on_output, event)
                        elif isinstance(event, Progress):
                            if on_progress is not None:
                                await _call(on_progress, event)
                        elif isinstance(event, InputRequest):
                            prompts.start_soon(self._answer_input, request_id, event, on_input)
                        elif isinstance(event, Done):
                            prompts.cancel_scope.cancel()
                            return event.result
        raise AssertionError("unreachable")  # pragma: no cover

    async def start(
        self,
        session: str | None = None,
        code: str | None = None,
        *,
        path: str | None = None,
        args: dict[str, Any] | None = None,
        name: str | None = None,
        autodispose: bool | None = None,
    ) -> SessionInfo:
        """Run code (or a script file on the host's machine) in the background.

        Args:
            session: The session id; None makes a fresh one with autodispose on.
            code: The source (give exactly one of ``code`` and ``path``).
            path: A script file on the host's machine.
            args: Variables bound in the session first (JSON values).
            name: A job name to show in listings.
            autodispose: Remove the session once its result is received.

        Returns:
            The session, already running.

        Raises:
            SessionBusy: The session is running.
            ValueError: Neither or both of ``code`` and ``path`` were given.
        """
        if (code is None) == (path is None):
            raise ValueError("give exactly one of code= or path= to say what to run")
        value = await self._request(
            lambda request_id: Start(
                id=request_id,
                session=session,
                code=code,
                path=path,
                args=args,
                name=name,
                autodispose=autodispose,
            )
        )
        return from_json(SessionInfo, value)

    async def sessions(self, *patterns: str, state: str | None = None) -> list[SessionInfo]:
        """List sessions whose ids match any pattern (all when none is given).

        Args:
            *patterns: Ids or ``fnmatch`` wildcards.
            state: Only sessions in this state (``idle``, ``running``, ``stopping``).

        Returns:
            A snapshot of each matching session, oldest first.
        """
        value = await self._request(
            lambda request_id: ListSessions(id=request_id, patterns=list(patterns), state=state)
        )
        return [from_json(SessionInfo, item) for item in _array(value, "list")]

    async def stop(self, *targets: str) -> dict[str, str]:
        """Ask sessions to stop at their next statement; returns at once.

        Args:
            *targets: Session ids or wildcards (at least one).

        Returns:
            The outcome per session: ``requested``, ``already_stopping``,
            ``not_running``, or ``not_found`` for a target that matched nothing.
        """
        if not targets:
            raise ValueError("name at least one session (or a wildcard such as '*') to stop")
        value = await self._request(lambda request_id: Stop(id=request_id, targets=list(targets)))
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            raise RemoteProtocolError("the answer to stop is not an object of outcomes")
        return {str(key): str(outcome) for key, outcome in value.items()}

    async def wait(
        self, *sessions: str, timeout: float | None = None, any: bool = False
    ) -> list[SessionInfo]:
        """Wait for sessions to finish; on timeout, return what has finished.

        Args:
            *sessions: Session ids or wildcards; none means every session.
            timeout: Seconds to wait at most (None: as long as it takes).
            any: Return as soon as one of them has finished.

        Returns:
            The sessions, of those named, that are not running or stopping.

        Raises:
            SessionNotFound: An id (not a wildcard) names no session.
        """
        names = list(sessions) or ["*"]
        value = await self._request(
            lambda request_id: Wait(id=request_id, sessions=names, timeout=timeout, any=any)
        )
        return [from_json(SessionInfo, item) for item in _array(value, "wait")]

    async def receive(self, session: str, *, keep: bool = False) -> ExecutionResult:
        """Fetch the last execution's result and output.

        Args:
            session: The session id.
            keep: Keep the result instead of clearing it.

        Returns:
            The status, value, error and output of the last execution.

        Raises:
            SessionNotFound: No such session, or it has no result to receive.
            SessionBusy: The session is running.
        """
        value = await self._request(
            lambda request_id: Receive(id=request_id, session=session, keep=keep)
        )
        return from_json(ExecutionResult, value)

    async def remove(self, *sessions: str, force: bool = False) -> list[str]:
        """Remove sessions; running ones only with ``force`` (stop, wait, remove).

        Returns:
            The ids removed.

        Raises:
            SessionNotFound: An id (not a wildcard) names no session.
            SessionBusy: A session is running and ``force`` is false.
        """
        if not sessions:
            raise ValueError("name at least one session (or a wildcard such as '*') to remove")
        value = await self._request(
            lambda request_id: Remove(id=request_id, sessions=list(sessions), force=force)
        )
        return [str(item) for item in _array(value, "remove") if isinstance(item, str)]

    async def complete(
        self, session: str, text: str, cursor: int | None = None
    ) -> list[Completion]:
        """Completion candidates for the word before ``cursor`` in a session's namespace.

        Args:
            session: The session whose live namespace is used.
            text: The text being edited.
            cursor: The cursor position in ``text`` (code points); None for the end.

        Returns:
            The candidates; each replaces ``text[start:cursor]``.

        Raises:
            SessionNotFound: No such session.
        """
        position = len(text) if cursor is None else cursor
        value = await self._request(
            lambda request_id: Complete(id=request_id, session=session, text=text, cursor=position)
        )
        return [from_json(Completion, item) for item in _array(value, "complete")]

    def subscribe(
        self, session: str, from_offset: int = 0
    ) -> AbstractAsyncContextManager[Subscription]:
        """Follow a session's output from a byte offset: replay, then live.

        Example::

            async with client.subscribe("etl", from_offset=seen) as events:
                async for event in events:
                    ...

        Leaving the block ends the stream (a ``cancel`` is sent). Iteration ends by
        itself when the session is removed.

        Args:
            session: The session id.
            from_offset: The first byte offset wanted (the end of the last chunk seen,
                to resume after a disconnect).

        Returns:
            A context manager yielding a :class:`Subscription`, an async iterator of
            :class:`~spe_host._protocol.Output` and
            :class:`~spe_host._protocol.Progress` events. An unknown session raises
            ``SessionNotFound`` from the iteration.
        """
        return self._subscribe(session, from_offset)

    # -- plumbing ------------------------------------------------------------------------

    @asynccontextmanager
    async def _subscribe(self, session: str, from_offset: int) -> AsyncIterator[Subscription]:
        def make(request_id: int) -> Message:
            return Subscribe(id=request_id, session=session, from_offset=from_offset)

        async with self._exchange(make) as (request_id, events):
            subscription = Subscription(self, events, from_offset)
            try:
                yield subscription
            finally:
                if not subscription.ended and not self.closed:
                    # Even when we are being cancelled, tell the server to stop
                    # streaming; bounded, so a dead server cannot hold us here.
                    with (
                        trio.CancelScope(shield=True),
                        trio.move_on_after(self._timeout),
                        suppress(SpeError),
                    ):
                        await self._send(Cancel(id=next(self._ids), target=request_id))

    async def _answer_input(
        self,
        request_id: int,
        request: InputRequest,
        on_input: Callable[[str], Awaitable[str | None] | str | None] | None,
    ) -> None:
        text: str | None = None
        try:
            if on_input is not None:
                answer = on_input(request.prompt)
                text = await answer if inspect.isawaitable(answer) else answer
        except EOFError:
            text = None
        except Exception:
            # The callback failed: answer end-of-file so the script does not wait for
            # an answer that will never come, then let the failure propagate.
            with trio.move_on_after(self._timeout), suppress(SpeError):
                await self._send(InputReply(id=request_id, text=None))
            raise
        await self._send(InputReply(id=request_id, text=text))

    async def _request(self, make: Callable[[int], Message]) -> JSON:
        async with self._exchange(make) as (_, events):
            while True:
                event = await self._next(events)
                if isinstance(event, Result):
                    return event.value

    @asynccontextmanager
    async def _exchange(
        self, make: Callable[[int], Message]
    ) -> AsyncIterator[tuple[int, trio.MemoryReceiveChannel[Message]]]:
        request_id = next(self._ids)
        send, receive = trio.open_memory_channel[Message](math.inf)
        self._pending[request_id] = send
        try:
            if self._closed is not None:
                raise self._closed_error()
            await self._send(make(request_id))
            yield request_id, receive
        finally:
            del self._pending[request_id]
            send.close()
            receive.close()

    async def _next(self, events: trio.MemoryReceiveChannel[Message]) -> Message:
        """The next event of a request; an ``error`` is raised as its exception."""
        try:
            event = await events.receive()
        except trio.EndOfChannel:
            raise self._closed_error() from None
        if isinstance(event, Error):
            raise exception_for(event.code, event.message)
        return event

    async def _send(self, message: Message) -> None:
        if self._closed is not None:
            raise self._closed_error()
        frame = self._proto.send(message)
        try:
            await self._outbox.send(frame)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            raise self._closed_error() from None

    def _closed_error(self) -> SpeError:
        # A fresh exception per raise: one object raised in several tasks would pile
        # up their tracebacks.
        reason = self._closed or SpeError("the connection is closed")
        return copy.copy(reason)

    def _shut(self, reason: SpeError) -> None:
        if self._closed is None:
            self._closed = reason
        self._outbox.close()
        for channel in self._pending.values():
            channel.close()

    def _host_closed(self) -> SpeError:
        return SpeError(
            f"the host at {self.address} closed the connection; connect again once it is back"
        )

    async def _read_loop(self) -> None:
        try:
            while True:
                event = await self._receive()
                if event is None:
                    self._shut(self._host_closed())
                    return
                if isinstance(event, Error) and event.id is None:
                    # The server is about to close the connection, and says why.
                    self._shut(exception_for(event.code, event.message))
                    return
                channel = self._pending.get(getattr(event, "id", -1))
                if channel is not None:
                    channel.send_nowait(event)
                # Otherwise it answers a request nobody waits for any more (cancelled).
        except RemoteProtocolError as exc:
            self._shut(exc)
        finally:
            # However the reader ends (even by a bug in here), nothing is left to hand
            # the pending requests their answers: fail them rather than let them wait.
            self._shut(
                SpeError(f"the connection to {self.address} ended unexpectedly; connect again")
            )

    async def _receive(self) -> Message | None:
        while True:
            event = self._proto.next_event()
            if event is NEED_DATA:
                try:
                    data = bytes(await self._stream.receive_some(65536))
                except (trio.BrokenResourceError, trio.ClosedResourceError):
                    data = b""
                self._proto.receive_data(data)
                continue
            if event is CLOSED:
                return None
            assert isinstance(event, Message)
            return event

    async def _write_loop(self) -> None:
        try:
            async for frame in self._outbox_recv:
                batch = [frame]
                size = len(frame)
                while size < _WRITE_BATCH:
                    try:
                        frame = self._outbox_recv.receive_nowait()
                    except (trio.WouldBlock, trio.EndOfChannel):
                        break
                    batch.append(frame)
                    size += len(frame)
                await self._stream.send_all(b"".join(batch))
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            # The peer closed or reset the connection (EPIPE, ECONNRESET). The reader
            # will see the same end, but a request queued after the close can reach
            # this write first: both say the same sentence, whichever comes first.
            self._shut(self._host_closed())


class Subscription:
    """The events of a :meth:`Client.subscribe` stream, as an async iterator.

    Attributes:
        offset: The output offset just past the last chunk received (the
            ``from_offset`` at first): subscribe from here to resume.
        ended: True once the server ended the stream (the session was removed).
    """

    def __init__(
        self, client: Client, events: trio.MemoryReceiveChannel[Message], from_offset: int
    ) -> None:
        self.offset = from_offset
        self.ended = False
        self._client = client
        self._events = events

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> Output | Progress:
        while not self.ended:
            try:
                event = await self._client._next(self._events)
            except SpeError:
                self.ended = True
                raise
            if isinstance(event, Output):
                self.offset = event.offset + len(event.text.encode("utf-8", "surrogatepass"))
                return event
            if isinstance(event, Progress):
                return event
            if isinstance(event, Result):
                self.ended = True
        raise StopAsyncIteration


# --- helpers ----------------------------------------------------------------------------


async def _call(callback: Callable[[_T], object], argument: _T) -> None:
    result = callback(argument)
    if inspect.isawaitable(result):
        await result


def _array(value: JSON, what: str) -> list[Any]:
    if not isinstance(value, list):
        raise RemoteProtocolError(f"the answer to {what} is not an array")
    return value


def _leaves(group: BaseExceptionGroup[BaseException]) -> Iterator[BaseException]:
    for exc in group.exceptions:
        if isinstance(exc, BaseExceptionGroup):
            yield from _leaves(exc)
        else:
            yield exc


@contextmanager
def _sole_exception() -> Iterator[None]:
    """Raise the one exception a nursery wrapped in a group, as itself.

    The background tasks never raise, so a group out of our nurseries holds what the
    caller's own code raised; callers should be able to ``except SessionBusy``.
    """
    sole: BaseException | None = None
    try:
        yield
    except BaseExceptionGroup as group:
        leaves = list(_leaves(group))
        if len(leaves) != 1:
            raise
        sole = leaves[0]
    if sole is not None:
        raise sole


async def _open(
    info: _auth.ConnectionInfo,
    *,
    token: str | None,
    cafile: str | None,
    client_name: str,
    timeout: float,
    tls: bool | None,
    max_frame: int,
    insecure: bool = False,
) -> tuple[trio.abc.Stream, Connection, Welcome]:
    address = info.parsed_address()
    shown = info.address
    if isinstance(address, _auth.TcpAddress):
        use_tls = tls if tls is not None else (info.tls or cafile is not None)
        if (
            token is not None
            and not use_tls
            and not insecure
            and not _auth.is_loopback(address.host)
        ):
            raise SpeError(
                f"refusing to send the token in clear text to {shown}, which is not on this "
                "machine: connect with TLS (its connection file, or a CA file), or pass "
                "insecure=True if the network path is trusted"
            )
    stream: trio.abc.Stream | None = None
    try:
        with trio.fail_after(timeout):
            if isinstance(address, _auth.UnixAddress):
                stream = await trio.open_unix_socket(address.path)
            else:
                stream = await trio.open_tcp_stream(address.host, address.port)
                if use_tls:
                    stream = await _start_tls(stream, address.host, cafile, info.tls_fingerprint)
            proto = Connection("client", max_frame=max_frame)
            hello = Hello(version=PROTOCOL_VERSION, token=token, client=client_name)
            await stream.send_all(proto.send(hello))
            reply = await _handshake_reply(stream, proto, shown)
    except trio.TooSlowError:
        await _close(stream)
        raise SpeError(
            f"the host at {shown} did not complete the handshake within {timeout:g} s; is "
            "it an spe-host server, and does it expect TLS?"
        ) from None
    except OSError as exc:
        await _close(stream)
        raise SpeError(
            f"cannot connect to {shown}: {exc.strerror or exc}; is the host running? "
            "Start one with `spe-host serve`"
        ) from None
    except trio.BrokenResourceError as exc:
        await _close(stream)
        raise SpeError(
            f"the connection to {shown} broke during the handshake ({exc.__cause__ or exc}); "
            "if the server speaks TLS, connect with its connection file or a CA file"
        ) from None
    except BaseException:
        await _close(stream)
        raise
    assert stream is not None
    return stream, proto, reply


async def _close(stream: trio.abc.Stream | None) -> None:
    if stream is not None:
        await trio.aclose_forcefully(stream)


async def _start_tls(
    stream: trio.abc.Stream, hostname: str, cafile: str | None, fingerprint: str | None
) -> trio.SSLStream[trio.abc.Stream]:
    context = _auth.client_ssl_context(cafile)
    if fingerprint and cafile is None:
        # The connection file (0600, written by the host) names the certificate: trust
        # exactly that one, as OpenSSH trusts a known host key, with no CA involved.
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    ssl_stream = trio.SSLStream(stream, context, server_hostname=hostname)
    await ssl_stream.do_handshake()
    if fingerprint:
        _auth.check_fingerprint(ssl_stream.getpeercert(binary_form=True), fingerprint)
    return ssl_stream


async def _handshake_reply(stream: trio.abc.Stream, proto: Connection, shown: str) -> Welcome:
    while True:
        event = proto.next_event()
        if event is NEED_DATA:
            try:
                data = bytes(await stream.receive_some(65536))
            except trio.BrokenResourceError:
                data = b""
            proto.receive_data(data)
            continue
        if event is CLOSED:
            raise SpeError(
                f"the host at {shown} closed the connection during the handshake; if it "
                "speaks TLS, connect with its connection file or a CA file"
            )
        if isinstance(event, Error):
            raise exception_for(event.code, event.message)
        assert isinstance(event, Welcome)  # the protocol allows nothing else first
        return event
