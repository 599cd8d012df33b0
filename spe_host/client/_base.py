"""What every part of the :class:`~spe_host.Client` facade stands on: one request, one answer.

The facade is written in parts (``_client.py`` the cmdlet family and the streams,
``_stops.py`` the stop and its tickets), each a class over this one, which holds the
connection and its greeting, sends a request and waits for its final ``result``, and
refuses a feature the host's protocol version predates (:mod:`._versions`).

The connection is a :class:`Channel`: under trio the :class:`~._mux.Multiplexer`,
which any number of tasks share; for a one-shot command without trio the
:class:`~._blocking.BlockingChannel`, whose awaits never suspend. This module, like
every module a one-shot request goes through, imports no trio.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Any, Protocol, cast

from .._errors import LocalProtocolError, RemoteProtocolError
from ..wire import JSON, Error, Message, Request, Result, Welcome, exception_for
from ._versions import Feature, require

if TYPE_CHECKING:
    from ._mux import Multiplexer

__all__ = [
    "Channel",
    "ClientBase",
    "Events",
    "array_of",
    "next_event",
    "raise_error",
    "result_of",
]


class Events(Protocol):
    """The events of one request, in order (an :class:`~._inbox.Inbox`)."""

    async def get(self) -> Message:
        """The next event, waiting for one.

        Raises:
            ConnectionLost: The connection ended first.
        """
        ...


class Channel(Protocol):
    """A greeted connection that carries requests (a :class:`~._mux.Multiplexer`)."""

    address: str
    #: Whether a request may be sent before the answer to the one before it.
    concurrent: bool

    @property
    def closed(self) -> bool:
        """Whether the connection has ended."""
        ...

    def request(self, make: Callable[[int], Request]) -> AbstractAsyncContextManager[Events]:
        """Send the request ``make(id)`` builds, and yield its events for the block."""
        ...


class ClientBase:
    """The connection under a :class:`~spe_host.Client`: its greeting and its requests.

    Args:
        mux: The channel of a greeted connection (its multiplexer, under trio).
        welcome: The host's welcome.
        timeout: Seconds to wait, at most, to tell the host a stream or a prompt ended.
    """

    def __init__(self, mux: Channel, welcome: Welcome, *, timeout: float = 5.0) -> None:
        self.address = mux.address
        self.role = welcome.role
        self.server = welcome.server
        self.pid = welcome.pid
        self.version = welcome.version
        self._channel = mux
        self._timeout = timeout

    def __repr__(self) -> str:
        return f"<spe_host.Client {self.address} as {self.role}>"

    @property
    def closed(self) -> bool:
        """Whether the connection has ended (requests then raise ConnectionLost)."""
        return self._channel.closed

    @property
    def _mux(self) -> Multiplexer:
        """The multiplexer, for what streams or prompts (execute, subscribe, watch)."""
        # `concurrent` tells the two channels apart without importing trio's one.
        if not self._channel.concurrent:
            raise LocalProtocolError(
                "this client is connected over a blocking socket, which carries one "
                "request at a time and cannot stream; connect with spe_host.connect() "
                "under trio to execute, subscribe or watch"
            )
        return cast("Multiplexer", self._channel)

    def _require(self, feature: Feature, *, needed: bool = True) -> None:
        require(self.version, feature, needed=needed)

    async def _request(self, make: Callable[[int], Request]) -> JSON:
        async with self._channel.request(make) as events:
            return await result_of(events)


async def result_of(events: Events) -> JSON:
    """The value of a request's final ``result`` (events before it are skipped).

    Raises:
        SpeError: The host answered with an error, as the class it raised.
        ConnectionLost: The connection ended first.
    """
    while True:
        event = await next_event(events)
        if isinstance(event, Result):
            return event.value


async def next_event(events: Events) -> Message:
    """The next event of a request; an ``error`` answer is raised as its exception.

    Raises:
        SpeError: The host answered with an error (``SessionNotFound``,
            ``SessionBusy``, ``PermissionDenied``, ...), as the class it raised.
        ConnectionLost: The connection ended first.
    """
    event = await events.get()
    raise_error(event)
    return event


def raise_error(event: Message) -> None:
    """Raise an ``error`` answer as its exception; do nothing with another event.

    Raises:
        SpeError: ``event`` is an error, as the class the host raised.
    """
    if isinstance(event, Error):
        raise exception_for(event.code, event.message)


def array_of(value: JSON, what: str) -> list[Any]:
    """``value`` as the array the answer to ``what`` must be."""
    if not isinstance(value, list):
        raise RemoteProtocolError(f"the answer to {what} is not an array")
    return value
