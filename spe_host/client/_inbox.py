"""The events of one request, queued for the task that made it, in bounded memory.

Theory of operation
-------------------
The client's reader task hands every event to the request it belongs to, and it must
never wait for any one request's consumer: if it did, a subscriber that stops reading
would stall every other request on the connection, because they all share one socket.
So :meth:`Inbox.put` never blocks. The server's pace bounds most of what arrives: a
request has one final answer (``done``, ``result`` or ``error``), and at most one
``input_request`` waits for its reply at a time. Only the *stream* events (``output``,
``progress``, ``state``) can pile up, so only those are bounded, by ``backlog``;
an event that arrives when the backlog is full is folded into what is queued, the way
the host's own output buffer folds what it cannot keep:

* ``output``: the chunk is dropped, and the next chunk delivered reports the bytes lost
  before it in ``dropped`` (its offset says exactly how many), as the host reports an
  overflow of its output buffer. A subscriber can resubscribe from ``offset`` to
  read what the host still keeps.
* ``progress``: a report supersedes the one queued before it, which is dropped.
* ``state``: a change supersedes the queued change of the same session, keeping that
  one's ``previous``; so a slow watcher still sees every session's latest state.

The memory an inbox holds is thus at most ``backlog`` events plus one progress report
plus one state change per session, however fast the host sends.

When the connection ends, :meth:`Inbox.close` is called with the sentence that says
why; the consumer reads what was queued first, then gets a fresh
:class:`~spe_host.ConnectionLost` per call (one exception object raised in several
tasks would pile up their tracebacks).
"""

from __future__ import annotations

import dataclasses
from collections import deque
from typing import Final

import trio

from .._errors import ConnectionLost
from ..wire import Message, Output, Progress, StateChanged

__all__ = ["STREAM_BACKLOG", "Inbox"]

#: Stream events (output, progress, state) one request queues before folding them.
STREAM_BACKLOG: Final = 256

_STREAMED: Final = (Output, Progress, StateChanged)


class Inbox:
    """The queue of events for one request; one task reads it.

    Args:
        request_id: The id of the request.
        backlog: The stream events to queue before folding the next ones in.
    """

    def __init__(self, request_id: int, *, backlog: int = STREAM_BACKLOG) -> None:
        self.request_id = request_id
        self._backlog = backlog
        self._events: deque[Message] = deque()
        self._streamed = 0
        # Where the output dropped since the last delivered chunk began (that chunk's
        # end), or None when nothing was dropped.
        self._gap_from: int | None = None
        self._ended: str | None = None
        # The task parked in get() until an event comes (one task reads an inbox).
        self._waiter: trio.lowlevel.Task | None = None

    def put(self, event: Message) -> None:
        """Queue an event; never blocks (see the module's notes on folding)."""
        if self._ended is not None:
            return
        if isinstance(event, _STREAMED):
            if self._streamed >= self._backlog:
                self._fold(event)
                return
            if isinstance(event, Output) and self._gap_from is not None:
                event = dataclasses.replace(event, dropped=event.offset - self._gap_from)
                self._gap_from = None
            self._streamed += 1
        self._events.append(event)
        self._wake()

    def close(self, reason: str) -> None:
        """End the inbox: after what is queued, :meth:`get` raises ``ConnectionLost(reason)``."""
        if self._ended is None:
            self._ended = reason
            self._wake()

    async def get(self) -> Message:
        """The next event, waiting for one.

        Raises:
            ConnectionLost: The connection ended and every queued event was read.
            trio.BusyResourceError: Another task is waiting in ``get`` already.
        """
        waited = not self._events
        while not self._events:
            if self._ended is not None:
                await trio.lowlevel.checkpoint()
                raise ConnectionLost(self._ended)
            if self._waiter is not None:
                # One waiter is remembered: a second would leave the first asleep.
                raise trio.BusyResourceError("another task is already reading this inbox")
            self._waiter = trio.lowlevel.current_task()
            await trio.lowlevel.wait_task_rescheduled(self._abort)
        event = self._events.popleft()
        if isinstance(event, _STREAMED):
            self._streamed -= 1
        if not waited:
            # Taken from the queue, then the checkpoint: the reader, run there, finds
            # room for one more stream event. A wait was the checkpoint already, and
            # the event that ended it is returned without one more scheduling pass.
            await trio.lowlevel.checkpoint()
        return event

    def _wake(self) -> None:
        if self._waiter is not None:
            trio.lowlevel.reschedule(self._waiter)
            self._waiter = None

    def _abort(self, _: object) -> trio.lowlevel.Abort:
        self._waiter = None
        return trio.lowlevel.Abort.SUCCEEDED

    def _fold(self, event: Output | Progress | StateChanged) -> None:
        if isinstance(event, Output):
            if self._gap_from is None:
                self._gap_from = event.offset - event.dropped
            return
        superseded: int | None = None
        for index, queued in enumerate(self._events):
            if isinstance(event, Progress) and isinstance(queued, Progress):
                superseded = index
                break
            if (
                isinstance(event, StateChanged)
                and isinstance(queued, StateChanged)
                and queued.session.id == event.session.id
            ):
                superseded = index
                event = dataclasses.replace(event, previous=queued.previous)
                break
        if superseded is None:
            # Nothing of its kind is queued: keep it over the bound (one progress
            # report, one change per session), or the latest state would be lost.
            self._streamed += 1
        else:
            del self._events[superseded]
        self._events.append(event)
        self._wake()
