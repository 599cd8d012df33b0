"""create_app: the HTTP API as one starlette app, from every module's route table.

Theory of operation
-------------------
Each module declares its routes as :class:`~._routing.ApiRoute` values; this module
mounts them all, in order (``/api/sessions/stop`` before ``/api/sessions/{id}``), and
routes that share a method and path (``POST /api/sessions/{id}?action=stop|start``)
as one starlette route that dispatches on ``action``. The whole table is kept in
``app.state.spe_routes`` for the OpenAPI generator.

Around the routes: exception handlers that answer every error in the API's form
(:mod:`._errors`), and a body limit in front of everything, so a request body over
``max_body`` is refused with 413 - from its ``Content-Length`` before any of it is
read, or as soon as a chunked body grows past the bound.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .._errors import ProtocolError, SpeError
from ..auth import FailureThrottle, TokenTable
from ..service import Host, Service
from . import _dashboard, _docs, _events, _logon, _openapi, _output, _sessions, _tasks
from ._auth import HttpAuth, Logons
from ._capacity import DEFAULT_HTTP_LIMITS, HttpLimits, RequestCap, StreamSlots
from ._context import ApiContext
from ._errors import error_response, handle_http_exception, handle_internal, handle_spe_error
from ._routing import ApiRoute, Endpoint
from ._taskbook import TaskBook

__all__ = ["DEFAULT_MAX_BODY", "ROUTES", "create_app"]

#: The largest request body accepted by default, in bytes (the host's default script
#: size bound, 1 MiB).
DEFAULT_MAX_BODY = 1024 * 1024

#: Every route of the API, in the order they are matched.
ROUTES: tuple[ApiRoute, ...] = (
    *_logon.ROUTES,
    *_sessions.ROUTES,
    *_tasks.ROUTES,
    *_output.ROUTES,
    *_events.ROUTES,
    *_openapi.ROUTES,
    *_docs.ROUTES,
    *_dashboard.ROUTES,
)


def create_app(
    host: Host,
    tokens: TokenTable,
    *,
    throttle: FailureThrottle | None = None,
    logon_idle_timeout: float = 900.0,
    max_logons: int = 1024,
    max_body: int = DEFAULT_MAX_BODY,
    limits: HttpLimits = DEFAULT_HTTP_LIMITS,
) -> Starlette:
    """The HTTP API of ``host`` as an ASGI app (serve it with :func:`serve_http`).

    Args:
        host: The host whose sessions the API shows and controls.
        tokens: The bearer tokens it accepts (the socket listeners' table, to share them).
        throttle: Slows down clients that fail to authenticate (default: as the
            socket server's).
        logon_idle_timeout: Seconds a logon session lives without use.
        max_logons: How many logon sessions may exist at once.
        max_body: The largest request body, in bytes (413 beyond).
        limits: How many requests, and event streams and long-polls among them, the
            API holds at once (503 beyond).
    """
    auth = HttpAuth(
        tokens,
        throttle if throttle is not None else FailureThrottle(),
        Logons(logon_idle_timeout, max_logons),
    )
    app = Starlette(
        routes=_mount(ROUTES),
        middleware=[
            Middleware(RequestCap, max_requests=limits.max_requests),
            Middleware(_BodyLimit, max_body=max_body),
        ],
        exception_handlers={
            SpeError: handle_spe_error,
            HTTPException: handle_http_exception,
            Exception: handle_internal,
        },
    )
    app.state.spe_context = ApiContext(
        Service(host), auth, TaskBook(), StreamSlots(limits.max_streams)
    )
    app.state.spe_routes = ROUTES
    return app


def _mount(routes: Sequence[ApiRoute]) -> list[Route]:
    grouped: dict[tuple[str, str], list[ApiRoute]] = {}
    for route in routes:
        grouped.setdefault((route.path, route.method), []).append(route)
    mounted = []
    for (path, method), group in grouped.items():
        if len(group) == 1 and group[0].action is None:
            endpoint = group[0].endpoint
        else:
            endpoint = _dispatch({str(route.action): route.endpoint for route in group})
        mounted.append(Route(path, endpoint, methods=[method]))
    return mounted


def _dispatch(actions: Mapping[str, Endpoint]) -> Endpoint:
    names = " or ".join(f"action={name}" for name in actions)

    async def endpoint(request: Request) -> Response:
        action = request.query_params.get("action")
        chosen = actions.get(action or "")
        if chosen is None:
            given = "no action" if action is None else f"action={action!r}"
            raise ProtocolError(f"{request.method} {request.url.path} needs {names}, not {given}")
        return await chosen(request)

    return endpoint


class _BodyLimit:
    """Refuse request bodies over ``max_body`` bytes with 413."""

    def __init__(self, app: ASGIApp, max_body: int) -> None:
        self._app = app
        self._max = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        length = Headers(scope=scope).get("content-length", "")
        if length.isascii() and length.isdigit() and (len(length) > 18 or int(length) > self._max):
            await error_response(413, "too_large", self._sentence())(scope, receive, send)
            return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self._max:
                    raise ProtocolError(self._sentence(), error_code="too_large")
            return message

        await self._app(scope, limited, send)

    def _sentence(self) -> str:
        return (
            f"the request body is larger than {self._max} bytes, the most this host "
            "accepts; send a smaller script, or a host-side file with path"
        )
