"""The request lifecycle: which requests are in flight, and what may be said about them.

Theory of operation
-------------------
Both ends of a connection keep the same table, so that each can hold the other to
the rules (the client's copy makes a misbehaving server a protocol error; the
server's copy makes a bug in its own handlers a :class:`~spe_host.LocalProtocolError`
instead of a confused client):

* A request is **in flight** from the moment the client sends it until its one final
  answer: ``done`` for an ``execute``, ``result`` for anything else, or ``error`` for
  either. Ids are the client's to choose, but two requests in flight never share one.
* Only the events of its kind belong to a request: ``output`` and ``progress`` to an
  ``execute`` or a ``subscribe``, ``input_request`` to an ``execute``, ``state`` to a
  ``watch``. Nothing may be said about an id that is not in flight.
* An ``input_request`` makes an input **pending** for its execute, one at a time; the
  ``input_reply`` with that id clears it, and so does the execute's final answer. A
  reply with nothing pending is a late one (after a stop, say): the server's side
  drops it, and a client may not send one.
* A ``cancel`` is no request in flight of its own: it does not count against the
  limit, and it is answered at once by a ``result`` saying whether its target (a
  ``subscribe`` or ``watch`` in flight) was ended. Its id is still taken until then.
* On the server's side a request whose id is taken, or that would exceed
  ``max_in_flight``, is not accepted: the caller gets a
  :class:`~spe_host.wire.Refused` and owes it one ``error`` with that id, which
  leaves the request in flight under that id alone. So does a frame that broke the
  protocol but whose id could be read.

Each rule is checked before anything changes (``check_*``), and the change is made
only once the frame has been encoded (``sent_*``), so a refused send changes nothing.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Set
from typing import Final, TypeAlias

from ._events import (
    Done,
    Error,
    InputRequest,
    Message,
    Output,
    Progress,
    Refused,
    Request,
    Result,
    StateChanged,
)
from ._requests import Cancel, InputReply

__all__ = ["Answer", "Lifecycle"]

#: The server's messages that belong to a request (an ``error`` may have no id).
Answer: TypeAlias = Output | Progress | InputRequest | StateChanged | Done | Result | Error

# What may be sent for a request of each kind besides `error`; anything else: `result`.
_BELONGS: Final[dict[str, tuple[type[Message], ...]]] = {
    "execute": (Output, Progress, InputRequest, Done),
    "subscribe": (Output, Progress, Result),
    "watch": (StateChanged, Result),
}
_STREAMS: Final = frozenset({"subscribe", "watch"})
# The same, for the usual case decided at once (exact classes; an error, an
# input_request, or anything else takes the full check).
_PLAIN: Final[dict[str, frozenset[type[Message]]]] = {
    "execute": frozenset({Output, Progress, Done}),
    "subscribe": frozenset({Output, Progress, Result}),
    "watch": frozenset({StateChanged, Result}),
}
_RESULT_ONLY: Final[frozenset[type[Message]]] = frozenset({Result})


class Lifecycle:
    """The requests in flight on one connection, as one side sees them.

    Args:
        max_in_flight: How many requests the server accepts at once (``None``: no
            limit, the client's side).
    """

    def __init__(self, max_in_flight: int | None) -> None:
        self._max = max_in_flight
        self._requests: dict[int, str] = {}  # id -> the request's wire type
        self._cancels: set[int] = set()  # ids of cancels not answered yet
        self._inputs: set[int] = set()  # executes with an input_request pending
        self._owed: Counter[int] = Counter()  # ids owed an error for a refusal

    @property
    def in_flight(self) -> Set[int]:
        """The ids of the requests in flight (cancels not included), read-only."""
        return self._requests.keys()

    def cancellable(self, target: int) -> bool:
        """Whether ``target`` is a ``subscribe`` or ``watch`` in flight."""
        return self._requests.get(target) in _STREAMS

    def input_pending(self, request_id: int) -> bool:
        """Whether an ``input_request`` of ``request_id`` waits for its reply."""
        return request_id in self._inputs

    # -- requests ------------------------------------------------------------------------

    def check_request(self, request: Request) -> str | None:
        """Say why the client may not send ``request`` now, or None if it may."""
        if isinstance(request, InputReply):
            if request.id in self._inputs:
                return None
            return (
                f"an input_reply for request id {request.id}, which has no input_request "
                "waiting for one"
            )
        if self._taken(request.id):
            return self._duplicate(request.id)
        return None

    def sent_request(self, request: Request) -> None:
        """Record a request the client sent (after :meth:`check_request`)."""
        if isinstance(request, InputReply):
            self._inputs.discard(request.id)
        elif isinstance(request, Cancel):
            self._cancels.add(request.id)
        else:
            self._requests[request.id] = request.TYPE

    def received_request(self, request: Request) -> Request | Refused | None:
        """Take a request the server received.

        Returns:
            The request, accepted; a :class:`Refused` to answer with an ``error``; or
            None for an ``input_reply`` that nothing waits for, which is dropped.
        """
        request_id = request.id
        if isinstance(request, InputReply):
            if request_id not in self._inputs:
                return None
        elif self._taken(request_id):
            return self._refuse(request_id, "bad_request", self._duplicate(request_id))
        elif (
            self._max is not None
            and not isinstance(request, Cancel)
            and len(self._requests) >= self._max
        ):
            return self._refuse(
                request_id,
                "busy",
                f"this connection already has {self._max} requests in flight; wait for "
                "some to finish, or open another connection",
            )
        self.sent_request(request)
        return request

    def owe_error(self, request_id: int) -> None:
        """Allow one ``error`` for ``request_id`` outside its lifecycle (a bad frame)."""
        self._owed[request_id] += 1

    def _taken(self, request_id: int) -> bool:
        return request_id in self._requests or request_id in self._cancels

    @staticmethod
    def _duplicate(request_id: int) -> str:
        return (
            f"request id {request_id} is already in flight on this connection; give every "
            "request a new id"
        )

    def _refuse(self, request_id: int, code: str, message: str) -> Refused:
        self._owed[request_id] += 1
        return Refused(id=request_id, code=code, message=message)

    # -- answers and events --------------------------------------------------------------

    def check_answer(self, message: Answer) -> str | None:
        """Say why ``message`` may not be sent (or received) now, or None if it may."""
        request_id = message.id
        # An event or final answer of a request in flight (not a cancel: ids in flight
        # and cancels never share one), of the kind it gets.
        kind = self._requests.get(request_id)  # type: ignore[arg-type]
        if kind is not None and type(message) in _PLAIN.get(kind, _RESULT_ONLY):
            return None
        if request_id is None or (isinstance(message, Error) and self._owed[request_id]):
            return None
        if request_id in self._cancels:
            if isinstance(message, Result | Error):
                return None
            return f"'{message.TYPE}' for request id {request_id}, a cancel, which gets a result"
        kind = self._requests.get(request_id)
        if kind is None:
            return (
                f"'{message.TYPE}' for request id {request_id}, which is not in flight (it "
                "has had its final answer, or never began)"
            )
        if not isinstance(message, (Error, *_BELONGS.get(kind, (Result,)))):
            return (
                f"'{message.TYPE}' for request id {request_id}, a '{kind}' request, which "
                "gets no such message"
            )
        if isinstance(message, InputRequest) and request_id in self._inputs:
            return (
                f"'input_request' for request id {request_id}, whose last input_request "
                "has not been answered yet"
            )
        return None

    def answered(self, message: Answer) -> None:
        """Record an answer or event (after :meth:`check_answer`)."""
        request_id = message.id
        kind = type(message)
        if kind is Output or kind is Progress or kind is StateChanged:
            return  # a stream event changes nothing (check_answer let it through)
        if (kind is Done or kind is Result) and request_id in self._requests:
            del self._requests[request_id]
            self._inputs.discard(request_id)
            return
        if request_id is None:
            return
        if isinstance(message, Error) and self._owed[request_id]:
            self._owed[request_id] -= 1
            if not self._owed[request_id]:
                del self._owed[request_id]
        elif request_id in self._cancels:
            self._cancels.discard(request_id)
        elif isinstance(message, InputRequest):
            self._inputs.add(request_id)
        elif isinstance(message, Done | Result | Error):
            del self._requests[request_id]
            self._inputs.discard(request_id)
