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

from ._routing import ApiRoute
from ._static import HtmlPage, Script, StyleSheet, static_route

__all__ = ["ROUTES"]

_STATIC: Final = resources.files(__package__) / "static" / "docs"

ROUTES: tuple[ApiRoute, ...] = (
    static_route(
        _STATIC, "/api/docs", "index.html", HtmlPage, "The API's browsable documentation."
    ),
    static_route(_STATIC, "/api/docs/docs.js", "docs.js", Script, "Its script (docs.js)."),
    static_route(_STATIC, "/api/docs/docs.css", "docs.css", StyleSheet, "Its style sheet."),
)
