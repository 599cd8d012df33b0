"""What every endpoint of one app shares: the service, authentication, the API's tasks.

One :class:`ApiContext` per app, made by :func:`~spe_host.http.create_app` and kept
in the app's state; :func:`context` finds it from a request.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from starlette.requests import Request

from ..service import Service

if TYPE_CHECKING:
    from ._auth import HttpAuth
    from ._capacity import StreamSlots
    from ._taskbook import TaskBook

__all__ = ["ApiContext", "context"]


@dataclass(frozen=True)
class ApiContext:
    """The shared state of one app.

    Attributes:
        service: The host's operations, authorized per principal.
        auth: Tokens, logon sessions and the failure throttle.
        tasks: What the API keeps of tasks beyond the host's stop tickets.
        streams: The slots of event streams and long-polls.
    """

    service: Service
    auth: HttpAuth
    tasks: TaskBook
    streams: StreamSlots


def context(request: Request) -> ApiContext:
    """The :class:`ApiContext` of the app that ``request`` arrived at."""
    found = request.app.state.spe_context
    assert isinstance(found, ApiContext)
    return found
