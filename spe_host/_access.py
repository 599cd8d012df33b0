"""Who may do what: the operations, the principal a request comes from, the roles' rights.

Pure (no trio, no engine): :mod:`spe_host.service` authorizes with these, and every
front end builds a :class:`Principal` for each request it admits.
"""

from __future__ import annotations

import enum
from typing import Final

from ._errors import SpeError
from ._model import Role
from ._records import record

__all__ = [
    "EMBEDDING_PROGRAM",
    "OPERATOR_OPERATIONS",
    "InvalidArgument",
    "Operation",
    "Principal",
]


class Operation(enum.StrEnum):
    """What a request asks of the host; the unit of authorization."""

    EXECUTE = "execute"
    START = "start"
    LIST = "list"
    STOP = "stop"
    WAIT = "wait"
    RECEIVE = "receive"
    REMOVE = "remove"
    COMPLETE = "complete"
    FOLLOW = "follow"
    WATCH = "watch"


#: What an operator may do; everything else needs the admin role, because it runs code,
#: evaluates live objects (completion) or destroys sessions.
OPERATOR_OPERATIONS: Final = frozenset(
    {
        Operation.LIST,
        Operation.STOP,
        Operation.WAIT,
        Operation.RECEIVE,
        Operation.FOLLOW,
        Operation.WATCH,
    }
)


class InvalidArgument(SpeError, ValueError):
    """A request named a value the host refuses (an invalid id, an unreadable file)."""

    code = "bad_request"
    http_status = 422


@record
class Principal:
    """Who makes a request, and with which role.

    Attributes:
        role: What the credentials may do.
        peer: Who it is, for people: ``uid 1000 (pid 4242)`` on a unix socket, the
            address on TCP, ``embedding program`` in-process.
        connection: Which connection or logon session it came through, if any.
        requester: How a stop ticket names it, if not by ``peer``: the role and
            address on TCP (``operator at 127.0.0.1:5555``).
    """

    role: Role
    peer: str
    connection: str | None = None
    requester: str | None = None

    @property
    def requested_by(self) -> str:
        """Who it is in a stop ticket and the script's abort message."""
        return self.peer if self.requester is None else self.requester

    def __str__(self) -> str:
        return self.peer if self.connection is None else f"{self.peer} ({self.connection})"


#: The embedding program itself: the host's own process, with every right.
EMBEDDING_PROGRAM: Final = Principal(Role.ADMIN, "embedding program")
