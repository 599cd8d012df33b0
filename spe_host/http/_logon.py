"""``/api/logon``: trade a bearer token for a logon session, and close one.

``POST /api/logon`` with ``Authorization: Bearer <token>`` answers 201 with the logon
(its id, which is the credential from then on, its role, its CSRF token and when it
expires if unused), the id also in the ``X-Session-Id`` header; with ``?cookie=true``
it also sets the ``spe_session`` cookie (HttpOnly, SameSite=Strict, Path=/, and
Secure over TLS) for a browser. ``DELETE /api/logon/{id}`` closes that logon
(``current``: the one the request comes with) and clears the cookie.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from ._auth import COOKIE, SESSION_HEADER
from ._context import context
from ._encode import json_response
from ._params import query_bool
from ._routing import ApiRoute
from ._types import Logon

__all__ = ["ROUTES"]


async def open_logon(request: Request) -> Response:
    """``POST /api/logon[?cookie=true]``: 201 and the logon."""
    ctx = context(request)
    auth = ctx.auth
    who = await auth.bearer(request)
    cookie = query_bool(request, "cookie")
    entry = auth.logons.open(who.role)
    # The journal records a logon, not every request its bearer token makes.
    ctx.service.record_auth(
        who.requested_by, ok=True, role=who.role.value, how="http logon", detail=entry.id[:8]
    )
    logon = Logon(
        id=entry.id,
        role=entry.role,
        csrf_token=entry.csrf_token,
        expires_at=auth.logons.expires_at(entry),
        idle_timeout=auth.logons.idle_timeout,
    )
    response = json_response(logon, 201, {SESSION_HEADER: entry.id})
    if cookie:
        response.set_cookie(
            COOKIE,
            entry.id,
            httponly=True,
            samesite="strict",
            path="/",
            secure=request.url.scheme == "https",
        )
    return response


async def close_logon(request: Request) -> Response:
    """``DELETE /api/logon/{id}`` (or ``current``): 204, and the cookie cleared."""
    auth = context(request).auth
    logon_id = request.path_params["id"]
    if logon_id == "current":
        entry = await auth.current_logon(request)
    else:
        entry = await auth.logon(request, logon_id)
    auth.logons.close(entry.id)
    response = Response(status_code=204)
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
    return response


ROUTES: tuple[ApiRoute, ...] = (
    ApiRoute(
        "POST",
        "/api/logon",
        open_logon,
        "Open a logon session with a bearer token; cookie=true also sets the cookie.",
        None,
        query={"cookie": bool},
        responses={201: Logon},
    ),
    ApiRoute(
        "DELETE",
        "/api/logon/{id}",
        close_logon,
        "Close a logon session (current: the one this request comes with).",
        None,
        responses={204: None},
    ),
)
