"""The HTTP API: the host's sessions, stops and runs over HTTP, on starlette + hypercorn.

``serve_http`` serves a host on ``tcp://HOST:PORT`` from the host's own trio loop
(hypercorn's trio worker); ``create_app`` is the ASGI app itself, for tests and for
mounting elsewhere. It calls the same :class:`~spe_host.service.Service` operations,
with the same principals and roles, as the socket server. ``docs/http.md`` has every
resource with an example exchange.
"""

from ._app import create_app
from ._capacity import DEFAULT_HTTP_LIMITS, HttpLimits
from ._serve import HttpListening, serve_http

__all__ = ["DEFAULT_HTTP_LIMITS", "HttpLimits", "HttpListening", "create_app", "serve_http"]
