"""The client library: connect to a host and drive it over the wire protocol.

:mod:`._connect` finds and greets a host (:func:`connect`, or :func:`open_client`
over a stream already open); :mod:`._mux` multiplexes requests over the one framed
connection, each into its bounded :mod:`._inbox`; :mod:`._client` is the
:class:`Client` facade and :mod:`._follow` its streams (``subscribe``, ``watch``).
:mod:`._blocking` puts the same facade over a blocking socket for one-shot commands
(:func:`connect_blocking`, :func:`run_blocking`), and :mod:`._dial` holds what both
ways of connecting share. The client reaches a host only through the wire protocol
and the transport: it imports nothing of the engine, the service or the server.

Importing this package does not import trio: what needs it (:func:`connect`,
:func:`open_client`, the stream types) is loaded when first named (PEP 562), so
``spe-host ls`` starts without it.
"""

from typing import TYPE_CHECKING, Any

from ._blocking import connect_blocking, run_blocking
from ._client import Client
from ._dial import HOST_ENV

if TYPE_CHECKING:
    from ._connect import connect, open_client
    from ._follow import StateWatch, Subscription

__all__ = [
    "HOST_ENV",
    "Client",
    "StateWatch",
    "Subscription",
    "connect",
    "connect_blocking",
    "open_client",
    "run_blocking",
]

_LAZY = {
    "connect": "._connect",
    "open_client": "._connect",
    "StateWatch": "._follow",
    "Subscription": "._follow",
}


def __getattr__(name: str) -> Any:
    # PEP 562: the trio-based parts are imported the first time they are named.
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module, __name__), name)
