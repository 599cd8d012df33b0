"""The client library: connect to a host and drive it over the wire protocol."""

from ._client import HOST_ENV, Client, Subscription, connect

__all__ = ["HOST_ENV", "Client", "Subscription", "connect"]
