"""Errors as answers: the one exception tree onto ``{"error": {"code", "message"}}``.

Every :class:`~spe_host.SpeError` names its HTTP status (``http_status``) and its wire
code (``code``), so an error raised anywhere below - the service, the engine, the body
decoder - answers with the same code and sentence the socket protocol would send. A
401 carries ``WWW-Authenticate``. Starlette's own answers (no such route, a method the
route does not take) get the same body. Anything else is a bug: it is logged with its
traceback and answered 500 ``internal`` with a fixed sentence, so no internals leak.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from .._errors import SpeError
from ._encode import ApiResponse, json_response
from ._types import ErrorBody, ErrorDetail

__all__ = [
    "RETRY_SOON",
    "WWW_AUTHENTICATE",
    "error_response",
    "handle_http_exception",
    "handle_internal",
    "handle_spe_error",
]

logger = logging.getLogger("spe_host.http")

#: Sent with every 401, as RFC 9110 asks.
WWW_AUTHENTICATE = {"WWW-Authenticate": 'Bearer realm="spe_host"'}
#: Sent with every 503: the host is full now, not broken.
RETRY_SOON = {"Retry-After": "1"}

_INTERNAL = (
    "the host failed to answer this request because of an internal error; its log has the details"
)


def error_response(
    status: int, code: str, message: str, headers: Mapping[str, str] | None = None
) -> ApiResponse:
    """The error answer ``{"error": {"code": code, "message": message}}``."""
    if status == 401:
        headers = {**WWW_AUTHENTICATE, **(headers or {})}
    return json_response(ErrorBody(error=ErrorDetail(code=code, message=message)), status, headers)


async def handle_spe_error(request: Request, exc: Exception) -> Response:
    """Answer an :class:`~spe_host.SpeError` with its status, code and sentence."""
    assert isinstance(exc, SpeError)
    if exc.http_status == 503:
        # Full, not broken: the client is told to come back; a flood must not flood the log.
        logger.debug("%s %s refused: %s", request.method, request.url.path, exc)
    elif exc.http_status >= 500:
        logger.error("%s %s failed: %s", request.method, request.url.path, exc)
    message = str(exc) or f"the request failed ({exc.code})"
    return error_response(
        exc.http_status, exc.code, message, RETRY_SOON if exc.http_status == 503 else None
    )


async def handle_http_exception(request: Request, exc: Exception) -> Response:
    """Answer starlette's own refusals (404 no route, 405 method) in the API's form."""
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        return error_response(
            404,
            "not_found",
            f"there is no resource at {request.url.path}; /api/openapi.json lists them all",
        )
    if exc.status_code == 405:
        allowed = (exc.headers or {}).get("Allow", "")
        return error_response(
            405,
            "bad_request",
            f"{request.url.path} does not take {request.method}; it takes {allowed}",
            exc.headers,
        )
    return error_response(exc.status_code, "bad_request", str(exc.detail), exc.headers)


async def handle_internal(request: Request, exc: Exception) -> Response:
    """Log an unexpected exception with its traceback; answer 500 ``internal``."""
    logger.error("%s %s failed", request.method, request.url.path, exc_info=exc)
    return error_response(500, "internal", _INTERNAL)
