"""The gate at accept: caps on open and on unauthenticated connections, per listener.

Theory of operation
-------------------
Every accepted connection passes :meth:`Gate.enter` before it reads a byte, and
holds the :class:`Pass` it gets until it closes. A connection costs a descriptor
from accept to close, and an unauthenticated one can hold it for the whole
handshake deadline, so the gate counts both:

* **All connections.** At ``max_connections`` a new one is turned away at once.
* **Per peer address.** At ``max_startups_per_peer`` unauthenticated connections
  from one address, a new one from there *replaces* that address's oldest - the
  oldest that has sent nothing, if there is one. Dropping the newcomer instead would
  let one peer that holds its quota lock out everybody else at its address (every
  local user shares 127.0.0.1), while a real client says ``hello`` within a round
  trip and is never the oldest for long.
* **All peers.** Beyond that, OpenSSH's ``MaxStartups`` random early drop
  (:class:`~spe_host.server._limits.MaxStartups`): many addresses flooding at once
  can make a new connection unlucky, never the host run out of descriptors.

``full`` is below ``max_connections``, so authenticated clients always find room. A
unix-socket listener counts no startups (``count_startups=False``): only the host's own
user can reach its socket at all, and the kernel names that peer before it sends a byte.
Turned-away connections are logged, at most once per :data:`_LOG_EVERY` seconds
per reason, with how many there were.
"""

from __future__ import annotations

import logging
import random
from collections import OrderedDict
from collections.abc import Callable
from typing import Final

import trio

from ._limits import Limits

__all__ = ["Gate", "Pass"]

logger = logging.getLogger("spe_host.server")

# Seconds between two warnings about turned-away connections.
_LOG_EVERY: Final = 10.0


class Pass:
    """One admitted connection's place at the gate, held until it closes."""

    def __init__(
        self,
        gate: Gate,
        peer: str,
        evict: Callable[[], object],
        heard: Callable[[], bool],
        *,
        unauthenticated: bool,
    ) -> None:
        self._gate = gate
        self.peer = peer
        self.evict = evict
        self.heard = heard
        self.unauthenticated = unauthenticated
        self._left = False

    def authenticated(self) -> None:
        """The connection said a valid ``hello``: it no longer counts as a startup."""
        self._gate._forget_startup(self)

    def leave(self) -> None:
        """The connection closed."""
        if not self._left:
            self._left = True
            self._gate._forget_startup(self)
            self._gate.connections -= 1


class Gate:
    """Counts a listener's connections and turns away those beyond its limits.

    Args:
        limits: The limits to enforce.
        chance: Returns a number in [0, 1) (tests pass a fixed one).
        count_startups: Apply the caps on unauthenticated connections (False: only
            ``max_connections``, for a unix socket).

    Attributes:
        connections: Connections open now.
        startups: Unauthenticated connections open now.
    """

    def __init__(
        self,
        limits: Limits,
        chance: Callable[[], float] = random.random,
        *,
        count_startups: bool = True,
    ) -> None:
        self._limits = limits
        self._chance = chance
        self._count_startups = count_startups
        self.connections = 0
        self.startups = 0
        # Per peer address, its unauthenticated connections, oldest first.
        self._by_peer: dict[str, OrderedDict[int, Pass]] = {}
        self._refused: dict[str, int] = {}
        self._logged_at: dict[str, float] = {}

    def enter(
        self, peer: str, *, evict: Callable[[], object], heard: Callable[[], bool]
    ) -> Pass | None:
        """Admit a new connection from ``peer`` (its address), or return None to drop it.

        Args:
            peer: The peer's address, host only.
            evict: Closes this connection, should a newer one from its address need
                its place.
            heard: True once the connection has sent any byte.
        """
        limits = self._limits
        if self.connections >= limits.max_connections:
            self._note_refusal(
                "max_connections",
                f"the listener has {limits.max_connections} connections open (max connections)",
            )
            return None
        if not self._count_startups:
            self.connections += 1
            return Pass(self, peer, evict, heard, unauthenticated=False)
        mine = self._by_peer.get(peer)
        if mine is not None and len(mine) >= limits.max_startups_per_peer:
            victim = next((p for p in mine.values() if not p.heard()), None)
            victim = victim or next(iter(mine.values()))
            self._forget_startup(victim)
            victim.evict()
            self._note_refusal(
                "per_peer",
                f"{peer} holds {limits.max_startups_per_peer} unauthenticated connections "
                "(max startups per peer); closed its oldest",
            )
        elif self._chance() < limits.max_startups.drop_chance(self.startups):
            self._note_refusal(
                "max_startups",
                f"{self.startups} connections have not authenticated yet (max startups "
                f"{limits.max_startups})",
            )
            return None
        admitted = Pass(self, peer, evict, heard, unauthenticated=True)
        self.connections += 1
        self.startups += 1
        self._by_peer.setdefault(peer, OrderedDict())[id(admitted)] = admitted
        return admitted

    def _forget_startup(self, admitted: Pass) -> None:
        if not admitted.unauthenticated:
            return
        admitted.unauthenticated = False
        self.startups -= 1
        mine = self._by_peer[admitted.peer]
        del mine[id(admitted)]
        if not mine:
            del self._by_peer[admitted.peer]

    def _note_refusal(self, reason: str, sentence: str) -> None:
        self._refused[reason] = self._refused.get(reason, 0) + 1
        now = trio.current_time()
        if now - self._logged_at.get(reason, -_LOG_EVERY) >= _LOG_EVERY:
            logger.warning(
                "turned away %d connection(s) in the last %g s: %s",
                self._refused.pop(reason),
                _LOG_EVERY,
                sentence,
            )
            self._logged_at[reason] = now
