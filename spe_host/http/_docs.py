"""``/api/docs``: a browsable page of the API, served from the package (no CDN, no build).

The page (``static/docs/``: the HTML, a script and a stylesheet) loads
``/api/openapi.json`` and lists every operation with its parameters, request body and
responses, and every schema with its fields. The machines that run a host may have
no internet, so nothing is fetched from elsewhere; like the document, the page needs
no credentials.
"""

from __future__ import annotations

from importlib import resources
from typing import Final

from starlette.requests import Request
from starlette.responses import Response

from ._openapi import Media
from ._routing import ApiRoute

__all__ = ["ROUTES"]

_STATIC: Final = resources.files(__package__) / "static" / "docs"


class HtmlPage(Media):
    """An HTML page."""

    media_type = "text/html"


class Script(Media):
    """A JavaScript file."""

    media_type = "text/javascript"


class StyleSheet(Media):
    """A CSS style sheet."""

    media_type = "text/css"


def _serve(name: str, media: type[Media]) -> ApiRoute:
    content = (_STATIC / name).read_bytes()

    async def endpoint(request: Request) -> Response:
        return Response(
            content,
            media_type=media.media_type,
            # The page is small and changes only with the package.
            headers={"Cache-Control": "no-cache"},
        )

    path = "/api/docs" if name == "index.html" else f"/api/docs/{name}"
    what = {
        HtmlPage: "The API's browsable documentation",
        Script: "Its script",
        StyleSheet: "Its style sheet",
    }[media]
    return ApiRoute("GET", path, endpoint, f"{what} ({name}).", None, responses={200: media})


ROUTES: tuple[ApiRoute, ...] = (
    _serve("index.html", HtmlPage),
    _serve("docs.js", Script),
    _serve("docs.css", StyleSheet),
)
