"""One client connection: the handshake, the read loop and the dispatch onto the service.

Theory of operation
-------------------
A connection first authenticates within the handshake deadline: TLS (if the stream
speaks it), then a ``hello`` that the listener's *admit* function turns into a
:class:`~spe_host.service.Principal` - or refuses. Until then the sans-IO
:class:`~spe_host.wire.Connection` holds frames to its small handshake limit, so a
stranger cannot make us buffer the full frame limit.

After ``welcome`` the connection reads events in a loop. The wire Connection owns the
request lifecycle (a duplicate id or too many requests in flight arrive here as
:class:`~spe_host.wire.Refused`, a late ``input_reply`` never arrives at all), so the
reader only routes: an ``input_reply`` answers the ``input()`` waiting for it, a
``cancel`` cancels the stream it targets, a ``stop`` (which never waits) is handled
and answered by the reader itself, and every other request runs as a task of its own
(:mod:`._requests`), so a ``stop`` or a ``cancel`` is handled while an ``execute`` of
the same connection still runs. A stop handled in the reader reaches the run one
scheduling pass sooner: while a session spins, every pass waits for the interpreter
lock for up to a switch interval. A stop that came in the same read as the ``execute``
or ``start`` it targets first lets that request begin its run, so it finds the run;
the answers to a stop and to the requests read with it leave in one write
(:mod:`._cork`).
Frames go out through the one writer of :class:`~spe_host.transport.FramedStream`.

Before its first byte is read, a connection passes the listener's gate
(:mod:`._gate`), which caps open and unauthenticated connections; one turned away is
closed at once, one evicted by a newer connection from its address is cancelled.

A malformed frame is answered with ``bad_request`` (with the frame's id when it could
be read) and closes this connection only. Refusing lingers a moment, reading and
discarding, so that closing does not reset TCP and destroy the error frame in flight.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Final

import trio

from .._errors import AuthenticationError, ConnectionLost, RemoteProtocolError, SpeError
from .._model import Role
from ..service import Principal
from ..transport import FramedStream
from ..wire import (
    PROTOCOL_VERSION,
    Cancel,
    Connection,
    Error,
    Hello,
    InputReply,
    Message,
    Refused,
    Request,
    Result,
    Stop,
    Welcome,
    error_for,
    request_id_of,
)
from ._admit import has_sent
from ._core import Admit, ServerCore
from ._cork import Cork
from ._gate import Pass
from ._requests import Requests

__all__ = ["ServerConnection"]

logger = logging.getLogger("spe_host.server")

# After refusing a connection: how long to keep reading (and discarding) what the client
# still sends, and how much of it.
_LINGER: Final = 1.0
_LINGER_BYTES: Final = 64 * 1024


class ServerConnection:
    """One client connection, from its first byte to its close.

    Args:
        core: What the connections of this ``serve_*`` call share.
        stream: The accepted stream (TLS streams still owe their handshake).
        admit: Decides who the peer is from its ``hello``.
        peer: How to name the peer in logs.
        peer_host: The peer's address without its port, as the gate counts peers.
    """

    def __init__(
        self,
        core: ServerCore,
        stream: trio.abc.Stream,
        admit: Admit,
        peer: str,
        peer_host: str | None = None,
    ) -> None:
        self.core = core
        self.number = next(core.numbers)
        self.peer = peer
        self.peer_host = peer if peer_host is None else peer_host
        self.principal = Principal(Role.OPERATOR, peer)
        self._admit = admit
        self._raw = stream
        self._nursery: trio.Nursery | None = None
        # Cancelled when a newer connection from the same address takes our place.
        self._evicted = trio.CancelScope()
        self._pass: Pass | None = None
        self.framed = FramedStream(
            stream,
            Connection("server", max_frame=core.max_frame, max_in_flight=core.limits.max_in_flight),
            peer=peer,
            on_lost=self._lost,
            outbox_bytes=core.limits.outbox_bytes,
        )
        self.requests = Requests(self)
        self._cork = Cork(self.framed)

    async def run(self) -> None:
        """Serve the connection until either side ends it."""
        self._pass = self.core.gate.enter(
            self.peer_host,
            evict=self._evicted.cancel,
            # Bytes still in the kernel count: under a flood, our task may not have
            # run yet since a real client's hello arrived.
            heard=lambda: self.framed.bytes_received > 0 or has_sent(self._raw),
        )
        if self._pass is None:
            await trio.aclose_forcefully(self._raw)
            return
        try:
            with self._evicted:
                await self._serve()
        finally:
            self._pass.leave()

    async def _serve(self) -> None:
        try:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                deadline = trio.current_time() + self.core.handshake_timeout
                if await self._tls_handshake(deadline):
                    nursery.start_soon(self.framed.run_writer)
                    if await self._handshake(deadline):
                        await self._read_loop(nursery)
                nursery.cancel_scope.cancel()
        finally:
            # Input handlers run in the host's tasks, not in our nursery: end their
            # waits (end-of-file) and make their sends fail instead of blocking.
            self.framed.lost()
            self.requests.close()
            # Logged first: closing raises Cancelled again when shutdown cancelled us.
            logger.debug("connection %d from %s closed", self.number, self.peer)
            await trio.aclose_forcefully(self._raw)

    def _lost(self) -> None:
        if self._nursery is not None:
            self._nursery.cancel_scope.cancel()

    async def _tls_handshake(self, deadline: float) -> bool:
        if not isinstance(self._raw, trio.SSLStream):
            return True
        with trio.move_on_at(deadline):
            try:
                await self._raw.do_handshake()
            except trio.BrokenResourceError as exc:
                logger.info("TLS handshake with %s failed: %s", self.peer, exc.__cause__ or exc)
                return False
            return True
        logger.info("TLS handshake with %s timed out", self.peer)
        return False

    async def _handshake(self, deadline: float) -> bool:
        hello: Message | Refused | None = None
        with trio.move_on_at(deadline):
            try:
                hello = await self.framed.receive()
            except RemoteProtocolError as exc:
                if not self.framed.eof:
                    logger.info("bad handshake from %s: %s", self.peer, exc)
                    await self.refuse(request_id_of(exc), exc.error_code, str(exc))
                return False
            if hello is None:
                return False  # closed before saying anything
        if hello is None:
            logger.info(
                "no hello from %s within %g s; closing", self.peer, self.core.handshake_timeout
            )
            await self.refuse(
                None,
                "unauthorized",
                f"no hello arrived within {self.core.handshake_timeout:g} seconds of "
                "connecting; a client must start with hello",
            )
            return False
        assert isinstance(hello, Hello)  # the protocol allows nothing else first
        principal: Principal | None = None
        try:
            # Authentication is part of the handshake and keeps its deadline.
            with trio.move_on_at(deadline):
                principal = await self._admit(self._raw, hello)
        except AuthenticationError as exc:
            self.core.service.record_auth(
                self.peer, ok=False, role=None, how="socket", detail=str(exc)
            )
            await self.refuse(None, "unauthorized", str(exc))
            return False
        if principal is None:
            self.core.service.record_auth(
                self.peer, ok=False, role=None, how="socket", detail="handshake deadline"
            )
            await self.refuse(
                None,
                "unauthorized",
                "authentication did not finish within the handshake deadline; too many "
                "failed attempts came from your address, so wait a few seconds and retry",
            )
            return False
        # The connection's number, as the log lines name it, goes with everything the
        # principal does: the journal's runs say which connection started them.
        principal = replace(principal, connection=f"connection {self.number}")
        self.principal = principal
        self.core.service.record_auth(
            principal.requested_by, ok=True, role=principal.role.value, how="socket"
        )
        assert self._pass is not None
        self._pass.authenticated()
        welcome = Welcome(
            version=PROTOCOL_VERSION,
            server=self.core.service.name,
            role=principal.role.value,
            pid=os.getpid(),
        )
        try:
            await self.framed.send(welcome)
        except ConnectionLost:
            return False
        logger.info(
            "connection %d: %s (%s) connected as %s",
            self.number,
            self.peer,
            hello.client,
            principal.role.value,
        )
        return True

    async def refuse(self, request_id: int | None, code: str, message: str) -> None:
        """Send a last ``error``, let the client read it, and return to close."""
        try:
            await self.framed.send(Error(id=request_id, code=code, message=message))
        except ConnectionLost:
            return
        self.framed.close_outbox()  # the writer drains what is queued, then stops
        stream = self.framed.stream
        with trio.move_on_after(_LINGER):
            await self.framed.writer_done.wait()
            # Closing with unread input makes TCP reset the connection, which can destroy
            # the error frame in flight: say we are done, then read and discard until the
            # client hangs up (or a second has passed).
            if isinstance(stream, trio.abc.HalfCloseableStream):
                try:
                    await stream.send_eof()
                except (trio.BrokenResourceError, trio.ClosedResourceError):
                    return
            discarded = 0
            while discarded < _LINGER_BYTES:
                try:
                    data = await stream.receive_some(4096)
                except (trio.BrokenResourceError, trio.ClosedResourceError):
                    return
                if not data:
                    return
                discarded += len(data)

    async def _read_loop(self, nursery: trio.Nursery) -> None:
        while True:
            try:
                event = await self.framed.receive()
            except RemoteProtocolError as exc:
                if self.framed.eof:
                    # Hung up in the middle of a frame: nobody is left to answer.
                    logger.debug("%s closed in the middle of a frame", self.peer)
                    return
                logger.info("closing the connection from %s: %s", self.peer, exc)
                await self.refuse(request_id_of(exc), exc.error_code, str(exc))
                return
            if event is None:
                return
            if isinstance(event, Refused):
                await self.send_error(event.id, event.code, event.message)
            elif isinstance(event, InputReply):
                self.requests.answer_input(event.id, event.text)
            elif isinstance(event, Cancel):
                cancelled = self.requests.cancel(event.target)
                await self.send_quietly(Result(id=event.id, value=cancelled))
            elif isinstance(event, Stop):
                # An execute or start read just before it has its run begun first.
                await self.requests.begun()
                self.requests.accept(event)
                self._cork.begin()
                await self.requests.run(event)
            else:
                assert isinstance(event, Request)
                self.requests.accept(event)
                batch = self._cork.join()
                if batch is None:
                    nursery.start_soon(self.requests.run, event)
                else:
                    nursery.start_soon(self._cork.run, batch, self.requests.run, event)

    def spawn(self, fn: Callable[..., Awaitable[object]], *args: object) -> None:
        """Run ``fn(*args)`` as a task of this connection (it ends with the connection).

        Only while the connection is being read, as it is while any request runs.
        """
        assert self._nursery is not None
        self._nursery.start_soon(fn, *args)

    async def send_error(self, request_id: int | None, code: str, message: str) -> None:
        """Answer a request with an ``error``; a connection that is gone is ignored."""
        await self.send_quietly(Error(id=request_id, code=code, message=message))

    async def send_exception(self, request_id: int, exc: BaseException) -> None:
        """Answer a request with the ``error`` for ``exc`` (``internal`` for non-SpeErrors)."""
        code, text = error_for(exc if isinstance(exc, SpeError) else RuntimeError("internal"))
        await self.send_error(request_id, code, text)

    async def send_quietly(self, message: Message) -> None:
        """Send ``message``, ignoring a connection that is gone."""
        with contextlib.suppress(ConnectionLost):
            await self.framed.send(message)
