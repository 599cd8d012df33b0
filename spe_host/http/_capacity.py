"""What the HTTP API holds at once: requests in flight, and the long-lived ones among them.

Theory of operation
-------------------
hypercorn accepts as many connections as come, and a request costs the host a task,
a descriptor and, for an event stream or a long-poll, a watch of the host's sessions
(with its own sampler task) for as long as it lasts. So that no client - with a token
or without - can stall the host or grow its memory without bound, two counts are kept
per app, and a request past either is answered at once with 503 ``busy`` and
``Retry-After: 1`` (the socket server's limits play the same part: docs/security.md):

* every request in flight, counted by :class:`RequestCap` around the whole app, so
  requests that wait (on a guesser's throttle, on an execution) are bounded too;
* event streams and ``?wait=`` long-polls, whose :class:`StreamSlots` slot is taken
  before the answer starts and given back when it ends.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import TracebackType

from starlette.types import ASGIApp, Receive, Scope, Send

from .._errors import SpeError
from ._errors import RETRY_SOON, error_response

__all__ = ["DEFAULT_HTTP_LIMITS", "HttpLimits", "RequestCap", "Slot", "StreamSlots", "TooBusy"]


@dataclass(frozen=True, slots=True)
class HttpLimits:
    """How much the HTTP API holds at once.

    Attributes:
        max_requests: Requests in flight, of every kind (as the socket server's
            ``max_connections``).
        max_streams: Event streams and ``?wait=`` long-polls open at once.
    """

    max_requests: int = 256
    max_streams: int = 64

    def __post_init__(self) -> None:
        if self.max_requests < 1 or not 1 <= self.max_streams <= self.max_requests:
            raise ValueError(
                "the HTTP limits need max_requests >= 1 and 1 <= max_streams <= max_requests, "
                f"not {self.max_requests} and {self.max_streams}"
            )


DEFAULT_HTTP_LIMITS = HttpLimits()


class TooBusy(SpeError):
    """The API holds as many requests (or streams) as its limits allow; try again soon."""

    code = "busy"
    http_status = 503


class RequestCap:
    """ASGI middleware: answer 503 past ``max_requests`` requests in flight."""

    def __init__(self, app: ASGIApp, max_requests: int) -> None:
        self._app = app
        self._max = max_requests
        self._in_flight = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        if self._in_flight >= self._max:
            answer = error_response(
                503,
                TooBusy.code,
                f"the host is answering {self._max} HTTP requests already, the most it "
                "holds at once; try again in a moment",
                RETRY_SOON,
            )
            await answer(scope, receive, send)
            return
        self._in_flight += 1
        try:
            await self._app(scope, receive, send)
        finally:
            self._in_flight -= 1


class StreamSlots:
    """The slots of the long-lived requests: event streams and long-polls."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        #: How many slots are taken now.
        self.open = 0

    def take(self) -> Slot:
        """Take a slot now, before the answer starts; give it back with the :class:`Slot`.

        Raises:
            TooBusy: All slots are taken (503).
        """
        if self.open >= self._limit:
            raise TooBusy(
                f"{self._limit} event streams and long-polls are open already, the most "
                "this host holds at once; close one, or try again in a moment"
            )
        self.open += 1
        return Slot(self)

    def _give_back(self) -> None:
        self.open -= 1


class Slot:
    """One taken slot: given back once, when its ``with`` block ends (or ``release``)."""

    def __init__(self, slots: StreamSlots) -> None:
        self._slots: StreamSlots | None = slots

    def release(self) -> None:
        """Give the slot back (again: nothing)."""
        if self._slots is not None:
            self._slots._give_back()
            self._slots = None

    def __enter__(self) -> Slot:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.release()
