"""Files of the package served as they are: the pages of /api/docs and of the dashboard.

Each file is read once, when its route is made, and answered with the headers every
page of ours carries: a Content-Security-Policy that lets a page load and connect to
its own origin only and forbids framing (no other site can inject script, or trick a
user into clicking a stop button in a hidden frame), and ``no-cache`` (the files change
only with the package).
"""

from __future__ import annotations

from importlib.resources.abc import Traversable
from typing import Final

from starlette.requests import Request
from starlette.responses import Response

from ._openapi import Media
from ._routing import ApiRoute

__all__ = ["SECURITY_HEADERS", "HtmlPage", "Script", "StyleSheet", "static_route"]

#: The headers of every static answer: same-origin only, never in a frame.
SECURITY_HEADERS: Final = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
        "img-src 'self' data:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-cache",
}


class HtmlPage(Media):
    """An HTML page."""

    media_type = "text/html"


class Script(Media):
    """A JavaScript file."""

    media_type = "text/javascript"


class StyleSheet(Media):
    """A CSS style sheet."""

    media_type = "text/css"


def static_route(
    folder: Traversable, path: str, name: str, media: type[Media], summary: str
) -> ApiRoute:
    """``GET path``: the file ``name`` of ``folder``, as ``media``, needing no credentials."""
    content = (folder / name).read_bytes()

    async def endpoint(request: Request) -> Response:
        return Response(content, media_type=media.media_type, headers=SECURITY_HEADERS)

    return ApiRoute("GET", path, endpoint, summary, None, responses={200: media})
