"""The client library: connect to a host and drive it over the wire protocol.

:mod:`._connect` finds and greets a host (:func:`connect`, or :func:`open_client`
over a stream already open); :mod:`._mux` multiplexes requests over the one framed
connection, each into its bounded :mod:`._inbox`; :mod:`._client` is the
:class:`Client` facade and :mod:`._follow` its streams (``subscribe``, ``watch``).
The client reaches a host only through the wire protocol and the transport: it
imports nothing of the engine, the service or the server.
"""

from ._client import Client
from ._connect import HOST_ENV, connect, open_client
from ._follow import StateWatch, Subscription

__all__ = ["HOST_ENV", "Client", "StateWatch", "Subscription", "connect", "open_client"]
