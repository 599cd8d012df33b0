"""The client's streams: a session's output (``subscribe``) and state changes (``watch``).

Theory of operation
-------------------
A stream is a request that the host answers with events until the client sends a
``cancel`` naming it; the host then ends it with a final ``result`` (``null``). The
host also ends a subscription by itself when its session is removed. Each stream is
an async context manager around one request: inside the block the caller iterates
the events; leaving the block sends the ``cancel`` (even when the block is being
cancelled, bounded by the client's timeout, so a dead host cannot hold it there) and
stops routing the stream's events. Iteration ends when the host ends the stream.

The events queue in the request's :class:`~._inbox.Inbox`, whose bound is the memory
a caller that stops iterating costs: output it did not read is reported as
``dropped`` on the next chunk, and a state change supersedes the unread one of the
same session.
"""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from typing import Generic, Self, TypeVar

import trio

from .._errors import SpeError
from .._model import OutputChunk, ProgressReport, StateChange
from ..wire import Cancel, Message, Output, Request, Result, StateChanged, Subscribe, Watch
from ..wire import Progress as ProgressEvent
from ._inbox import Inbox
from ._mux import Multiplexer, next_event

__all__ = ["StateWatch", "Subscription", "chunk_of", "progress_of", "subscription", "watching"]


_T = TypeVar("_T")


def chunk_of(event: Output) -> OutputChunk:
    """The model value of an ``output`` event."""
    return OutputChunk(
        session=event.session, offset=event.offset, text=event.text, dropped=event.dropped
    )


def progress_of(event: ProgressEvent) -> ProgressReport:
    """The model value of a ``progress`` event."""
    return ProgressReport(session=event.session, percent=event.percent, message=event.message)


class _Stream(abc.ABC, Generic[_T]):
    """The events of one stream request, as an async iterator of model values.

    Attributes:
        ended: True once the host ended the stream (its final ``result`` arrived).
    """

    def __init__(self, inbox: Inbox) -> None:
        self.ended = False
        self._inbox = inbox

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> _T:
        while not self.ended:
            try:
                event = await next_event(self._inbox)
            except SpeError:
                self.ended = True
                raise
            if isinstance(event, Result):
                self.ended = True
                continue
            value = self._value_of(event)
            if value is not None:
                return value
        raise StopAsyncIteration

    @abc.abstractmethod
    def _value_of(self, event: Message) -> _T | None:
        """The value an event stands for, or None for an event this stream skips."""


class Subscription(_Stream[OutputChunk | ProgressReport]):
    """The events of a :meth:`Client.subscribe` stream, as an async iterator.

    Attributes:
        offset: The output offset just past the last chunk received (the
            ``from_offset`` at first): subscribe from here to resume.
        ended: True once the server ended the stream (the session was removed).
    """

    def __init__(self, inbox: Inbox, from_offset: int) -> None:
        super().__init__(inbox)
        self.offset = from_offset

    def _value_of(self, event: Message) -> OutputChunk | ProgressReport | None:
        if isinstance(event, Output):
            chunk = chunk_of(event)
            self.offset = chunk.end
            return chunk
        if isinstance(event, ProgressEvent):
            return progress_of(event)
        return None


class StateWatch(_Stream[StateChange]):
    """The state changes of a :meth:`Client.watch` stream, as an async iterator.

    Attributes:
        ended: True once the stream has ended.
    """

    def _value_of(self, event: Message) -> StateChange | None:
        if isinstance(event, StateChanged):
            return StateChange(session=event.session, previous=event.previous)
        return None


@asynccontextmanager
async def subscription(
    mux: Multiplexer, session: str, from_offset: int, *, timeout: float
) -> AsyncIterator[Subscription]:
    """Run a ``subscribe`` request for the block; see :meth:`Client.subscribe`."""

    def make(request_id: int) -> Request:
        return Subscribe(id=request_id, session=session, from_offset=from_offset)

    async with mux.request(make) as inbox:
        events = Subscription(inbox, from_offset)
        try:
            yield events
        finally:
            if not events.ended:
                await _cancel(mux, inbox, timeout)


@asynccontextmanager
async def watching(
    mux: Multiplexer, patterns: list[str], *, locations: bool, timeout: float
) -> AsyncIterator[StateWatch]:
    """Run a ``watch`` request for the block; see :meth:`Client.watch`."""

    def make(request_id: int) -> Request:
        return Watch(id=request_id, patterns=patterns, locations=locations)

    async with mux.request(make) as inbox:
        changes = StateWatch(inbox)
        try:
            yield changes
        finally:
            if not changes.ended:
                await _cancel(mux, inbox, timeout)


async def _cancel(mux: Multiplexer, inbox: Inbox, timeout: float) -> None:
    if mux.closed:
        return
    # Even when we are being cancelled, tell the host to stop streaming; bounded, so
    # a dead host cannot hold us here. Its answers are dropped once we leave.
    with trio.CancelScope(shield=True), trio.move_on_after(timeout), suppress(SpeError):
        await mux.send(Cancel(id=mux.next_id(), target=inbox.request_id))
