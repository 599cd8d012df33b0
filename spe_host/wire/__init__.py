"""The wire protocol, sans-IO: typed messages, their codec, and the Connection.

It imports no trio and does no I/O: the server, the client and the tests drive
:class:`Connection` the same way (h11's design).
"""

from ._protocol import *  # noqa: F403
from ._protocol import __all__ as __all__
