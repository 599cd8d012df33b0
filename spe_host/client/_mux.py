"""Request multiplexing: many requests in flight over one framed connection.

Theory of operation
-------------------
The wire :class:`~spe_host.wire.Connection` keeps the request lifecycle: sending a
request registers its id as in flight, a final answer (``done``, ``result`` or
``error``) ends it, and an answer for an id that is not in flight is a
:class:`~spe_host.RemoteProtocolError`. The transport's
:class:`~spe_host.transport.FramedStream` owns the one read loop and the one
batching writer. What is left here is routing:

* :meth:`Multiplexer.request` picks a fresh id, opens an :class:`~._inbox.Inbox` for
  it and sends the request; the caller reads its events from the inbox, so any number
  of tasks may share one connection; :meth:`Multiplexer.requests` sends several in
  one write, for a caller that pipelines them.
* :meth:`Multiplexer.run` is the reader task: it hands every event to the inbox of
  the request whose ``id`` it carries, and drops what answers a request nobody waits
  for any more (its caller was cancelled). An inbox never blocks the reader (see
  :mod:`._inbox`), so a consumer that stops reading stalls nobody else.
* When the connection ends - the host hung up, said why in an ``error`` without an
  id, broke the protocol, or this side closed it - every request still waiting fails
  with :class:`~spe_host.ConnectionLost` and one sentence that says what happened;
  so does every request made afterwards.

Cancelling a request only stops waiting for it: the host still runs it to its end.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from types import TracebackType

import trio

from .._errors import ConnectionLost, RemoteProtocolError
from ..transport._framed import FramedStream
from ..wire import Connection, Error, InputReply, Request
from ..wire._lifecycle import Answer
from ._base import next_event
from ._dial import host_closed, host_left, protocol_broken
from ._inbox import STREAM_BACKLOG, Inbox

__all__ = ["Multiplexer", "next_event"]


class Multiplexer:
    """Routes the events of one connection to the requests in flight on it.

    It owns the connection's :class:`~spe_host.transport.FramedStream`; the caller
    does the handshake over :attr:`framed` first, then runs :meth:`run` and the
    framed stream's writer.

    Args:
        stream: The byte stream to the host.
        connection: The protocol state of this (the client's) end.
        address: The host's address, for the sentences of errors.

    Attributes:
        address: The host's address.
        framed: The framed connection.
    """

    #: Any number of requests in flight at once.
    concurrent = True

    def __init__(self, stream: trio.abc.Stream, connection: Connection, *, address: str) -> None:
        self.address = address
        self.framed = FramedStream(
            stream,
            connection,
            peer=f"the host at {address}",
            on_lost=lambda: self.close(self.host_closed()),
        )
        self._ids = itertools.count(1)
        self._inboxes: dict[int, Inbox] = {}
        self._ended: str | None = None

    @property
    def closed(self) -> bool:
        """Whether the connection has ended."""
        return self._ended is not None

    def next_id(self) -> int:
        """A request id not used before on this connection."""
        return next(self._ids)

    def request(
        self, make: Callable[[int], Request], *, backlog: int = STREAM_BACKLOG
    ) -> AbstractAsyncContextManager[Inbox]:
        """Send the request ``make(id)`` builds, and yield the inbox of its events.

        Leaving the block stops routing its events (later ones are dropped). The
        block's caller waits on the inbox next, and that wait is the send's schedule
        point (so a request costs one pass through the scheduler less).

        Raises:
            ConnectionLost: The connection has ended.
        """
        return _Request(self, make, backlog)

    @asynccontextmanager
    async def requests(self, *makes: Callable[[int], Request]) -> AsyncIterator[list[Inbox]]:
        """Send the requests ``make(id)`` builds in one write; yield their inboxes.

        The host reads them together, in this order, and none waits for an answer to
        another before it goes out (a ``stop`` and the ``wait`` for its end).

        Raises:
            ConnectionLost: The connection has ended.
        """
        inboxes = [Inbox(self.next_id()) for _ in makes]
        # Every message is built (and so checked) before any is sent: one that is
        # invalid leaves nothing half sent.
        messages = [make(inbox.request_id) for make, inbox in zip(makes, inboxes, strict=True)]
        for inbox in inboxes:
            self._inboxes[inbox.request_id] = inbox
        try:
            await self._send(
                lambda: self.framed.send_frame(
                    b"".join(self.framed.connection.send(message) for message in messages)
                )
            )
            yield inboxes
        finally:
            for inbox in inboxes:
                del self._inboxes[inbox.request_id]

    async def send(self, message: Request) -> None:
        """Send a message without waiting for an answer (``cancel``, ``input_reply``).

        Raises:
            ConnectionLost: The connection has ended.
        """
        await self._send(lambda: self.framed.send(message))

    async def _send(self, sending: Callable[[], Awaitable[None]]) -> None:
        """Run ``sending`` (a send to the framed stream) unless the connection ended."""
        if self._ended is not None or self.framed.gone:
            raise ConnectionLost(self._ended or self._unexpected())
        try:
            await sending()
        except ConnectionLost:
            # The writer found the stream broken; on_lost has said why by now.
            raise ConnectionLost(self._ended or self._unexpected()) from None

    async def reply_input(self, request_id: int, text: str | None) -> None:
        """Answer the ``input_request`` of execute ``request_id``, if it still waits.

        A reply that comes too late (the execute ended, say, because it was stopped
        while the prompt was up) is dropped: the host would drop it too.

        Raises:
            ConnectionLost: The connection has ended.
        """
        # No checkpoint between this check and the send's encoding: the reader
        # cannot end the input in between.
        if self._ended is None and not self.framed.connection.input_pending(request_id):
            return
        await self.send(InputReply(id=request_id, text=text))

    async def run(self) -> None:
        """Route events until the connection ends; then fail every request waiting."""
        reason: str | None = None
        try:
            while reason is None:
                event = await self.framed.receive()
                if event is None:
                    reason = self.host_closed()
                elif isinstance(event, Error) and event.id is None:
                    # The host is about to close the connection, and says why.
                    reason = host_left(self.address, event.message)
                elif isinstance(event, Answer) and event.id is not None:
                    inbox = self._inboxes.get(event.id)
                    if inbox is not None:
                        inbox.put(event)
                else:
                    reason = self._broke(f"a '{type(event).__name__}' a client cannot take")
        except RemoteProtocolError as exc:
            reason = self._broke(str(exc))
        finally:
            # However the reader ends (even by a bug in here), nothing is left to hand
            # the pending requests their answers: fail them rather than let them wait.
            self.close(reason or self._unexpected())

    def close(self, reason: str) -> None:
        """End the connection: every request waiting, and every later one, fails.

        The first reason given is the one every request reports.
        """
        if self._ended is None:
            self._ended = reason
        self.framed.close_outbox()
        for inbox in self._inboxes.values():
            inbox.close(self._ended)

    def host_closed(self) -> str:
        """The sentence for a host that closed the connection."""
        return host_closed(self.address)

    def _broke(self, what: str) -> str:
        return protocol_broken(self.address, what)

    def _unexpected(self) -> str:
        return f"the connection to {self.address} ended unexpectedly; connect again"


class _Request:
    """The block of one request: its inbox gets the request's events while it lasts.

    A class rather than an ``asynccontextmanager``: every execute enters one, and a
    generator's block costs a dozen calls more.
    """

    __slots__ = ("_backlog", "_inbox", "_make", "_mux")

    def __init__(self, mux: Multiplexer, make: Callable[[int], Request], backlog: int) -> None:
        self._mux = mux
        self._make = make
        self._backlog = backlog
        self._inbox: Inbox | None = None

    async def __aenter__(self) -> Inbox:
        mux = self._mux
        inbox = self._inbox = Inbox(mux.next_id(), backlog=self._backlog)
        mux._inboxes[inbox.request_id] = inbox
        try:
            message = self._make(inbox.request_id)
            await mux._send(lambda: mux.framed.send(message, schedule_point=False))
        except BaseException:
            del mux._inboxes[inbox.request_id]
            raise
        return inbox

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        assert self._inbox is not None
        del self._mux._inboxes[self._inbox.request_id]
