"""Slowing down failed handshakes: the failure throttle and per-peer serialisation.

Theory of operation
-------------------
Failed handshakes are logged and slowed down per peer, so guessing a token is both
hopeless and noisy. :class:`FailureThrottle` is the bookkeeping: it counts each peer's
recent failures and says how long to wait before answering it, and it is plain
synchronous code with an injectable clock, so its arithmetic is tested without time
passing. :class:`PeerLocks` is the one trio piece: the server waits out a peer's
penalty and checks its token while holding that peer's lock, so a guesser who opens
many connections at once still gets one guess per penalty, not one per connection.
A lock exists only while somebody holds or waits for it, so neither a flood of
addresses nor a long-lived server accumulates them.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import trio

__all__ = ["FailureThrottle", "PeerLocks"]

logger = logging.getLogger("spe_host.auth")


class FailureThrottle:
    """Slow down peers that keep failing to authenticate, and log every failure.

    A peer may fail ``limit`` times within ``window`` seconds at no cost; from then on
    :meth:`delay_for` asks for ``penalty`` seconds before its next attempt is checked,
    doubling with each further failure in the window, up to ``max_penalty``. (With
    ``limit=5``: five wrong tokens are answered at once, the sixth attempt waits one
    second, the seventh two.) Failures older than ``window`` are forgotten, and
    so are peers with none left; at most ``max_peers`` peers are tracked (the ones that
    failed least recently are dropped first), so a flood of addresses cannot eat memory.

    Key peers by host only, not host and port: a client gets a new port per connection.

    Args:
        limit: Failures allowed within the window before delays start.
        window: How long a failure counts, in seconds.
        penalty: The first delay, in seconds.
        clock: Returns the current time in seconds (a fake one in tests).
        max_penalty: The largest delay, in seconds.
        max_peers: How many peers to remember at most.
    """

    def __init__(
        self,
        limit: int = 5,
        window: float = 10.0,
        penalty: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        *,
        max_penalty: float = 10.0,
        max_peers: int = 10_000,
    ) -> None:
        if limit < 1 or window <= 0 or penalty < 0 or max_penalty < 0 or max_peers < 1:
            raise ValueError(
                "FailureThrottle needs limit >= 1, window > 0, penalty >= 0, "
                "max_penalty >= 0 and max_peers >= 1"
            )
        self._limit = limit
        self._window = window
        self._penalty = penalty
        self._max_penalty = max_penalty
        self._max_peers = max_peers
        self._clock = clock
        # Most recently failed peer last, so the first entry is the one to evict.
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    def __len__(self) -> int:
        """Return how many peers are being tracked."""
        return len(self._failures)

    def _expire(self, failures: deque[float], now: float) -> None:
        while failures and failures[0] <= now - self._window:
            failures.popleft()

    def record_failure(self, peer: str, reason: str) -> None:
        """Note a failed handshake from ``peer`` and log it as a warning.

        Args:
            peer: The peer's address (host only, see above).
            reason: Why it failed, for the log (never the token itself).
        """
        now = self._clock()
        failures = self._failures.pop(peer, None)
        if failures is None:
            # Beyond limit + 16 the penalty is at its cap anyway; keep the deque bounded.
            failures = deque(maxlen=self._limit + 16)
        self._expire(failures, now)
        failures.append(now)
        self._failures[peer] = failures
        if len(self._failures) > self._max_peers:
            self._shrink(now)
        logger.warning(
            "authentication failed for %s: %s (%d failure(s) in the last %g s)",
            peer,
            reason,
            len(failures),
            self._window,
        )

    def _shrink(self, now: float) -> None:
        for peer, failures in list(self._failures.items()):
            self._expire(failures, now)
            if not failures:
                del self._failures[peer]
        while len(self._failures) > self._max_peers:
            self._failures.popitem(last=False)

    def delay_for(self, peer: str) -> float:
        """Return how many seconds to wait before checking ``peer``'s next attempt (0.0: none).

        The server should wait this long, holding the peer's lock, before it checks a
        token, so a guesser gets a handful of tries per window instead of thousands.
        """
        failures = self._failures.get(peer)
        if failures is None:
            return 0.0
        self._expire(failures, self._clock())
        if not failures:
            del self._failures[peer]
            return 0.0
        excess = len(failures) - self._limit
        if excess < 0:
            return 0.0
        return min(self._max_penalty, self._penalty * 2.0**excess)

    def reset(self, peer: str) -> None:
        """Forget ``peer``'s failures (for example after it authenticated)."""
        self._failures.pop(peer, None)


class PeerLocks:
    """One :class:`trio.Lock` per peer, kept only while somebody holds or waits for it."""

    def __init__(self) -> None:
        # key -> (its lock, how many tasks hold it or wait for it)
        self._locks: dict[str, tuple[trio.Lock, int]] = {}

    def __len__(self) -> int:
        """Return how many peers have a lock that is held or waited for."""
        return len(self._locks)

    @asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        """Hold ``key``'s lock for the body of an ``async with``: one task per key at a time.

        Args:
            key: The peer: its host only, as for :class:`FailureThrottle`.
        """
        lock, users = self._locks.get(key) or (trio.Lock(), 0)
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            # Also reached by a task cancelled while waiting: it counts as gone.
            lock, users = self._locks.pop(key)
            if users > 1:
                self._locks[key] = (lock, users - 1)
