"""How sessions end without being asked: idle expiry, and the host's exit.

Theory of operation
-------------------
A background task expires sessions that have been idle longer than the host's
``idle_timeout`` (the expiry slides with every use). It sleeps until the next
session may be due; it never polls, and no request scans the sessions for it. The
:class:`IdleExpiry` heap holds one entry per session, keyed by a time the session
was last used *at the earliest*: a touch writes only the session's own clock, so the
key can be stale but never late. When an entry comes due the task reads the
session's real last use and either drops it or puts it back with the newer key (an
active or held session goes back with "now": its run or hold ends with a touch). A
new session is the newest entry, so it wakes the task only when the heap was empty.

On exit the host stops every running execution and waits for them, up to
``shutdown_timeout``; one stuck in a native call that does not return by then is
reported (logged, and listed in :attr:`Host.unfinished <spe_host.Host.unfinished>`)
with its session id and line, and its worker thread is abandoned (it still aborts
at its next statement once the call returns). That is one deadline: abandoning ends
the execution's wait for its thread at once, so recording the abandoned results
takes a moment (:data:`_ABANDON_GRACE` at most), not another timeout.
``remove(force=True)`` stops and waits the same way.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import math
from typing import TYPE_CHECKING, Final

import trio

from ._events import Broadcast

if TYPE_CHECKING:
    from ._host import Host
    from ._session import ScriptSession

__all__ = ["IdleExpiry", "expire_idle", "shutdown", "stop_and_wait"]

logger = logging.getLogger("spe_host")

# Seconds an abandoned execution's task may take to record its result; it does so at
# once, so this bounds only a bug.
_ABANDON_GRACE: Final = 0.5


class IdleExpiry:
    """The host's sessions in the order they may expire: a heap, stale but never late.

    Each entry is ``(used at the earliest, sequence, session)``. Trio thread only.
    """

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, ScriptSession]] = []
        self._order = itertools.count()
        self._first_entry = Broadcast()

    def add(self, session: ScriptSession) -> None:
        """Enter a new session (used now; it is the newest entry)."""
        self._push(session, session.idle_since())
        if len(self._heap) == 1:
            self._first_entry.fire()

    def _push(self, session: ScriptSession, used_at: float) -> None:
        heapq.heappush(self._heap, (used_at, next(self._order), session))

    def expire(self, host: Host, timeout: float, now: float) -> float:
        """Drop the sessions idle since ``now - timeout``; return when to look next."""
        heap = self._heap
        while heap and heap[0][0] + timeout <= now:
            _, _, session = heapq.heappop(heap)
            if host._sessions.get(session.id) is not session:
                continue  # removed already: its entry just goes
            if session.is_active() or session.held:
                # A run or a hold ends with a touch, so it is a full timeout away.
                self._push(session, now)
            elif session.idle_since() + timeout <= now:
                logger.info("session %r expired after %.0f s idle", session.id, timeout)
                host._drop(session, "expired")
            else:
                self._push(session, session.idle_since())
        if len(heap) > 2 * len(host._sessions) + 64:
            # Removed sessions' entries linger until due; rebuild once they outnumber
            # the live ones, so many short-lived sessions cannot grow the heap.
            self._heap = heap = [e for e in heap if host._sessions.get(e[2].id) is e[2]]
            heapq.heapify(heap)
        return heap[0][0] + timeout if heap else math.inf

    async def wait_for_first(self, deadline: float) -> None:
        """Wait until ``deadline``, or until a session enters an empty heap."""
        with trio.move_on_at(deadline):
            await self._first_entry.wait()


async def expire_idle(host: Host) -> None:
    """Drop the host's sessions once they have been idle ``idle_timeout`` s; runs forever."""
    while True:
        if host.idle_timeout is None:
            await trio.sleep_forever()
        next_check = host._expiry.expire(host, host.idle_timeout, trio.current_time())
        await host._expiry.wait_for_first(next_check)


async def shutdown(host: Host, timeout: float) -> None:
    """Close the host to new work; stop its running sessions, waiting ``timeout`` s."""
    # No new work from here on: an execution started now would outlive the host.
    host._closed = True
    running = [s for s in host.sessions() if s.is_active()]
    for session, where in await stop_and_wait(host, running, timeout):
        host.unfinished.append((session.id, where))


async def stop_and_wait(
    host: Host, sessions: list[ScriptSession], timeout: float
) -> list[tuple[ScriptSession, str | None]]:
    """Stop ``sessions``, wait up to ``timeout`` s; abandon and return the stuck ones."""
    if not sessions:
        return []
    host.stop(*(s.id for s in sessions))
    with trio.move_on_after(timeout):
        await host.wait(*(s.id for s in sessions))
    stuck: list[tuple[ScriptSession, str | None]] = []
    for session in sessions:
        if not session.is_active():
            continue
        where = session.location
        stuck.append((session, where))
        logger.warning(
            "session %r did not stop within %.1f s; it is stuck at %s, most "
            "likely in a native call that cannot be interrupted; its worker "
            "thread is abandoned",
            session.id,
            timeout,
            where or "an unknown line",
        )
        # Its task records an ABORTED result and ends; the thread runs on until
        # its native call returns, then aborts at its next check.
        session._abandon()
    if stuck:
        # Let the abandoned executions' tasks record their results (at once:
        # abandoning ends their wait for the thread).
        with trio.move_on_after(min(timeout, _ABANDON_GRACE)):
            await host.wait(*(s.id for s, _ in stuck))
    return stuck
