"""The socket server: ``serve`` / ``serve_unix`` / ``serve_tcp`` put a Host on the wire.

Modules: ``_serve`` (the entry points), ``_core`` (what one ``serve_*`` call shares,
accepting and shutdown), ``_limits`` and ``_gate`` (what peers may hold, and the caps
at accept), ``_admit`` (who a connection is), ``_connection`` (one
connection: handshake, read loop, dispatch), ``_requests`` (one handler per request,
each onto :class:`spe_host.service.Service`), ``_housekeeping`` (socket and
connection files on disk). It reaches the engine only through the service.
"""

from ._core import HANDSHAKE_TIMEOUT
from ._limits import DEFAULT_LIMITS, Limits, MaxStartups
from ._serve import Listening, serve, serve_stream, serve_tcp, serve_unix

__all__ = [
    "DEFAULT_LIMITS",
    "HANDSHAKE_TIMEOUT",
    "Limits",
    "Listening",
    "MaxStartups",
    "serve",
    "serve_stream",
    "serve_tcp",
    "serve_unix",
]
