"""The web dashboard at ``/``: static pages from the package that use the API like any client.

Theory of operation
-------------------
The dashboard adds no operation of its own. Its pages (``static/dashboard/``: plain
HTML, CSS and ES modules, no build step, nothing from a CDN - the machines that run a
host often have no internet) log on with a token once (``POST /api/logon?cookie=true``,
so the credential lives in an HttpOnly, SameSite=Strict cookie the scripts never see),
keep the logon's CSRF token in ``sessionStorage`` and send it as ``X-CSRF-Token`` on
every POST and DELETE. The sessions page follows ``GET /api/events``, a session page
``GET /api/sessions/{id}/output?follow=true``; both are event streams, so nothing polls.

Serving the pages needs no credentials (they hold none); every answer carries a
Content-Security-Policy that lets a page load and connect to its own origin only and
forbids framing, so another site can neither inject script nor trick a user into
clicking a stop button in a hidden frame.

``/`` is the sessions page, ``/session/{id}`` a session's page (its script reads the id
from the path), ``/dashboard/{file}`` the scripts and the style sheet.
"""

from __future__ import annotations

from functools import partial
from importlib import resources
from typing import Final

from ._routing import ApiRoute
from ._static import SECURITY_HEADERS, HtmlPage, Script, StyleSheet, static_route

__all__ = ["ROUTES", "SECURITY_HEADERS"]

_file: Final = partial(static_route, resources.files(__package__) / "static" / "dashboard")

ROUTES: tuple[ApiRoute, ...] = (
    _file(
        "/",
        "index.html",
        HtmlPage,
        "The dashboard: every session live, with stop buttons (index.html).",
    ),
    _file(
        "/session/{id}",
        "session.html",
        HtmlPage,
        "The dashboard's page of one session: its output live, runs and stop (session.html).",
    ),
    _file("/dashboard/app.js", "app.js", Script, "The dashboard's shared script (app.js)."),
    _file(
        "/dashboard/sessions.js",
        "sessions.js",
        Script,
        "The sessions page's script (sessions.js).",
    ),
    _file(
        "/dashboard/session.js",
        "session.js",
        Script,
        "The session page's script (session.js).",
    ),
    _file("/dashboard/style.css", "style.css", StyleSheet, "The dashboard's style (style.css)."),
)
