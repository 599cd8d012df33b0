"""What every part of the :class:`~spe_host.Client` facade stands on: one request, one answer.

The facade is written in parts (``_client.py`` the cmdlet family and the streams,
``_stops.py`` the stop and its tickets), each a class over this one, which holds the
connection and its greeting, sends a request and waits for its final ``result``, and
refuses a feature the host's protocol version predates (:mod:`._versions`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .._errors import RemoteProtocolError
from ..wire import JSON, Request, Result, Welcome
from ._mux import Multiplexer, next_event
from ._versions import Feature, require

__all__ = ["ClientBase", "array_of"]


class ClientBase:
    """The connection under a :class:`~spe_host.Client`: its greeting and its requests.

    Args:
        mux: The multiplexer of a greeted connection.
        welcome: The host's welcome.
        timeout: Seconds to wait, at most, to tell the host a stream or a prompt ended.
    """

    def __init__(self, mux: Multiplexer, welcome: Welcome, *, timeout: float = 5.0) -> None:
        self.address = mux.address
        self.role = welcome.role
        self.server = welcome.server
        self.pid = welcome.pid
        self.version = welcome.version
        self._mux = mux
        self._timeout = timeout

    def __repr__(self) -> str:
        return f"<spe_host.Client {self.address} as {self.role}>"

    @property
    def closed(self) -> bool:
        """Whether the connection has ended (requests then raise ConnectionLost)."""
        return self._mux.closed

    def _require(self, feature: Feature, *, needed: bool = True) -> None:
        require(self.version, feature, needed=needed)

    async def _request(self, make: Callable[[int], Request]) -> JSON:
        async with self._mux.request(make) as inbox:
            while True:
                event = await next_event(inbox)
                if isinstance(event, Result):
                    return event.value


def array_of(value: JSON, what: str) -> list[Any]:
    """``value`` as the array the answer to ``what`` must be."""
    if not isinstance(value, list):
        raise RemoteProtocolError(f"the answer to {what} is not an array")
    return value
