"""The limits a server enforces per listener, with their safe defaults.

Every limit bounds what one peer - or all of them together - can make the host hold:
descriptors, memory, tasks. :class:`Limits` gathers them so that ``serve_*``,
:class:`~spe_host.server._core.ServerCore` and ``spe-host serve`` share one
definition and one set of defaults; docs/security.md lists them for users.

Unauthenticated connections are capped the way OpenSSH's ``MaxStartups`` caps them
(:class:`MaxStartups`, written ``start:rate:full``): below ``start`` every new
connection is served, from ``start`` on a new one is dropped with probability
``rate`` percent, rising linearly to 100 % at ``full``. ``full`` must stay below
``max_connections``, so that connections which did authenticate always have room.
"""

from __future__ import annotations

import dataclasses
from typing import Final

from .._records import record

__all__ = ["DEFAULT_LIMITS", "Limits", "MaxStartups"]


@record
class MaxStartups:
    """OpenSSH-style random early drop of unauthenticated connections.

    Attributes:
        start: Unauthenticated connections served before any is dropped.
        rate: The percentage dropped once ``start`` are open.
        full: Unauthenticated connections at which every new one is dropped.
    """

    start: int = 10
    rate: int = 30
    full: int = 100

    def __post_init__(self) -> None:
        if not (1 <= self.start <= self.full and 0 <= self.rate <= 100):
            raise ValueError(
                f"max startups {self} needs 1 <= start <= full and a rate from 0 to 100 "
                "(percent), as in 10:30:100"
            )

    @classmethod
    def parse(cls, text: str) -> MaxStartups:
        """Read ``"start:rate:full"`` (``"10:30:100"``), or a single number for ``full``.

        Raises:
            ValueError: The text is not of that form (the message says what is).
        """
        parts = text.split(":")
        try:
            numbers = [int(part) for part in parts]
        except ValueError:
            numbers = []
        if len(numbers) == 1:
            return cls(start=numbers[0], rate=100, full=numbers[0])
        if len(numbers) != 3:
            raise ValueError(
                f"{text!r} is not START:RATE:FULL (for example 10:30:100) or a single number"
            )
        return cls(*numbers)

    def drop_chance(self, unauthenticated: int) -> float:
        """The probability of dropping a new connection when this many are unauthenticated."""
        if unauthenticated < self.start:
            return 0.0
        if unauthenticated >= self.full:
            return 1.0
        rise = (100 - self.rate) * (unauthenticated - self.start) / (self.full - self.start)
        return (self.rate + rise) / 100

    def __str__(self) -> str:
        return f"{self.start}:{self.rate}:{self.full}"


@record
class Limits:
    """What one listener lets its peers hold at once.

    Attributes:
        max_connections: Open connections, authenticated or not; one more is closed
            at once.
        max_startups: The cap on connections that have not authenticated yet.
        max_startups_per_peer: Unauthenticated connections from one address; a new
            one replaces that address's oldest (the one that sent nothing first).
        max_in_flight: Requests one connection may have in flight; one more is
            answered ``busy``.
        max_subscriptions: ``subscribe`` and ``watch`` streams one connection may
            have open; one more is answered ``busy``.
        outbox_bytes: Bytes of answers queued per connection before its requests wait
            for the client to read.
    """

    max_connections: int = 256
    max_startups: MaxStartups = dataclasses.field(default_factory=MaxStartups)
    max_startups_per_peer: int = 10
    max_in_flight: int = 128
    max_subscriptions: int = 32
    outbox_bytes: int = 256 * 1024

    def __post_init__(self) -> None:
        for name in (
            "max_connections",
            "max_startups_per_peer",
            "max_in_flight",
            "max_subscriptions",
            "outbox_bytes",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} is {getattr(self, name)}; it must be at least 1")
        if self.max_startups.full >= self.max_connections:
            raise ValueError(
                f"max startups {self.max_startups} lets unauthenticated connections take all "
                f"{self.max_connections} connections; keep its full below max_connections so "
                "authenticated clients always have room"
            )


#: The defaults, also what ``spe-host serve`` uses unless told otherwise.
DEFAULT_LIMITS: Final = Limits()
