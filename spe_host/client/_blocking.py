"""The Client facade over a blocking socket, for a one-shot command that runs without trio.

Theory of operation
-------------------
``spe-host ls`` makes one request and exits; importing and starting trio would cost it
more than the request does. :func:`connect_blocking` connects the way
:func:`~._connect.connect` does - the same host lookup, TLS decision, certificate pin,
greeting and failure sentences (:mod:`._dial`) - but over a plain socket
(:mod:`spe_host.transport._sockets`), and yields the same :class:`~._client.Client`
over a :class:`BlockingChannel` instead of the multiplexer.

The facade's methods are coroutines; over a blocking channel none of their awaits
suspends (a request is written with ``sendall`` and its answer read with ``recv``),
so a caller drives a whole verb with :func:`run_blocking`, one ``send(None)``, and
no event loop. One request is in flight at a time, and what streams or prompts
(``execute``, ``subscribe``, ``watch``) refuses with a sentence (it needs the
multiplexer and trio).

Every wait has a deadline: connecting, TLS and the greeting share ``timeout``, as
under trio, and each request's answer must come within ``request_timeout``, after
which the connection is given up with :class:`~spe_host.ConnectionLost`.
"""

from __future__ import annotations

import itertools
import sys
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Any, Final, TypeVar

from .._errors import (
    AuthenticationError,
    ConnectError,
    ConnectionLost,
    RemoteProtocolError,
    SpeError,
)
from ..transport._sockets import BlockingFramed, open_socket
from ..wire import DEFAULT_MAX_FRAME, Connection, Error, Message, Request
from ..wire._lifecycle import Answer
from ._base import Events
from ._client import Client
from ._dial import (
    broke,
    cannot_connect,
    find_host,
    host_closed,
    host_left,
    not_spe,
    plan_dial,
    protocol_broken,
    timed_out,
    welcome_of,
)

__all__ = ["REQUEST_TIMEOUT", "BlockingChannel", "connect_blocking", "run_blocking"]

#: Seconds a one-shot request waits for its answer: the host answers these at once,
#: so one that takes this long is wedged (its trio thread held, say).
REQUEST_TIMEOUT: Final = 60.0

_T = TypeVar("_T")


class BlockingChannel:
    """One request at a time over a blocking framed socket (a :class:`~._base.Channel`).

    Args:
        framed: The greeted connection; it is this channel's from now on.
        address: The host's address, for the sentences of errors.
        request_timeout: Seconds each request waits for its answer.

    Attributes:
        address: The host's address.
    """

    #: One request at a time: a second one waits for the first one's answer.
    concurrent = False

    def __init__(self, framed: BlockingFramed, *, address: str, request_timeout: float) -> None:
        self.address = address
        self._framed = framed
        self._ids = itertools.count(1)
        self._timeout = request_timeout
        self._ended: str | None = None

    @property
    def closed(self) -> bool:
        """Whether the connection has ended."""
        return self._ended is not None

    @asynccontextmanager
    async def request(self, make: Callable[[int], Request]) -> AsyncIterator[Events]:
        """Send the request ``make(id)`` builds, and yield its events.

        Raises:
            ConnectionLost: The connection has ended, or ends now.
        """
        if self._ended is not None:
            raise ConnectionLost(self._ended)
        request = make(next(self._ids))
        deadline = time.monotonic() + self._timeout
        try:
            self._framed.send(request, deadline=deadline)
        except TimeoutError:
            raise self._lose(self._no_answer(request)) from None
        except OSError:
            raise self._lose(host_closed(self.address)) from None
        yield _Answers(self, request, deadline)

    def receive(self, request: Request, deadline: float) -> Message:
        """The next event of ``request``, read before ``deadline``.

        Raises:
            ConnectionLost: The host closed the connection, broke the protocol, or did
                not answer in time.
        """
        while self._ended is None:
            try:
                event = self._framed.receive(deadline=deadline)
            except TimeoutError:
                raise self._lose(self._no_answer(request)) from None
            except RemoteProtocolError as exc:
                raise self._lose(protocol_broken(self.address, str(exc))) from None
            if event is None:
                raise self._lose(host_closed(self.address))
            if isinstance(event, Error) and event.id is None:
                raise self._lose(host_left(self.address, event.message))
            if not isinstance(event, Answer) or event.id is None:
                what = f"a '{type(event).__name__}' a client cannot take"
                raise self._lose(protocol_broken(self.address, what))
            if event.id == request.id:
                return event
            # An answer to an earlier request, which nobody waits for any more.
        raise ConnectionLost(self._ended)

    def close(self, reason: str = "the connection was closed by this client") -> None:
        """End the connection: later requests fail with ``ConnectionLost(reason)``."""
        if self._ended is None:
            self._ended = reason
            self._framed.close()

    def _lose(self, reason: str) -> ConnectionLost:
        self.close(reason)
        return ConnectionLost(reason)

    def _no_answer(self, request: Request) -> str:
        return (
            f"the host at {self.address} did not answer the {request.TYPE} request within "
            f"{self._timeout:g} s; is it stuck (a session holding its trio thread)? Try "
            "again, or restart the host"
        )


class _Answers:
    """The events of one request on a :class:`BlockingChannel`."""

    def __init__(self, channel: BlockingChannel, request: Request, deadline: float) -> None:
        self._channel = channel
        self._request = request
        self._deadline = deadline

    async def get(self) -> Message:
        return self._channel.receive(self._request, self._deadline)


@asynccontextmanager
async def connect_blocking(
    address_or_name: str | None = None,
    *,
    token: str | None = None,
    cafile: str | None = None,
    client_name: str = "spe-host",
    timeout: float = 5.0,
    tls: bool | None = None,
    max_frame: int = DEFAULT_MAX_FRAME,
    insecure: bool = False,
    request_timeout: float = REQUEST_TIMEOUT,
) -> AsyncIterator[Client]:
    """Connect over a blocking socket, for a caller that runs without trio.

    It takes :func:`~spe_host.connect`'s arguments and raises its errors with the same
    sentences; its awaits never suspend, so drive the block with :func:`run_blocking`.

    Example::

        async def count() -> int:
            async with connect_blocking("myapp") as client:
                return len(await client.sessions())

        print(run_blocking(count()))

    Args:
        address_or_name: As for :func:`~spe_host.connect`.
        token: As for :func:`~spe_host.connect`.
        cafile: As for :func:`~spe_host.connect`.
        client_name: As for :func:`~spe_host.connect`.
        timeout: Seconds to connect, set up TLS and complete the handshake.
        tls: As for :func:`~spe_host.connect`.
        max_frame: The frame limit, in bytes.
        insecure: As for :func:`~spe_host.connect`.
        request_timeout: Seconds each request waits for its answer.

    Yields:
        A :class:`Client` that makes one request at a time and cannot stream.

    Raises:
        ConnectError: The host cannot be found or reached, or refused to talk.
        HandshakeTimeout: The host did not complete the handshake in time.
        AuthenticationError: The server refused the credentials.
    """
    info = find_host(address_or_name)
    token = token if token is not None else info.token
    dial = plan_dial(
        info, token=token, cafile=cafile, client_name=client_name, tls=tls, insecure=insecure
    )
    deadline = time.monotonic() + timeout
    framed: BlockingFramed | None = None
    try:
        sock = open_socket(
            dial.address,
            deadline=deadline,
            tls=dial.tls,
            cafile=cafile,
            fingerprint=info.tls_fingerprint,
        )
        framed = BlockingFramed(sock, Connection("client", max_frame=max_frame))
        try:
            framed.send(dial.hello, deadline=deadline)
        except OSError as exc:
            if isinstance(exc, TimeoutError):
                raise
            raise broke(dial.shown, exc) from None
        try:
            reply = framed.receive(deadline=deadline)
        except RemoteProtocolError as exc:
            raise not_spe(dial.shown, exc) from None
        welcome = welcome_of(reply, dial.shown)
    except BaseException as exc:
        if framed is not None:
            framed.close()
        failure = _open_failure(exc, dial.shown, timeout)
        if failure is exc:
            raise
        raise failure from None
    channel = BlockingChannel(framed, address=info.address, request_timeout=request_timeout)
    try:
        yield Client(channel, welcome, timeout=timeout)
    finally:
        channel.close()


def _open_failure(exc: BaseException, shown: str, timeout: float) -> BaseException:
    """What to raise for ``exc``, which ended the opening of the socket (as under trio)."""
    if isinstance(exc, TimeoutError):
        return timed_out(shown, timeout)
    ssl = sys.modules.get("ssl")  # loaded only for TLS, and only TLS raises its errors
    if ssl is not None and isinstance(exc, ssl.SSLError):
        # trio reports a failed TLS handshake as a broken stream caused by it.
        return broke(shown, exc)
    if isinstance(exc, OSError):
        return cannot_connect(shown, exc)
    if isinstance(exc, SpeError) and not isinstance(exc, AuthenticationError | ConnectError):
        # A certificate that is not the one pinned, say: this host was not reached.
        return ConnectError(str(exc))
    return exc


def run_blocking(coroutine: Coroutine[Any, Any, _T]) -> _T:
    """Run a coroutine whose awaits never suspend (one over :func:`connect_blocking`).

    Returns:
        What the coroutine returned (it raises what the coroutine raised).

    Raises:
        RuntimeError: The coroutine awaited something that suspends (it needs trio).
    """
    try:
        coroutine.send(None)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    coroutine.close()
    raise RuntimeError(
        "a coroutine run without trio awaited something that suspends; only a client "
        "from connect_blocking() runs without an event loop, so run this one under trio"
    )
