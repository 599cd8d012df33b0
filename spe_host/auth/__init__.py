"""Authentication: who may talk to a host, and as what.

Theory of operation
-------------------
A REPL server runs arbitrary code for whoever connects, so every way in is guarded:

* **Unix sockets** live in a private runtime directory (mode 0700, owned by us;
  :mod:`._files`). The kernel tells the server who the peer is (``SO_PEERCRED``), and
  only our own uid gets in; a peer whose uid cannot be determined is refused
  (:mod:`._peer`).
* **TCP** always needs a token, one random token per role, compared in constant time
  (:mod:`._tokens`). The server writes its address and token to a connection file that
  is mode 0600 from the moment it exists, and a client running as the same user finds
  it by the host's name (:mod:`._files`). Where a host may listen, and TLS, are the
  transport's (:mod:`spe_host.transport`).
* **Roles**: ``admin`` may do anything; ``operator`` may watch and stop sessions but
  not run code. The tokens say which role a peer has; what each role may ask is the
  protocol's list (``spe_host.wire.OPERATOR_REQUESTS``), applied by the server.
* **Failed handshakes** are logged and slowed down per peer, one answer at a time per
  peer (:mod:`._throttle`), so guessing a token is both hopeless and noisy.

The server calls this layer between reads and writes, and the client uses it to find
hosts. It knows nothing of addresses beyond their text, so it never imports the
transport. Only the throttle uses trio, and it is loaded when first named
(:class:`FailureThrottle`, :class:`PeerLocks`), so a client that only finds hosts
starts without trio.
"""

from typing import TYPE_CHECKING, Any

from spe_host._model import Role

from ._files import (
    RUNTIME_DIR_ENV,
    ConnectionInfo,
    connection_file_path,
    default_socket_path,
    find_connection,
    read_connection_file,
    remove_connection_file,
    runtime_dir,
    write_connection_file,
)
from ._peer import Credentials, PeerSocket, check_peer_uid, peer_credentials, peer_uid
from ._tokens import TokenTable, new_token, parse_role

if TYPE_CHECKING:
    from ._throttle import FailureThrottle, PeerLocks

__all__ = [
    "RUNTIME_DIR_ENV",
    "ConnectionInfo",
    "Credentials",
    "FailureThrottle",
    "PeerLocks",
    "PeerSocket",
    "Role",
    "TokenTable",
    "check_peer_uid",
    "connection_file_path",
    "default_socket_path",
    "find_connection",
    "new_token",
    "parse_role",
    "peer_credentials",
    "peer_uid",
    "read_connection_file",
    "remove_connection_file",
    "runtime_dir",
    "write_connection_file",
]


def __getattr__(name: str) -> Any:
    # PEP 562: the throttle (and with it trio) is imported the first time it is named.
    if name in ("FailureThrottle", "PeerLocks"):
        from . import _throttle

        return getattr(_throttle, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
