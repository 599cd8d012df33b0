"""The route table: every HTTP module declares its routes as :class:`ApiRoute` values.

Theory of operation
-------------------
One table serves two readers: :mod:`._app` mounts each route on starlette, and the
OpenAPI generator reads the same values (method, path, query parameters, body and
response types), so the documentation cannot drift from what is served. Each module
exposes ``ROUTES: tuple[ApiRoute, ...]``.

``POST /api/sessions/{id}?action=stop|start`` is several operations on one method and
path: each is its own ApiRoute with ``action`` set, and the app mounts one starlette
route for the path that dispatches on the ``action`` query parameter.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

from starlette.requests import Request
from starlette.responses import Response

from ..service import Operation

__all__ = ["ApiRoute", "Endpoint"]

#: What a route calls: a starlette endpoint.
Endpoint = Callable[[Request], Awaitable[Response]]


@dataclass(frozen=True)
class ApiRoute:
    """One operation of the HTTP API.

    Attributes:
        method: ``"GET"``, ``"POST"`` or ``"DELETE"``.
        path: The starlette path, ``"/api/sessions/{id}"``.
        endpoint: The handler.
        summary: One sentence, for OpenAPI and ``/api/docs``.
        operation: The service operation it needs (None: it authenticates itself,
            as logon does, or needs no credentials).
        query: Its query parameters and their types (``str``, ``int``, ``float``,
            ``bool``; a ``list[str]`` parameter may be repeated).
        body: The request body's dataclass, or None.
        responses: Status -> the response body's dataclass (None: no body).
        action: The ``?action=`` value that selects it, for routes that share a path.
    """

    method: str
    path: str
    endpoint: Endpoint
    summary: str
    operation: Operation | None
    query: Mapping[str, object] = field(default_factory=dict)
    body: type | None = None
    responses: Mapping[int, type | None] = field(default_factory=dict)
    action: str | None = None
